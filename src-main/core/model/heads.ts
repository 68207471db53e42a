/**
 * Fine-tuning heads on the BERT encoder, as Hugging Face's BertForSequenceClassification,
 * BertForTokenClassification and BertForQuestionAnswering: same variable names (`bert.…`,
 * `classifier.weight/bias`, `qa_outputs.weight/bias`; dense kernels [in, out] as in bert.ts), so a
 * pre-trained encoder loads by name and export is a rename-free write.
 *
 * Each model is a `TrainableModel`, so the pre-training `Trainer` (AdamW, schedule, clipping,
 * checkpoints, `runTrainingLoop`) trains it unchanged. The trainer reads the pre-training output
 * fields; a head reports its task in them as follows (see `finetuneMetrics` in train/metrics.ts):
 *   mlmLoss     the task loss (= loss)           nspLoss    0
 *   mlmCorrect  correct predictions              mlmCount   predictions counted
 *   nspCorrect  0
 * so the trainer's `mlm_accuracy` is the head's accuracy (examples, first word pieces, or exact spans).
 */
import * as tf from '@tensorflow/tfjs'
import { StudioError } from '../errors.ts'
import type { BertConfig, PretrainOutputs, TrainableModel } from '../train/types.ts'
import { BertForPreTraining, type ForwardOptions } from './bert.ts'
import { dense, seededDropout, softmaxCrossEntropy } from './ops.ts'

/** The inputs every head reads: [B*T] int32, as PretrainBatch. */
export interface EncodedBatch {
  readonly batchSize: number
  readonly seqLength: number
  /** [B*T] token ids, [PAD]-padded. */
  readonly inputIds: Int32Array
  /** [B*T] 0 for segment A, 1 for segment B. */
  readonly tokenTypeIds: Int32Array
  /** [B*T] 1 for real tokens, 0 for padding. */
  readonly attentionMask: Int32Array
}

export interface SequenceClassificationBatch extends EncodedBatch {
  /** Single-label: [B] class ids. Multi-label: [B*C] 0/1 targets. */
  readonly labels: Int32Array
}

export interface TokenClassificationBatch extends EncodedBatch {
  /** [B*T] tag ids (any value where the weight is 0). */
  readonly labels: Int32Array
  /** [B*T] 1 at the first piece of each word, 0 elsewhere (later pieces, specials, padding). */
  readonly labelWeights: Float32Array
}

export interface QuestionAnsweringBatch extends EncodedBatch {
  /** [B] token index of the answer's first and last piece; 0 ([CLS]) when the window holds no answer. */
  readonly startPositions: Int32Array
  readonly endPositions: Int32Array
  /** [B*T] 1 where a span may start or end: the passage's tokens and [CLS] (index 0). */
  readonly spanMask: Float32Array
}

export type SequenceProblemType = 'single_label_classification' | 'multi_label_classification'

/** A weight to load: a tensor or values with a shape, Hugging Face name, dense kernels [in, out]. */
export type InitialWeight = tf.Tensor | { readonly shape: readonly number[]; readonly data: Float32Array }

export interface HeadOptions {
  /** Seeds the initialisation of whatever `weights` does not provide. */
  readonly seed?: number
  /**
   * Initial weights by Hugging Face name (e.g. a BertForPreTraining's `variables`, or an
   * imported folder's weights). When given, every encoder weight must be in it; head weights
   * (classifier, qa_outputs, pooler) are taken when present with the right shape, else initialised.
   * Other names (the MLM and NSP heads) are ignored.
   */
  readonly weights?: ReadonlyMap<string, InitialWeight>
}

export interface LoadReport {
  /** Variables copied from the weights. */
  readonly loaded: string[]
  /** Variables left at their fresh initialisation. */
  readonly initialised: string[]
  /** Weights the model has no variable for. */
  readonly ignored: string[]
}

/** Masked logits' value outside the passage (as the encoder's attention mask). */
const MASKED_LOGIT = -10000

const invalid = (message: string) => new StudioError('VALIDATION', message)
const isEncoderName = (name: string) => name.startsWith('bert.embeddings.') || name.startsWith('bert.encoder.')

let headCount = 0

/**
 * The encoder (held in a BertForPreTraining, whose `encode` it runs; its MLM/NSP variables, and
 * the pooler where the head has none, are not trained or exposed) plus a head's own variables.
 */
abstract class FinetuneModel<Batch extends EncodedBatch> implements TrainableModel<Batch> {
  readonly config: BertConfig
  readonly variables: ReadonlyMap<string, tf.Variable>
  readonly loadReport: LoadReport
  /** Runs the encoder; its variables are the `bert.*` entries of `variables`. */
  readonly encoder: BertForPreTraining
  private readonly own: tf.Variable[] = []

