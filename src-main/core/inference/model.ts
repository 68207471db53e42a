/**
 * A model ready to predict: an exported architecture (BertForPreTraining or a fine-tuned head)
 * built from its weights with the studio's own model code (bert.ts, heads.ts), and its outputs in
 * a plain, serialisable shape.
 *
 * The same code runs in three places, so what they compute cannot drift apart: the export task's
 * parity check (in-app weights against the files read back), the reference outputs written into
 * every export (studio-examples.json), and the standalone ES module a TensorFlow.js export ships
 * for web pages (bundled from browser.ts). Hence no Node imports here, and types only from io/.
 */
import * as tf from '@tensorflow/tfjs'
import { StudioError } from '../errors.ts'
import { BertForPreTraining, type FillMaskInput, type ForwardOptions } from '../model/bert.ts'
import { BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification, type EncodedBatch } from '../model/heads.ts'
import type { BertConfig } from '../train/types.ts'

export type ModelArchitecture = 'BertForPreTraining' | 'BertForSequenceClassification' | 'BertForTokenClassification' | 'BertForQuestionAnswering'

export const MODEL_ARCHITECTURES: readonly ModelArchitecture[] = ['BertForPreTraining', 'BertForSequenceClassification', 'BertForTokenClassification', 'BertForQuestionAnswering']

export type ClassificationProblem = 'single_label_classification' | 'multi_label_classification'

/** What to build: the architecture, its config and, for the classification heads, the labels. */
export interface ModelSpec {
  readonly architecture: ModelArchitecture
  readonly bertConfig: BertConfig
  /** Label names by id (sequence and token classification); null elsewhere. */
  readonly id2label: readonly string[] | null
  /** Sequence classification only; single-label when null. */
  readonly problemType: ClassificationProblem | null
}

/** A weight by Hugging Face name, dense kernels [in, out] (the studio's orientation). */
export type ModelWeight = tf.Tensor | { readonly shape: readonly number[]; readonly data: Float32Array }

/** One input, unpadded: what a tokenizer gives for a text (or a pair). */
export interface EncodedInput {
  readonly inputIds: readonly number[]
  readonly tokenTypeIds: readonly number[]
  readonly attentionMask: readonly number[]
}

/** What the architecture's heads say about one input, as plain arrays. */
export type RawOutputs =
  /** [C] */
  | { readonly kind: 'sequence'; readonly logits: number[] }
  /** [T][C], one row per token. */
  | { readonly kind: 'token'; readonly logits: number[][] }
  /** [T] each: span start and end logits (no span mask). */
  | { readonly kind: 'span'; readonly start: number[]; readonly end: number[] }
  /** NSP logits [2] and, at each [MASK], the MLM logits over the vocabulary [V]. */
  | { readonly kind: 'pretraining'; readonly nsp: number[]; readonly masks: { readonly position: number; readonly logits: number[] }[] }

/**
 * RawOutputs as written to a file: the pre-training head keeps only the `topK` largest MLM logits
 * at each mask (a vocabulary row per mask would make the file megabytes).
 */
export type StoredOutputs =
  | Exclude<RawOutputs, { kind: 'pretraining' }>
  | { readonly kind: 'pretraining'; readonly nsp: number[]; readonly masks: { readonly position: number; readonly top: { readonly id: number; readonly logit: number }[] }[] }

/** BertForPreTraining's head outputs; its `heads` is private, and the check must run exactly the in-app forward. */
type PretrainingHeads = { heads(batch: FillMaskInput, options: ForwardOptions): { mlmLogits: tf.Tensor2D; nspLogits: tf.Tensor2D } }

type HeadModel = BertForPreTraining | BertForSequenceClassification | BertForTokenClassification | BertForQuestionAnswering

const invalid = (message: string) => new StudioError('VALIDATION', message)
const formatShape = (shape: readonly number[]) => `[${shape.join(', ')}]`

