import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining, isDenseKernel, parameterShapes, toHuggingFaceOrientation } from '../../../src-main/core/model/bert.ts'
import { makeBatch, tinyConfig } from './fixtures.ts'

const HF_LAYER_NAMES = [
  'attention.self.query.weight',
  'attention.self.query.bias',
  'attention.self.key.weight',
  'attention.self.key.bias',
  'attention.self.value.weight',
  'attention.self.value.bias',
  'attention.output.dense.weight',
  'attention.output.dense.bias',
  'attention.output.LayerNorm.weight',
  'attention.output.LayerNorm.bias',
  'intermediate.dense.weight',
  'intermediate.dense.bias',
  'output.dense.weight',
  'output.dense.bias',
  'output.LayerNorm.weight',
  'output.LayerNorm.bias',
]

describe('BertForPreTraining', () => {
  beforeAll(async () => {
    await initBackend('wasm', {})
  })

  it('names its variables as Hugging Face BertForPreTraining, with no separate decoder weight', () => {
    const config = tinyConfig()
    const model = new BertForPreTraining(config)
    const names = [...model.variables.keys()].sort()
    const expected = [
      'bert.embeddings.word_embeddings.weight',
      'bert.embeddings.position_embeddings.weight',
      'bert.embeddings.token_type_embeddings.weight',
      'bert.embeddings.LayerNorm.weight',
      'bert.embeddings.LayerNorm.bias',
      ...[0, 1].flatMap((i) => HF_LAYER_NAMES.map((n) => `bert.encoder.layer.${i}.${n}`)),
      'bert.pooler.dense.weight',
      'bert.pooler.dense.bias',
      'cls.predictions.bias',
      'cls.predictions.transform.dense.weight',
      'cls.predictions.transform.dense.bias',
      'cls.predictions.transform.LayerNorm.weight',
      'cls.predictions.transform.LayerNorm.bias',
      'cls.seq_relationship.weight',
      'cls.seq_relationship.bias',
    ].sort()
    expect(names).toEqual(expected)
    expect(model.variables.get('bert.encoder.layer.0.intermediate.dense.weight')!.shape).toEqual([32, 37]) // [in, out]
    const hf = toHuggingFaceOrientation('bert.encoder.layer.0.intermediate.dense.weight', model.variables.get('bert.encoder.layer.0.intermediate.dense.weight')!)
    expect(hf.shape).toEqual([37, 32]) // nn.Linear's [out, in]
    hf.dispose()
    expect(isDenseKernel('cls.seq_relationship.weight')).toBe(true)
    expect(isDenseKernel('bert.embeddings.word_embeddings.weight')).toBe(false)
    expect(isDenseKernel('cls.predictions.transform.LayerNorm.weight')).toBe(false)
    expect(parameterShapes(config).length).toBe(names.length)
    model.dispose()
  })

  it('reports losses and counts; padding predictions are not counted', () => {
    const config = tinyConfig()
    const model = new BertForPreTraining(config, { seed: 1 })
    const batch = makeBatch(config, 3, 12, 4)
    const out = model.forward(batch, { training: false })
    const [loss, mlm, nsp, correct, count, nspCorrect] = [out.loss, out.mlmLoss, out.nspLoss, out.mlmCorrect, out.mlmCount, out.nspCorrect].map((t) => t.dataSync()[0]!)
    expect(count).toBe(3 * 4 - 1)
    expect(mlm).toBeCloseTo(Math.log(99), 0) // near uniform at initialisation
    expect(nsp).toBeCloseTo(Math.log(2), 1)
    expect(loss).toBeCloseTo(mlm! + nsp!, 5)
    expect(correct).toBeGreaterThanOrEqual(0)
    expect(nspCorrect).toBeLessThanOrEqual(3)
    tf.dispose(Object.values(out))
    model.dispose()
  })

  it('hides padding from attention: padded positions do not change real tokens’ outputs', () => {
    const config = tinyConfig()
    const model = new BertForPreTraining(config, { seed: 2 })
    const ids = tf.tensor2d([[2, 10, 11, 12, 3, 0, 0, 0]], undefined, 'int32')
    const other = tf.tensor2d([[2, 10, 11, 12, 3, 50, 60, 70]], undefined, 'int32')
    const types = tf.zeros([1, 8], 'int32') as tf.Tensor2D
    const mask = tf.tensor2d([[1, 1, 1, 1, 1, 0, 0, 0]], undefined, 'int32')
    const a = model.encode(ids, types, mask)
    const b = model.encode(other, types, mask)
    expect(a.sequenceOutput.shape).toEqual([1, 8, 32])
    expect(a.pooledOutput.shape).toEqual([1, 32])
    const realA = tf.slice(a.sequenceOutput, [0, 0, 0], [1, 5, 32]).dataSync()
    const realB = tf.slice(b.sequenceOutput, [0, 0, 0], [1, 5, 32]).dataSync()
    for (let i = 0; i < realA.length; i++) expect(Math.abs(realA[i]! - realB[i]!)).toBeLessThan(1e-5)
    tf.dispose([ids, other, types, mask, a.sequenceOutput, a.pooledOutput, b.sequenceOutput, b.pooledOutput])
    model.dispose()
  })

  it('draws dropout from the seed alone, and none when not training', () => {
    const config = tinyConfig({ hidden_dropout_prob: 0.3, attention_probs_dropout_prob: 0.3 })
    const model = new BertForPreTraining(config, { seed: 1 })
    const batch = makeBatch(config, 2, 10, 3)
    const loss = (options: { training: boolean; dropoutSeed?: number }) => tf.tidy(() => model.forward(batch, options).loss.dataSync()[0]!)
    expect(loss({ training: true, dropoutSeed: 5 })).toBe(loss({ training: true, dropoutSeed: 5 }))
    expect(loss({ training: true, dropoutSeed: 5 })).not.toBe(loss({ training: true, dropoutSeed: 6 }))
    expect(loss({ training: false, dropoutSeed: 5 })).toBe(loss({ training: false }))
    model.dispose()
  })

  it('leaves no tensors behind across forward and backward passes', () => {
    const config = tinyConfig({ hidden_dropout_prob: 0.1 })
    const model = new BertForPreTraining(config, { seed: 1 })
    const batch = makeBatch(config, 2, 10, 3)
    const variables = [...model.variables.values()]
    const step = (seed: number) => {
      const { value, grads } = tf.variableGrads(() => model.forward(batch, { training: true, dropoutSeed: seed }).loss, variables)
      tf.dispose([value, ...Object.values(grads)])
    }
    step(0)
    const before = tf.memory().numTensors
    for (let i = 1; i <= 3; i++) step(i)
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
  })

  it('answers a fill-mask probe with the top-k tokens at masked positions', async () => {
    const config = tinyConfig()
    const model = new BertForPreTraining(config, { seed: 1 })
    const batch = makeBatch(config, 2, 10, 3)
    const before = tf.memory().numTensors
    const predictions = await model.fillMask(batch, 5)
    expect(tf.memory().numTensors).toBe(before)
    expect(predictions.length).toBe(2 * 3 - 1) // the padding prediction is skipped
    for (const prediction of predictions) {
      expect(prediction.candidates.length).toBe(5)
      const probabilities = prediction.candidates.map((c) => c.probability)
      expect([...probabilities].sort((x, y) => y - x)).toEqual(probabilities)
      for (const c of prediction.candidates) expect(c.tokenId).toBeLessThan(99)
    }
    expect(predictions[0]).toMatchObject({ example: 0, position: batch.maskedPositions[0] })
    model.dispose()
  })
})
