/**
 * Fine-tuning per task, pure: labelled examples → encoded training rows and padded micro-batches,
 * the head each task trains, predictions for any input (words, spans and sentences mapped back to
 * the original text through character offsets), the task's evaluation (metrics, calibration, one
 * record per example) and the uncertainty of a prediction for model-in-the-loop labelling.
 *
 *   classify    pooled [CLS] → softmax                  BertForSequenceClassification
 *   multilabel  pooled [CLS] → sigmoid per label         BertForSequenceClassification (multi-label)
 *   tag         each word's first piece → BIO tag         BertForTokenClassification
 *   qa          start/end logits over passage windows    BertForQuestionAnswering
 *   summarize   each sentence's first piece, the document BertForTokenClassification (2 labels)
 *               in context (BERTSUM-like) → in/out of the summary
 */
import { TASK_METRIC, type LeadBaseline, type Prediction, type TaskKind, type TfidfBaseline } from '../../contract/index.ts'
import { badInput, StudioError } from '../errors.ts'
import type { LabelledExample, ResolvedValue } from '../data/examples.ts'
import {
  buildExtractiveSummaryBatch,
  buildQaFeatures,
  postprocessQa,
  rowsOf,
  summarise,
  tokenizeWithOffsets,
  type PieceTokenizer,
  type QaAnswer,
  type QaExample,
  type QaFeature,
} from '../data/finetune.ts'
import { splitSentences, type SentenceSpan } from '../data/sentences.ts'
import {
  BertForQuestionAnswering,
  BertForSequenceClassification,
  BertForTokenClassification,
  type EncodedBatch,
  type InitialWeight,
  type QuestionAnsweringBatch,
  type SequenceClassificationBatch,
  type TokenClassificationBatch,
} from '../model/heads.ts'
import { CLS, PAD, SEP } from '../tokenizer/format.ts'
import type { BertConfig } from './types.ts'
import { BASELINE_METHOD, tfidfBaseline, type BaselineOptions } from './baseline.ts'
import {
  classificationReport,
  entityReport,
  expectedCalibrationError,
  extractEntities,
  mcnemarPValue,
  meanRougeF1,
  multiLabelReport,
  reliabilityCurve,
  rouge as rougeScores,
  squadScores,
  type ReliabilityBin,
} from './metrics.ts'

/** What a fine-tuning run fixes about its task (stored with the run). */
export interface FinetuneSetup {
  readonly task: TaskKind
  /** classify and multilabel: class names; tag: entity types; qa and summarize: empty. */
  readonly labels: readonly string[]
  /** Training and validation length with [CLS]/[SEP]; QA: the window length. */
  readonly seqLength: number
  /** QA: tokens between the starts of successive passage windows. */
  readonly docStride: number
  /** QA: the longest answer, in pieces. */
  readonly maxAnswerLength: number
  /** Summaries: the word budget. */
  readonly summaryWords: number
}

export type FinetuneArchitecture = 'BertForSequenceClassification' | 'BertForTokenClassification' | 'BertForQuestionAnswering'
export type FinetuneHead = BertForSequenceClassification | BertForTokenClassification | BertForQuestionAnswering
export type FinetuneBatch = SequenceClassificationBatch | TokenClassificationBatch | QuestionAnsweringBatch

export function architectureOf(task: TaskKind): FinetuneArchitecture {
  if (task === 'classify' || task === 'multilabel') return 'BertForSequenceClassification'
  if (task === 'qa') return 'BertForQuestionAnswering'
  return 'BertForTokenClassification'
}

/** BIO tags of entity types: O, then B- and I- of each type in schema order. */
export function tagNames(types: readonly string[]): string[] {
  return ['O', ...types.flatMap((type) => [`B-${type}`, `I-${type}`])]
}

/** The labels the head's outputs stand for (Hugging Face's id2label). */
export function headLabels(setup: Pick<FinetuneSetup, 'task' | 'labels'>): string[] {
  switch (setup.task) {
    case 'classify':
    case 'multilabel':
      return [...setup.labels]
    case 'tag':
      return tagNames(setup.labels)
    case 'summarize':
      return ['out', 'in']
    case 'qa':
      return []
  }
}

/** The validation metric early stopping and the best checkpoint follow (higher is better). */
export function selectionMetric(task: TaskKind): string {
  return TASK_METRIC[task]
}

export interface HeadOptions {
  readonly seed: number
  readonly weights?: ReadonlyMap<string, InitialWeight>
  readonly classWeights?: readonly number[] | null
}

/** The head of the task on an encoder of `config`; with `weights`, the encoder (and any head weights that fit) start from them. */
export function createHead(setup: Pick<FinetuneSetup, 'task' | 'labels'>, config: BertConfig, options: HeadOptions): FinetuneHead {
  const common = { seed: options.seed, ...(options.weights ? { weights: options.weights } : {}) }
  const classWeights = options.classWeights ? { classWeights: options.classWeights } : {}
  const labels = headLabels(setup)
  if (setup.task !== 'qa' && labels.length === 0) throw new StudioError('VALIDATION', `A ${setup.task} model needs at least one class, got none`)
  switch (setup.task) {
    case 'classify':
      return new BertForSequenceClassification(config, { ...common, ...classWeights, numLabels: labels.length })
    case 'multilabel':
      return new BertForSequenceClassification(config, { ...common, ...classWeights, numLabels: labels.length, problemType: 'multi_label_classification' })
    case 'tag':
    case 'summarize':
      return new BertForTokenClassification(config, { ...common, ...classWeights, numLabels: labels.length })
    case 'qa':
      return new BertForQuestionAnswering(config, common)
  }
}