/** The number of outputs a classification spec has (its labels). */
function labelCount(spec: ModelSpec): number {
  if (!spec.id2label || spec.id2label.length === 0) throw invalid(`${spec.architecture} needs its label names (id2label)`)
  return spec.id2label.length
}

/**
 * The studio's model for `spec`, every variable taken from `weights` (names and shapes checked
 * before anything is assigned; weights the architecture has no place for are left out).
 */
export class StudioModel {
  readonly spec: ModelSpec
  /** Weights given that the architecture does not use. */
  readonly unused: string[]
  private readonly model: HeadModel

  constructor(spec: ModelSpec, weights: ReadonlyMap<string, ModelWeight>) {
    if (!MODEL_ARCHITECTURES.includes(spec.architecture)) throw invalid(`architecture is ${JSON.stringify(spec.architecture)}, expected one of ${MODEL_ARCHITECTURES.join(', ')}`)
    this.spec = spec
    this.model = build(spec)
    try {
      this.unused = assignStrict(this.model.variables, weights)
    } catch (error) {
      this.model.dispose()
      throw error
    }
  }

  get variables(): ReadonlyMap<string, tf.Variable> {
    return this.model.variables
  }

  /**
   * Every logit the heads produce for a padded batch, flattened in a fixed order: the parity
   * check compares two models with this. The pre-training head reads `maskedPositions`; the
   * fine-tuning heads ignore it.
   */
  batchLogits(batch: FillMaskInput): tf.Tensor1D {
    return tf.tidy(() => {
      const options: ForwardOptions = { training: false }
      const model = this.model
      if (model instanceof BertForPreTraining) {
        const { mlmLogits, nspLogits } = (model as unknown as PretrainingHeads).heads(batch, options)
        return tf.concat([tf.reshape(mlmLogits, [-1]), tf.reshape(nspLogits, [-1])]) as tf.Tensor1D
      }
      if (model instanceof BertForQuestionAnswering) {
        const { start, end } = model.logits(batch, options)
        return tf.concat([tf.reshape(start, [-1]), tf.reshape(end, [-1])]) as tf.Tensor1D
      }
      return tf.reshape(model.logits(batch, options), [-1]) as tf.Tensor1D
    })
  }

  /**
   * The heads' outputs for each input, run alone at its own length (no padding), so anyone
   * (a web page, transformers) can reproduce them from the same token ids. `maskTokenId` marks
   * where the pre-training head guesses.
   */
  async run(inputs: readonly EncodedInput[], options: { maskTokenId?: number } = {}): Promise<RawOutputs[]> {
    const outputs: RawOutputs[] = []
    for (const [index, input] of inputs.entries()) {
      const T = input.inputIds.length
      if (T === 0 || input.tokenTypeIds.length !== T || input.attentionMask.length !== T) {
        throw invalid(`input ${index} has ${input.inputIds.length} ids, ${input.tokenTypeIds.length} segment ids and ${input.attentionMask.length} mask values, expected the same non-zero count`)
      }
      const batch: EncodedBatch = {
        batchSize: 1,
        seqLength: T,
        inputIds: Int32Array.from(input.inputIds),
        tokenTypeIds: Int32Array.from(input.tokenTypeIds),
        attentionMask: Int32Array.from(input.attentionMask),
      }
      outputs.push(await this.runOne(batch, options.maskTokenId))
    }
    return outputs
  }

