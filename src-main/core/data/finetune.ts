/**
 * Fine-tuning data: labelled examples → the padded batches the heads in model/heads.ts read, and
 * the way back from logits to words, spans and sentences.
 *
 * Tokenisation here is the BERT tokenizer's own normaliser, pre-tokenizer and WordPiece (the pure
 * code `BertTokenizer.tokenizeWords` runs), applied so that every piece keeps the character span
 * it came from: token classification needs each word's first piece, QA needs character offsets.
 * Everything is synchronous and needs no native binding.
 */
import { badInput, StudioError } from '../errors.ts'
import type { QuestionAnsweringBatch, SequenceClassificationBatch, SequenceProblemType, TokenClassificationBatch } from '../model/heads.ts'
import { CLS, CONTINUING_PREFIX, PAD, SEP, UNK, type TokenizerSettings } from '../tokenizer/format.ts'
import { bertNormalize, bertPreTokenize } from '../tokenizer/normalize.ts'
import { truncatedLengths } from '../tokenizer/template.ts'
import { Rng } from './rng.ts'

/** What the builders need of a tokenizer (`BertTokenizer` has it). */
export interface PieceTokenizer {
  readonly settings: TokenizerSettings
  wordPieces(word: string): string[]
  tokenToId(token: string): number | undefined
}

/** One WordPiece with the characters of the original text it covers ([start, end), UTF-16 offsets). */
export interface Piece {
  readonly token: string
  readonly id: number
  readonly start: number
  readonly end: number
  /** Index of the pre-tokenized word it belongs to. */
  readonly word: number
}

const invalid = (message: string) => new StudioError('VALIDATION', message)

interface Specials {
  cls: number
  sep: number
  pad: number
  unk: number
}

function specialsOf(tokenizer: PieceTokenizer): Specials {
  const id = (token: string) => {
    const found = tokenizer.tokenToId(token)
    if (found === undefined) throw invalid(`The vocabulary has no ${token} token, which fine-tuning inputs need`)
    return found
  }
  return { cls: id(CLS), sep: id(SEP), pad: id(PAD), unk: id(UNK) }
}

/**
 * WordPieces of `text` with character offsets. Each character is normalised alone (lowercasing,
 * accent stripping, CJK spacing and control removal are per character), so every normalised
 * character knows its source; words and pieces are then located in the normalised text.
 * (Unlike `tokenizeWords`, a special token written in the text is split like any other word.)
 */
export function tokenizeWithOffsets(tokenizer: PieceTokenizer, text: string): Piece[] {
  let normalized = ''
  const from: number[] = []
  const to: number[] = []
  for (let offset = 0; offset < text.length; ) {
    const code = text.codePointAt(offset)!
    const char = String.fromCodePoint(code)
    const out = bertNormalize(char, tokenizer.settings)
    for (let i = 0; i < out.length; i++) {
      from.push(offset)
      to.push(offset + char.length)
    }
    normalized += out
    offset += char.length
  }
  const pieces: Piece[] = []
  let cursor = 0
  for (const [word, text] of bertPreTokenize(normalized).entries()) {
    const at = normalized.indexOf(text, cursor)
    cursor = at + text.length
    const span = (a: number, b: number) => ({ start: from[at + a]!, end: to[at + b - 1]! })
    const wordPieces = tokenizer.wordPieces(text)
    if (wordPieces.length === 1 && wordPieces[0] === UNK) {
      pieces.push({ token: UNK, id: tokenizer.tokenToId(UNK) ?? 0, ...span(0, text.length), word })
      continue
    }
    let inside = 0
    for (const piece of wordPieces) {
      const body = piece.startsWith(CONTINUING_PREFIX) && inside > 0 ? piece.slice(CONTINUING_PREFIX.length) : piece
      pieces.push({ token: piece, id: tokenizer.tokenToId(piece)!, ...span(inside, inside + body.length), word })
      inside += body.length
    }
  }
  return pieces
}

/** One encoded sequence before padding. */
interface Row {
  ids: number[]
  types: number[]
}