  protected constructor(config: BertConfig, head: [string, number[]][], usesPooler: boolean, options: HeadOptions) {
    const seed = options.seed ?? 0
    this.encoder = new BertForPreTraining(config, { seed })
    this.config = this.encoder.config
    const id = ++headCount
    const variables = new Map<string, tf.Variable>()
    for (const [name, variable] of this.encoder.variables) {
      if (isEncoderName(name) || (usesPooler && name.startsWith('bert.pooler.'))) variables.set(name, variable)
    }
    for (const [index, [name, shape]] of head.entries()) {
      // Hugging Face's _init_weights for new heads: N(0, initializer_range²), zero bias.
      const init = name.endsWith('.bias') ? tf.zeros(shape) : tf.randomNormal(shape, 0, config.initializer_range, 'float32', (seed * 7919 + 104729 + index) % 2 ** 31)
      const variable = tf.variable(init, true, `head${id}/${name}`)
      init.dispose()
      this.own.push(variable)
      variables.set(name, variable)
    }
    this.variables = variables
    this.loadReport = options.weights ? this.loadWeights(options.weights) : { loaded: [], initialised: [...variables.keys()], ignored: [] }
  }

  /** Copies weights by name (every encoder weight required, head weights optional); shapes checked before anything is assigned. */
  loadWeights(weights: ReadonlyMap<string, InitialWeight>): LoadReport {
    const loaded: string[] = []
    const initialised: string[] = []
    for (const [name, variable] of this.variables) {
      const weight = weights.get(name)
      if (!weight) {
        if (isEncoderName(name)) throw invalid(`The initial weights have no ${name}, which the encoder needs`)
        initialised.push(name)
        continue
      }
      const shape = [...weight.shape]
      if (shape.length !== variable.shape.length || shape.some((size, i) => size !== variable.shape[i])) {
        if (isEncoderName(name)) throw invalid(`Weight ${name} has shape [${shape.join(', ')}], expected [${variable.shape.join(', ')}]`)
        // A head of another label count: start it afresh, as from_pretrained(ignore_mismatched_sizes=True).
        initialised.push(name)
        continue
      }
      loaded.push(name)
    }
    for (const name of loaded) {
      const weight = weights.get(name)!
      const variable = this.variables.get(name)!
      tf.tidy(() => variable.assign(weight instanceof tf.Tensor ? tf.cast(weight, 'float32') : tf.tensor(weight.data, [...weight.shape], 'float32')))
    }
    const ignored = [...weights.keys()].filter((name) => !this.variables.has(name))
    return { loaded, initialised, ignored }
  }

  protected v<T extends tf.Tensor = tf.Tensor1D>(name: string): T {
    return this.variables.get(name) as unknown as T
  }

  protected checkInputs(batch: EncodedBatch): void {
    const expected = batch.batchSize * batch.seqLength
    for (const key of ['inputIds', 'tokenTypeIds', 'attentionMask'] as const) {
      if (batch[key].length !== expected) throw invalid(`${key} has ${batch[key].length} values, expected ${expected} (batch ${batch.batchSize} × sequence ${batch.seqLength})`)
    }
  }

  protected encode(batch: EncodedBatch, options: ForwardOptions): { sequence: tf.Tensor2D; pooled: tf.Tensor2D } {
    this.checkInputs(batch)
    const shape: [number, number] = [batch.batchSize, batch.seqLength]
    const { sequenceOutput, pooledOutput } = this.encoder.encode(
      tf.tensor2d(batch.inputIds, shape, 'int32'),
      tf.tensor2d(batch.tokenTypeIds, shape, 'int32'),
      tf.tensor2d(batch.attentionMask, shape, 'int32'),
      options,
    )
    return { sequence: tf.reshape(sequenceOutput, [-1, this.config.hidden_size]) as tf.Tensor2D, pooled: pooledOutput }
  }

  /** The head's dropout: a site after the encoder's own (which use dropoutSeed·1000 + 0…3L). */
  protected dropout<T extends tf.Tensor>(x: T, options: ForwardOptions): T {
    const dropping = options.training && options.dropoutSeed !== undefined
    return seededDropout(x, this.config.hidden_dropout_prob, dropping ? options.dropoutSeed! * 1000 + 999 : undefined)
  }

  abstract forward(batch: Batch, options: ForwardOptions): PretrainOutputs

  /** Frees every variable (the encoder's included). */
  dispose(): void {
    this.encoder.dispose()
    for (const variable of this.own) variable.dispose()
  }
}

