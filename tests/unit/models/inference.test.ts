/**
 * The inference code the export's web page runs (core/inference): the pure-JS tokenizer against
 * the studio's native one, the model built strictly from weights, its outputs read in words, and
 * the comparison with stored outputs that the parity check and the page rely on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkExamples, type StudioExamples } from '../../../src-main/core/inference/examples.ts'
import { outputsDifference, outputsSummary, readOutputs, storeOutputs, StudioModel, type ModelSpec, type RawOutputs } from '../../../src-main/core/inference/model.ts'
import { PageTokenizer } from '../../../src-main/core/inference/tokenizer.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { MASK } from '../../../src-main/core/tokenizer/index.ts'
import { buildModel, QUESTIONS, TEXTS, tinyConfig, tokenizer, type FinetuneModel } from './fixtures.ts'

const config = tinyConfig()
const labels = ['negative', 'neutral', 'positive']
const classifierSpec: ModelSpec = { architecture: 'BertForSequenceClassification', bertConfig: config, id2label: labels, problemType: 'single_label_classification' }
let classifier: FinetuneModel

beforeAll(async () => {
  await initBackend('cpu', {})
  classifier = buildModel('classify', labels, config, 4)
})
afterAll(() => classifier.dispose())

describe('PageTokenizer (what the page tokenizes with)', () => {
  const page = new PageTokenizer(JSON.parse(JSON.stringify(tokenizer.json)), {})

  it('gives the native encoder’s ids for texts, pairs, truncation, [MASK] and unknown words', async () => {
    const inputs: [string, string | null, number | undefined][] = [
      ...TEXTS.map((text): [string, null, undefined] => [text, null, undefined]),
      ...QUESTIONS.map((question, i): [string, string, number] => [question, TEXTS[i]!, 12]),
      [`the ${MASK} sat on the mat`, 'it was warm', undefined],
      ['Zebras QUICKLY ate the Café’s éclairs!', null, 8],
    ]
    for (const [text, pair, maxLength] of inputs) {
      const native = await tokenizer.encode(text, pair, maxLength === undefined ? {} : { maxLength })
      const ours = page.encode(text, pair, maxLength === undefined ? {} : { maxLength })
      expect(ours.inputIds, JSON.stringify([text, pair, maxLength])).toEqual(native.inputIds)
      expect(ours.tokenTypeIds).toEqual(native.tokenTypeIds)
      expect(ours.tokens).toEqual(native.tokens)
    }
    expect(page.lowercase).toBe(true)
    expect(page.vocab[page.tokenToId('[MASK]')!]).toBe('[MASK]')
  })

  it('refuses a tokenizer.json without a WordPiece vocabulary or without [CLS]', () => {
    expect(() => new PageTokenizer({ model: {} })).toThrow('tokenizer.json: expected an object with model.vocab')
    const json = JSON.parse(JSON.stringify(tokenizer.json))
    delete json.model.vocab['[CLS]']
    expect(() => new PageTokenizer(json)).toThrow('the vocabulary has no [CLS]')
  })
})

describe('StudioModel', () => {
  it('takes every variable from the weights, and says which are missing or of the wrong shape', () => {
    const weights = new Map(classifier.variables)
    weights.delete('classifier.bias')
    expect(() => new StudioModel(classifierSpec, weights)).toThrow('The weights lack 1 of the model’s variables: classifier.bias'.replace('’', "'"))
    const wrong = new Map<string, { shape: number[]; data: Float32Array }>([...classifier.variables].map(([name, variable]) => [name, { shape: [...variable.shape], data: variable.dataSync() as Float32Array }]))
    wrong.set('classifier.weight', { shape: [config.hidden_size, 2], data: new Float32Array(config.hidden_size * 2) })
    expect(() => new StudioModel(classifierSpec, wrong)).toThrow(`Weight classifier.weight has shape [${config.hidden_size}, 2], expected [${config.hidden_size}, 3]`)
    expect(() => new StudioModel({ ...classifierSpec, id2label: null }, classifier.variables)).toThrow('BertForSequenceClassification needs its label names (id2label)')

    const pretrained = new BertForPreTraining(config, { seed: 1 })
    try {
      // A pre-training checkpoint holds heads a classifier has no place for: listed, not refused.
      const extra = new Map([...pretrained.variables, ['classifier.weight', classifier.variables.get('classifier.weight')!], ['classifier.bias', classifier.variables.get('classifier.bias')!]])
      const model = new StudioModel(classifierSpec, extra)
      expect(model.unused).toContain('cls.seq_relationship.weight')
      expect(model.unused).not.toContain('bert.pooler.dense.weight')
      model.dispose()
    } finally {
      pretrained.dispose()
    }
  })

  it('runs each input alone: the same logits as the head itself, and the same as in a padded batch', async () => {
    const model = new StudioModel(classifierSpec, classifier.variables)
    try {
      const encoded = await Promise.all(TEXTS.slice(0, 3).map((text) => tokenizer.encode(text)))
      const outputs = await model.run(encoded)
      const padded = await tokenizer.encodeBatch(TEXTS.slice(0, 3), { maxLength: 32, padToMaxLength: true })
      const batch = { batchSize: 3, seqLength: 32, inputIds: Int32Array.from(padded.flatMap((e) => e.inputIds)), tokenTypeIds: Int32Array.from(padded.flatMap((e) => e.tokenTypeIds)), attentionMask: Int32Array.from(padded.flatMap((e) => e.attentionMask)) }
      const { logits } = await (classifier as import('../../../src-main/core/model/heads.ts').BertForSequenceClassification).predict(batch)
      outputs.forEach((output, b) => {
        expect(output.kind).toBe('sequence')
        const row = (output as { logits: number[] }).logits
        row.forEach((logit, c) => expect(Math.abs(logit - logits[b * 3 + c]!)).toBeLessThan(1e-5))
      })
      const flat = model.batchLogits({ ...batch, maxPredictions: 1, maskedPositions: new Int32Array(3) })
      expect(flat.shape).toEqual([9])
      flat.dispose()
    } finally {
      model.dispose()
    }
  })

  it('reads the pre-training head at each [MASK]: full vocabulary rows, stored as the top 10', async () => {
    const pretrained = new BertForPreTraining(config, { seed: 2 })
    const model = new StudioModel({ architecture: 'BertForPreTraining', bertConfig: config, id2label: null, problemType: null }, pretrained.variables)
    try {
      const encoded = await tokenizer.encode(`the ${MASK} sat on the ${MASK}`, 'it was warm')
      const [outputs] = await model.run([encoded], { maskTokenId: tokenizer.tokenToId(MASK) })
      if (outputs!.kind !== 'pretraining') throw new Error(outputs!.kind)
      expect(outputs!.masks.map((mask) => mask.position)).toEqual([2, 6])
      expect(outputs!.masks[0]!.logits).toHaveLength(config.vocab_size)
      expect(outputs!.nsp).toHaveLength(2)
      const stored = storeOutputs(outputs!)
      if (stored.kind !== 'pretraining') throw new Error(stored.kind)
      const top = stored.masks[0]!.top
      expect(top).toHaveLength(10)
      expect(top.map((entry) => entry.logit)).toEqual([...top.map((entry) => entry.logit)].sort((a, b) => b - a))
      expect(top[0]!.logit).toBe(Math.max(...outputs!.masks[0]!.logits))
      expect(outputsDifference(stored, outputs!)).toBe(0)
      // The fill-mask probe's own top guess is the stored best.
      const [probe] = await pretrained.fillMask({ batchSize: 1, seqLength: encoded.inputIds.length, maxPredictions: 1, inputIds: Int32Array.from(encoded.inputIds), tokenTypeIds: Int32Array.from(encoded.tokenTypeIds), attentionMask: Int32Array.from(encoded.attentionMask), maskedPositions: Int32Array.from([2]) }, 1)
      expect(probe!.candidates[0]!.tokenId).toBe(top[0]!.id)
      expect(outputsSummary({ id2label: null, problemType: null }, stored, tokenizer.vocab)).toBe(`${tokenizer.vocab[top[0]!.id]}, ${tokenizer.vocab[stored.masks[1]!.top[0]!.id]}`)
    } finally {
      model.dispose()
      pretrained.dispose()
    }
  })
})

describe('outputs compared and read', () => {
  it('outputsDifference: the largest |Δ|, NaN for another kind, shape or mask position', () => {
    const a: RawOutputs = { kind: 'sequence', logits: [1, 2, 3] }
    expect(outputsDifference(a, { kind: 'sequence', logits: [1, 2.5, 3] })).toBe(0.5)
    expect(outputsDifference(a, { kind: 'sequence', logits: [1, 2] })).toBeNaN()
    expect(outputsDifference(a, { kind: 'span', start: [1], end: [1] })).toBeNaN()
    expect(outputsDifference(a, { kind: 'sequence', logits: [1, NaN, 3] })).toBeNaN()
    expect(outputsDifference({ kind: 'token', logits: [[1, 2], [3, 4]] }, { kind: 'token', logits: [[1, 2], [3, 4.25]] })).toBe(0.25)
    expect(outputsDifference({ kind: 'token', logits: [[1, 2]] }, { kind: 'token', logits: [[1, 2], [3, 4]] })).toBeNaN()
    const stored = { kind: 'pretraining' as const, nsp: [0, 1], masks: [{ position: 3, top: [{ id: 2, logit: 5 }] }] }
    expect(outputsDifference(stored, { kind: 'pretraining', nsp: [0, 1], masks: [{ position: 3, logits: [0, 0, 5.125] }] })).toBe(0.125)
    expect(outputsDifference(stored, { kind: 'pretraining', nsp: [0, 1], masks: [{ position: 4, logits: [0, 0, 5] }] })).toBeNaN()
  })

  it('readOutputs: softmax or sigmoid labels, tags without specials, an answer inside the passage only', () => {
    const single = readOutputs(classifierSpec, { kind: 'sequence', logits: [0, 2, 1] }, { tokens: [], tokenTypeIds: [] })
    expect(single).toMatchObject({ kind: 'sequence', multiLabel: false, labels: [{ label: 'neutral', chosen: true }, { label: 'positive', chosen: false }, { label: 'negative', chosen: false }] })
    const multi = readOutputs({ ...classifierSpec, problemType: 'multi_label_classification' }, { kind: 'sequence', logits: [1, -1, 3] }, { tokens: [], tokenTypeIds: [] })
    expect(multi.kind === 'sequence' && multi.labels.filter((entry) => entry.chosen).map((entry) => entry.label)).toEqual(['positive', 'negative'])

    const tokens = ['[CLS]', 'john', 'smith', '[SEP]']
    const tags = readOutputs({ ...classifierSpec, architecture: 'BertForTokenClassification', id2label: ['O', 'B-PER', 'I-PER'] }, { kind: 'token', logits: [[5, 0, 0], [0, 5, 0], [0, 0, 5], [5, 0, 0]] }, { tokens, tokenTypeIds: [0, 0, 0, 0] })
    expect(tags).toMatchObject({ kind: 'token', tokens: [{ token: 'john', label: 'B-PER' }, { token: 'smith', label: 'I-PER' }] })

    // [CLS] who ? [SEP] john smith ##s [SEP]: the question's tokens score highest but are not in the passage.
    const qaTokens = ['[CLS]', 'who', '?', '[SEP]', 'john', 'smith', '##s', '[SEP]']
    const qaTypes = [0, 0, 0, 0, 1, 1, 1, 1]
    const span = readOutputs({ ...classifierSpec, architecture: 'BertForQuestionAnswering', id2label: null }, { kind: 'span', start: [9, 9, 9, 0, 1, 3, 0, 9], end: [9, 9, 9, 0, 0, 1, 4, 9] }, { tokens: qaTokens, tokenTypeIds: qaTypes })
    expect(span).toMatchObject({ kind: 'span', answer: { text: 'smiths', start: 5, end: 6, score: 7 } })
  })

  it('checkExamples fails a model whose classifier moved, and names the decisions', async () => {
    const model = new StudioModel(classifierSpec, classifier.variables)
    const texts = TEXTS.slice(0, 4)
    const encoded = await Promise.all(texts.map((text) => tokenizer.encode(text)))
    const outputs = await model.run(encoded)
    const file: StudioExamples = {
      format: 'bert-studio-examples',
      formatVersion: 1,
      architecture: 'BertForSequenceClassification',
      labels,
      problemType: 'single_label_classification',
      source: 'test',
      maxLength: 128,
      tolerance: 1e-4,
      examples: texts.map((text, i) => ({ text, pair: null, inputIds: encoded[i]!.inputIds, tokenTypeIds: encoded[i]!.tokenTypeIds, outputs: storeOutputs(outputs[i]!) })),
    }
    const page = new PageTokenizer(JSON.parse(JSON.stringify(tokenizer.json)))
    const encode = (text: string, pair: string | null, maxLength: number) => page.encode(text, pair, { maxLength })
    try {
      const same = await checkExamples(file, encode, async (input) => (await model.run([input]))[0]!)
      expect(same).toMatchObject({ passed: true, idsMatch: true, maxAbsDiff: 0 })
      expect(same.examples.every((example) => labels.includes(example.studio) && example.studio === example.runtime)).toBe(true)

      const moved = new Map([...classifier.variables].map(([name, variable]) => [name, { shape: [...variable.shape], data: Float32Array.from(variable.dataSync()) }]))
      moved.get('classifier.bias')!.data[1]! += 0.01
      const other = new StudioModel(classifierSpec, moved)
      try {
        const check = await checkExamples(file, encode, async (input) => (await other.run([input]))[0]!)
        expect(check.passed).toBe(false)
        expect(check.maxAbsDiff).toBeCloseTo(0.01, 4)
      } finally {
        other.dispose()
      }
    } finally {
      model.dispose()
    }
  })
})
