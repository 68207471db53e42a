/**
 * The per-task layer of fine-tuning (core/train/finetune.ts) on known vectors: labels to training
 * rows, evaluation numbers against hand-computed ones on a fixed set of predictions, outputs as the
 * playground and CSV show them, and prediction with a real tiny model (input order, and encoding
 * past the fine-tuning length up to the model's position limit).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { buildQaFeatures } from '../../../src-main/core/data/finetune.ts'
import { csvCell, toCsv } from '../../../src-main/core/io/safe-csv.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForSequenceClassification, BertForTokenClassification, type EncodedBatch } from '../../../src-main/core/model/heads.ts'
import {
  classWeightsOf,
  collate,
  createHead,
  encodeTrainingRows,
  evaluateOutputs,
  evaluationItems,
  freezeLowerLayers,
  headLabels,
  predict,
  predictedValue,
  spansToWordTags,
  toPrediction,
  uncertaintyOf,
  type FinetuneSetup,
  type PredictOutput,
} from '../../../src-main/core/train/finetune.ts'
import { meanRouge } from '../../../src-main/core/train/metrics.ts'
import { predictionsCsv } from '../../../src-main/services/finetune.ts'
import { tinyConfig, tokenizer, VOCAB } from './fixtures.ts'

const round = (x: number) => Number(x.toFixed(4))
const setupOf = (task: FinetuneSetup['task'], labels: string[] = []): FinetuneSetup => ({ task, labels, seqLength: 32, docStride: 16, maxAnswerLength: 10, summaryWords: 8 })
const id = (token: string) => VOCAB.indexOf(token)

describe('labels to training rows', () => {
  it('character spans become BIO tags on each word’s first piece', () => {
    const text = 'John Smith lives in Paris.'
    const words = [
      { start: 0, end: 4 },
      { start: 5, end: 10 },
      { start: 11, end: 16 },
      { start: 17, end: 19 },
      { start: 20, end: 25 },
      { start: 25, end: 26 },
    ]
    const spans = [
      { start: 20, end: 25, label: 'LOC' },
      { start: 0, end: 10, label: 'PER' },
    ]
    // O, B-PER, I-PER, B-LOC, I-LOC
    expect(spansToWordTags(words, spans, ['PER', 'LOC'], 'x')).toEqual([1, 2, 0, 0, 3, 0])
    expect(() => spansToWordTags(words, [{ start: 0, end: 4, label: 'ORG' }], ['PER'], 'file.jsonl:3')).toThrow(/file.jsonl:3: the entity type "ORG"/)
    const setup = setupOf('tag', ['PER', 'LOC'])
    const [row] = encodeTrainingRows(tokenizer, setup, [{ text: 'Unaffable John lives in Paris.', value: { kind: 'spans', spans: [{ start: 10, end: 14, label: 'PER' }, { start: 24, end: 29, label: 'LOC' }] }, source: 's' }])
    // [CLS] un ##aff ##able john lives in paris . [SEP]: tags on the first pieces 1, 4, 5, 6, 7, 8
    expect(row).toMatchObject({ kind: 'token', targets: [[1, 0], [4, 1], [5, 0], [6, 0], [7, 3], [8, 0]] })
    expect(row!.ids).toEqual([id('[CLS]'), id('un'), id('##aff'), id('##able'), id('john'), id('lives'), id('in'), id('paris'), id('.'), id('[SEP]')])
  })

  it('classes by name (unknown names name the example), padded batches and balanced class weights', () => {
    const setup = setupOf('classify', ['good', 'bad'])
    const examples = [
      { text: 'great movie', value: { kind: 'classes' as const, labels: ['good'] }, source: 'a' },
      { text: 'awful film , hate it', value: { kind: 'classes' as const, labels: ['bad'] }, source: 'b' },
      { text: 'very good film', value: { kind: 'classes' as const, labels: ['good'] }, source: 'c' },
    ]
    const rows = encodeTrainingRows(tokenizer, setup, examples)
    const batch = collate(setup, rows, 0) as EncodedBatch & { labels: Int32Array }
    expect(batch.seqLength).toBe(7)
    expect([...batch.labels]).toEqual([0, 1, 0])
    expect([...batch.attentionMask.slice(0, 7)]).toEqual([1, 1, 1, 1, 0, 0, 0])
    // n / (classes × count): 3 / (2 × 2), 3 / (2 × 1)
    expect(classWeightsOf(setup, rows)).toEqual([0.75, 1.5])
    expect(() => encodeTrainingRows(tokenizer, setup, [{ text: 'x', value: { kind: 'classes', labels: ['meh'] }, source: 'reviews.csv:7' }])).toThrow(/reviews.csv:7: the class "meh"/)
  })

  it('QA questions become windows labelled at the answer’s pieces', () => {
    const setup = setupOf('qa')
    const text = 'the cat sat on the mat'
    const rows = encodeTrainingRows(tokenizer, setup, [{ text, value: { kind: 'qa', items: [{ question: 'where did the cat sit ?', start: 15, end: 22 }] }, source: 'q' }])
    expect(rows).toHaveLength(1)
    const row = rows[0] as Extract<(typeof rows)[number], { kind: 'qa' }>
    // [CLS] where did the cat [UNK] ? [SEP] the cat sat on the mat [SEP]: "the mat" at 12–13
    expect([row.start, row.end]).toEqual([12, 13])
    expect(row.span).toEqual([8, 9, 10, 11, 12, 13])
  })
})

describe('evaluation against hand-computed numbers', () => {
  it('classification: accuracy, per-class and averaged F1, confusion matrix, calibration, per-example records', () => {
    const setup = setupOf('classify', ['pos', 'neg', 'neu'])
    const truth = ['pos', 'neg', 'neu', 'neu', 'neg']
    const probabilities = [
      [0.9, 0.05, 0.05], // pos ✓
      [0.1, 0.2, 0.7], // neu ✗ (actual neg)
      [0.1, 0.1, 0.8], // neu ✓
      [0.05, 0.05, 0.9], // neu ✓
      [0.3, 0.6, 0.1], // neg ✓
    ]
    const items = evaluationItems(setup, truth.map((label, i) => ({ text: `t${i}`, value: { kind: 'classes' as const, labels: [label] }, source: `s${i}`, documentId: 10 + i })))
    const outputs: PredictOutput[] = probabilities.map((p) => ({ task: 'classify', probabilities: p }))
    const result = evaluateOutputs(setup, items, outputs)
    expect(result.metrics.accuracy).toBe(0.8)
    expect(result.confusion).toEqual([
      [1, 0, 0],
      [0, 1, 1],
      [0, 0, 2],
    ])
    // pos P1 R1 F1; neg P1 R.5 F⅔; neu P⅔ R1 F.8
    expect(result.perClass.map((c) => [c.label, round(c.precision), round(c.recall), round(c.f1), c.support])).toEqual([
      ['pos', 1, 1, 1, 1],
      ['neg', 1, 0.5, 0.6667, 2],
      ['neu', 0.6667, 1, 0.8, 2],
    ])
    expect(round(result.metrics.macro_f1!)).toBe(round((1 + 2 / 3 + 0.8) / 3))
    expect(round(result.metrics.weighted_f1!)).toBe(round((1 + (2 / 3) * 2 + 0.8 * 2) / 5))
    // confidences .9 .7 .8 .9 .6; right 1 0 1 1 1 → bins (.5,.6]: .6✓ (.6,.7]: .7✗ (.7,.8]: .8✓ (.8,.9]: .9✓ .9✓
    expect(round(result.metrics.ece!)).toBe(round((0.4 + 0.7 + 0.2 + 2 * 0.1) / 5))
    expect(result.calibration.map((b) => [round(b.confidence), b.accuracy, b.count])).toEqual([
      [0.6, 1, 1],
      [0.7, 0, 1],
      [0.8, 1, 1],
      [0.9, 1, 2],
    ])
    expect(result.records[1]).toEqual({ documentId: 11, text: 't1', actual: 'neg', predicted: 'neu', confidence: 0.7 })
    expect(uncertaintyOf(outputs[4]!)).toEqual({ confidence: 0.6, margin: 0.3, entropy: expect.closeTo(-(0.3 * Math.log(0.3) + 0.6 * Math.log(0.6) + 0.1 * Math.log(0.1)), 6) })
  })

  it('tagging: entity-level F1 over words, records naming the spans', () => {
    const setup = setupOf('tag', ['PER', 'LOC'])
    const text = 'john smith lives in paris'
    const words = [0, 5, 11, 17, 20].map((start, w) => ({ start, end: [4, 10, 16, 19, 25][w]! }))
    const one = (tag: number) => [0, 1, 2, 3, 4].map((t) => (t === tag ? 0.9 : 0.025))
    const items = evaluationItems(setup, [{ text, value: { kind: 'spans', spans: [{ start: 0, end: 10, label: 'PER' }, { start: 20, end: 25, label: 'LOC' }] }, source: 's' }])
    // predicted: john=B-PER, smith=O (PER cut short), paris=B-LOC → 1 of 2 entities right, 1 of 2 found
    const tags = [1, 0, 0, 0, 3]
    const result = evaluateOutputs(setup, items, [{ task: 'tag', words, tags, distributions: tags.map(one) }])
    expect(result.metrics.entity_f1).toBe(0.5)
    expect(result.metrics.entity_precision).toBe(0.5)
    expect(result.metrics.accuracy).toBe(0.8)
    expect(result.perClass).toEqual([
      { label: 'PER', precision: 0, recall: 0, f1: 0, support: 1 },
      { label: 'LOC', precision: 1, recall: 1, f1: 1, support: 1 },
    ])
    expect(result.records[0]).toMatchObject({ actual: 'PER: john smith; LOC: paris', predicted: 'PER: john; LOC: paris', confidence: 0.9 })
  })

  it('QA: exact match and F1 per question; summaries: ROUGE of the chosen sentences', () => {
    const qa = setupOf('qa')
    const passage = 'the denver broncos won the super bowl'
    const items = evaluationItems(qa, [{ text: passage, value: { kind: 'qa', items: [{ question: 'who won ?', start: 4, end: 18 }, { question: 'what game ?', start: 27, end: 37 }] }, source: 's' }])
    expect(items).toHaveLength(2)
    const answer = (start: number, end: number, probability: number) => ({ text: passage.slice(start, end), start, end, score: 1, probability })
    const result = evaluateOutputs(qa, items, [
      { task: 'qa', answer: answer(11, 18, 0.6) }, // "broncos" vs "denver broncos": F1 2/3
      { task: 'qa', answer: answer(23, 37, 0.9) }, // "the super bowl" = "super bowl" after normalisation
    ])
    expect(result.metrics.exact_match).toBe(0.5)
    expect(round(result.metrics.f1!)).toBe(round((2 / 3 + 1) / 2))
    expect(result.records[0]).toMatchObject({ text: `who won ?\n${passage}`, actual: 'denver broncos', predicted: 'broncos', confidence: 0.6 })

    const summarize = setupOf('summarize')
    const text = 'The cat sat. The dog ran far away. It rained.'
    const summaryItems = evaluationItems(summarize, [{ text, value: { kind: 'summary', sentences: [1] }, source: 's' }])
    const sentences = [
      { start: 0, end: 12, text: 'The cat sat.' },
      { start: 13, end: 34, text: 'The dog ran far away.' },
      { start: 35, end: 45, text: 'It rained.' },
    ]
    const summary = evaluateOutputs(summarize, summaryItems, [{ task: 'summarize', sentences, scores: [0.8, 0.3, 0.1], selected: [0] }])
    // "the cat sat" vs "the dog ran far away": one unigram in common → P 1/3, R 1/5
    expect(round(summary.metrics.rouge1!)).toBe(round((2 * (1 / 3) * (1 / 5)) / (1 / 3 + 1 / 5)))
    expect(summary.metrics.rouge2).toBe(0)
    // decisions: s0 chosen ✗, s1 left ✗, s2 left ✓
    expect(round(summary.metrics.accuracy!)).toBe(round(1 / 3))
    // Lead, within the same word budget (8 words): the first two sentences (3 + 5 words).
    expect(summary.baseline).toMatchObject({ kind: 'lead', metric: 'rougeL', summaryWords: summarize.summaryWords })
    const lead = meanRouge(['The cat sat. The dog ran far away.'], ['The dog ran far away.'])
    expect(summary.baseline!.metrics.rougeL).toBeCloseTo(lead.rougeL, 12)
    expect(summary.baseline).toMatchObject({ modelBetter: 0, baselineBetter: 1, pValue: 1 })
    // A model that picks the right sentence beats it on that document.
    const right = evaluateOutputs(summarize, summaryItems, [{ task: 'summarize', sentences, scores: [0.1, 0.9, 0.1], selected: [1] }])
    expect(right.metrics.rougeL).toBe(1)
    expect(right.baseline).toMatchObject({ modelBetter: 1, baselineBetter: 0 })
  })
})

describe('outputs as the analyst sees them', () => {
  it('playground predictions and stored values per task', () => {
    const classify = setupOf('classify', ['pos', 'neg'])
    expect(toPrediction(classify, { text: 'x' }, { task: 'classify', probabilities: [0.25, 0.75] })).toEqual({ task: 'classify', labels: ['neg'], probabilities: { pos: 0.25, neg: 0.75 } })
    const multi = setupOf('multilabel', ['a', 'b', 'c'])
    expect(predictedValue(multi, { text: 'x' }, { task: 'multilabel', probabilities: [0.9, 0.2, 0.6] })).toEqual({ kind: 'classes', labels: ['a', 'c'] })
    expect(uncertaintyOf({ task: 'multilabel', probabilities: [0.9, 0.2, 0.6] })).toMatchObject({ confidence: 0.6, margin: expect.closeTo(0.2, 9) })
    const tag = setupOf('tag', ['PER'])
    const text = 'mary met john smith'
    const words = [0, 5, 9, 14].map((start, w) => ({ start, end: [4, 8, 13, 19][w]! }))
    const prediction = toPrediction(tag, { text }, { task: 'tag', words, tags: [1, 0, 1, 2], distributions: [[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]] })
    expect(prediction).toEqual({
      task: 'tag',
      spans: [
        { start: 0, end: 4, label: 'PER', score: 0.8, text: 'mary' },
        { start: 9, end: 19, label: 'PER', score: expect.closeTo(0.7, 9), text: 'john smith' },
      ],
    })
    expect(headLabels(tag)).toEqual(['O', 'B-PER', 'I-PER'])
  })

  it('CSV cells are escaped against formula injection and quoted as RFC 4180 says', () => {
    expect(csvCell('=SUM(A1:A2)')).toBe("'=SUM(A1:A2)")
    expect(csvCell('+1')).toBe("'+1")
    expect(csvCell('-2')).toBe("'-2")
    expect(csvCell('@cmd')).toBe("'@cmd")
    expect(csvCell('\tx')).toBe("'\tx")
    expect(csvCell('\rx')).toBe('"\'\rx"')
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"')
    expect(csvCell('a,b')).toBe('"a,b"')
    expect(csvCell('line\nbreak')).toBe('"line\nbreak"')
    expect(csvCell('plain')).toBe('plain')
    expect(csvCell(0.25)).toBe('0.25')
    expect(csvCell(null)).toBe('')
    expect(toCsv([['a', 'b'], ['1', '=2']])).toBe("a,b\r\n1,'=2\r\n")
    const setup = setupOf('classify', ['pos', '=neg'])
    const records = [
      { text: '=cmd|calc', source: 'f.csv:2', line: 2, fields: { id: '7', text: '=cmd|calc' } },
      { text: 'fine, "quoted"', source: 'f.csv:3', line: 3, fields: { id: '8', text: 'fine, "quoted"' } },
    ]
    const csv = predictionsCsv(setup, records, records.map((r) => ({ text: r.text })), [
      { task: 'classify', probabilities: [0.2, 0.8] },
      { task: 'classify', probabilities: [0.9, 0.1] },
    ], 'text')
    expect(csv.split('\r\n')).toEqual([
      'id,text,prediction,confidence,p(pos),p(=neg)',
      "7,'=cmd|calc,'=neg,0.8,0.2,0.8",
      '8,"fine, ""quoted""",pos,0.9,0.9,0.1',
      '',
    ])
  })
})

describe('prediction with a real model', () => {
  beforeAll(async () => {
    await initBackend('wasm', {})
  })

  it('keeps input order and encodes past the fine-tuning length, up to the model’s position limit', async () => {
    const setup = setupOf('tag', ['PER'])
    const model = createHead(setup, tinyConfig({ max_position_embeddings: 512 }), { seed: 4 }) as BertForTokenClassification
    const lengths: number[] = []
    const predictBatch = model.predict.bind(model)
    model.predict = (batch) => {
      lengths.push(batch.seqLength)
      return predictBatch(batch)
    }
    try {
      const long = Array.from({ length: 600 }, (_, i) => (i % 2 ? 'cat' : 'dog')).join(' ')
      const texts = ['john lives in paris', long, 'mary']
      const outputs = await predict(model, tokenizer, setup, texts.map((text) => ({ text })), { maxLength: 512, batchSize: 2 })
      expect(lengths).toEqual([512, 3])
      const words = outputs.map((o) => (o as Extract<PredictOutput, { task: 'tag' }>).words.length)
      expect(words).toEqual([4, 600, 1])
      const tags = (outputs[1] as Extract<PredictOutput, { task: 'tag' }>).tags
      // 510 words fit between [CLS] and [SEP] (not the fine-tuning length of 32); the rest are past the limit.
      expect(tags.filter((t) => t >= 0)).toHaveLength(510)
      expect(tags.slice(510).every((t) => t === -1)).toBe(true)
      // Each input alone gives what it gave in its batch: order is kept and padding changes nothing.
      for (const [i, text] of texts.entries()) {
        if (i === 1) continue
        const [alone] = await predict(model, tokenizer, setup, [{ text }], { maxLength: 512 })
        const a = (alone as Extract<PredictOutput, { task: 'tag' }>).distributions.flat()
        const b = (outputs[i] as Extract<PredictOutput, { task: 'tag' }>).distributions.flat()
        a.forEach((p, k) => expect(p).toBeCloseTo(b[k]!, 5))
      }
    } finally {
      model.dispose()
    }
  })

  it('class weights give PyTorch’s weighted mean: Σ w[y]·CE / Σ w[y] (and pos_weight for multi-label)', async () => {
    const setup = setupOf('classify', ['a', 'b'])
    const rows = encodeTrainingRows(tokenizer, setup, [
      { text: 'great movie', value: { kind: 'classes', labels: ['a'] }, source: 'x' },
      { text: 'awful film', value: { kind: 'classes', labels: ['b'] }, source: 'y' },
    ])
    const plain = new BertForSequenceClassification(tinyConfig(), { numLabels: 2, seed: 9 })
    const weighted = new BertForSequenceClassification(tinyConfig(), { numLabels: 2, seed: 9, classWeights: [1, 3] })
    const multi = new BertForSequenceClassification(tinyConfig(), { numLabels: 2, seed: 9, problemType: 'multi_label_classification', classWeights: [2, 1] })
    const multiPlain = new BertForSequenceClassification(tinyConfig(), { numLabels: 2, seed: 9, problemType: 'multi_label_classification' })
    try {
      const lossOf = async (model: BertForSequenceClassification, batch: Parameters<BertForSequenceClassification['forward']>[0]) => {
        const out = model.forward(batch, { training: false })
        const value = (await out.loss.data())[0]!
        Object.values(out).forEach((t) => t.dispose())
        return value
      }
      const first = await lossOf(plain, collate(setup, [rows[0]!], 0) as never)
      const second = await lossOf(plain, collate(setup, [rows[1]!], 0) as never)
      expect(await lossOf(weighted, collate(setup, rows, 0) as never)).toBeCloseTo((first + 3 * second) / 4, 5)
      expect(() => new BertForSequenceClassification(tinyConfig(), { numLabels: 2, classWeights: [1] })).toThrow(/classWeights has 1 values, expected 2/)
      // Multi-label, targets [1, 0]: the positive term of label 0 doubles; label 1 (negative) is unchanged.
      const batch = { ...(collate(setup, [rows[0]!], 0) as EncodedBatch), labels: Int32Array.from([1, 0]) }
      const logits = await plain.predict(batch)
      const [x0, x1] = [logits.logits[0]!, logits.logits[1]!]
      const softplus = (v: number) => Math.log1p(Math.exp(v))
      expect(await lossOf(multiPlain, batch)).toBeCloseTo((softplus(-x0) + softplus(x1)) / 2, 5)
      expect(await lossOf(multi, batch)).toBeCloseTo((2 * softplus(-x0) + softplus(x1)) / 2, 5)
    } finally {
      for (const model of [plain, weighted, multi, multiPlain]) model.dispose()
    }
  })

  it('QA answers map back to the passage’s characters; freezing stops the lower layers’ updates', async () => {
    const setup = setupOf('qa')
    const model = createHead(setup, tinyConfig({ num_hidden_layers: 2 }), { seed: 5 })
    try {
      const passage = 'The  Cat sat on the MAT.'
      const [output] = await predict(model, tokenizer, setup, [{ text: passage, question: 'where did the cat sit ?' }], { maxLength: 512 })
      const answer = (output as Extract<PredictOutput, { task: 'qa' }>).answer!
      expect(passage.slice(answer.start, answer.end)).toBe(answer.text)
      expect(answer.probability).toBeGreaterThan(0)
      expect(answer.probability).toBeLessThanOrEqual(1)
      expect(buildQaFeatures(tokenizer, [{ question: 'where ?', context: passage }], { maxLength: 512, docStride: 16 })).toHaveLength(1)
      const frozen = freezeLowerLayers(model, 1)
      expect(frozen.some((name) => name.startsWith('bert.embeddings.'))).toBe(true)
      expect(frozen.some((name) => name.startsWith('bert.encoder.layer.0.'))).toBe(true)
      expect(frozen.some((name) => name.startsWith('bert.encoder.layer.1.'))).toBe(false)
      expect(model.variables.get('qa_outputs.weight')!.trainable).toBe(true)
      expect(() => freezeLowerLayers(model, 3)).toThrow(/expected an integer in \[0, 2\]/)
    } finally {
      model.dispose()
    }
  })
})
