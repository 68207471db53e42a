/**
 * BERT for pre-training (MLM + NSP) on the TensorFlow.js API, with Hugging Face's parameter names.
 *
 * Orientation: dense kernels are stored [in, out] (tfjs' orientation, so x·W is a plain product);
 * Hugging Face's nn.Linear stores [out, in]. `toHuggingFaceOrientation` transposes for export.
 * Embedding tables are [rows, hidden] in both. The MLM decoder is tied to the word embeddings
 * (logits = h·Eᵀ + cls.predictions.bias) and has no variable of its own.
 */
import * as tf from '@tensorflow/tfjs'
import type { BertConfig, PretrainBatch, PretrainOutputs, TrainableModel } from '../train/types.ts'
import { validateBertConfig } from './config.ts'
import { batchMatMul, batchMatMulTransposeB, dense, gatherRows, gelu, layerNorm, matMulTransposeB, seededDropout, softmaxCrossEntropy } from './ops.ts'

/** The additive attention mask's value at padding, as Hugging Face's original BERT. */
const MASKED_SCORE = -10000

/** True for the names of dense kernels, which Hugging Face stores [out, in]. */
export function isDenseKernel(name: string): boolean {
  return name.endsWith('.weight') && !name.includes('LayerNorm') && !name.startsWith('bert.embeddings.')
}

/** A variable's value in Hugging Face's orientation: dense kernels transposed to [out, in], the rest as is (a new tensor either way). */
export function toHuggingFaceOrientation(name: string, tensor: tf.Tensor): tf.Tensor {
  return isDenseKernel(name) ? tf.transpose(tensor) : tf.clone(tensor)
}

/** The inverse of toHuggingFaceOrientation, for loading Hugging Face weights. */
export function fromHuggingFaceOrientation(name: string, tensor: tf.Tensor): tf.Tensor {
  return toHuggingFaceOrientation(name, tensor)
}

/** Every variable name and shape of BertForPreTraining for a config, in a stable order (tfjs orientation). */
export function parameterShapes(config: BertConfig): [string, number[]][] {
  const { vocab_size: V, hidden_size: H, intermediate_size: I } = config
  const shapes: [string, number[]][] = [
    ['bert.embeddings.word_embeddings.weight', [V, H]],
    ['bert.embeddings.position_embeddings.weight', [config.max_position_embeddings, H]],
    ['bert.embeddings.token_type_embeddings.weight', [config.type_vocab_size, H]],
    ['bert.embeddings.LayerNorm.weight', [H]],
    ['bert.embeddings.LayerNorm.bias', [H]],
  ]
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = `bert.encoder.layer.${i}`
    for (const part of ['query', 'key', 'value']) shapes.push([`${layer}.attention.self.${part}.weight`, [H, H]], [`${layer}.attention.self.${part}.bias`, [H]])
    shapes.push(
      [`${layer}.attention.output.dense.weight`, [H, H]],
      [`${layer}.attention.output.dense.bias`, [H]],
      [`${layer}.attention.output.LayerNorm.weight`, [H]],
      [`${layer}.attention.output.LayerNorm.bias`, [H]],
      [`${layer}.intermediate.dense.weight`, [H, I]],
      [`${layer}.intermediate.dense.bias`, [I]],
      [`${layer}.output.dense.weight`, [I, H]],
      [`${layer}.output.dense.bias`, [H]],
      [`${layer}.output.LayerNorm.weight`, [H]],
      [`${layer}.output.LayerNorm.bias`, [H]],
    )
  }
  shapes.push(
    ['bert.pooler.dense.weight', [H, H]],
    ['bert.pooler.dense.bias', [H]],
    ['cls.predictions.bias', [V]],
    ['cls.predictions.transform.dense.weight', [H, H]],
    ['cls.predictions.transform.dense.bias', [H]],
    ['cls.predictions.transform.LayerNorm.weight', [H]],
    ['cls.predictions.transform.LayerNorm.bias', [H]],
    ['cls.seq_relationship.weight', [H, 2]],
    ['cls.seq_relationship.bias', [2]],
  )
  return shapes
}

/** FNV-1a of a string: a per-variable seed offset that does not depend on the variable's position. */
function nameHash(name: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0
  return hash
}

