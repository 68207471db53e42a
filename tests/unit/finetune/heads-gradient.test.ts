/**
 * The fine-tuning heads' gradients against central finite differences (dropout off, cpu), as
 * tests/unit/model/gradient.test.ts does for pre-training; and a head built from a pre-trained
 * model encodes exactly as that model does.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildQaFeatures, buildSequenceClassificationBatch, buildTokenClassificationBatch, qaBatch } from '../../../src-main/core/data/finetune.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification } from '../../../src-main/core/model/heads.ts'
import { setMatMulStrategy } from '../../../src-main/core/model/ops.ts'
import type { PretrainOutputs, TrainableModel } from '../../../src-main/core/train/types.ts'
import { tinyConfig, tokenizer } from './fixtures.ts'

function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function gradientCheck<Batch>(model: TrainableModel<Batch> & { dispose(): void }, batch: Batch): { failures: string[]; checked: number } {
  const loss = () => (model.forward(batch, { training: false }) as PretrainOutputs).loss
  const evaluate = () => tf.tidy(() => loss().dataSync()[0]!)
  const variables = [...model.variables]
  const { value, grads } = tf.variableGrads(loss, variables.map(([, v]) => v))
  value.dispose()
  const next = random(11)
  const failures: string[] = []
  const eps = 1e-2
  for (const [name, variable] of variables) {
    const gradient = grads[variable.name]!.dataSync() as Float32Array
    const original = variable.dataSync().slice() as Float32Array
    const along = (direction: Float32Array) => {
      const shifted = (sign: number) => {
        variable.assign(tf.tensor(original.map((w, i) => w + sign * eps * direction[i]!), variable.shape))
        return evaluate()
      }
      const numeric = (shifted(1) - shifted(-1)) / (2 * eps)
      variable.assign(tf.tensor(original, variable.shape))
      let analytic = 0
      for (let i = 0; i < direction.length; i++) analytic += gradient[i]! * direction[i]!
      return { numeric, analytic }
    }
    let largest = 0
    for (let i = 1; i < gradient.length; i++) if (Math.abs(gradient[i]!) > Math.abs(gradient[largest]!)) largest = i
    const coordinate = new Float32Array(gradient.length)
    coordinate[largest] = 1
    const randomDirection = Float32Array.from({ length: gradient.length }, () => next() - 0.5)
    const norm = Math.hypot(...randomDirection)
    for (let i = 0; i < randomDirection.length; i++) randomDirection[i]! /= norm
    for (const [kind, direction] of [['largest coordinate', coordinate], ['random direction', randomDirection]] as const) {
      const { numeric, analytic } = along(direction)
      if (!(Math.abs(numeric - analytic) <= 1e-2 * Math.max(Math.abs(numeric), Math.abs(analytic)) + 3e-4)) failures.push(`${name} (${kind}): analytic ${analytic}, numeric ${numeric}`)
    }
  }
  for (const g of Object.values(grads)) g.dispose()
  model.dispose()
  return { failures, checked: variables.length }
}

// A wider initialisation than BERT's 0.02, so gradients stand well above float32 noise.
const config = tinyConfig({ initializer_range: 0.2 })
// 1 layer: embeddings 5, layer 16.
const ENCODER = 5 + 16

beforeAll(async () => {
  await initBackend('cpu', {})
  setMatMulStrategy('untransposed')
})
afterAll(() => setMatMulStrategy(undefined))

describe('fine-tuning heads: gradients match finite differences (cpu)', () => {
  it('sequence classification, single-label (softmax cross-entropy)', () => {
    const batch = buildSequenceClassificationBatch(
      tokenizer,
      [
        { text: 'the cat sat on the mat', labels: [2] },
        { text: 'great movie', textPair: 'love it', labels: [0] },
      ],
      { maxLength: 12, numLabels: 3 },
    )
    const { failures, checked } = gradientCheck(new BertForSequenceClassification(config, { numLabels: 3, seed: 3 }), batch)
    expect(checked).toBe(ENCODER + 2 + 2)
    expect(failures).toEqual([])
  })

  it('sequence classification, multi-label (sigmoid cross-entropy)', () => {
    const batch = buildSequenceClassificationBatch(
      tokenizer,
      [
        { text: 'the cat sat on the mat', labels: [0, 2] },
        { text: 'awful film', labels: [] },
      ],
      { maxLength: 12, numLabels: 3, problemType: 'multi_label_classification' },
    )
    const { failures } = gradientCheck(new BertForSequenceClassification(config, { numLabels: 3, problemType: 'multi_label_classification', seed: 4 }), batch)
    expect(failures).toEqual([])
  })

  it('token classification (first pieces only)', () => {
    const { batch } = buildTokenClassificationBatch(
      tokenizer,
      [
        { words: ['John', 'Smith', 'lives', 'in', 'London'], tags: [1, 2, 0, 0, 3] },
        { words: ['unaffable', 'Mary', 'running'], tags: [0, 1, 0] },
      ],
      { maxLength: 12, numLabels: 4 },
    )
    const { failures, checked } = gradientCheck(new BertForTokenClassification(config, { numLabels: 4, seed: 5 }), batch)
    expect(checked).toBe(ENCODER + 2)
    expect(failures).toEqual([])
  })

  it('question answering (start and end, masked to the passage)', () => {
    const context = 'The cat sat on the mat. Mary lives in Paris.'
    const features = buildQaFeatures(tokenizer, [{ question: 'Where does Mary live?', context, answerStart: context.indexOf('Paris'), answerText: 'Paris' }], { maxLength: 12, docStride: 3 })
    const batch = qaBatch(features, 0)
    expect([...batch.startPositions].some((p) => p > 0)).toBe(true)
    expect([...batch.startPositions].some((p) => p === 0)).toBe(true)
    const { failures, checked } = gradientCheck(new BertForQuestionAnswering(config, { seed: 6 }), batch)
    expect(checked).toBe(ENCODER + 2)
    expect(failures).toEqual([])
  })
})

describe('fine-tuning heads start from a pre-trained encoder', () => {
  it('copies the encoder by name and encodes identically; heads are fresh, MLM/NSP ignored', async () => {
    const pretrained = new BertForPreTraining(tinyConfig(), { seed: 9 })
    const classifier = BertForSequenceClassification.fromPretraining(pretrained, { numLabels: 2, seed: 1 })
    const tagger = BertForTokenClassification.fromPretraining(pretrained, { numLabels: 3 })
    const qa = BertForQuestionAnswering.fromPretraining(pretrained)
    expect(classifier.loadReport.initialised).toEqual(['classifier.weight', 'classifier.bias'])
    expect(classifier.loadReport.loaded).toContain('bert.pooler.dense.weight')
    expect(classifier.loadReport.ignored.sort()).toEqual([...pretrained.variables.keys()].filter((n) => n.startsWith('cls.')).sort())
    expect([...tagger.variables.keys()].some((n) => n.startsWith('bert.pooler.'))).toBe(false)
    expect(qa.loadReport.ignored).toContain('bert.pooler.dense.weight')

    const batch = buildSequenceClassificationBatch(tokenizer, [{ text: 'the cat sat', textPair: 'the dog ran', labels: [0] }, { text: 'Paris', labels: [1] }], { maxLength: 12, numLabels: 2 })
    const shape: [number, number] = [batch.batchSize, batch.seqLength]
    const encode = (model: { encoder: BertForPreTraining } | BertForPreTraining) => {
      const target = model instanceof BertForPreTraining ? model : model.encoder
      return tf.tidy(() => {
        const out = target.encode(tf.tensor2d(batch.inputIds, shape, 'int32'), tf.tensor2d(batch.tokenTypeIds, shape, 'int32'), tf.tensor2d(batch.attentionMask, shape, 'int32'))
        return tf.concat([tf.reshape(out.sequenceOutput, [-1]), tf.reshape(out.pooledOutput, [-1])])
      })
    }
    const reference = encode(pretrained)
    const expected = Array.from(await reference.data())
    const sequenceValues = batch.batchSize * batch.seqLength * 32
    for (const model of [classifier, tagger, qa]) {
      const got = encode(model)
      // The pooled output too for the classifier; token classification and QA have no pooler (as Hugging Face).
      const compared = model === classifier ? expected.length : sequenceValues
      expect(Array.from(await got.data()).slice(0, compared)).toEqual(expected.slice(0, compared))
      got.dispose()
    }
    // Copies, not shared variables: training the head leaves the pre-trained model alone.
    classifier.variables.get('bert.embeddings.word_embeddings.weight')!.assign(tf.zeros([99, 32]))
    const after = encode(pretrained)
    expect(Array.from(await after.data())).toEqual(expected)
    tf.dispose([reference, after])

    expect(() => new BertForQuestionAnswering(tinyConfig(), { weights: new Map([['bert.embeddings.LayerNorm.bias', tf.zeros([32])]]) })).toThrow(/no bert\.embeddings\.word_embeddings\.weight/)
    for (const model of [pretrained, classifier, tagger, qa]) model.dispose()
  })
})