/**
 * Freezes the embeddings and the lowest `layers` encoder layers: their variables stop being
 * trainable, so they get no gradient and AdamW leaves them as they are (they stay in checkpoints).
 */
export function freezeLowerLayers(model: FinetuneHead, layers: number): string[] {
  const total = model.config.num_hidden_layers
  if (!Number.isInteger(layers) || layers < 0 || layers > total) throw new StudioError('VALIDATION', `freezeLayers is ${layers}, expected an integer in [0, ${total}] (the model has ${total} layers)`)
  if (layers === 0) return []
  const frozen: string[] = []
  for (const [name, variable] of model.variables) {
    const layer = /^bert\.encoder\.layer\.(\d+)\./.exec(name)
    if (name.startsWith('bert.embeddings.') || (layer && Number(layer[1]) < layers)) {
      variable.trainable = false
      frozen.push(name)
    }
  }
  return frozen
}

// ---------------------------------------------------------------------------------------------
// Words and sentences with character offsets

export interface WordSpan {
  /** Characters of the original text, [start, end). */
  readonly start: number
  readonly end: number
}

interface Words {
  readonly ids: number[]
  readonly words: WordSpan[]
  /** Per word, the index of its first piece in `ids`. */
  readonly firstPiece: number[]
}

/** The text's WordPieces grouped into its pre-tokenized words, with the characters each covers. */
function wordsOf(tokenizer: PieceTokenizer, text: string): Words {
  const ids: number[] = []
  const words: WordSpan[] = []
  const firstPiece: number[] = []
  let current = -1
  for (const piece of tokenizeWithOffsets(tokenizer, text)) {
    if (piece.word !== current) {
      current = piece.word
      words.push({ start: piece.start, end: piece.end })
      firstPiece.push(ids.length)
    } else {
      const last = words.length - 1
      words[last] = { start: words[last]!.start, end: piece.end }
    }
    ids.push(piece.id)
  }
  return { ids, words, firstPiece }
}

/** BIO tag ids per word from character spans: a word overlapping a span is tagged; the first word of each span gets B-. Overlapping spans: the earlier span wins. */
export function spansToWordTags(words: readonly WordSpan[], spans: readonly { start: number; end: number; label: string }[], types: readonly string[], source: string): number[] {
  const typeIndex = new Map(types.map((type, index) => [type, index]))
  const tags = new Array<number>(words.length).fill(0)
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end)
  for (const span of sorted) {
    const type = typeIndex.get(span.label)
    if (type === undefined) throw badInput(`${source}: the entity type "${span.label}" is not one of the model's (${types.join(', ')})`)
    let first = true
    for (const [w, word] of words.entries()) {
      if (word.end <= span.start || word.start >= span.end) continue
      if (tags[w] !== 0) {
        first = false
        continue
      }
      tags[w] = 1 + 2 * type + (first ? 0 : 1)
      first = false
    }
  }
  return tags
}

/** Entities of word-level BIO tags as character spans of the text. */
function wordTagsToSpans(tags: readonly number[], words: readonly WordSpan[], names: readonly string[]): { start: number; end: number; label: string; first: number; last: number }[] {
  return extractEntities(tags.map((tag) => (tag < 0 ? 'O' : names[tag]!))).map((entity) => ({
    start: words[entity.start]!.start,
    end: words[entity.end]!.end,
    label: entity.type,
    first: entity.start,
    last: entity.end,
  }))
}

// ---------------------------------------------------------------------------------------------
// Training rows and batches

/** One encoded training sequence before padding. */
export type TrainingRow =
  | { readonly kind: 'sequence'; readonly ids: number[]; readonly types: number[]; readonly labels: number[] }
  /** `targets`: [position, tag] pairs at first pieces. */
  | { readonly kind: 'token'; readonly ids: number[]; readonly types: number[]; readonly targets: [number, number][] }
  /** `span`: the positions an answer may use besides [CLS] (the passage's). */
  | { readonly kind: 'qa'; readonly ids: number[]; readonly types: number[]; readonly start: number; readonly end: number; readonly span: number[] }

interface Specials {
  readonly cls: number
  readonly sep: number
  readonly pad: number
}

export function specialIds(tokenizer: PieceTokenizer): Specials {
  const id = (token: string) => {
    const found = tokenizer.tokenToId(token)
    if (found === undefined) throw new StudioError('VALIDATION', `The vocabulary has no ${token} token, which fine-tuning inputs need`)
    return found
  }
  return { cls: id(CLS), sep: id(SEP), pad: id(PAD) }
}

function classIds(value: ResolvedValue, labels: readonly string[], source: string, single: boolean): number[] {
  if (value.kind !== 'classes') throw badInput(`${source}: the label is ${value.kind}, expected classes`)
  const ids = value.labels.map((label) => {
    const index = labels.indexOf(label)
    if (index < 0) throw badInput(`${source}: the class "${label}" is not one of the model's (${labels.join(', ')})`)
    return index
  })
  if (single && ids.length !== 1) throw badInput(`${source}: ${ids.length} classes, expected exactly 1 (single-label classification)`)
  return [...new Set(ids)].sort((a, b) => a - b)
}

function expectKind<K extends ResolvedValue['kind']>(value: ResolvedValue, kind: K, source: string): Extract<ResolvedValue, { kind: K }> {
  if (value.kind !== kind) throw badInput(`${source}: the label is ${value.kind}, expected ${kind}`)
  return value as Extract<ResolvedValue, { kind: K }>
}