/** The trainer's output record for a task loss and an accuracy count. */
function outputs(loss: tf.Scalar, correct: tf.Scalar, count: tf.Scalar) {
  // Not annotated PretrainOutputs: tf.tidy needs the literal type (an interface has no index signature).
  return { loss, mlmLoss: tf.clone(loss), nspLoss: tf.scalar(0), mlmCorrect: correct, mlmCount: count, nspCorrect: tf.scalar(0) }
}

/**
 * Σ wᵢ·lossᵢ / Σ wᵢ with wᵢ = base weight × class weight of label i (the base weight alone when
 * there are no class weights): PyTorch's weighted cross-entropy mean.
 */
function weightedMean(losses: tf.Tensor1D, labels: tf.Tensor1D, classWeights: Float32Array | null, base: tf.Tensor1D): tf.Scalar {
  const weights = classWeights ? tf.mul(base, tf.gather(tf.tensor1d(classWeights), labels)) : base
  return tf.div(tf.sum(tf.mul(losses, weights)), tf.maximum(tf.sum(weights), 1e-12)) as tf.Scalar
}

/** Element-wise sigmoid cross-entropy, softplus(x) − x·z: tfjs' softplus is stable, and its gradient σ(x) − z is exact at 0 (unlike the max/abs form). */
function sigmoidCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.sub(tf.softplus(logits), tf.mul(logits, targets))
}

export interface SequenceClassificationOptions extends HeadOptions {
  readonly numLabels: number
  /** Default single-label (softmax cross-entropy); multi-label uses per-label sigmoid cross-entropy. */
  readonly problemType?: SequenceProblemType
  /**
   * Per-class loss weights for imbalanced labels. Single-label: PyTorch's CrossEntropyLoss(weight),
   * Σ w[yᵢ]·CEᵢ / Σ w[yᵢ]. Multi-label: BCEWithLogitsLoss(pos_weight), the positive term of label c
   * weighted by w[c].
   */
  readonly classWeights?: readonly number[]
}

function checkClassWeights(weights: readonly number[] | undefined, numLabels: number): Float32Array | null {
  if (weights === undefined) return null
  if (weights.length !== numLabels) throw invalid(`classWeights has ${weights.length} values, expected ${numLabels} (one per label)`)
  for (const [c, w] of weights.entries()) if (!(w > 0) || !Number.isFinite(w)) throw invalid(`classWeights[${c}] is ${w}, expected a finite number > 0`)
  return Float32Array.from(weights)
}

export interface SequenceClassificationPrediction {
  /** [B*C] */
  readonly logits: Float32Array
  /** [B*C] softmax (single-label) or per-label sigmoid (multi-label). */
  readonly probabilities: Float32Array
}

/** Pooled [CLS] → dropout → classifier [H, C]. */
export class BertForSequenceClassification extends FinetuneModel<SequenceClassificationBatch> {
  readonly numLabels: number
  readonly problemType: SequenceProblemType
  private readonly classWeights: Float32Array | null

  constructor(config: BertConfig, options: SequenceClassificationOptions) {
    const { numLabels } = options
    if (!Number.isInteger(numLabels) || numLabels < 1) throw invalid(`numLabels is ${numLabels}, expected an integer ≥ 1`)
    super(config, [['classifier.weight', [config.hidden_size, numLabels]], ['classifier.bias', [numLabels]]], true, options)
    this.numLabels = numLabels
    this.problemType = options.problemType ?? 'single_label_classification'
    this.classWeights = checkClassWeights(options.classWeights, numLabels)
  }

  /** A classifier whose encoder and pooler start from a pre-trained model's weights (copied). */
  static fromPretraining(pretrained: BertForPreTraining, options: Omit<SequenceClassificationOptions, 'weights'>): BertForSequenceClassification {
    return new BertForSequenceClassification(pretrained.config, { ...options, weights: pretrained.variables })
  }

