import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-wasm'
import { afterAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { batchMatMul, batchMatMulTransposeB, gatherRows, gelu, matMul, matMulTransposeB, setMatMulStrategy, softmaxCrossEntropy } from '../../../src-main/core/model/ops.ts'
import { random } from './fixtures.ts'

const values = (n: number, seed: number) => {
  const next = random(seed)
  return Float32Array.from({ length: n }, () => next() * 2 - 1)
}

/** Gradients of sum(f(inputs) · weights) w.r.t. every input, as plain arrays. */
function gradientsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => {
    const weights = tf.tensor(values(tf.util.sizeFromShape(f(...inputs).shape), 99), f(...inputs).shape)
    return tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), weights)))(inputs).map((g) => g.dataSync() as Float32Array)
  })
}

const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5) => {
  expect(actual.length).toBe(expected.length)
  let worst = 0
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)))
  expect(worst).toBeLessThan(tolerance)
}

describe('model primitives', () => {
  afterAll(() => setMatMulStrategy(undefined))

  it('gathers rows with a scatterND gradient equal to cpu tf.gather’s (duplicates summed), on wasm and cpu', async () => {
    const table = values(11 * 5, 1)
    const indices = Int32Array.from([3, 0, 3, 10, 7, 3, 0])
    await initBackend('cpu', {})
    const reference = gradientsOf((t) => tf.gather(t, tf.tensor1d(indices, 'int32')), [tf.tensor2d(table, [11, 5])])[0]!
    for (const backend of ['cpu', 'wasm'] as const) {
      await initBackend(backend, {})
      const ours = gradientsOf((t) => gatherRows(t as tf.Tensor2D, tf.tensor1d(indices, 'int32')), [tf.tensor2d(table, [11, 5])])[0]!
      expectClose(ours, reference, 1e-6)
      // The registered UnsortedSegmentSum makes plain tf.gather differentiable on wasm too.
      const builtIn = gradientsOf((t) => tf.gather(t, tf.tensor1d(indices, 'int32')), [tf.tensor2d(table, [11, 5])])[0]!
      expectClose(builtIn, reference, 1e-6)
    }
  })

  it('computes the exact erf GELU and its derivative (float64 reference)', async () => {
    const xs = Float32Array.from({ length: 81 }, (_, i) => (i - 40) / 8)
    // erf to ~1e-15 by its Maclaurin series (|x/√2| ≤ 3.6) in float64.
    const erf = (x: number) => {
      let term = x
      let sum = x
      for (let n = 1; n < 200; n++) {
        term *= (-x * x) / n
        sum += term / (2 * n + 1)
      }
      return (2 / Math.sqrt(Math.PI)) * sum
    }
    const gelu64 = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2))
    const derivative64 = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI)
    for (const backend of ['cpu', 'wasm'] as const) {
      await initBackend(backend, {})
      const [y, dy] = tf.tidy(() => {
        const x = tf.tensor1d(xs)
        return [gelu(x).dataSync(), tf.grad((v: tf.Tensor) => tf.sum(gelu(v)))(x).dataSync()]
      })
      for (let i = 0; i < xs.length; i++) {
        expect(Math.abs(y![i]! - gelu64(xs[i]!)), `gelu(${xs[i]}) on ${backend}`).toBeLessThan(1e-6 * (1 + Math.abs(xs[i]!)))
        expect(Math.abs(dy![i]! - derivative64(xs[i]!)), `gelu'(${xs[i]}) on ${backend}`).toBeLessThan(1e-6)
      }
    }
  })

  it('untransposed products and their gradients equal tf.matMul’s', async () => {
    await initBackend('wasm', {})
    setMatMulStrategy('untransposed')
    const a = tf.tensor2d(values(6 * 4, 1), [6, 4])
    const b = tf.tensor2d(values(4 * 3, 2), [4, 3])
    const bt = tf.tensor2d(values(3 * 4, 3), [3, 4])
    const a3 = tf.tensor3d(values(2 * 5 * 4, 4), [2, 5, 4])
    const b3 = tf.tensor3d(values(2 * 4 * 3, 5), [2, 4, 3])
    const bt3 = tf.tensor3d(values(2 * 3 * 4, 6), [2, 3, 4])
    const cases: [string, (x: tf.Tensor, y: tf.Tensor) => tf.Tensor, (x: tf.Tensor, y: tf.Tensor) => tf.Tensor, tf.Tensor[]][] = [
      ['matMul', (x, y) => matMul(x as tf.Tensor2D, y as tf.Tensor2D), (x, y) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), [a, b]],
      ['matMulTransposeB', (x, y) => matMulTransposeB(x as tf.Tensor2D, y as tf.Tensor2D), (x, y) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, false, true), [a, bt]],
      ['batchMatMul', (x, y) => batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D), (x, y) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D), [a3, b3]],
      ['batchMatMulTransposeB', (x, y) => batchMatMulTransposeB(x as tf.Tensor3D, y as tf.Tensor3D), (x, y) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, false, true), [a3, bt3]],
    ]
    for (const [name, ours, theirs, inputs] of cases) {
      expectClose(tf.tidy(() => ours(inputs[0]!, inputs[1]!).dataSync()), tf.tidy(() => theirs(inputs[0]!, inputs[1]!).dataSync()))
      const [mine, reference] = [gradientsOf(ours, inputs), gradientsOf(theirs, inputs)]
      for (let i = 0; i < 2; i++) expectClose(mine[i]!, reference[i]!, 1e-5)
      expect(name).toBeTruthy()
    }
    setMatMulStrategy(undefined)
    tf.dispose([a, b, bt, a3, b3, bt3])
  })

  it('computes cross-entropy and its gradient as log-softmax does', async () => {
    await initBackend('wasm', {})
    const logits = tf.tensor2d(values(4 * 7, 8).map((x) => x * 20), [4, 7])
    const labels = tf.tensor1d([0, 6, 3, 3], 'int32')
    const reference = (x: tf.Tensor) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(x as tf.Tensor2D), tf.oneHot(labels, 7)), -1))
    expectClose(tf.tidy(() => softmaxCrossEntropy(logits, labels).dataSync()), tf.tidy(() => reference(logits).dataSync()))
    expectClose(gradientsOf((x) => softmaxCrossEntropy(x as tf.Tensor2D, labels), [logits])[0]!, gradientsOf(reference, [logits])[0]!)
    tf.dispose([logits, labels])
  })
})