/** `[CLS] text [SEP]`, the text's pieces cut to fit. */
function sequenceRow(tokenizer: PieceTokenizer, specials: Specials, text: string, maxLength: number): { ids: number[]; types: number[] } {
  const pieces = tokenizeWithOffsets(tokenizer, text).slice(0, maxLength - 2)
  const ids = [specials.cls, ...pieces.map((piece) => piece.id), specials.sep]
  return { ids, types: ids.map(() => 0) }
}

/** `[CLS] pieces [SEP]` and, per word, the position of its first piece (−1 past `maxLength`). */
function wordRow(tokenizer: PieceTokenizer, specials: Specials, text: string, maxLength: number): { ids: number[]; types: number[]; words: WordSpan[]; positions: number[] } {
  const { ids, words, firstPiece } = wordsOf(tokenizer, text)
  const kept = ids.slice(0, maxLength - 2)
  const row = [specials.cls, ...kept, specials.sep]
  return { ids: row, types: row.map(() => 0), words, positions: firstPiece.map((p) => (p < kept.length ? p + 1 : -1)) }
}

/** A document's sentences after [CLS], segment ids alternating, and each sentence's first position (−1 when cut or empty). */
function summaryRow(tokenizer: PieceTokenizer, sentences: readonly SentenceSpan[], labels: readonly number[] | undefined, maxLength: number) {
  const built = buildExtractiveSummaryBatch(tokenizer, [{ sentences: sentences.map((s) => s.text), ...(labels ? { labels } : {}) }], { maxLength })
  const T = built.batch.seqLength
  const targets: [number, number][] = []
  for (let t = 0; t < T; t++) if (built.batch.labelWeights[t]! > 0) targets.push([t, built.batch.labels[t]!])
  return { ids: Array.from(built.batch.inputIds), types: Array.from(built.batch.tokenTypeIds), positions: built.firstPieces[0]!, targets }
}

function qaExamplesOf(example: LabelledExample): QaExample[] {
  const value = expectKind(example.value, 'qa', example.source)
  return value.items.map((item) => {
    if (!(item.start >= 0 && item.end >= item.start && item.end <= example.text.length)) {
      throw badInput(`${example.source}: the answer [${item.start}, ${item.end}) of "${item.question}" lies outside its passage of ${example.text.length} characters`)
    }
    return { question: item.question, context: example.text, answerStart: item.start, answerText: example.text.slice(item.start, item.end) }
  })
}

function qaRow(feature: QaFeature): TrainingRow {
  const span: number[] = []
  feature.offsets.forEach((offset, t) => {
    if (offset) span.push(t)
  })
  return { kind: 'qa', ids: feature.inputIds, types: feature.tokenTypeIds, start: feature.startPosition, end: feature.endPosition, span }
}

/**
 * Training rows of labelled examples (one per example; QA: one per passage window of each
 * question). Labels outside the setup's are an error naming the example.
 */
export function encodeTrainingRows(tokenizer: PieceTokenizer, setup: FinetuneSetup, examples: readonly LabelledExample[]): TrainingRow[] {
  const specials = specialIds(tokenizer)
  const rows: TrainingRow[] = []
  for (const example of examples) {
    switch (setup.task) {
      case 'classify':
      case 'multilabel': {
        const labels = classIds(example.value, setup.labels, example.source, setup.task === 'classify')
        rows.push({ kind: 'sequence', ...sequenceRow(tokenizer, specials, example.text, setup.seqLength), labels })
        break
      }
      case 'tag': {
        const value = expectKind(example.value, 'spans', example.source)
        const row = wordRow(tokenizer, specials, example.text, setup.seqLength)
        const tags = spansToWordTags(row.words, value.spans, setup.labels, example.source)
        const targets: [number, number][] = []
        row.positions.forEach((position, w) => {
          if (position >= 0) targets.push([position, tags[w]!])
        })
        rows.push({ kind: 'token', ids: row.ids, types: row.types, targets })
        break
      }
      case 'summarize': {
        const value = expectKind(example.value, 'summary', example.source)
        const sentences = splitSentences(example.text)
        const chosen = new Set(value.sentences)
        for (const index of chosen) if (index >= sentences.length) throw badInput(`${example.source}: summary sentence ${index} does not exist (the text has ${sentences.length} sentences)`)
        const row = summaryRow(tokenizer, sentences, sentences.map((_, i) => (chosen.has(i) ? 1 : 0)), setup.seqLength)
        rows.push({ kind: 'token', ids: row.ids, types: row.types, targets: row.targets })
        break
      }
      case 'qa': {
        const features = buildQaFeatures(tokenizer, qaExamplesOf(example), { maxLength: setup.seqLength, docStride: setup.docStride })
        for (const feature of features) rows.push(qaRow(feature))
        break
      }
    }
  }
  return rows
}

function padRows(rows: readonly { ids: readonly number[]; types: readonly number[] }[], padId: number): EncodedBatch {
  const B = rows.length
  const T = Math.max(1, ...rows.map((row) => row.ids.length))
  const inputIds = new Int32Array(B * T).fill(padId)
  const tokenTypeIds = new Int32Array(B * T)
  const attentionMask = new Int32Array(B * T)
  for (const [b, row] of rows.entries()) {
    inputIds.set(row.ids, b * T)
    tokenTypeIds.set(row.types, b * T)
    attentionMask.fill(1, b * T, b * T + row.ids.length)
  }
  return { batchSize: B, seqLength: T, inputIds, tokenTypeIds, attentionMask }
}

