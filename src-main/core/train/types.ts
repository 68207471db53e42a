/**
 * The seams between the engine's parts, fixed first so model, data and trainer can be built apart:
 * the data pipeline makes PretrainBatch values (plain typed arrays, cheap to post between threads),
 * the model turns one into losses, and the trainer knows nothing BERT-specific beyond a loss
 * function over named variables (minGPT's trainer).
 */
import type * as tf from '@tensorflow/tfjs'

/** BERT's hyper-parameters, named as Hugging Face's config.json names them (serialised as-is). */
export interface BertConfig {
  readonly vocab_size: number
  readonly hidden_size: number
  readonly num_hidden_layers: number
  readonly num_attention_heads: number
  readonly intermediate_size: number
  readonly hidden_act: 'gelu'
  readonly hidden_dropout_prob: number
  readonly attention_probs_dropout_prob: number
  readonly max_position_embeddings: number
  readonly type_vocab_size: number
  readonly initializer_range: number
  readonly layer_norm_eps: number
  readonly pad_token_id: number
}

/** One micro-batch of pre-training examples. Shapes in comments: B batch, T sequence, P predictions. */
export interface PretrainBatch {
  readonly batchSize: number
  readonly seqLength: number
  readonly maxPredictions: number
  /** [B*T] token ids, [PAD]-padded. */
  readonly inputIds: Int32Array
  /** [B*T] 0 for segment A (with [CLS] and its [SEP]), 1 for segment B. */
  readonly tokenTypeIds: Int32Array
  /** [B*T] 1 for real tokens, 0 for padding. */
  readonly attentionMask: Int32Array
  /** [B*P] positions (0..T-1) of the masked tokens; padding entries are 0 with weight 0. */
  readonly maskedPositions: Int32Array
  /** [B*P] the original token ids at those positions. */
  readonly maskedIds: Int32Array
  /** [B*P] 1 for a real prediction, 0 for padding. */
  readonly maskedWeights: Float32Array
  /** [B] Hugging Face's convention: 0 = segment B follows A in the corpus, 1 = B is random. */
  readonly nextSentenceLabels: Int32Array
}

/** What one step's forward pass reports (all scalars, already reduced over the micro-batch). */
export interface PretrainOutputs {
  /** mlmLoss + nspLoss: what is differentiated. */
  loss: tf.Scalar
  mlmLoss: tf.Scalar
  nspLoss: tf.Scalar
  /** Count of correct top-1 MLM predictions among weighted positions, and of those positions. */
  mlmCorrect: tf.Scalar
  mlmCount: tf.Scalar
  nspCorrect: tf.Scalar
}

/** A model the trainer can train: named variables and a loss over a batch. */
export interface TrainableModel<Batch> {
  /** Every trainable variable, by its Hugging Face name (e.g. `bert.encoder.layer.0.attention.self.query.weight`). */
  readonly variables: ReadonlyMap<string, tf.Variable>
  /**
   * Forward pass. `dropoutSeed` makes dropout reproducible (the trainer derives one per step from
   * the run's seed, so a resumed run draws the same masks); omit it, or pass training=false, for no dropout.
   */
  forward(batch: Batch, options: { training: boolean; dropoutSeed?: number }): PretrainOutputs
}

/**
 * Variables AdamW must not decay: LayerNorm weights and every bias (BERT's optimizer).
 * Names follow Hugging Face (`….LayerNorm.weight`, `….bias`).
 */
export const excludedFromWeightDecay = (name: string): boolean => name.endsWith('.bias') || name.includes('LayerNorm')