function initialValue(name: string, shape: number[], config: BertConfig, seed: number): tf.Tensor {
  if (name.includes('LayerNorm.weight')) return tf.ones(shape)
  if (name.endsWith('.bias')) return tf.zeros(shape)
  // BERT's truncated_normal_initializer: N(0, range²) redrawn beyond two standard deviations.
  return tf.truncatedNormal(shape, 0, config.initializer_range, 'float32', (seed * 7919 + nameHash(name)) % 2 ** 31)
}

let modelCount = 0

export interface ForwardOptions {
  readonly training: boolean
  readonly dropoutSeed?: number
}

export interface EncoderOutputs {
  /** [B, T, H] */
  sequenceOutput: tf.Tensor3D
  /** [B, H]: tanh(dense(hidden state of [CLS])) */
  pooledOutput: tf.Tensor2D
}

/** Inputs of a fill-mask probe: token ids with [MASK] at `maskedPositions` ([B*P]; entries with weight 0 are skipped). */
export type FillMaskInput = Pick<PretrainBatch, 'batchSize' | 'seqLength' | 'maxPredictions' | 'inputIds' | 'tokenTypeIds' | 'attentionMask' | 'maskedPositions'> & {
  readonly maskedWeights?: Float32Array
}

export interface FillMaskPrediction {
  readonly example: number
  readonly position: number
  /** Best first. */
  readonly candidates: { readonly tokenId: number; readonly probability: number }[]
}

export class BertForPreTraining implements TrainableModel<PretrainBatch> {
  readonly config: BertConfig
  readonly variables: ReadonlyMap<string, tf.Variable>

  constructor(config: BertConfig, options: { seed?: number } = {}) {
    validateBertConfig(config)
    this.config = config
    const seed = options.seed ?? 0
    const id = ++modelCount
    const variables = new Map<string, tf.Variable>()
    for (const [name, shape] of parameterShapes(config)) {
      const init = initialValue(name, shape, config, seed)
      // tfjs variable names are process-wide, so each model prefixes its own.
      variables.set(name, tf.variable(init, true, `bert${id}/${name}`))
      init.dispose()
    }
    this.variables = variables
  }

  private v<T extends tf.Tensor = tf.Tensor1D>(name: string): T {
    const variable = this.variables.get(name)
    if (!variable) throw new Error(`BertForPreTraining has no variable ${name}`)
    return variable as unknown as T
  }

