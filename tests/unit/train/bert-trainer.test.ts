/**
 * The trainer with the real BertForPreTraining (tiny, bert's test sizes) on synthetic batches:
 * the seams fit, memory stays flat, and a checkpoint resumes bit-for-bit with dropout on.
 */
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { makeBertConfig } from '../../../src-main/core/model/config.ts'
import { captureCheckpoint, deserializeCheckpoint, engineVersions, restoreCheckpoint, serializeCheckpoint } from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig } from '../../../src-main/core/train/config.ts'
import { Trainer } from '../../../src-main/core/train/trainer.ts'
import type { PretrainBatch } from '../../../src-main/core/train/types.ts'
import { weightBytes } from './stand-in.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const bertConfig = makeBertConfig({
  vocab_size: 99,
  hidden_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  intermediate_size: 37,
  max_position_embeddings: 16,
})

function batch(step: number, micro: number, size = 2, seq = 12, predictions = 2): PretrainBatch {
  let state = (step * 131 + micro * 7 + 5) >>> 0
  const next = (n: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % n
  }
  const inputIds = new Int32Array(size * seq)
  const tokenTypeIds = new Int32Array(size * seq)
  const attentionMask = new Int32Array(size * seq)
  const maskedPositions = new Int32Array(size * predictions)
  const maskedIds = new Int32Array(size * predictions)
  const maskedWeights = new Float32Array(size * predictions)
  for (let b = 0; b < size; b++) {
    const length = seq - next(3)
    for (let t = 0; t < length; t++) {
      inputIds[b * seq + t] = 5 + next(94)
      tokenTypeIds[b * seq + t] = t < length / 2 ? 0 : 1
      attentionMask[b * seq + t] = 1
    }
    for (let p = 0; p < predictions; p++) {
      maskedPositions[b * predictions + p] = 1 + p * 3
      maskedIds[b * predictions + p] = 5 + next(94)
      maskedWeights[b * predictions + p] = 1
    }
  }
  const nextSentenceLabels = Int32Array.from({ length: size }, () => next(2))
  return { batchSize: size, seqLength: seq, maxPredictions: predictions, inputIds, tokenTypeIds, attentionMask, maskedPositions, maskedIds, maskedWeights, nextSentenceLabels }
}

const micros = (step: number) => [batch(step, 0), batch(step, 1)]
const config = parseTrainConfig({ batchSize: 4, microBatchSize: 2, steps: 8, seed: 5, optimizer: { learningRate: 1e-3 } })
const STEPS = 6

describe('Trainer with BertForPreTraining', () => {
  it('trains with flat memory and resumes bit-for-bit from a checkpoint', async () => {
    const straight = new BertForPreTraining(bertConfig, { seed: 1 })
    const straightTrainer = new Trainer(straight, config, { totalSteps: 8 })
    const losses: number[] = []
    let baseline = 0
    for (let step = 0; step < STEPS; step++) {
      const result = await straightTrainer.step(micros(step))
      expect(result.diverged).toBe(false)
      expect(result.metrics.tokens_per_second).toBeGreaterThan(0)
      expect(result.metrics.nsp_accuracy).toBeGreaterThanOrEqual(0)
      losses.push(result.metrics.loss)
      if (step === 1) baseline = tf.memory().numTensors
    }
    expect(tf.memory().numTensors).toBe(baseline)
    const validation = await straightTrainer.evaluate([batch(100, 0)])
    expect(Number.isFinite(validation.loss)).toBe(true)

    const first = new BertForPreTraining(bertConfig, { seed: 1 })
    const firstTrainer = new Trainer(first, config, { totalSteps: 8 })
    for (let step = 0; step < STEPS / 2; step++) expect((await firstTrainer.step(micros(step))).metrics.loss).toBe(losses[step])
    const saved = serializeCheckpoint(
      await captureCheckpoint(firstTrainer, {
        epoch: 0,
        dataPosition: { step: STEPS / 2 },
        datasetHash: null,
        tokenizerHash: null,
        modelConfig: bertConfig,
        versions: engineVersions('test'),
      }),
    )
    const checkpoint = deserializeCheckpoint(saved.manifestJson, [...saved.chunks])
    firstTrainer.dispose()
    first.dispose()

    const resumed = new BertForPreTraining(bertConfig, { seed: 2 })
    const resumedTrainer = new Trainer(resumed, parseTrainConfig(checkpoint.manifest.trainConfig), { totalSteps: 8 })
    restoreCheckpoint(resumedTrainer, checkpoint)
    for (let step = STEPS / 2; step < STEPS; step++) expect((await resumedTrainer.step(micros(step))).metrics.loss).toBe(losses[step])
    expect(await weightBytes(resumed.variables)).toEqual(await weightBytes(straight.variables))
    for (const t of [straightTrainer, resumedTrainer]) t.dispose()
    for (const m of [straight, resumed]) m.dispose()
  })
})