  /** [B, C] logits. */
  logits(batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const { pooled } = this.encode(batch, options)
      return dense(this.dropout(pooled, options), this.v<tf.Tensor2D>('classifier.weight'), this.v('classifier.bias'))
    })
  }

  forward(batch: SequenceClassificationBatch, options: ForwardOptions): PretrainOutputs {
    const B = batch.batchSize
    const C = this.numLabels
    const multi = this.problemType === 'multi_label_classification'
    const expected = multi ? B * C : B
    if (batch.labels.length !== expected) throw invalid(`labels has ${batch.labels.length} values, expected ${expected} (${multi ? `batch ${B} × labels ${C}` : `batch ${B}`})`)
    return tf.tidy(() => {
      const logits = this.logits(batch, options)
      if (multi) {
        const targets = tf.tensor2d(batch.labels, [B, C], 'float32')
        let elementLoss = sigmoidCrossEntropy(logits, targets)
        if (this.classWeights) {
          // pos_weight: (1 + (w − 1)·z)·softplus(−x) + (1 − z)·x, i.e. the z·softplus(−x) term scaled by w.
          const positive = tf.mul(tf.mul(targets, tf.sub(tf.tensor1d(this.classWeights), 1)), tf.softplus(tf.neg(logits)))
          elementLoss = tf.add(elementLoss, positive)
        }
        const loss = tf.mean(elementLoss) as tf.Scalar
        // Exact match: every label's decision (logit > 0) right.
        const right = tf.cast(tf.equal(tf.cast(tf.greater(logits, 0), 'float32'), targets), 'float32')
        const exact = tf.sum(tf.cast(tf.equal(tf.sum(right, -1), C), 'float32')) as tf.Scalar
        return outputs(loss, exact, tf.scalar(B))
      }
      const labels = tf.tensor1d(batch.labels, 'int32')
      const losses = softmaxCrossEntropy(logits, labels)
      const loss = this.classWeights ? weightedMean(losses, labels, this.classWeights, tf.ones([B])) : (tf.mean(losses) as tf.Scalar)
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'float32')) as tf.Scalar
      return outputs(loss, correct, tf.scalar(B))
    })
  }

  async predict(batch: EncodedBatch): Promise<SequenceClassificationPrediction> {
    const [logits, probabilities] = tf.tidy(() => {
      const x = this.logits(batch, { training: false })
      return [x, this.problemType === 'multi_label_classification' ? tf.sigmoid(x) : tf.softmax(x)]
    })
    const values = await Promise.all([logits.data() as Promise<Float32Array>, probabilities.data() as Promise<Float32Array>])
    tf.dispose([logits, probabilities])
    return { logits: values[0], probabilities: values[1] }
  }
}

export interface TokenClassificationOptions extends HeadOptions {
  readonly numLabels: number
  /** Per-tag loss weights (PyTorch's CrossEntropyLoss(weight)) over the weighted positions. */
  readonly classWeights?: readonly number[]
}

export interface TokenClassificationPrediction {
  /** [B*T*C] */
  readonly logits: Float32Array
  /** [B*T*C] softmax over the tags. */
  readonly probabilities: Float32Array
  /** [B*T] the most probable tag at each position. */
  readonly tags: Int32Array
}

/** Sequence output → dropout → classifier [H, C]; no pooler (as Hugging Face). */
export class BertForTokenClassification extends FinetuneModel<TokenClassificationBatch> {
  readonly numLabels: number
  private readonly classWeights: Float32Array | null

  constructor(config: BertConfig, options: TokenClassificationOptions) {
    const { numLabels } = options
    if (!Number.isInteger(numLabels) || numLabels < 1) throw invalid(`numLabels is ${numLabels}, expected an integer ≥ 1`)
    super(config, [['classifier.weight', [config.hidden_size, numLabels]], ['classifier.bias', [numLabels]]], false, options)
    this.numLabels = numLabels
    this.classWeights = checkClassWeights(options.classWeights, numLabels)
  }

  static fromPretraining(pretrained: BertForPreTraining, options: Omit<TokenClassificationOptions, 'weights'>): BertForTokenClassification {
    return new BertForTokenClassification(pretrained.config, { ...options, weights: pretrained.variables })
  }