function pad(rows: readonly Row[], seqLength: number, padId: number) {
  const B = rows.length
  const inputIds = new Int32Array(B * seqLength).fill(padId)
  const tokenTypeIds = new Int32Array(B * seqLength)
  const attentionMask = new Int32Array(B * seqLength)
  for (const [b, row] of rows.entries()) {
    inputIds.set(row.ids, b * seqLength)
    tokenTypeIds.set(row.types, b * seqLength)
    attentionMask.fill(1, b * seqLength, b * seqLength + row.ids.length)
  }
  return { batchSize: B, seqLength, inputIds, tokenTypeIds, attentionMask }
}

function checkMaxLength(maxLength: number): void {
  if (!Number.isInteger(maxLength) || maxLength < 3) throw badInput(`maxLength is ${maxLength}, expected an integer ≥ 3 (room for [CLS], [SEP] and a token)`)
}

/** Padded length: the longest row, or `maxLength` when asked to pad to it. */
const paddedLength = (rows: readonly Row[], maxLength: number, padToMaxLength: boolean) => (padToMaxLength ? maxLength : Math.max(1, ...rows.map((row) => row.ids.length)))

// ---------------------------------------------------------------------------------------------
// Sequence classification

export interface SequenceExample {
  readonly text: string
  readonly textPair?: string | null
  /** One class id (single-label), or the ids of every label that applies (multi-label; may be empty). */
  readonly labels: readonly number[]
}

export interface SequenceBatchOptions {
  /** Total length with [CLS]/[SEP]; longer inputs are truncated longest segment first (Hugging Face's LongestFirst). */
  readonly maxLength: number
  readonly numLabels: number
  readonly problemType?: SequenceProblemType
  /** Pad every row to maxLength instead of the batch's longest. */
  readonly padToMaxLength?: boolean
}

/** `[CLS] A [SEP] (B [SEP])` for each example, padded; labels as BertForSequenceClassification reads them. */
export function buildSequenceClassificationBatch(tokenizer: PieceTokenizer, examples: readonly SequenceExample[], options: SequenceBatchOptions): SequenceClassificationBatch {
  checkMaxLength(options.maxLength)
  if (examples.length === 0) throw badInput('A batch needs at least 1 example, got 0')
  const special = specialsOf(tokenizer)
  const C = options.numLabels
  const multi = options.problemType === 'multi_label_classification'
  const rows: Row[] = []
  const labels = new Int32Array(multi ? examples.length * C : examples.length)
  for (const [b, example] of examples.entries()) {
    const first = tokenizeWithOffsets(tokenizer, example.text).map((piece) => piece.id)
    const pair = example.textPair === undefined || example.textPair === null ? null : tokenizeWithOffsets(tokenizer, example.textPair).map((piece) => piece.id)
    let [a, bLength] = [first.length, pair ? pair.length : 0]
    if (pair) [a, bLength] = truncatedLengths(a, bLength, options.maxLength - 3)
    else a = Math.min(a, options.maxLength - 2)
    const ids = [special.cls, ...first.slice(0, a), special.sep]
    const types = ids.map(() => 0)
    if (pair) {
      ids.push(...pair.slice(0, bLength), special.sep)
      while (types.length < ids.length) types.push(1)
    }
    rows.push({ ids, types })
    for (const label of example.labels) {
      if (!Number.isInteger(label) || label < 0 || label >= C) throw badInput(`Example ${b} has label ${label}, expected an integer in [0, ${C - 1}]`)
    }
    if (multi) for (const label of example.labels) labels[b * C + label] = 1
    else {
      if (example.labels.length !== 1) throw badInput(`Example ${b} has ${example.labels.length} labels, expected 1 (single-label classification)`)
      labels[b] = example.labels[0]!
    }
  }
  return { ...pad(rows, paddedLength(rows, options.maxLength, options.padToMaxLength ?? false), special.pad), labels }
}

// ---------------------------------------------------------------------------------------------
// Token classification (and extractive summarisation, which is token classification of sentences)

export interface TokenExample {
  readonly words: readonly string[]
  /** One tag id per word. */
  readonly tags: readonly number[]
}

export interface TokenBatchOptions {
  readonly maxLength: number
  readonly numLabels: number
  readonly padToMaxLength?: boolean
}

export interface TokenBatch {
  readonly batch: TokenClassificationBatch
  /** Per example, per word: the sequence position of its first piece, or −1 when it has none (truncated, or nothing left after normalisation). */
  readonly firstPieces: number[][]
}

