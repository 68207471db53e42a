/**
 * BERT's hyper-parameters: presets (the published small BERTs), validation, JSON round trip and
 * the size figures the UI shows (parameter count, rough training memory).
 */
import { StudioError } from '../errors.ts'
import type { BertConfig } from '../train/types.ts'

export type { BertConfig }

export type BertPresetName = 'tiny' | 'mini' | 'small' | 'medium' | 'base'

/** Layers / hidden size / attention heads of the published BERT sizes (intermediate is 4 × hidden). */
export const BERT_PRESETS: Readonly<Record<BertPresetName, { readonly layers: number; readonly hidden: number; readonly heads: number }>> = {
  tiny: { layers: 2, hidden: 128, heads: 2 },
  mini: { layers: 4, hidden: 256, heads: 4 },
  small: { layers: 4, hidden: 512, heads: 8 },
  medium: { layers: 8, hidden: 512, heads: 8 },
  base: { layers: 12, hidden: 768, heads: 12 },
}

/** Hugging Face's BertConfig defaults (BERT-Base, uncased vocabulary). */
export const DEFAULT_BERT_CONFIG: BertConfig = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
}

const CONFIG_KEYS = Object.keys(DEFAULT_BERT_CONFIG) as (keyof BertConfig)[]

const invalid = (message: string) => new StudioError('VALIDATION', message)

/** A validated config: defaults for whatever `overrides` leaves out. */
export function makeBertConfig(overrides: Partial<BertConfig> = {}): BertConfig {
  const config = { ...DEFAULT_BERT_CONFIG, ...overrides }
  validateBertConfig(config)
  return Object.freeze(config)
}

/** A preset's shape for a tokenizer's vocabulary size. */
export function presetConfig(name: BertPresetName, vocabSize: number, overrides: Partial<BertConfig> = {}): BertConfig {
  const preset = BERT_PRESETS[name]
  if (!preset) throw invalid(`Unknown model size "${String(name)}", expected one of ${Object.keys(BERT_PRESETS).join(', ')}`)
  return makeBertConfig({
    vocab_size: vocabSize,
    num_hidden_layers: preset.layers,
    hidden_size: preset.hidden,
    num_attention_heads: preset.heads,
    intermediate_size: 4 * preset.hidden,
    ...overrides,
  })
}

/** Config overrides for one dropout probability: the studio sets hidden and attention dropout together. */
export const dropoutConfig = (p: number): Pick<BertConfig, 'hidden_dropout_prob' | 'attention_probs_dropout_prob'> => ({ hidden_dropout_prob: p, attention_probs_dropout_prob: p })

/** Throws a VALIDATION StudioError naming the field, its value and what was expected. */
export function validateBertConfig(config: BertConfig): void {
  const positiveInteger = (key: keyof BertConfig) => {
    const value = config[key]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw invalid(`${key} is ${JSON.stringify(value)}, expected an integer ≥ 1`)
  }
  for (const key of ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'type_vocab_size'] as const) positiveInteger(key)
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw invalid(`The hidden size (${config.hidden_size}) is not a multiple of the number of attention heads (${config.num_attention_heads})`)
  }
  if (config.hidden_act !== 'gelu') throw invalid(`hidden_act is ${JSON.stringify(config.hidden_act)}, expected "gelu"`)
  for (const key of ['hidden_dropout_prob', 'attention_probs_dropout_prob'] as const) {
    const value = config[key]
    if (typeof value !== 'number' || !(value >= 0 && value < 1)) throw invalid(`${key} is ${JSON.stringify(value)}, expected a number in [0, 1)`)
  }
  for (const key of ['initializer_range', 'layer_norm_eps'] as const) {
    const value = config[key]
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) throw invalid(`${key} is ${JSON.stringify(value)}, expected a number > 0`)
  }
  const pad = config.pad_token_id
  if (typeof pad !== 'number' || !Number.isInteger(pad) || pad < 0 || pad >= config.vocab_size) {
    throw invalid(`pad_token_id is ${JSON.stringify(pad)}, expected an integer in [0, ${config.vocab_size - 1}] (vocab_size ${config.vocab_size})`)
  }
}