  /** [B*T, C] logits. */
  logits(batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const { sequence } = this.encode(batch, options)
      return dense(this.dropout(sequence, options), this.v<tf.Tensor2D>('classifier.weight'), this.v('classifier.bias'))
    })
  }

  forward(batch: TokenClassificationBatch, options: ForwardOptions): PretrainOutputs {
    const expected = batch.batchSize * batch.seqLength
    for (const key of ['labels', 'labelWeights'] as const) {
      if (batch[key].length !== expected) throw invalid(`${key} has ${batch[key].length} values, expected ${expected} (batch ${batch.batchSize} × sequence ${batch.seqLength})`)
    }
    return tf.tidy(() => {
      const logits = this.logits(batch, options)
      const weights = tf.tensor1d(batch.labelWeights, 'float32')
      // Ignored positions may hold any id; clamp so the one-hot stays in range (their weight is 0).
      const labels = tf.clipByValue(tf.tensor1d(batch.labels, 'int32'), 0, this.numLabels - 1) as tf.Tensor1D
      const count = tf.sum(weights)
      const loss = this.classWeights
        ? weightedMean(softmaxCrossEntropy(logits, labels), labels, this.classWeights, weights)
        : (tf.div(tf.sum(tf.mul(softmaxCrossEntropy(logits, labels), weights)), tf.maximum(count, 1)) as tf.Scalar)
      const correct = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'float32'), weights)) as tf.Scalar
      return outputs(loss, correct, count as tf.Scalar)
    })
  }

  async predict(batch: EncodedBatch): Promise<TokenClassificationPrediction> {
    const [logits, probabilities, tags] = tf.tidy(() => {
      const x = this.logits(batch, { training: false })
      return [x, tf.softmax(x), tf.argMax(x, -1)]
    })
    const values = await Promise.all([logits.data(), probabilities.data(), tags.data()])
    tf.dispose([logits, probabilities, tags])
    return { logits: values[0] as Float32Array, probabilities: values[1] as Float32Array, tags: Int32Array.from(values[2]) }
  }
}

export interface QuestionAnsweringPrediction {
  /** [B*T] each; positions outside the span mask (when the batch has one) are −10000. */
  readonly startLogits: Float32Array
  readonly endLogits: Float32Array
}

/** Sequence output → qa_outputs [H, 2] → start and end logits; no pooler, no head dropout (as Hugging Face). */
export class BertForQuestionAnswering extends FinetuneModel<QuestionAnsweringBatch> {
  constructor(config: BertConfig, options: HeadOptions = {}) {
    super(config, [['qa_outputs.weight', [config.hidden_size, 2]], ['qa_outputs.bias', [2]]], false, options)
  }

  static fromPretraining(pretrained: BertForPreTraining, options: Omit<HeadOptions, 'weights'> = {}): BertForQuestionAnswering {
    return new BertForQuestionAnswering(pretrained.config, { ...options, weights: pretrained.variables })
  }

  /** Start and end logits [B, T], masked to `spanMask` when given. */
  logits(batch: EncodedBatch & { readonly spanMask?: Float32Array }, options: ForwardOptions): { start: tf.Tensor2D; end: tf.Tensor2D } {
    const { batchSize: B, seqLength: T } = batch
    if (batch.spanMask && batch.spanMask.length !== B * T) throw invalid(`spanMask has ${batch.spanMask.length} values, expected ${B * T} (batch ${B} × sequence ${T})`)
    return tf.tidy(() => {
      const { sequence } = this.encode(batch, options)
      let both = dense(sequence, this.v<tf.Tensor2D>('qa_outputs.weight'), this.v('qa_outputs.bias')) // (B*T, 2)
      if (batch.spanMask) both = tf.add(both, tf.mul(tf.sub(1, tf.reshape(tf.tensor1d(batch.spanMask, 'float32'), [-1, 1])), MASKED_LOGIT))
      const [start, end] = tf.split(both, 2, 1)
      return { start: tf.reshape(start!, [B, T]) as tf.Tensor2D, end: tf.reshape(end!, [B, T]) as tf.Tensor2D }
    })
  }

  forward(batch: QuestionAnsweringBatch, options: ForwardOptions): PretrainOutputs {
    const B = batch.batchSize
    for (const key of ['startPositions', 'endPositions'] as const) {
      if (batch[key].length !== B) throw invalid(`${key} has ${batch[key].length} values, expected ${B} (the batch size)`)
    }
    return tf.tidy(() => {
      const { start, end } = this.logits(batch, options)
      const starts = tf.tensor1d(batch.startPositions, 'int32')
      const ends = tf.tensor1d(batch.endPositions, 'int32')
      // Hugging Face: the mean of the start and end cross-entropies.
      const loss = tf.div(tf.add(tf.mean(softmaxCrossEntropy(start, starts)), tf.mean(softmaxCrossEntropy(end, ends))), 2) as tf.Scalar
      const both = tf.logicalAnd(tf.equal(tf.argMax(start, -1), starts), tf.equal(tf.argMax(end, -1), ends))
      return outputs(loss, tf.sum(tf.cast(both, 'float32')) as tf.Scalar, tf.scalar(B))
    })
  }

  async predict(batch: EncodedBatch & { readonly spanMask?: Float32Array }): Promise<QuestionAnsweringPrediction> {
    const { start, end } = this.logits(batch, { training: false })
    const values = await Promise.all([start.data() as Promise<Float32Array>, end.data() as Promise<Float32Array>])
    tf.dispose([start, end])
    return { startLogits: values[0], endLogits: values[1] }
  }
}