  private async runOne(batch: EncodedBatch, maskTokenId: number | undefined): Promise<RawOutputs> {
    const model = this.model
    const T = batch.seqLength
    const options: ForwardOptions = { training: false }
    if (model instanceof BertForSequenceClassification) {
      const logits = model.logits(batch, options)
      const values = Array.from(await logits.data())
      logits.dispose()
      return { kind: 'sequence', logits: values }
    }
    if (model instanceof BertForTokenClassification) {
      const logits = model.logits(batch, options)
      const values = await logits.data()
      logits.dispose()
      const C = model.numLabels
      return { kind: 'token', logits: Array.from({ length: T }, (_, t) => Array.from(values.subarray(t * C, (t + 1) * C))) }
    }
    if (model instanceof BertForQuestionAnswering) {
      const { start, end } = model.logits(batch, options)
      const [starts, ends] = await Promise.all([start.data(), end.data()])
      tf.dispose([start, end])
      return { kind: 'span', start: Array.from(starts), end: Array.from(ends) }
    }
    const positions: number[] = []
    if (maskTokenId !== undefined) batch.inputIds.forEach((id, position) => id === maskTokenId && positions.push(position))
    // The head gathers at least one row; with no mask it looks at [CLS] and the row is dropped.
    const input: FillMaskInput = { ...batch, maxPredictions: Math.max(1, positions.length), maskedPositions: Int32Array.from(positions.length > 0 ? positions : [0]) }
    const { mlmLogits, nspLogits } = tf.tidy(() => (model as unknown as PretrainingHeads).heads(input, options))
    const [mlm, nsp] = await Promise.all([mlmLogits.data(), nspLogits.data()])
    tf.dispose([mlmLogits, nspLogits])
    const V = this.spec.bertConfig.vocab_size
    return {
      kind: 'pretraining',
      nsp: Array.from(nsp),
      masks: positions.map((position, row) => ({ position, logits: Array.from(mlm.subarray(row * V, (row + 1) * V)) })),
    }
  }

  dispose(): void {
    this.model.dispose()
  }
}

function build(spec: ModelSpec): HeadModel {
  const config = spec.bertConfig
  switch (spec.architecture) {
    case 'BertForPreTraining':
      return new BertForPreTraining(config, { seed: 0 })
    case 'BertForSequenceClassification':
      return new BertForSequenceClassification(config, { numLabels: labelCount(spec), problemType: spec.problemType ?? 'single_label_classification' })
    case 'BertForTokenClassification':
      return new BertForTokenClassification(config, { numLabels: labelCount(spec) })
    case 'BertForQuestionAnswering':
      return new BertForQuestionAnswering(config)
  }
}

function assignStrict(variables: ReadonlyMap<string, tf.Variable>, weights: ReadonlyMap<string, ModelWeight>): string[] {
  const missing = [...variables.keys()].filter((name) => !weights.has(name))
  if (missing.length > 0) throw invalid(`The weights lack ${missing.length} of the model's variables: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`)
  for (const [name, variable] of variables) {
    const weight = weights.get(name)!
    if (weight.shape.length !== variable.shape.length || weight.shape.some((size, i) => size !== variable.shape[i])) {
      throw invalid(`Weight ${name} has shape ${formatShape(weight.shape)}, expected ${formatShape(variable.shape)}`)
    }
    if (!(weight instanceof tf.Tensor)) {
      const count = weight.shape.reduce((product, size) => product * size, 1)
      if (weight.data.length !== count) throw invalid(`Weight ${name} has ${weight.data.length} values, expected ${count} for shape ${formatShape(weight.shape)}`)
    }
  }
  for (const [name, variable] of variables) {
    const weight = weights.get(name)!
    tf.tidy(() => variable.assign(weight instanceof tf.Tensor ? tf.cast(weight, 'float32') : tf.tensor(weight.data, [...weight.shape], 'float32')))
  }
  return [...weights.keys()].filter((name) => !variables.has(name))
}

// ---------------------------------------------------------------------------------------------
// Outputs as files hold them, and their comparison

/** RawOutputs → StoredOutputs: the pre-training head's `topK` largest logits at each mask. */
export function storeOutputs(outputs: RawOutputs, topK = 10): StoredOutputs {
  if (outputs.kind !== 'pretraining') return outputs
  return {
    kind: 'pretraining',
    nsp: outputs.nsp,
    masks: outputs.masks.map(({ position, logits }) => ({
      position,
      top: logits
        .map((logit, id) => ({ id, logit }))
        .sort((a, b) => b.logit - a.logit || a.id - b.id)
        .slice(0, topK),
    })),
  }
}

