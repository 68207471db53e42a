import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { AdamW, adamWDefaults, clipCoefficient, globalNorm } from '../../../src-main/core/train/optimizer.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/** torch.optim.AdamW, one scalar parameter, in float64: the reference the optimizer must match. */
function referenceAdamW(p0: number, grads: number[], lrs: number[], decay: boolean) {
  const { beta1, beta2, epsilon, weightDecay } = adamWDefaults
  let p = p0
  let m = 0
  let v = 0
  const trace: number[] = []
  grads.forEach((g, i) => {
    const t = i + 1
    const lr = lrs[i]!
    if (decay) p *= 1 - lr * weightDecay
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    p -= (lr / (1 - beta1 ** t)) * (m / (Math.sqrt(v) / Math.sqrt(1 - beta2 ** t) + epsilon))
    trace.push(p)
  })
  return trace
}

describe('AdamW', () => {
  it('matches a hand-computed first step: decoupled decay, then a bias-corrected step of lr·g/(|g|+ε)', () => {
    const weight = tf.variable(tf.tensor1d([2]), true)
    const bias = tf.variable(tf.tensor1d([2]), true)
    const optimizer = new AdamW(new Map([['encoder.dense.weight', weight], ['encoder.dense.bias', bias]]))
    const lr = 0.1
    optimizer.apply(new Map([['encoder.dense.weight', tf.tensor1d([0.5])], ['encoder.dense.bias', tf.tensor1d([0.5])]]), lr)
    // weight: 2·(1 − 0.1·0.01) − 0.1·0.5/(0.5 + 1e-6) = 1.998 − 0.0999998 = 1.8980002
    expect(weight.dataSync()[0]).toBeCloseTo(1.8980002, 6)
    // bias is excluded from decay: 2 − 0.0999998 = 1.9000002
    expect(bias.dataSync()[0]).toBeCloseTo(1.9000002, 6)
    expect(optimizer.step).toBe(1)
    optimizer.dispose()
  })

  it('follows the float64 reference over several steps on a 2-parameter problem, decaying only the weight', () => {
    const names = ['bert.encoder.layer.0.output.dense.weight', 'bert.encoder.layer.0.output.LayerNorm.weight', 'cls.predictions.bias']
    const variables = new Map(names.map((name) => [name, tf.variable(tf.tensor1d([0.7]), true)]))
    const optimizer = new AdamW(variables)
    const grads = [0.3, -0.1, 0.25, 0.05, -0.4]
    const lrs = [0.01, 0.02, 0.03, 0.02, 0.01]
    grads.forEach((g, i) => {
      const step = new Map(names.map((name) => [name, tf.tensor1d([g])]))
      optimizer.apply(step, lrs[i]!)
      for (const tensor of step.values()) tensor.dispose()
    })
    const decayed = referenceAdamW(0.7, grads, lrs, true).at(-1)!
    const plain = referenceAdamW(0.7, grads, lrs, false).at(-1)!
    expect(decayed).not.toBeCloseTo(plain, 6)
    expect(variables.get(names[0]!)!.dataSync()[0]).toBeCloseTo(decayed, 6)
    expect(variables.get(names[1]!)!.dataSync()[0]).toBeCloseTo(plain, 6)
    expect(variables.get(names[2]!)!.dataSync()[0]).toBeCloseTo(plain, 6)
    optimizer.dispose()
    for (const variable of variables.values()) variable.dispose()
  })

  it('scales gradients before the moments (how the trainer averages and clips)', () => {
    const w = tf.variable(tf.tensor1d([1, 1]), true)
    const optimizer = new AdamW(new Map([['w.bias', w]]))
    optimizer.apply(new Map([['w.bias', tf.tensor1d([3, 4])]]), 0.001, 0.5)
    expect(Array.from(optimizer.state().m.get('w.bias')!.dataSync())).toEqual([expect.closeTo(0.15, 7), expect.closeTo(0.2, 7)])
    optimizer.dispose()
    w.dispose()
  })

  it('loads moments and step, refusing a wrong shape with actual vs expected', () => {
    const w = tf.variable(tf.zeros([2, 3]), true)
    const optimizer = new AdamW(new Map([['w', w]]))
    optimizer.load(7, new Map([['w', new Float32Array(6).fill(1)]]), new Map([['w', new Float32Array(6).fill(2)]]))
    expect(optimizer.step).toBe(7)
    expect(Array.from(optimizer.state().v.get('w')!.dataSync())).toEqual([2, 2, 2, 2, 2, 2])
    expect(() => optimizer.load(1, new Map([['w', new Float32Array(5)]]), new Map([['w', new Float32Array(6)]]))).toThrow(
      'Adam m for w has 5 values, expected 6 (shape [2, 3])',
    )
    optimizer.dispose()
    w.dispose()
  })
})

describe('gradient clipping', () => {
  it('computes the global norm over every gradient and the clip_grad_norm_ coefficient', () => {
    const norm = globalNorm([tf.tensor1d([3]), tf.tensor2d([[4]])])
    expect(norm.dataSync()[0]).toBeCloseTo(5, 6)
    norm.dispose()
    expect(clipCoefficient(5, 1)).toBeCloseTo(1 / (5 + 1e-6), 12)
    expect(clipCoefficient(0.5, 1)).toBe(1)
    expect(clipCoefficient(50, 0)).toBe(1)
  })
})