function buildUnits(
  tokenizer: PieceTokenizer,
  examples: readonly { units: readonly string[]; tags: readonly number[] | undefined }[],
  options: TokenBatchOptions,
  alternateSegments: boolean,
): TokenBatch {
  checkMaxLength(options.maxLength)
  if (examples.length === 0) throw badInput('A batch needs at least 1 example, got 0')
  const special = specialsOf(tokenizer)
  const rows: Row[] = []
  const firstPieces: number[][] = []
  const labelRows: [number, number][][] = []
  for (const [b, example] of examples.entries()) {
    if (example.tags && example.tags.length !== example.units.length) throw badInput(`Example ${b} has ${example.units.length} words and ${example.tags.length} tags, expected one tag per word`)
    const ids = [special.cls]
    const types = [0]
    const firsts: number[] = []
    const labels: [number, number][] = []
    for (const [w, unit] of example.units.entries()) {
      const pieces = tokenizeWithOffsets(tokenizer, unit)
      const room = options.maxLength - 1 - ids.length
      if (pieces.length === 0 || room <= 0) {
        firsts.push(-1)
        continue
      }
      firsts.push(ids.length)
      const tag = example.tags?.[w]
      if (tag !== undefined) {
        if (!Number.isInteger(tag) || tag < 0 || tag >= options.numLabels) throw badInput(`Example ${b} word ${w} has tag ${tag}, expected an integer in [0, ${options.numLabels - 1}]`)
        labels.push([ids.length, tag])
      }
      for (const piece of pieces.slice(0, room)) {
        ids.push(piece.id)
        types.push(alternateSegments ? w % 2 : 0)
      }
    }
    ids.push(special.sep)
    types.push(0)
    rows.push({ ids, types })
    firstPieces.push(firsts)
    labelRows.push(labels)
  }
  const encoded = pad(rows, paddedLength(rows, options.maxLength, options.padToMaxLength ?? false), special.pad)
  const T = encoded.seqLength
  const labels = new Int32Array(examples.length * T)
  const labelWeights = new Float32Array(examples.length * T)
  for (const [b, row] of labelRows.entries()) {
    for (const [position, tag] of row) {
      labels[b * T + position] = tag
      labelWeights[b * T + position] = 1
    }
  }
  return { batch: { ...encoded, labels, labelWeights }, firstPieces }
}

/** `[CLS] pieces… [SEP]`, the tag on each word's first piece (weight 1), later pieces ignored (weight 0). */
export function buildTokenClassificationBatch(tokenizer: PieceTokenizer, examples: readonly TokenExample[], options: TokenBatchOptions): TokenBatch {
  return buildUnits(
    tokenizer,
    examples.map((example) => ({ units: example.words, tags: example.tags })),
    options,
    false,
  )
}

/** Per example, per word: the tag predicted at its first piece ([B*T] from `predict`), −1 for words without one. */
export function wordTags(tags: ArrayLike<number>, seqLength: number, firstPieces: readonly (readonly number[])[]): number[][] {
  return firstPieces.map((positions, b) => positions.map((position) => (position < 0 ? -1 : tags[b * seqLength + position]!)))
}

export interface SummaryDocument {
  readonly sentences: readonly string[]
  /** 1 for each sentence in the reference summary, 0 otherwise (omit for prediction). */
  readonly labels?: readonly number[]
}

/**
 * Extractive summarisation as token classification over a whole document (BERTSUM-like): the
 * sentences follow one another after [CLS], segment ids alternate by sentence, and the label
 * (in summary or not) sits on each sentence's first piece. Use BertForTokenClassification with
 * numLabels 2. Sentences past maxLength get −1 in `firstPieces` and score 0.
 */
export function buildExtractiveSummaryBatch(tokenizer: PieceTokenizer, documents: readonly SummaryDocument[], options: Omit<TokenBatchOptions, 'numLabels'>): TokenBatch {
  return buildUnits(
    tokenizer,
    documents.map((document) => ({ units: document.sentences, tags: document.labels })),
    { ...options, numLabels: 2 },
    true,
  )
}

