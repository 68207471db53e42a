/** Tiny configs and batches shared by the model tests (bert's own tests use vocab 99, hidden 32). */
import { makeBertConfig } from '../../../src-main/core/model/config.ts'
import type { BertConfig, PretrainBatch } from '../../../src-main/core/train/types.ts'

export const tinyConfig = (overrides: Partial<BertConfig> = {}): BertConfig =>
  makeBertConfig({
    vocab_size: 99,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    intermediate_size: 37,
    max_position_embeddings: 16,
    ...overrides,
  })

/** A deterministic pseudo-random generator (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * B sequences of T tokens, the later ones padded from `T - 2·b` on, P masked positions each (one
 * padding prediction in the first example), NSP labels alternating. Token ids repeat, so lookups
 * see duplicate indices.
 */
export function makeBatch(config: BertConfig, B: number, T: number, P: number, seed = 1): PretrainBatch {
  const next = random(seed)
  const inputIds = new Int32Array(B * T)
  const tokenTypeIds = new Int32Array(B * T)
  const attentionMask = new Int32Array(B * T)
  const maskedPositions = new Int32Array(B * P)
  const maskedIds = new Int32Array(B * P)
  const maskedWeights = new Float32Array(B * P)
  const nextSentenceLabels = new Int32Array(B)
  for (let b = 0; b < B; b++) {
    const length = Math.max(P + 2, T - 2 * b)
    for (let t = 0; t < T; t++) {
      const real = t < length
      inputIds[b * T + t] = real ? 5 + Math.floor(next() * Math.min(20, config.vocab_size - 5)) : config.pad_token_id
      tokenTypeIds[b * T + t] = real && t >= length / 2 ? 1 : 0
      attentionMask[b * T + t] = real ? 1 : 0
    }
    inputIds[b * T] = 2 // [CLS]
    for (let p = 0; p < P; p++) {
      const position = 1 + p * Math.max(1, Math.floor((length - 1) / P))
      maskedPositions[b * P + p] = position
      maskedIds[b * P + p] = inputIds[b * T + position]!
      maskedWeights[b * P + p] = 1
      inputIds[b * T + position] = 4 // [MASK]
    }
    nextSentenceLabels[b] = b % 2
  }
  if (P > 1) {
    maskedWeights[P - 1] = 0
    maskedPositions[P - 1] = 0
  }
  return { batchSize: B, seqLength: T, maxPredictions: P, inputIds, tokenTypeIds, attentionMask, maskedPositions, maskedIds, maskedWeights, nextSentenceLabels }
}