/**
 * The largest |Δlogit| between outputs stored earlier (e.g. the studio's, in studio-examples.json)
 * and outputs computed now; NaN (which fails every tolerance) when their shapes differ.
 */
export function outputsDifference(expected: StoredOutputs, actual: RawOutputs): number {
  let largest = 0
  const compare = (a: readonly number[], b: readonly number[] | undefined): void => {
    if (!b || a.length !== b.length) {
      largest = NaN
      return
    }
    for (let i = 0; i < a.length; i++) {
      const difference = Math.abs(a[i]! - b[i]!)
      // NaN must survive, so it is not lost in Math.max.
      largest = Number.isNaN(difference) || Number.isNaN(largest) ? NaN : Math.max(largest, difference)
    }
  }
  if (expected.kind !== actual.kind) return NaN
  if (expected.kind === 'sequence' && actual.kind === 'sequence') compare(expected.logits, actual.logits)
  else if (expected.kind === 'token' && actual.kind === 'token') {
    if (expected.logits.length !== actual.logits.length) return NaN
    expected.logits.forEach((row, t) => compare(row, actual.logits[t]))
  } else if (expected.kind === 'span' && actual.kind === 'span') {
    compare(expected.start, actual.start)
    compare(expected.end, actual.end)
  } else if (expected.kind === 'pretraining' && actual.kind === 'pretraining') {
    compare(expected.nsp, actual.nsp)
    if (expected.masks.length !== actual.masks.length) return NaN
    expected.masks.forEach((mask, m) => {
      const row = actual.masks[m]!
      if (row.position !== mask.position) largest = NaN
      compare(
        mask.top.map((entry) => entry.logit),
        mask.top.map((entry) => row.logits[entry.id] ?? NaN),
      )
    })
  }
  return largest
}

// ---------------------------------------------------------------------------------------------
// Predictions in words

export interface ReadableToken {
  readonly token: string
  readonly label: string
  readonly probability: number
}

/** What the outputs mean, for people: labels with probabilities, tags, an answer, guesses. */
export type Reading =
  | { readonly kind: 'sequence'; readonly multiLabel: boolean; readonly labels: { readonly label: string; readonly probability: number; readonly chosen: boolean }[] }
  | { readonly kind: 'token'; readonly tokens: ReadableToken[] }
  | { readonly kind: 'span'; readonly answer: { readonly text: string; readonly start: number; readonly end: number; readonly score: number } | null }
  | { readonly kind: 'pretraining'; readonly isNext: number; readonly masks: { readonly position: number; readonly candidates: { readonly token: string; readonly probability: number }[] }[] }

export function softmax(logits: readonly number[]): number[] {
  const top = Math.max(...logits)
  const exps = logits.map((logit) => Math.exp(logit - top))
  const sum = exps.reduce((a, b) => a + b, 0)
  return exps.map((value) => value / sum)
}

const sigmoid = (logit: number) => 1 / (1 + Math.exp(-logit))

const SPECIAL = new Set(['[CLS]', '[SEP]', '[PAD]'])

/** Word pieces joined back into words (`##` continues the previous one). */
export function joinPieces(tokens: readonly string[]): string {
  let text = ''
  for (const token of tokens) text += token.startsWith('##') ? token.slice(2) : text === '' ? token : ` ${token}`
  return text
}

/**
 * Reads outputs for one input whose `tokens` (and segment ids, for a QA pair: the answer lies in
 * segment 1) are given.
 */