/** Per document, per sentence: P(in summary) from token probabilities [B*T*2]; 0 for sentences without a position. */
export function sentenceScores(probabilities: ArrayLike<number>, seqLength: number, firstPieces: readonly (readonly number[])[]): number[][] {
  return firstPieces.map((positions, b) => positions.map((position) => (position < 0 ? 0 : probabilities[(b * seqLength + position) * 2 + 1]!)))
}

export interface Summary {
  /** Kept sentences' indices, in document order. */
  readonly indices: number[]
  readonly sentences: string[]
  readonly words: number
}

const wordCount = (text: string) => text.split(/\s+/).filter((word) => word.length > 0).length

/**
 * The best-scoring sentences that fit in `budgetWords` words, in document order: sentences are
 * taken by score (ties: earlier first) and one that would overflow the budget is skipped.
 */
export function summarise(scores: readonly number[], sentences: readonly string[], budgetWords: number): Summary {
  if (scores.length !== sentences.length) throw badInput(`There are ${scores.length} scores for ${sentences.length} sentences, expected one per sentence`)
  const order = scores.map((score, index) => ({ score, index })).sort((a, b) => b.score - a.score || a.index - b.index)
  const kept: number[] = []
  let words = 0
  for (const { index } of order) {
    const count = wordCount(sentences[index]!)
    if (words + count > budgetWords) continue
    kept.push(index)
    words += count
  }
  kept.sort((a, b) => a - b)
  return { indices: kept, sentences: kept.map((index) => sentences[index]!), words }
}

// ---------------------------------------------------------------------------------------------
// Extractive question answering

export interface QaExample {
  readonly question: string
  readonly context: string
  /** Character offset of the answer in `context` (absent for prediction, or when there is no answer). */
  readonly answerStart?: number
  readonly answerText?: string
}

export interface QaOptions {
  /** Total length: [CLS] question [SEP] passage window [SEP]. */
  readonly maxLength: number
  /** Tokens between the starts of successive windows (BERT's doc_stride; Hugging Face's `stride` is the overlap, maxLength − question − 3 − docStride). */
  readonly docStride: number
  /** The question is cut to this many pieces (BERT's max_query_length, default 64). */
  readonly maxQueryLength?: number
}

/** One window of one example. */
export interface QaFeature {
  /** Index of its example. */
  readonly example: number
  readonly inputIds: number[]
  readonly tokenTypeIds: number[]
  /** Per position: the passage characters [start, end) it covers, or null outside the passage. */
  readonly offsets: ([number, number] | null)[]
  /** Per position: whether this window gives the token its most context of all windows (BERT's `token_is_max_context`). */
  readonly maxContext: boolean[]
  /** The answer's first and last piece; 0 ([CLS]) when the window does not hold the whole answer. */
  readonly startPosition: number
  readonly endPosition: number
}

/**
 * Question + passage windows (BERT's run_squad): the passage's pieces are covered by windows of
 * maxLength − question − 3 pieces, starting `docStride` apart; a window holding the whole answer
 * labels its first and last piece, any other labels [CLS].
 */