/** Rows as one micro-batch, padded to the longest row. */
export function collate(setup: Pick<FinetuneSetup, 'task' | 'labels'>, rows: readonly TrainingRow[], padId: number): FinetuneBatch {
  if (rows.length === 0) throw badInput('A batch needs at least 1 row, got 0')
  const encoded = padRows(rows, padId)
  const { batchSize: B, seqLength: T } = encoded
  const kind = rows[0]!.kind
  if (rows.some((row) => row.kind !== kind)) throw new StudioError('INTERNAL', 'A batch mixes rows of different tasks')
  if (kind === 'sequence') {
    const C = setup.labels.length
    const multi = setup.task === 'multilabel'
    const labels = new Int32Array(multi ? B * C : B)
    for (const [b, row] of (rows as Extract<TrainingRow, { kind: 'sequence' }>[]).entries()) {
      if (multi) for (const label of row.labels) labels[b * C + label] = 1
      else labels[b] = row.labels[0]!
    }
    return { ...encoded, labels }
  }
  if (kind === 'token') {
    const labels = new Int32Array(B * T)
    const labelWeights = new Float32Array(B * T)
    for (const [b, row] of (rows as Extract<TrainingRow, { kind: 'token' }>[]).entries()) {
      for (const [position, tag] of row.targets) {
        labels[b * T + position] = tag
        labelWeights[b * T + position] = 1
      }
    }
    return { ...encoded, labels, labelWeights }
  }
  const spanMask = new Float32Array(B * T)
  const qaRows = rows as Extract<TrainingRow, { kind: 'qa' }>[]
  for (const [b, row] of qaRows.entries()) {
    spanMask[b * T] = 1
    for (const t of row.span) spanMask[b * T + t] = 1
  }
  return {
    ...encoded,
    startPositions: Int32Array.from(qaRows, (row) => row.start),
    endPositions: Int32Array.from(qaRows, (row) => row.end),
    spanMask,
  }
}

/**
 * Inverse-frequency class weights over the training rows (scikit-learn's "balanced":
 * n / (classes × countᶜ); a class never seen weighs 1). Multi-label: each label's positive
 * weight, negatives / positives (PyTorch's pos_weight), clamped to [1, 100].
 */
export function classWeightsOf(setup: Pick<FinetuneSetup, 'task' | 'labels'>, rows: readonly TrainingRow[]): number[] | null {
  if (setup.task === 'qa') return null
  const C = headLabels(setup).length
  const counts = new Array<number>(C).fill(0)
  let total = 0
  for (const row of rows) {
    if (row.kind === 'sequence') {
      for (const label of row.labels) counts[label]! += 1
      total += setup.task === 'multilabel' ? 1 : row.labels.length
    } else if (row.kind === 'token') {
      for (const [, tag] of row.targets) counts[tag]! += 1
      total += row.targets.length
    }
  }
  if (setup.task === 'multilabel') return counts.map((positive) => (positive === 0 ? 1 : Math.min(100, Math.max(1, (total - positive) / positive))))
  return counts.map((count) => (count === 0 ? 1 : total / (C * count)))
}

// ---------------------------------------------------------------------------------------------
// Prediction

/** One input: a text (QA: the passage, with its question). */
export interface PredictInput {
  readonly text: string
  readonly question?: string | undefined
}

export type PredictOutput =
  | { readonly task: 'classify' | 'multilabel'; readonly probabilities: number[] }
  | {
      readonly task: 'tag'
      readonly words: WordSpan[]
      /** Per word: the predicted tag id (−1 past the model's length). */
      readonly tags: number[]
      /** Per word: the probability of each tag (empty past the model's length). */
      readonly distributions: number[][]
    }
  | { readonly task: 'qa'; readonly answer: QaAnswer | null }
  | { readonly task: 'summarize'; readonly sentences: SentenceSpan[]; readonly scores: number[]; readonly selected: number[] }

type ClassesOutput = Extract<PredictOutput, { probabilities: number[] }>

export interface PredictOptions {
  /** Longest encoding (the model's position limit, 512 at most); QA: the window length. */
  readonly maxLength: number
  /** Inputs per forward pass. */
  readonly batchSize?: number
  /** Called after each forward pass with the inputs done so far. */
  readonly onProgress?: (done: number) => void
  /** Polled between forward passes: true stops with CANCELLED. */
  readonly cancelled?: () => boolean
}