export function readOutputs(
  spec: ModelSpec,
  outputs: RawOutputs,
  input: { readonly tokens: readonly string[]; readonly tokenTypeIds: readonly number[] },
  options: { readonly vocab?: readonly string[]; readonly topK?: number; readonly maxAnswerLength?: number } = {},
): Reading {
  const labelOf = (id: number) => spec.id2label?.[id] ?? `LABEL_${id}`
  switch (outputs.kind) {
    case 'sequence': {
      const multiLabel = spec.problemType === 'multi_label_classification'
      const probabilities = multiLabel ? outputs.logits.map(sigmoid) : softmax(outputs.logits)
      const best = probabilities.indexOf(Math.max(...probabilities))
      const labels = probabilities.map((probability, id) => ({ label: labelOf(id), probability, chosen: multiLabel ? probability > 0.5 : id === best }))
      return { kind: 'sequence', multiLabel, labels: labels.sort((a, b) => b.probability - a.probability) }
    }
    case 'token':
      return {
        kind: 'token',
        tokens: outputs.logits.flatMap((row, t) => {
          const token = input.tokens[t] ?? ''
          if (SPECIAL.has(token)) return []
          const probabilities = softmax(row)
          const best = probabilities.indexOf(Math.max(...probabilities))
          return [{ token, label: labelOf(best), probability: probabilities[best]! }]
        }),
      }
    case 'span': {
      const maxLength = options.maxAnswerLength ?? 30
      const inPassage = (t: number) => input.tokenTypeIds[t] === 1 && !SPECIAL.has(input.tokens[t] ?? '')
      let best: { start: number; end: number; score: number } | null = null
      for (let start = 0; start < outputs.start.length; start++) {
        if (!inPassage(start)) continue
        for (let end = start; end < Math.min(outputs.end.length, start + maxLength); end++) {
          if (!inPassage(end)) break
          const score = outputs.start[start]! + outputs.end[end]!
          if (!best || score > best.score) best = { start, end, score }
        }
      }
      return { kind: 'span', answer: best && { ...best, text: joinPieces(input.tokens.slice(best.start, best.end + 1)) } }
    }
    case 'pretraining': {
      const topK = options.topK ?? 5
      return {
        kind: 'pretraining',
        isNext: softmax(outputs.nsp)[0]!,
        masks: outputs.masks.map(({ position, logits }) => {
          const probabilities = softmax(logits)
          const candidates = probabilities
            .map((probability, id) => ({ token: options.vocab?.[id] ?? String(id), probability }))
            .sort((a, b) => b.probability - a.probability)
            .slice(0, topK)
          return { position, candidates }
        }),
      }
    }
  }
}

/**
 * The outputs' decision in a few words: the label (or labels) chosen, each token's tag, the span's
 * token positions, or each mask's best token. What the example page shows for the studio's
 * stored outputs beside its own.
 */
export function outputsSummary(spec: Pick<ModelSpec, 'id2label' | 'problemType'>, outputs: StoredOutputs | RawOutputs, vocab?: readonly string[]): string {
  const labelOf = (id: number) => spec.id2label?.[id] ?? `LABEL_${id}`
  const argmax = (values: readonly number[]) => values.reduce((best, value, i) => (value > values[best]! ? i : best), 0)
  switch (outputs.kind) {
    case 'sequence':
      if (spec.problemType === 'multi_label_classification') {
        const chosen = outputs.logits.flatMap((logit, id) => (logit > 0 ? [labelOf(id)] : []))
        return chosen.length > 0 ? chosen.join(', ') : '(none)'
      }
      return labelOf(argmax(outputs.logits))
    case 'token':
      return outputs.logits.map((row) => labelOf(argmax(row))).join(' ')
    case 'span':
      return `tokens ${argmax(outputs.start)}–${argmax(outputs.end)}`
    case 'pretraining':
      return outputs.masks
        .map((mask) => {
          const id = 'top' in mask ? (mask.top[0]?.id ?? -1) : argmax(mask.logits)
          return vocab?.[id] ?? String(id)
        })
        .join(', ')
  }
}
