import { MessageChannel } from 'node:worker_threads'
import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-wasm'
import { describe, expect, it } from 'vitest'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { presetConfig } from '../../../src-main/core/model/config.ts'
import { captureCheckpoint, engineVersions, restoreCheckpoint, serializeCheckpoint, deserializeCheckpoint } from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig, type TrainConfig } from '../../../src-main/core/train/config.ts'
import { createSharedGradientBuffers, SharedGradientExchange } from '../../../src-main/core/train/parallel.ts'
import { ownerOfMicroBatch, Trainer } from '../../../src-main/core/train/trainer.ts'
import type { PretrainBatch, TrainableModel } from '../../../src-main/core/train/types.ts'
import { ToyModel, toyBatch, weightBytes, type ToyBatch } from './stand-in.ts'

/** Two replicas in this thread, exchanging through shared memory and a MessageChannel, as two worker threads would. */
function replicaPair<Batch>(models: [TrainableModel<Batch>, TrainableModel<Batch>], config: TrainConfig, totalSteps: number) {
  const buffers = createSharedGradientBuffers(models[0].variables, 2, config.batchSize / config.microBatchSize)
  const channel = new MessageChannel()
  const exchanges = [new SharedGradientExchange<Batch>(0, buffers, [channel.port1]), new SharedGradientExchange<Batch>(1, buffers, [channel.port2])]
  const trainers = models.map((model, rank) => new Trainer(model, config, { totalSteps, parallel: exchanges[rank] })) as [Trainer<Batch>, Trainer<Batch>]
  return {
    trainers,
    async step(micros: Batch[]) {
      const [a, b] = await Promise.all(trainers.map((t) => t.step(micros)))
      return [a!, b!] as const
    },
    dispose() {
      for (const exchange of exchanges) exchange.close()
      channel.port1.close()
      channel.port2.close()
      for (const trainer of trainers) trainer.dispose()
    },
  }
}

const maxDifference = async (a: ReadonlyMap<string, tf.Variable>, b: ReadonlyMap<string, tf.Variable>) => {
  let worst = 0
  for (const [name, variable] of a) {
    const x = (await variable.data()) as Float32Array
    const y = (await b.get(name)!.data()) as Float32Array
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!))
  }
  return worst
}

describe('ownerOfMicroBatch', () => {
  it('splits micro-batches into contiguous equal shares', () => {
    expect([0, 1, 2, 3].map((m) => ownerOfMicroBatch(m, 4, 2))).toEqual([0, 0, 1, 1])
    expect([0, 1].map((m) => ownerOfMicroBatch(m, 2, 2))).toEqual([0, 1])
    expect([0].map((m) => ownerOfMicroBatch(m, 1, 2))).toEqual([0])
  })
})