/** The model's outputs for each input, in input order. */
export async function predict(model: FinetuneHead, tokenizer: PieceTokenizer, setup: FinetuneSetup, inputs: readonly PredictInput[], options: PredictOptions): Promise<PredictOutput[]> {
  const specials = specialIds(tokenizer)
  const size = options.batchSize ?? 16
  const maxLength = Math.min(options.maxLength, model.config.max_position_embeddings)
  const outputs: PredictOutput[] = []
  for (let from = 0; from < inputs.length; from += size) {
    if (options.cancelled?.()) throw new StudioError('CANCELLED', 'Cancelled')
    const chunk = inputs.slice(from, from + size)
    outputs.push(...(await predictChunk(model, tokenizer, specials, setup, chunk, maxLength)))
    options.onProgress?.(outputs.length)
    // Let pause and cancel messages reach the worker between forward passes.
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return outputs
}

async function predictChunk(model: FinetuneHead, tokenizer: PieceTokenizer, specials: Specials, setup: FinetuneSetup, inputs: readonly PredictInput[], maxLength: number): Promise<PredictOutput[]> {
  if (setup.task === 'classify' || setup.task === 'multilabel') {
    const batch = padRows(inputs.map((input) => sequenceRow(tokenizer, specials, input.text, maxLength)), specials.pad)
    const { probabilities } = await (model as BertForSequenceClassification).predict(batch)
    const C = setup.labels.length
    return inputs.map((_, b) => ({ task: setup.task as 'classify' | 'multilabel', probabilities: Array.from(probabilities.subarray(b * C, (b + 1) * C)) }))
  }
  if (setup.task === 'tag') {
    const rows = inputs.map((input) => wordRow(tokenizer, specials, input.text, maxLength))
    const batch = padRows(rows, specials.pad)
    const { probabilities } = await (model as BertForTokenClassification).predict(batch)
    const C = headLabels(setup).length
    const T = batch.seqLength
    return rows.map((row, b) => {
      const distributions = row.positions.map((p) => (p < 0 ? [] : Array.from(probabilities.subarray((b * T + p) * C, (b * T + p + 1) * C))))
      const tags = distributions.map((d) => (d.length === 0 ? -1 : argmax(d)))
      return { task: 'tag', words: row.words, tags, distributions }
    })
  }
  if (setup.task === 'summarize') {
    const docs = inputs.map((input) => splitSentences(input.text))
    const rows = docs.map((sentences) => (sentences.length === 0 ? null : summaryRow(tokenizer, sentences, undefined, maxLength)))
    const present = rows.flatMap((row, i) => (row ? [{ row, i }] : []))
    const scores: number[][] = docs.map((sentences) => sentences.map(() => 0))
    if (present.length > 0) {
      const batch = padRows(present.map((p) => p.row), specials.pad)
      const { probabilities } = await (model as BertForTokenClassification).predict(batch)
      const T = batch.seqLength
      for (const [b, { row, i }] of present.entries()) scores[i] = row.positions.map((p) => (p < 0 ? 0 : probabilities[(b * T + p) * 2 + 1]!))
    }
    return docs.map((sentences, i) => {
      const summary = summarise(scores[i]!, sentences.map((s) => s.text), setup.summaryWords)
      return { task: 'summarize', sentences, scores: scores[i]!, selected: summary.indices }
    })
  }
  const examples: QaExample[] = inputs.map((input, i) => {
    if (input.question === undefined || input.question.trim() === '') throw badInput(`Input ${i + 1} has no question: a QA model answers a question about a passage`)
    return { question: input.question, context: input.text }
  })
  const features = buildQaFeatures(tokenizer, examples, { maxLength: Math.min(setup.seqLength, maxLength), docStride: setup.docStride })
  const logits: { start: Float32Array; end: Float32Array }[] = []
  for (let from = 0; from < features.length; from += 16) {
    const part = features.slice(from, from + 16)
    const batch = collate(setup, part.map(qaRow), specials.pad) as QuestionAnsweringBatch
    const { startLogits, endLogits } = await (model as BertForQuestionAnswering).predict(batch)
    const starts = rowsOf(startLogits, batch.seqLength)
    const ends = rowsOf(endLogits, batch.seqLength)
    starts.forEach((start, b) => logits.push({ start, end: ends[b]! }))
  }
  return postprocessQa(examples, features, logits, { maxAnswerLength: setup.maxAnswerLength }).map((p) => ({ task: 'qa', answer: p.best }))
}

function argmax(values: readonly number[]): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

// ---------------------------------------------------------------------------------------------
// From outputs to what the analyst sees

export interface PredictedSpan {
  start: number
  end: number
  label: string
  /** Mean probability of the predicted tag over the entity's words. */
  score: number
  text: string
}

/** Entity spans of a tagging output, with the text they cover. */
export function predictedSpans(setup: FinetuneSetup, text: string, output: Extract<PredictOutput, { task: 'tag' }>): PredictedSpan[] {
  const names = headLabels(setup)
  return wordTagsToSpans(output.tags, output.words, names).map((span) => {
    let total = 0
    for (let w = span.first; w <= span.last; w++) total += output.tags[w]! < 0 ? 0 : output.distributions[w]![output.tags[w]!]!
    return { start: span.start, end: span.end, label: span.label, score: total / (span.last - span.first + 1), text: text.slice(span.start, span.end) }
  })
}

/** Class names predicted: the most probable (classify) or every one above 0.5 (multilabel), in schema order. */
export function predictedClasses(setup: FinetuneSetup, probabilities: readonly number[]): string[] {
  if (setup.task === 'classify') return [setup.labels[argmax(probabilities)]!]
  return setup.labels.filter((_, c) => probabilities[c]! > 0.5)
}

/** The prediction as a resolved label value (what the labelling store keeps beside an example). */
export function predictedValue(setup: FinetuneSetup, input: PredictInput, output: PredictOutput): ResolvedValue {
  switch (output.task) {
    case 'classify':
    case 'multilabel':
      return { kind: 'classes', labels: predictedClasses(setup, output.probabilities) }
    case 'tag':
      return { kind: 'spans', spans: predictedSpans(setup, input.text, output).map(({ start, end, label }) => ({ start, end, label })) }
    case 'qa':
      return { kind: 'qa', items: output.answer && input.question ? [{ question: input.question, start: output.answer.start, end: output.answer.end }] : [] }
    case 'summarize':
      return { kind: 'summary', sentences: output.selected }
  }
}

export interface Uncertainty {
  /** Probability of what was predicted (for sets of decisions, of the least sure one). */
  confidence: number
  /** Entropy of the predicted distribution in nats (sets of decisions: their mean). */
  entropy: number
  /** Top probability minus the runner-up (binary decisions: |2p − 1|; sets: the smallest). */
  margin: number
}

const entropyOf = (distribution: readonly number[]) => -distribution.reduce((sum, p) => sum + (p > 0 ? p * Math.log(p) : 0), 0)
const binary = (p: number) => [p, 1 - p]
function topTwo(distribution: readonly number[]): [number, number] {
  let first = 0
  let second = 0
  for (const p of distribution) {
    if (p > first) [first, second] = [p, first]
    else if (p > second) second = p
  }
  return [first, second]
}

/** Summary of a set of distributions: the least confident, the mean entropy, the smallest margin (certain when the set is empty). */
function ofDistributions(distributions: readonly (readonly number[])[]): Uncertainty {
  const present = distributions.filter((d) => d.length > 0)
  if (present.length === 0) return { confidence: 1, entropy: 0, margin: 1 }
  let confidence = 1
  let entropy = 0
  let margin = 1
  for (const d of present) {
    const [first, second] = topTwo(d)
    confidence = Math.min(confidence, first)
    margin = Math.min(margin, first - second)
    entropy += entropyOf(d)
  }
  return { confidence, entropy: entropy / present.length, margin }
}

/**
 * How sure the model is of an output. QA reports the span's probability as its confidence and
 * treats it as one yes/no decision for entropy and margin (the full span distribution is not kept).
 */
export function uncertaintyOf(output: PredictOutput): Uncertainty {
  switch (output.task) {
    case 'classify':
      return ofDistributions([output.probabilities])
    case 'multilabel':
      return ofDistributions(output.probabilities.map(binary))
    case 'tag':
      return ofDistributions(output.distributions)
    case 'summarize':
      return ofDistributions(output.scores.map(binary))
    case 'qa':
      return output.answer ? ofDistributions([binary(output.answer.probability)]) : { confidence: 0, entropy: Math.log(2), margin: 0 }
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** One evaluated example (a question, for QA), as the confusion-matrix drill-down lists it. */
export interface EvaluatedExample {
  documentId: number | null
  text: string
  actual: string
  predicted: string
  confidence: number
}

export interface TaskEvaluation {
  /** Inputs scored (questions for QA). */
  examples: number
  metrics: Record<string, number>
  labels: string[]
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[]
  confusion: number[][] | null
  calibration: ReliabilityBin[]
  records: EvaluatedExample[]
  /** A baseline computed from the outputs themselves (summaries: Lead); classification's needs fitting (classificationBaseline). */
  baseline?: LeadBaseline
}

export interface EvaluationItem {
  readonly input: PredictInput
  readonly truth: ResolvedValue
  readonly documentId: number | null
  readonly source: string
}

/** The inputs an evaluation predicts for labelled examples: one per example, one per question for QA. */
export function evaluationItems(setup: FinetuneSetup, examples: readonly (LabelledExample & { documentId?: number | null })[]): EvaluationItem[] {
  const items: EvaluationItem[] = []
  for (const example of examples) {
    const documentId = example.documentId ?? null
    if (setup.task === 'qa') {
      const value = expectKind(example.value, 'qa', example.source)
      for (const item of value.items) items.push({ input: { text: example.text, question: item.question }, truth: { kind: 'qa', items: [item] }, documentId, source: example.source })
    } else {
      items.push({ input: { text: example.text }, truth: example.value, documentId, source: example.source })
    }
  }
  return items
}

const NONE = '(none)'
const joined = (names: readonly string[]) => (names.length === 0 ? NONE : names.join(', '))

/** Metrics of outputs against the truth of each item (outputs[i] for items[i]). */
export function evaluateOutputs(setup: FinetuneSetup, items: readonly EvaluationItem[], outputs: readonly PredictOutput[]): TaskEvaluation {
  if (items.length !== outputs.length) throw new StudioError('INTERNAL', `${outputs.length} outputs for ${items.length} items, expected one each`)
  if (items.length === 0) throw new StudioError('CONFLICT', 'There are no examples to evaluate on')
  switch (setup.task) {
    case 'classify':
      return evaluateClassify(setup, items, outputs)
    case 'multilabel':
      return evaluateMultilabel(setup, items, outputs)
    case 'tag':
      return evaluateTag(setup, items, outputs)
    case 'qa':
      return evaluateQa(items, outputs)
    case 'summarize':
      return evaluateSummaries(items, outputs, setup.summaryWords)
  }
}

/**
 * TF-IDF + logistic regression fitted on a classification run's train and validation examples and
 * scored on `evaluated` (the examples the model was evaluated on), with what it predicted for each.
 * Null for the other tasks: their outputs (spans, answers, sentence choices) have no bag-of-words
 * counterpart worth showing.
 */
export async function classificationBaseline(
  setup: FinetuneSetup,
  fitted: { train: readonly LabelledExample[]; validation: readonly LabelledExample[] },
  evaluated: readonly LabelledExample[],
  options: Pick<BaselineOptions, 'cancelled' | 'onProgress'> = {},
): Promise<{ baseline: Omit<TfidfBaseline, 'modelBetter' | 'baselineBetter' | 'pValue'>; predicted: string[] } | null> {
  if (setup.task !== 'classify' || fitted.train.length === 0 || evaluated.length === 0) return null
  const labels = [...setup.labels]
  const indexed = (examples: readonly LabelledExample[]) => examples.map((example) => ({ text: example.text, label: classIds(example.value, labels, example.source, true)[0]! }))
  const outcome = await tfidfBaseline({ train: indexed(fitted.train), validation: indexed(fitted.validation), test: indexed(evaluated) }, labels.length, options)
  return {
    baseline: { kind: 'tfidf', metric: 'accuracy', method: BASELINE_METHOD, C: outcome.C, features: outcome.features, fittedOn: outcome.fittedOn, metrics: outcome.metrics, seconds: outcome.seconds },
    predicted: outcome.predictions.map((k) => labels[k]!),
  }
}

/** McNemar's paired counts (and test) of a model's evaluated records against the baseline's predictions (in the records' order). */
export function pairedCounts(records: readonly { actual: string; predicted: string }[], baselinePredicted: readonly string[]): { modelBetter: number; baselineBetter: number; pValue: number } {
  if (records.length !== baselinePredicted.length) throw new StudioError('INTERNAL', `${baselinePredicted.length} baseline predictions for ${records.length} examples`)
  let modelBetter = 0
  let baselineBetter = 0
  records.forEach((record, i) => {
    const model = record.predicted === record.actual
    const baseline = baselinePredicted[i] === record.actual
    if (model && !baseline) modelBetter++
    if (baseline && !model) baselineBetter++
  })
  return { modelBetter, baselineBetter, pValue: mcnemarPValue(modelBetter, baselineBetter) }
}

function calibrationOf(confidences: number[], correct: boolean[]) {
  return { ece: expectedCalibrationError(confidences, correct), calibration: reliabilityCurve(confidences, correct) }
}

function evaluateClassify(setup: FinetuneSetup, items: readonly EvaluationItem[], outputs: readonly PredictOutput[]): TaskEvaluation {
  const labels = [...setup.labels]
  const actual = items.map((item) => classIds(item.truth, labels, item.source, true)[0]!)
  const probabilities = outputs.map((output) => (output as ClassesOutput).probabilities)
  const predicted = probabilities.map(argmax)
  const confidences = probabilities.map((p, i) => p[predicted[i]!]!)
  const report = classificationReport(predicted, actual, labels.length)
  const { ece, calibration } = calibrationOf(
    confidences,
    predicted.map((p, i) => p === actual[i]),
  )
  return {
    examples: items.length,
    metrics: { accuracy: report.accuracy, macro_f1: report.macroF1, weighted_f1: report.weightedF1, micro_f1: report.microF1, ece },
    labels,
    perClass: report.perClass.map((scores, c) => ({ label: labels[c]!, ...scores })),
    confusion: report.confusion,
    calibration,
    records: items.map((item, i) => ({
      documentId: item.documentId,
      text: item.input.text,
      actual: labels[actual[i]!]!,
      predicted: labels[predicted[i]!]!,
      confidence: confidences[i]!,
    })),
  }
}

function evaluateMultilabel(setup: FinetuneSetup, items: readonly EvaluationItem[], outputs: readonly PredictOutput[]): TaskEvaluation {
  const labels = [...setup.labels]
  const C = labels.length
  const actual = items.map((item) => classIds(item.truth, labels, item.source, false))
  const scores = outputs.flatMap((output) => (output as ClassesOutput).probabilities)
  const report = multiLabelReport(scores, actual, C, 0.5)
  const confidences: number[] = []
  const correct: boolean[] = []
  actual.forEach((truth, n) => {
    for (let c = 0; c < C; c++) {
      const p = scores[n * C + c]!
      confidences.push(Math.max(p, 1 - p))
      correct.push(p > 0.5 === truth.includes(c))
    }
  })
  const { ece, calibration } = calibrationOf(confidences, correct)
  return {
    examples: items.length,
    metrics: { accuracy: report.exactMatch, exact_match: report.exactMatch, micro_f1: report.microF1, macro_f1: report.macroF1, hamming_loss: report.hammingLoss, ece },
    labels,
    perClass: report.perLabel.map((s, c) => ({ label: labels[c]!, ...s })),
    confusion: null,
    calibration,
    records: items.map((item, n) => {
      const probabilities = scores.slice(n * C, (n + 1) * C)
      return {
        documentId: item.documentId,
        text: item.input.text,
        actual: joined(actual[n]!.map((c) => labels[c]!)),
        predicted: joined(predictedClasses(setup, probabilities)),
        confidence: Math.min(1, ...probabilities.map((p) => Math.max(p, 1 - p))),
      }
    }),
  }
}

function describeSpans(text: string, spans: readonly { start: number; end: number; label: string }[]): string {
  return spans.length === 0 ? NONE : [...spans].sort((a, b) => a.start - b.start).map((span) => `${span.label}: ${text.slice(span.start, span.end)}`).join('; ')
}

function evaluateTag(setup: FinetuneSetup, items: readonly EvaluationItem[], outputs: readonly PredictOutput[]): TaskEvaluation {
  const names = headLabels(setup)
  const actualTags: string[][] = []
  const predictedTags: string[][] = []
  const confidences: number[] = []
  const correct: boolean[] = []
  let wordsRight = 0
  let words = 0
  const records = items.map((item, i) => {
    const output = outputs[i] as Extract<PredictOutput, { task: 'tag' }>
    const truth = expectKind(item.truth, 'spans', item.source)
    const gold = spansToWordTags(output.words, truth.spans, setup.labels, item.source)
    actualTags.push(gold.map((tag) => names[tag]!))
    predictedTags.push(output.tags.map((tag) => (tag < 0 ? 'O' : names[tag]!)))
    let least = 1
    output.tags.forEach((tag, w) => {
      if (tag < 0) return
      const p = output.distributions[w]![tag]!
      confidences.push(p)
      correct.push(tag === gold[w])
      least = Math.min(least, p)
      words += 1
      if (tag === gold[w]) wordsRight += 1
    })
    return {
      documentId: item.documentId,
      text: item.input.text,
      actual: describeSpans(item.input.text, truth.spans),
      predicted: describeSpans(item.input.text, predictedSpans(setup, item.input.text, output)),
      confidence: least,
    }
  })
  const report = entityReport(actualTags, predictedTags)
  const { ece, calibration } = calibrationOf(confidences, correct)
  return {
    examples: items.length,
    metrics: { entity_f1: report.f1, entity_precision: report.precision, entity_recall: report.recall, accuracy: words > 0 ? wordsRight / words : 0, ece },
    labels: [...setup.labels],
    perClass: setup.labels.map((label) => ({ label, ...(report.perType[label] ?? { precision: 0, recall: 0, f1: 0, support: 0 }) })),
    confusion: null,
    calibration,
    records,
  }
}

function evaluateQa(items: readonly EvaluationItem[], outputs: readonly PredictOutput[]): TaskEvaluation {
  const predictions: string[] = []
  const answers: string[][] = []
  const confidences: number[] = []
  const records = items.map((item, i) => {
    const output = outputs[i] as Extract<PredictOutput, { task: 'qa' }>
    const truth = expectKind(item.truth, 'qa', item.source).items[0]!
    const answer = item.input.text.slice(truth.start, truth.end)
    predictions.push(output.answer?.text ?? '')
    answers.push([answer])
    confidences.push(output.answer?.probability ?? 0)
    return {
      documentId: item.documentId,
      text: `${truth.question}\n${item.input.text}`,
      actual: answer,
      predicted: output.answer?.text ?? '',
      confidence: output.answer?.probability ?? 0,
    }
  })
  const scores = squadScores(predictions, answers)
  const correct = predictions.map((p, i) => squadScores([p], [answers[i]!]).exactMatch === 1)
  const { ece, calibration } = calibrationOf(confidences, correct)
  return { examples: items.length, metrics: { exact_match: scores.exactMatch, f1: scores.f1, ece }, labels: [], perClass: [], confusion: null, calibration, records }
}

function evaluateSummaries(items: readonly EvaluationItem[], outputs: readonly PredictOutput[], summaryWords: number): TaskEvaluation {
  const started = performance.now()
  const leads: string[] = []
  const predictions: string[] = []
  const references: string[] = []
  const confidences: number[] = []
  const correct: boolean[] = []
  let decisions = 0
  let right = 0
  const records = items.map((item, i) => {
    const output = outputs[i] as Extract<PredictOutput, { task: 'summarize' }>
    const truth = new Set(expectKind(item.truth, 'summary', item.source).sentences)
    const selected = new Set(output.selected)
    const reference = output.sentences.filter((_, s) => truth.has(s)).map((s) => s.text).join(' ')
    const predicted = output.sentences.filter((_, s) => selected.has(s)).map((s) => s.text).join(' ')
    // Lead: the document's first sentences, kept by the same rule within the same budget.
    const texts = output.sentences.map((sentence) => sentence.text)
    leads.push(summarise(texts.map((_, s) => texts.length - s), texts, summaryWords).sentences.join(' '))
    predictions.push(predicted)
    references.push(reference)
    output.scores.forEach((p, s) => {
      confidences.push(Math.max(p, 1 - p))
      correct.push(p > 0.5 === truth.has(s))
      decisions += 1
      if (selected.has(s) === truth.has(s)) right += 1
    })
    const chosen = output.selected.map((s) => output.scores[s]!)
    return {
      documentId: item.documentId,
      text: item.input.text,
      actual: reference || NONE,
      predicted: predicted || NONE,
      confidence: chosen.length === 0 ? 0 : chosen.reduce((a, b) => a + b, 0) / chosen.length,
    }
  })
  // Each document's ROUGE once, for the means and for the sign test's counts (whose ROUGE-L F is higher).
  const modelScores = predictions.map((prediction, i) => rougeScores(prediction, references[i]!))
  const leadScores = leads.map((lead, i) => rougeScores(lead, references[i]!))
  const rouge = meanRougeF1(modelScores)
  const lead = meanRougeF1(leadScores)
  const { ece, calibration } = calibrationOf(confidences, correct)
  let modelBetter = 0
  let baselineBetter = 0
  modelScores.forEach((scores, i) => {
    const model = scores.rougeL.f1
    const baseline = leadScores[i]!.rougeL.f1
    if (model > baseline) modelBetter++
    if (baseline > model) baselineBetter++
  })
  const baseline: LeadBaseline = {
    kind: 'lead',
    method: `Lead: the first sentences within ${summaryWords} words`,
    metric: 'rougeL',
    summaryWords,
    metrics: { rouge1: lead.rouge1, rouge2: lead.rouge2, rougeL: lead.rougeL },
    modelBetter,
    baselineBetter,
    pValue: mcnemarPValue(modelBetter, baselineBetter),
    seconds: (performance.now() - started) / 1000,
  }
  return {
    examples: items.length,
    metrics: { rouge1: rouge.rouge1, rouge2: rouge.rouge2, rougeL: rouge.rougeL, accuracy: decisions > 0 ? right / decisions : 0, ece },
    labels: [],
    perClass: [],
    confusion: null,
    calibration,
    records,
    baseline,
  }
}

/** An output as the playground shows it (QA's and spans' scores are probabilities). */
export function toPrediction(setup: FinetuneSetup, input: PredictInput, output: PredictOutput): Prediction {
  switch (output.task) {
    case 'classify':
    case 'multilabel':
      return {
        task: output.task,
        labels: predictedClasses(setup, output.probabilities),
        probabilities: Object.fromEntries(setup.labels.map((label, c) => [label, output.probabilities[c]!])),
      }
    case 'tag':
      return { task: 'tag', spans: predictedSpans(setup, input.text, output) }
    case 'qa':
      return { task: 'qa', answer: output.answer && { text: output.answer.text, start: output.answer.start, end: output.answer.end, score: output.answer.probability } }
    case 'summarize': {
      const selected = new Set(output.selected)
      const sentences = output.sentences.map((sentence, s) => ({ text: sentence.text, score: output.scores[s]!, selected: selected.has(s) }))
      return { task: 'summarize', sentences, summary: sentences.filter((s) => s.selected).map((s) => s.text).join(' ') }
    }
  }
}