/** config.json text, keys in Hugging Face's order. */
export function bertConfigToJson(config: BertConfig): string {
  const ordered: Record<string, unknown> = {}
  for (const key of CONFIG_KEYS) ordered[key] = config[key]
  return JSON.stringify(ordered, null, 2)
}

/** Parses config.json text (or its parsed object); unknown keys are an error, missing ones take the defaults. */
export function bertConfigFromJson(source: string | unknown): BertConfig {
  let value: unknown = source
  if (typeof source === 'string') {
    try {
      value = JSON.parse(source)
    } catch (error) {
      throw invalid(`The model config is not valid JSON: ${(error as Error).message}`)
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`The model config is ${Array.isArray(value) ? 'an array' : typeof value}, expected an object`)
  const unknown = Object.keys(value).filter((key) => !(CONFIG_KEYS as string[]).includes(key))
  if (unknown.length > 0) throw invalid(`The model config has unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `"${key}"`).join(', ')}, expected only ${CONFIG_KEYS.join(', ')}`)
  return makeBertConfig(value as Partial<BertConfig>)
}

/** Trainable parameters of BertForPreTraining (the MLM decoder is tied to the word embeddings). */
export function parameterCount(config: BertConfig): number {
  const { vocab_size: V, hidden_size: H, intermediate_size: I, num_hidden_layers: L, max_position_embeddings: P, type_vocab_size: S } = config
  const embeddings = (V + P + S) * H + 2 * H
  const layer = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
  const pooler = H * H + H
  const mlmHead = H * H + H + 2 * H + V
  const nspHead = 2 * H + 2
  return embeddings + L * layer + pooler + mlmHead + nspHead
}

export interface TrainingMemoryEstimate {
  /** Weights, gradients and AdamW's two slots: 16 bytes per parameter. */
  readonly parameterBytes: number
  /** Activations and backward intermediates held until the step ends. */
  readonly activationBytes: number
  readonly totalBytes: number
}

/**
 * Rough peak memory of one training step of `batchSize` sequences of `seqLength` tokens, with
 * `maxPredictions` masked positions each (default round(0.15 × seq)). Float32 throughout.
 *
 * Activations counted per layer for N = B·T tokens: Q, K, V, context, attention output, its
 * dropout mask, residual and LayerNorm intermediates (≈ 12·N·H), feed-forward (dense, GELU,
 * dropout: 3·N·I), attention scores, probabilities, dropout mask and dropped probabilities
 * (4·B·A·T²); plus embeddings (≈ 5·N·H) and the MLM logits, log-softmax and one-hot labels over
 * the gathered positions (3·B·P·V). TensorFlow.js keeps every forward activation and backward
 * intermediate until the step's tidy ends, so the sum is multiplied by 4 (calibrated against a
 * measured 3.4–3.9 GB peak for Mini at batch 32, seq 128 on wasm; see PERFORMANCE-NOTES).
 */
export function estimateTrainingMemory(config: BertConfig, batchSize: number, seqLength: number, maxPredictions = Math.round(0.15 * seqLength)): TrainingMemoryEstimate {
  const { vocab_size: V, hidden_size: H, intermediate_size: I, num_hidden_layers: L, num_attention_heads: A } = config
  const N = batchSize * seqLength
  const perLayer = 12 * N * H + 3 * N * I + 4 * batchSize * A * seqLength * seqLength
  const floats = 5 * N * H + L * perLayer + 3 * batchSize * maxPredictions * V
  const parameterBytes = 16 * parameterCount(config)
  const activationBytes = 4 * 4 * floats
  return { parameterBytes, activationBytes, totalBytes: parameterBytes + activationBytes }
}