export function buildQaFeatures(tokenizer: PieceTokenizer, examples: readonly QaExample[], options: QaOptions): QaFeature[] {
  checkMaxLength(options.maxLength)
  if (!Number.isInteger(options.docStride) || options.docStride < 1) throw badInput(`docStride is ${options.docStride}, expected an integer ≥ 1`)
  const maxQuery = options.maxQueryLength ?? 64
  const special = specialsOf(tokenizer)
  const features: QaFeature[] = []
  for (const [e, example] of examples.entries()) {
    const question = tokenizeWithOffsets(tokenizer, example.question).slice(0, maxQuery)
    const passage = tokenizeWithOffsets(tokenizer, example.context)
    const room = options.maxLength - question.length - 3
    if (room < 1) throw badInput(`Example ${e}: the question takes ${question.length} pieces, leaving no room for the passage in maxLength ${options.maxLength}`)
    let answer: [number, number] | null = null
    if (example.answerStart !== undefined && example.answerText !== undefined && example.answerText.length > 0) {
      const begin = example.answerStart
      const end = begin + example.answerText.length
      if (begin < 0 || end > example.context.length) throw badInput(`Example ${e}: the answer [${begin}, ${end}) lies outside its context of ${example.context.length} characters`)
      if (example.context.slice(begin, end) !== example.answerText) throw badInput(`Example ${e}: the context at ${begin} reads ${JSON.stringify(example.context.slice(begin, end))}, expected the answer ${JSON.stringify(example.answerText)}`)
      const first = passage.findIndex((piece) => piece.end > begin)
      let last = -1
      for (let i = passage.length - 1; i >= 0; i--) {
        if (passage[i]!.start < end) {
          last = i
          break
        }
      }
      if (first >= 0 && last >= first) answer = [first, last]
    }
    const windows: [number, number][] = []
    for (let start = 0; ; start += Math.min(room, options.docStride)) {
      const length = Math.min(room, passage.length - start)
      windows.push([start, length])
      if (start + length >= passage.length) break
    }
    const maxContextOf = (window: number, token: number) => {
      // BERT: the window where min(left, right context) + 0.01·length is largest.
      let best = -1
      let bestScore = -Infinity
      for (const [w, [start, length]] of windows.entries()) {
        if (token < start || token >= start + length) continue
        const score = Math.min(token - start, start + length - 1 - token) + 0.01 * length
        if (score > bestScore) {
          bestScore = score
          best = w
        }
      }
      return best === window
    }
    for (const [w, [start, length]] of windows.entries()) {
      const inputIds = [special.cls, ...question.map((piece) => piece.id), special.sep]
      const tokenTypeIds = inputIds.map(() => 0)
      const offsets: ([number, number] | null)[] = inputIds.map(() => null)
      const maxContext = inputIds.map(() => false)
      const passageStart = inputIds.length
      for (let i = start; i < start + length; i++) {
        const piece = passage[i]!
        inputIds.push(piece.id)
        tokenTypeIds.push(1)
        offsets.push([piece.start, piece.end])
        maxContext.push(maxContextOf(w, i))
      }
      inputIds.push(special.sep)
      tokenTypeIds.push(1)
      offsets.push(null)
      maxContext.push(false)
      let startPosition = 0
      let endPosition = 0
      if (answer && answer[0] >= start && answer[1] < start + length) {
        startPosition = passageStart + answer[0] - start
        endPosition = passageStart + answer[1] - start
      }
      features.push({ example: e, inputIds, tokenTypeIds, offsets, maxContext, startPosition, endPosition })
    }
  }
  return features
}

/** Features as a batch, padded to the longest (or to `seqLength`); the span mask allows the passage and [CLS]. */
export function qaBatch(features: readonly QaFeature[], padId: number, seqLength?: number): QuestionAnsweringBatch {
  if (features.length === 0) throw badInput('A batch needs at least 1 feature, got 0')
  const rows = features.map((feature) => ({ ids: feature.inputIds, types: feature.tokenTypeIds }))
  const T = seqLength ?? Math.max(...rows.map((row) => row.ids.length))
  const encoded = pad(rows, T, padId)
  const spanMask = new Float32Array(features.length * T)
  for (const [b, feature] of features.entries()) {
    spanMask[b * T] = 1
    feature.offsets.forEach((offset, t) => {
      if (offset) spanMask[b * T + t] = 1
    })
  }
  return {
    ...encoded,
    startPositions: Int32Array.from(features, (feature) => feature.startPosition),
    endPositions: Int32Array.from(features, (feature) => feature.endPosition),
    spanMask,
  }
}

export interface QaAnswer {
  readonly text: string
  /** Character offsets in the context, [start, end). */
  readonly start: number
  readonly end: number
  /** start logit + end logit */
  readonly score: number
  /**
   * P(start) · P(end) under the softmaxes of its window's start and end logits over the positions
   * a span may use ([CLS] and the passage): the model's confidence in this span.
   */
  readonly probability: number
}

export interface QaPrediction {
  /** The best valid span over all of the example's windows; null when no window has a passage token. */
  readonly best: QaAnswer | null
  /** The lowest [CLS] score (start + end logit at 0) over its windows: compare with best.score for "no answer". */
  readonly nullScore: number
}

/** Logits of one feature, positions as in its `inputIds` (padding beyond is ignored). */
export interface QaLogits {
  readonly start: ArrayLike<number>
  readonly end: ArrayLike<number>
}

/** Rows of a flat [B*T] array, for splitting a batch's `predict` output per feature. */
export function rowsOf(flat: Float32Array, seqLength: number): Float32Array[] {
  return Array.from({ length: flat.length / seqLength }, (_, b) => flat.subarray(b * seqLength, (b + 1) * seqLength))
}