describe('data-parallel trainer (2 replicas)', () => {
  const STEPS = 6
  for (const backend of ['cpu', 'wasm']) {
    it(`matches gradient accumulation bit-for-bit with one micro-batch per replica (${backend})`, async () => {
      expect(await tf.setBackend(backend)).toBe(true)
      const config = parseTrainConfig({ batchSize: 4, microBatchSize: 2, steps: STEPS, seed: 5, optimizer: { learningRate: 0.02 } })
      const micros = (step: number) => [toyBatch(step, 0, 2), toyBatch(step, 1, 2)]
      const single = new ToyModel(1, { dropout: 0.3 })
      const trainer = new Trainer<ToyBatch>(single, config, { totalSteps: STEPS })
      const models: [ToyModel, ToyModel] = [new ToyModel(1, { dropout: 0.3 }), new ToyModel(1, { dropout: 0.3 })]
      const pair = replicaPair<ToyBatch>(models, config, STEPS)
      for (let step = 0; step < STEPS; step++) {
        const expected = await trainer.step(micros(step))
        const [a, b] = await pair.step(micros(step))
        expect(a.metrics.loss).toBe(expected.metrics.loss)
        expect(b.metrics.loss).toBe(expected.metrics.loss)
        expect(a.metrics.grad_norm).toBe(expected.metrics.grad_norm)
      }
      const reference = await weightBytes(single.variables)
      expect(await weightBytes(models[0].variables)).toEqual(reference)
      expect(await weightBytes(models[1].variables)).toEqual(reference)
      expect(await weightBytes(pair.trainers[1].optimizer.state().v)).toEqual(await weightBytes(trainer.optimizer.state().v))
      pair.dispose()
      trainer.dispose()
      for (const model of [single, ...models]) model.dispose()
    })
  }

  it('keeps replicas bit-identical with 4 micro-batches, within float rounding of accumulation', async () => {
    expect(await tf.setBackend('wasm')).toBe(true)
    const config = parseTrainConfig({ batchSize: 8, microBatchSize: 2, steps: STEPS, seed: 9, optimizer: { learningRate: 0.02 } })
    const micros = (step: number) => [0, 1, 2, 3].map((i) => toyBatch(step, i, 2))
    const single = new ToyModel(3, { dropout: 0.3 })
    const trainer = new Trainer<ToyBatch>(single, config, { totalSteps: STEPS })
    const models: [ToyModel, ToyModel] = [new ToyModel(3, { dropout: 0.3 }), new ToyModel(3, { dropout: 0.3 })]
    const pair = replicaPair<ToyBatch>(models, config, STEPS)
    for (let step = 0; step < STEPS; step++) {
      const expected = await trainer.step(micros(step))
      const [a, b] = await pair.step(micros(step))
      expect(a.metrics.loss).toBe(b.metrics.loss)
      // Losses are summed in micro-batch order on every replica: exact.
      expect(a.metrics.loss).toBe(expected.metrics.loss)
      expect(Math.abs(a.metrics.grad_norm - expected.metrics.grad_norm)).toBeLessThan(1e-5 * expected.metrics.grad_norm)
    }
    expect(await weightBytes(models[1].variables)).toEqual(await weightBytes(models[0].variables))
    // (g0+g1)+(g2+g3) vs ((g0+g1)+g2)+g3: float32 rounding, amplified a little by Adam's division.
    expect(await maxDifference(models[0].variables, single.variables)).toBeLessThan(1e-5)
    pair.dispose()
    trainer.dispose()
    for (const model of [single, ...models]) model.dispose()
  })

  it('trains BERT identically to the single trainer, and resumes exactly from a checkpoint (wasm)', async () => {
    expect(await tf.setBackend('wasm')).toBe(true)
    const modelConfig = presetConfig('tiny', 120, { max_position_embeddings: 32, hidden_size: 32, intermediate_size: 64 })
    const config = parseTrainConfig({ batchSize: 4, microBatchSize: 2, steps: STEPS, seed: 3, optimizer: { learningRate: 0.01 } })
    const micros = (step: number) => [bertBatch(step * 2, 2, 16, 120), bertBatch(step * 2 + 1, 2, 16, 120)]
    const single = new BertForPreTraining(modelConfig, { seed: 1 })
    const trainer = new Trainer<PretrainBatch>(single, config, { totalSteps: STEPS })
    const models: [BertForPreTraining, BertForPreTraining] = [new BertForPreTraining(modelConfig, { seed: 1 }), new BertForPreTraining(modelConfig, { seed: 1 })]
    let pair = replicaPair<PretrainBatch>(models, config, STEPS)
    const losses: number[] = []
    for (let step = 0; step < STEPS / 2; step++) {
      const expected = await trainer.step(micros(step))
      const [a] = await pair.step(micros(step))
      expect(a.metrics.loss).toBe(expected.metrics.loss)
      losses.push(a.metrics.loss)
    }
    // Checkpoint rank 0, restore into two fresh replicas with other weights, continue.
    const context = { epoch: 0, dataPosition: null, datasetHash: 'd', tokenizerHash: 't', modelConfig, versions: engineVersions('test') }
    const saved = serializeCheckpoint(await captureCheckpoint(pair.trainers[0], context))
    const chunks = [...saved.chunks]
    pair.dispose()
    for (const model of models) model.dispose()
    const resumed: [BertForPreTraining, BertForPreTraining] = [new BertForPreTraining(modelConfig, { seed: 8 }), new BertForPreTraining(modelConfig, { seed: 8 })]
    pair = replicaPair<PretrainBatch>(resumed, config, STEPS)
    for (const t of pair.trainers) restoreCheckpoint(t, deserializeCheckpoint(saved.manifestJson, chunks))
    for (let step = STEPS / 2; step < STEPS; step++) {
      const expected = await trainer.step(micros(step))
      const [a, b] = await pair.step(micros(step))
      expect(a.metrics.loss).toBe(expected.metrics.loss)
      expect(b.metrics.loss).toBe(expected.metrics.loss)
    }
    const reference = await weightBytes(single.variables)
    expect(await weightBytes(resumed[0].variables)).toEqual(reference)
    expect(await weightBytes(resumed[1].variables)).toEqual(reference)
    pair.dispose()
    trainer.dispose()
    for (const model of [single, ...resumed]) model.dispose()
  })
})

function bertBatch(seed: number, batchSize: number, seqLength: number, vocab: number): PretrainBatch {
  let state = seed * 7919 + 17
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648
  const P = 3
  const N = batchSize * seqLength
  return {
    batchSize,
    seqLength,
    maxPredictions: P,
    inputIds: Int32Array.from({ length: N }, () => 5 + Math.floor(next() * (vocab - 5))),
    tokenTypeIds: Int32Array.from({ length: N }, (_, i) => (i % seqLength < seqLength / 2 ? 0 : 1)),
    attentionMask: Int32Array.from({ length: N }, (_, i) => (i % seqLength < seqLength - (seed % 3) ? 1 : 0)),
    maskedPositions: Int32Array.from({ length: batchSize * P }, () => 1 + Math.floor(next() * (seqLength - 4))),
    maskedIds: Int32Array.from({ length: batchSize * P }, () => 5 + Math.floor(next() * (vocab - 5))),
    maskedWeights: Float32Array.from({ length: batchSize * P }, (_, i) => (i % P === P - 1 && seed % 2 ? 0 : 1)),
    nextSentenceLabels: Int32Array.from({ length: batchSize }, (_, i) => (i + seed) % 2),
  }
}
