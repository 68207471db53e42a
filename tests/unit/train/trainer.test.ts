import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { parseTrainConfig } from '../../../src-main/core/train/config.ts'
import { Throttle } from '../../../src-main/core/train/progress.ts'
import { dropoutSeedFor, Trainer, type TrainProgress } from '../../../src-main/core/train/trainer.ts'
import type { PretrainOutputs, TrainableModel } from '../../../src-main/core/train/types.ts'
import { joinBatches, ToyModel, toyBatch, weightBytes, type ToyBatch } from './stand-in.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

describe('Trainer', () => {
  it('reports every metric and lowers the loss on a learnable problem', async () => {
    const model = new ToyModel(1)
    const trainer = new Trainer(model, parseTrainConfig({ batchSize: 16, steps: 60, optimizer: { learningRate: 0.05 } }), { totalSteps: 60 })
    const first = await trainer.step([toyBatch(0, 0, 16)])
    expect(first.step).toBe(1)
    expect(first.diverged).toBe(false)
    expect(Object.keys(first.metrics).sort()).toEqual(
      ['grad_norm', 'learning_rate', 'loss', 'mlm_accuracy', 'mlm_loss', 'nsp_accuracy', 'nsp_loss', 'step_time_ms', 'tokens_per_second'].sort(),
    )
    expect(first.metrics.learning_rate).toBe(0) // warm-up starts at 0
    expect(first.metrics.grad_norm).toBeGreaterThan(0)
    const before = await trainer.evaluate([toyBatch(1000, 0, 64)])
    for (let step = 1; step < 60; step++) await trainer.step([toyBatch(step, 0, 16)])
    const after = await trainer.evaluate([toyBatch(1000, 0, 64)])
    expect(after.loss).toBeLessThan(before.loss)
    expect(after.mlm_accuracy).toBeGreaterThan(before.mlm_accuracy)
    trainer.dispose()
    model.dispose()
  })

  it('accumulates micro-batches into the same update as one big batch', async () => {
    const config = (micro: number) => parseTrainConfig({ batchSize: 8, microBatchSize: micro, steps: 4, optimizer: { learningRate: 0.01 }, schedule: { warmupFraction: 0 } })
    const big = new ToyModel(3, { dropout: 0 })
    const small = new ToyModel(3, { dropout: 0 })
    const bigTrainer = new Trainer(big, config(8), { totalSteps: 4 })
    const smallTrainer = new Trainer(small, config(2), { totalSteps: 4 })
    for (let step = 0; step < 4; step++) {
      const micros = [0, 1, 2, 3].map((i) => toyBatch(step, i, 2))
      const a = await bigTrainer.step([joinBatches(micros)])
      const b = await smallTrainer.step(micros)
      expect(b.metrics.loss).toBeCloseTo(a.metrics.loss, 5)
      expect(b.metrics.grad_norm).toBeCloseTo(a.metrics.grad_norm, 5)
      expect(b.metrics.mlm_accuracy).toBe(a.metrics.mlm_accuracy)
    }
    for (const [name, variable] of big.variables) {
      const expected = Array.from(variable.dataSync())
      const actual = Array.from(small.variables.get(name)!.dataSync())
      actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 5))
    }
    bigTrainer.dispose()
    smallTrainer.dispose()
    big.dispose()
    small.dispose()
  })

  it('clips the averaged gradients to the global norm before the moments', async () => {
    // loss = Σ w·c: the gradient is c, norm 5, clipped to 1 → m = 0.1·c/5.
    const w = tf.variable(tf.zeros([2]), true)
    const model: TrainableModel<{ batchSize: number }> = {
      variables: new Map([['w.bias', w]]),
      forward: () => {
        const loss = tf.sum(tf.mul(w, tf.tensor1d([3, 4]))) as tf.Scalar
        return { loss, mlmLoss: loss, nspLoss: tf.scalar(0), mlmCorrect: tf.scalar(0), mlmCount: tf.scalar(1), nspCorrect: tf.scalar(0) } satisfies PretrainOutputs
      },
    }
    const trainer = new Trainer(model, parseTrainConfig({ batchSize: 2, microBatchSize: 1, steps: 10 }), { totalSteps: 10 })
    const result = await trainer.step([{ batchSize: 1 }, { batchSize: 1 }])
    expect(result.metrics.grad_norm).toBeCloseTo(5, 5)
    const m = Array.from(trainer.optimizer.state().m.get('w.bias')!.dataSync())
    expect(m[0]).toBeCloseTo(0.1 * 0.6, 6)
    expect(m[1]).toBeCloseTo(0.1 * 0.8, 6)
    trainer.dispose()
    w.dispose()
  })

  it('stops at a NaN loss before the update: weights stay at the last good state', async () => {
    const model = new ToyModel(5)
    const progress: TrainProgress[] = []
    const trainer = new Trainer(model, parseTrainConfig({ batchSize: 4, steps: 10, optimizer: { learningRate: 0.01 }, schedule: { warmupFraction: 0 } }), {
      totalSteps: 10,
      onProgress: (p) => progress.push(p),
    })
    await trainer.step([toyBatch(0, 0, 4)])
    const good = await weightBytes(model.variables)
    const goodMoments = Array.from(trainer.optimizer.state().m.get('cls.weight')!.dataSync())
    const poisoned = toyBatch(1, 0, 4)
    poisoned.x[0] = Number.NaN
    const result = await trainer.step([poisoned])
    expect(result.diverged).toBe(true)
    expect(result.metrics.loss).toBeNaN()
    expect(result.step).toBe(1)
    expect(trainer.diverged).toBe(true)
    expect(trainer.globalStep).toBe(1)
    expect(await weightBytes(model.variables)).toEqual(good)
    expect(Array.from(trainer.optimizer.state().m.get('cls.weight')!.dataSync())).toEqual(goodMoments)
    expect(progress.at(-1)!.diverged).toBe(true)
    await expect(trainer.step([toyBatch(2, 0, 4)])).rejects.toThrow(/diverged at step 2/)
    trainer.dispose()
    model.dispose()
  })

  it('keeps tf.memory().numTensors flat across 200 steps, evaluations included', async () => {
    const model = new ToyModel(7)
    const trainer = new Trainer(model, parseTrainConfig({ batchSize: 4, microBatchSize: 2, steps: 210 }), { totalSteps: 210, onProgress: () => {} })
    const micros = (step: number) => [toyBatch(step, 0, 2), toyBatch(step, 1, 2)]
    for (let step = 0; step < 5; step++) await trainer.step(micros(step))
    await trainer.evaluate([toyBatch(999, 0, 4)])
    const baseline = tf.memory().numTensors
    for (let step = 5; step < 205; step++) {
      await trainer.step(micros(step))
      if (step % 50 === 0) await trainer.evaluate([toyBatch(999, 0, 4), toyBatch(999, 1, 4)])
    }
    expect(trainer.globalStep).toBe(205)
    expect(tf.memory().numTensors).toBe(baseline)
    trainer.dispose()
    model.dispose()
  })

  it('evaluates without dropout (the same result twice)', async () => {
    const model = new ToyModel(9, { dropout: 0.5 })
    const trainer = new Trainer(model, parseTrainConfig({ batchSize: 4, steps: 10 }), { totalSteps: 10 })
    const batches = [toyBatch(3, 0, 8), toyBatch(3, 1, 8)]
    const first = await trainer.evaluate(batches)
    expect(await trainer.evaluate(batches)).toEqual(first)
    await expect(trainer.evaluate([])).rejects.toThrow(/0 batches/)
    trainer.dispose()
    model.dispose()
  })
})

describe('dropout seeds', () => {
  it('are a pure function of (seed, step, micro-batch), distinct across them', () => {
    expect(dropoutSeedFor(42, 10, 1)).toBe(dropoutSeedFor(42, 10, 1))
    const seeds = new Set<number>()
    for (const seed of [0, 42]) for (let step = 0; step < 50; step++) for (let micro = 0; micro < 4; micro++) seeds.add(dropoutSeedFor(seed, step, micro))
    expect(seeds.size).toBe(400)
  })
})

describe('Throttle', () => {
  it('emits at most once per interval, the latest value, and flushes the rest', () => {
    let clock = 0
    const emitted: number[] = []
    const throttle = new Throttle<number>((v) => emitted.push(v), 125, () => clock)
    for (let i = 0; i < 10; i++) {
      throttle.push(i)
      clock += 50
    }
    expect(emitted).toEqual([0, 3, 6, 9])
    throttle.push(10)
    throttle.flush()
    throttle.flush()
    expect(emitted).toEqual([0, 3, 6, 9, 10])
  })
})