/**
 * The best answer span per example: end ≥ start, at most `maxAnswerLength` pieces, both inside
 * the passage, the start in the window that gives it the most context; scored start + end logit,
 * and mapped back to the context's characters.
 */
export function postprocessQa(examples: readonly QaExample[], features: readonly QaFeature[], logits: readonly QaLogits[], options: { maxAnswerLength?: number } = {}): QaPrediction[] {
  if (logits.length !== features.length) throw badInput(`There are ${logits.length} logit rows for ${features.length} features, expected one per feature`)
  const maxAnswer = options.maxAnswerLength ?? 30
  const best: (QaAnswer | null)[] = examples.map(() => null)
  const nulls = examples.map(() => Infinity)
  for (const [f, feature] of features.entries()) {
    const { start, end } = logits[f]!
    const e = feature.example
    nulls[e] = Math.min(nulls[e]!, start[0]! + end[0]!)
    const T = feature.inputIds.length
    const logNormalizer = (logits: ArrayLike<number>) => {
      let max = -Infinity
      for (let t = 0; t < T; t++) if (t === 0 || feature.offsets[t]) max = Math.max(max, logits[t]!)
      let total = 0
      for (let t = 0; t < T; t++) if (t === 0 || feature.offsets[t]) total += Math.exp(logits[t]! - max)
      return max + Math.log(total)
    }
    const startNormalizer = logNormalizer(start)
    const endNormalizer = logNormalizer(end)
    for (let i = 0; i < T; i++) {
      const from = feature.offsets[i]
      if (!from || !feature.maxContext[i]) continue
      for (let j = i; j < Math.min(T, i + maxAnswer); j++) {
        const to = feature.offsets[j]
        if (!to) continue
        const score = start[i]! + end[j]!
        const current = best[e]
        if (current && current.score >= score) continue
        const context = examples[e]!.context
        const probability = Math.exp(start[i]! - startNormalizer + end[j]! - endNormalizer)
        best[e] = { text: context.slice(from[0], to[1]), start: from[0], end: to[1], score, probability }
      }
    }
  }
  return examples.map((_, e) => ({ best: best[e]!, nullScore: nulls[e]! }))
}

// ---------------------------------------------------------------------------------------------
// Splits

/**
 * Indices split by `fractions` (e.g. [0.8, 0.1, 0.1], summing to 1) within each label, so every
 * split keeps the label proportions. Each label's examples are shuffled by a stream derived from
 * (seed, label) and cut by largest remainders; the result depends only on the seed and the labels,
 * and each split lists its indices in ascending order.
 */
export function stratifiedSplit(labels: readonly (number | string)[], fractions: readonly number[], seed: number): number[][] {
  if (fractions.length === 0 || fractions.some((f) => !(f >= 0))) throw badInput(`fractions are [${fractions.join(', ')}], expected numbers ≥ 0`)
  const total = fractions.reduce((sum, f) => sum + f, 0)
  if (Math.abs(total - 1) > 1e-6) throw badInput(`fractions sum to ${total}, expected 1`)
  const byLabel = new Map<string, number[]>()
  for (const [index, label] of labels.entries()) {
    const key = `${typeof label}:${label}`
    const list = byLabel.get(key)
    if (list) list.push(index)
    else byLabel.set(key, [index])
  }
  const splits: number[][] = fractions.map(() => [])
  for (const [key, indices] of byLabel) {
    Rng.derive(seed, 'stratified-split', key).shuffle(indices)
    const n = indices.length
    const counts = fractions.map((f) => Math.floor(f * n))
    const remainders = fractions.map((f, s) => ({ s, r: f * n - counts[s]! })).sort((a, b) => b.r - a.r || a.s - b.s)
    let left = n - counts.reduce((sum, c) => sum + c, 0)
    for (const { s } of remainders) {
      if (left <= 0) break
      counts[s]! += 1
      left -= 1
    }
    let at = 0
    for (const [s, count] of counts.entries()) {
      splits[s]!.push(...indices.slice(at, at + count))
      at += count
    }
  }
  for (const split of splits) split.sort((a, b) => a - b)
  return splits
}