  /** Frees the variables. */
  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose()
  }

  /**
   * The encoder over flat [B*T] inputs: sequence output [B*T, H] and pooled output [B, H].
   * Dropout sites draw seeds dropoutSeed·1000 + site, in a fixed order.
   */
  private encodeFlat(
    inputIds: tf.Tensor1D,
    tokenTypeIds: tf.Tensor1D,
    attentionMask: tf.Tensor1D,
    batchSize: number,
    seqLength: number,
    options: ForwardOptions,
  ): { sequence: tf.Tensor2D; pooled: tf.Tensor2D } {
    const config = this.config
    const { hidden_size: H, num_attention_heads: A, layer_norm_eps: epsilon } = config
    if (seqLength > config.max_position_embeddings) {
      throw new Error(`The sequence length (${seqLength}) is longer than max_position_embeddings (${config.max_position_embeddings})`)
    }
    const B = batchSize
    const T = seqLength
    const headSize = H / A
    const dropping = options.training && options.dropoutSeed !== undefined
    let site = 0
    const hiddenDropout = <X extends tf.Tensor>(x: X): X => seededDropout(x, config.hidden_dropout_prob, dropping ? options.dropoutSeed! * 1000 + site++ : undefined)
    const attentionDropout = <X extends tf.Tensor>(x: X): X =>
      seededDropout(x, config.attention_probs_dropout_prob, dropping ? options.dropoutSeed! * 1000 + site++ : undefined)

    // Embeddings: word + position + segment, [B*T, H].
    const words = gatherRows(this.v<tf.Tensor2D>('bert.embeddings.word_embeddings.weight'), inputIds)
    const positions = tf.slice(this.v<tf.Tensor2D>('bert.embeddings.position_embeddings.weight'), [0, 0], [T, H]) // [T, H]
    const segments = gatherRows(this.v<tf.Tensor2D>('bert.embeddings.token_type_embeddings.weight'), tokenTypeIds)
    const summed = tf.reshape(tf.add(tf.reshape(tf.add(words, segments), [B, T, H]), positions), [B * T, H]) as tf.Tensor2D
    let hidden = hiddenDropout(layerNorm(summed, this.v('bert.embeddings.LayerNorm.weight'), this.v('bert.embeddings.LayerNorm.bias'), epsilon))

    // (1 − mask)·−10000, broadcast over heads and query positions: [B, 1, 1, T].
    const maskAdd = tf.reshape(tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), MASKED_SCORE), [B, 1, 1, T])
    const toHeads = (x: tf.Tensor2D) => tf.reshape(tf.transpose(tf.reshape(x, [B, T, A, headSize]), [0, 2, 1, 3]), [B * A, T, headSize]) as tf.Tensor3D

    for (let i = 0; i < config.num_hidden_layers; i++) {
      const p = `bert.encoder.layer.${i}`
      const query = toHeads(tf.mul(dense(hidden, this.v(`${p}.attention.self.query.weight`), this.v(`${p}.attention.self.query.bias`)), 1 / Math.sqrt(headSize)))
      const key = toHeads(dense(hidden, this.v(`${p}.attention.self.key.weight`), this.v(`${p}.attention.self.key.bias`)))
      const value = toHeads(dense(hidden, this.v(`${p}.attention.self.value.weight`), this.v(`${p}.attention.self.value.bias`)))
      const scores = tf.add(tf.reshape(batchMatMulTransposeB(query, key), [B, A, T, T]), maskAdd) // (B, A, T, T)
      const probabilities = attentionDropout(tf.reshape(tf.softmax(scores), [B * A, T, T]) as tf.Tensor3D)
      const context = batchMatMul(probabilities, value) // (B*A, T, d)
      const merged = tf.reshape(tf.transpose(tf.reshape(context, [B, A, T, headSize]), [0, 2, 1, 3]), [B * T, H]) as tf.Tensor2D
      const attended = hiddenDropout(dense(merged, this.v(`${p}.attention.output.dense.weight`), this.v(`${p}.attention.output.dense.bias`)))
      const attentionOut = layerNorm(tf.add(attended, hidden), this.v(`${p}.attention.output.LayerNorm.weight`), this.v(`${p}.attention.output.LayerNorm.bias`), epsilon)
      const intermediate = gelu(dense(attentionOut, this.v(`${p}.intermediate.dense.weight`), this.v(`${p}.intermediate.dense.bias`)))
      const output = hiddenDropout(dense(intermediate, this.v(`${p}.output.dense.weight`), this.v(`${p}.output.dense.bias`)))
      hidden = layerNorm(tf.add(output, attentionOut), this.v(`${p}.output.LayerNorm.weight`), this.v(`${p}.output.LayerNorm.bias`), epsilon)
    }

    const clsRows = tf.tensor1d(Int32Array.from({ length: B }, (_, b) => b * T), 'int32')
    const pooled = tf.tanh(dense(gatherRows(hidden, clsRows), this.v('bert.pooler.dense.weight'), this.v('bert.pooler.dense.bias')))
    return { sequence: hidden, pooled }
  }

  /** Sequence output [B,T,H] and pooled output [B,H] for [B,T] int32 inputs (fine-tuning heads build on this). */
  encode(inputIds: tf.Tensor2D, tokenTypeIds: tf.Tensor2D, attentionMask: tf.Tensor2D, options: ForwardOptions = { training: false }): EncoderOutputs {
    const [B, T] = inputIds.shape
    return tf.tidy(() => {
      const flat = (x: tf.Tensor2D) => tf.reshape(tf.cast(x, 'int32'), [-1]) as tf.Tensor1D
      const { sequence, pooled } = this.encodeFlat(flat(inputIds), flat(tokenTypeIds), flat(attentionMask), B, T, options)
      return { sequenceOutput: tf.reshape(sequence, [B, T, this.config.hidden_size]) as tf.Tensor3D, pooledOutput: pooled }
    })
  }

  /** MLM logits [B*P, V] at the gathered positions, and NSP logits [B, 2]. */
  private heads(batch: FillMaskInput, options: ForwardOptions): { mlmLogits: tf.Tensor2D; nspLogits: tf.Tensor2D } {
    const { batchSize: B, seqLength: T, maxPredictions: P } = batch
    const expected = B * T
    for (const key of ['inputIds', 'tokenTypeIds', 'attentionMask'] as const) {
      if (batch[key].length !== expected) throw new Error(`${key} has ${batch[key].length} values, expected ${expected} (batch ${B} × sequence ${T})`)
    }
    if (batch.maskedPositions.length !== B * P) throw new Error(`maskedPositions has ${batch.maskedPositions.length} values, expected ${B * P} (batch ${B} × predictions ${P})`)
    const { sequence, pooled } = this.encodeFlat(
      tf.tensor1d(batch.inputIds, 'int32'),
      tf.tensor1d(batch.tokenTypeIds, 'int32'),
      tf.tensor1d(batch.attentionMask, 'int32'),
      B,
      T,
      options,
    )
    // Rows of [B*T, H] at b·T + position: only masked positions reach the vocabulary-sized decoder.
    const flatPositions = new Int32Array(B * P)
    for (let i = 0; i < B * P; i++) flatPositions[i] = Math.floor(i / P) * T + batch.maskedPositions[i]!
    const gathered = gatherRows(sequence, tf.tensor1d(flatPositions, 'int32')) // (B*P, H)
    const transformed = layerNorm(
      gelu(dense(gathered, this.v('cls.predictions.transform.dense.weight'), this.v('cls.predictions.transform.dense.bias'))),
      this.v('cls.predictions.transform.LayerNorm.weight'),
      this.v('cls.predictions.transform.LayerNorm.bias'),
      this.config.layer_norm_eps,
    )
    const mlmLogits = tf.add(matMulTransposeB(transformed, this.v<tf.Tensor2D>('bert.embeddings.word_embeddings.weight')), this.v('cls.predictions.bias')) as tf.Tensor2D
    const nspLogits = dense(pooled, this.v('cls.seq_relationship.weight'), this.v('cls.seq_relationship.bias'))
    return { mlmLogits, nspLogits }
  }

  forward(batch: PretrainBatch, options: ForwardOptions): PretrainOutputs {
    return tf.tidy(() => {
      const { mlmLogits, nspLogits } = this.heads(batch, options)
      const labels = tf.tensor1d(batch.maskedIds, 'int32')
      const weights = tf.tensor1d(batch.maskedWeights, 'float32')
      const mlmPerPosition = softmaxCrossEntropy(mlmLogits, labels) // over the gathered rows only
      const weightSum = tf.sum(weights)
      // Google's BERT: Σ w·loss / (Σ w + 1e-5), so an all-padding batch gives 0, not NaN.
      const mlmLoss = tf.div(tf.sum(tf.mul(mlmPerPosition, weights)), tf.add(weightSum, 1e-5)) as tf.Scalar
      const nspLabels = tf.tensor1d(batch.nextSentenceLabels, 'int32')
      const nspLoss = tf.mean(softmaxCrossEntropy(nspLogits, nspLabels)) as tf.Scalar
      const mlmHits = tf.cast(tf.equal(tf.argMax(mlmLogits, -1), labels), 'float32')
      return {
        loss: tf.add(mlmLoss, nspLoss) as tf.Scalar,
        mlmLoss,
        nspLoss,
        mlmCorrect: tf.sum(tf.mul(mlmHits, weights)) as tf.Scalar,
        mlmCount: weightSum as tf.Scalar,
        nspCorrect: tf.sum(tf.cast(tf.equal(tf.argMax(nspLogits, -1), nspLabels), 'float32')) as tf.Scalar,
      }
    })
  }

  /** The fill-mask probe: the `topK` most probable tokens at each masked position, no dropout. */
  async fillMask(input: FillMaskInput, topK: number): Promise<FillMaskPrediction[]> {
    const k = Math.max(1, Math.min(topK, this.config.vocab_size))
    const { values, indices } = tf.tidy(() => tf.topk(tf.softmax(this.heads(input, { training: false }).mlmLogits), k))
    const [probabilities, ids] = await Promise.all([values.data(), indices.data()])
    values.dispose()
    indices.dispose()
    const predictions: FillMaskPrediction[] = []
    const P = input.maxPredictions
    for (let row = 0; row < input.batchSize * P; row++) {
      if (input.maskedWeights && input.maskedWeights[row] === 0) continue
      const candidates = Array.from({ length: k }, (_, j) => ({ tokenId: ids[row * k + j]!, probability: probabilities[row * k + j]! }))
      predictions.push({ example: Math.floor(row / P), position: input.maskedPositions[row]!, candidates })
    }
    return predictions
  }
}
