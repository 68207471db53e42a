/**
 * The trainer (minGPT's): it knows a model only as named variables and a loss over a batch. One
 * `step` is one optimizer update from one or more micro-batches (gradient accumulation), with
 * global-norm clipping, the learning-rate schedule, AdamW, and a divergence guard that refuses an
 * update whose loss or gradient norm is not finite.
 */
import * as tf from '@tensorflow/tfjs'
import { StudioError } from '../errors.ts'
import { accumulationSteps, type TrainConfig } from './config.ts'
import { AdamW, clipCoefficient, globalNorm } from './optimizer.ts'
import { Throttle } from './progress.ts'
import { learningRateAt } from './schedule.ts'
import type { TrainableModel } from './types.ts'

/** Per-update metrics, named as they are stored. */
export interface TrainMetrics {
  loss: number
  mlm_loss: number
  mlm_accuracy: number
  nsp_loss: number
  nsp_accuracy: number
  learning_rate: number
  grad_norm: number
  tokens_per_second: number
  step_time_ms: number
}

export interface StepResult {
  /** Updates applied after this step (1 after the first); unchanged when the step diverged. */
  step: number
  /** The loss or the gradient norm was NaN/Inf: no update was applied, the weights are the last good ones. */
  diverged: boolean
  metrics: TrainMetrics
}

export interface EvalMetrics {
  loss: number
  mlm_loss: number
  mlm_accuracy: number
  nsp_loss: number
  nsp_accuracy: number
}

export interface TrainProgress {
  step: number
  totalSteps: number
  diverged: boolean
  metrics: TrainMetrics
}

export interface TrainerOptions<Batch> {
  /** The schedule's length in updates (see `totalSteps` in config.ts). */
  totalSteps: number
  /** Tokens in a batch, for tokens/s. Default: the sum of `attentionMask` when the batch has one. */
  countTokens?: (batch: Batch) => number
  /** Examples in a batch, for NSP accuracy. Default: `batchSize`. */
  countExamples?: (batch: Batch) => number
  /** Called at most every `progressIntervalMs` (default 125) with the latest step. */
  onProgress?: (progress: TrainProgress) => void
  progressIntervalMs?: number
  now?: () => number
  /** Data parallelism: this trainer is one replica of several (see ./parallel.ts). */
  parallel?: DataParallel<Batch>
}

/**
 * One replica's part in data-parallel training. Every replica gets every micro-batch of a step,
 * computes the gradients of those it owns (`ownerOfMicroBatch`), and `reduce` sums the replicas'
 * partial sums in rank order, so every replica applies the identical update.
 */
export interface DataParallel<Batch> {
  readonly rank: number
  readonly world: number
  /** Called first in every step with all its micro-batches (a coordinator hands them to its peers). */
  beginStep?(microBatches: readonly Batch[], scheduleStep: number): void
  /** Every replica's partial gradient sums added in rank order, and every micro-batch's scalars in micro-batch order. */
  reduce(local: LocalGradients): Promise<ReducedGradients>
}

export interface LocalGradients {
  readonly scheduleStep: number
  /** Micro-batches in the step (all replicas). */
  readonly microBatches: number
  /** By variable name: the sum of this replica's micro-batch gradients (empty when it owns none). */
  readonly sums: ReadonlyMap<string, tf.Tensor>
  /** By micro-batch index: [loss, mlmLoss, nspLoss, mlmCorrect, mlmCount, nspCorrect]. */
  readonly scalars: ReadonlyMap<number, Float32Array>
}

export interface ReducedGradients {
  /** New tensors (the trainer disposes them). */
  readonly sums: Map<string, tf.Tensor>
  /** One row per micro-batch, in micro-batch order. */
  readonly scalars: Float32Array[]
}

/** The replica that computes micro-batch `micro` of `count`: contiguous, equal shares in rank order. */
export function ownerOfMicroBatch(micro: number, count: number, world: number): number {
  return Math.floor((micro * world) / count)
}

/** What a checkpoint needs from the trainer besides the tensors. */
export interface TrainerCounters {
  optimizerStep: number
  scheduleStep: number
}

/**
 * The dropout seed of micro-batch `micro` of update `step`: a hash of the run's seed, the step and
 * the micro-batch, so a resumed run draws the very masks the uninterrupted run would have.
 */
export function dropoutSeedFor(seed: number, step: number, micro: number): number {
  let h = mix32(seed ^ 0x9e3779b9)
  h = mix32(h ^ Math.imul(step + 1, 0x85ebca6b))
  h = mix32(h ^ Math.imul(micro + 1, 0xc2b2ae35))
  return h
}

function mix32(x: number): number {
  // murmur3's finaliser
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

const defaultTokens = (batch: unknown): number => {
  const mask = (batch as { attentionMask?: ArrayLike<number> }).attentionMask
  if (!mask) return 0
  let total = 0
  for (let i = 0; i < mask.length; i++) total += mask[i]!
  return total
}
const defaultExamples = (batch: unknown): number => (batch as { batchSize?: number }).batchSize ?? 0

// Layout of the per-micro-batch scalars read back once per step.
const LOSS = 0
const MLM_LOSS = 1
const NSP_LOSS = 2
const MLM_CORRECT = 3
const MLM_COUNT = 4
const NSP_CORRECT = 5

export class Trainer<Batch> {
  readonly optimizer: AdamW
  readonly totalSteps: number
  private schedulePosition = 0
  private hasDiverged = false
  private readonly variableList: tf.Variable[]
  private readonly nameOf = new Map<string, string>()
  private readonly throttle: Throttle<TrainProgress> | undefined
  private readonly now: () => number
  private readonly countTokens: (batch: Batch) => number
  private readonly countExamples: (batch: Batch) => number
  private readonly parallel: DataParallel<Batch> | undefined

  constructor(
    readonly model: TrainableModel<Batch>,
    readonly config: TrainConfig,
    options: TrainerOptions<Batch>,
  ) {
    if (!Number.isInteger(options.totalSteps) || options.totalSteps < 1) {
      throw new StudioError('VALIDATION', `totalSteps is ${options.totalSteps}, expected an integer ≥ 1`)
    }
    this.totalSteps = options.totalSteps
    this.optimizer = new AdamW(model.variables, config.optimizer)
    this.variableList = [...model.variables.values()]
    for (const [name, variable] of model.variables) this.nameOf.set(variable.name, name)
    this.now = options.now ?? (() => performance.now())
    this.countTokens = options.countTokens ?? defaultTokens
    this.countExamples = options.countExamples ?? defaultExamples
    this.parallel = options.parallel
    const onProgress = options.onProgress
    this.throttle = onProgress && new Throttle(onProgress, options.progressIntervalMs ?? 125, this.now)
  }

  /** Updates applied so far. */
  get globalStep(): number {
    return this.optimizer.step
  }

  get scheduleStep(): number {
    return this.schedulePosition
  }

  get diverged(): boolean {
    return this.hasDiverged
  }

  /** The learning rate the next update will use. */
  get learningRate(): number {
    return learningRateAt(this.config.optimizer.learningRate, this.config.schedule, this.totalSteps, this.schedulePosition)
  }

  counters(): TrainerCounters {
    return { optimizerStep: this.optimizer.step, scheduleStep: this.schedulePosition }
  }

  /** Puts the trainer at a checkpoint's counters (the checkpoint restores weights and moments). */
  setCounters(counters: TrainerCounters): void {
    if (!Number.isInteger(counters.scheduleStep) || counters.scheduleStep < 0) {
      throw new StudioError('VALIDATION', `The schedule step is ${counters.scheduleStep}, expected an integer ≥ 0`)
    }
    this.schedulePosition = counters.scheduleStep
    this.hasDiverged = false
  }

  /**
   * One update from `microBatches` (config.batchSize / config.microBatchSize of them, fewer at the
   * end of an epoch): gradients summed over the micro-batches, averaged, clipped to the global norm,
   * then one AdamW update — the same update one big batch would give when the loss is a mean over
   * equally sized micro-batches.
   */
  async step(microBatches: readonly Batch[]): Promise<StepResult> {
    if (this.hasDiverged) throw new StudioError('CONFLICT', `The run diverged at step ${this.globalStep + 1}; restore a checkpoint before stepping again`)
    if (microBatches.length === 0) throw new StudioError('VALIDATION', 'A step got 0 micro-batches, expected at least 1')
    const started = this.now()
    const expected = accumulationSteps(this.config)
    if (microBatches.length > expected) {
      throw new StudioError('VALIDATION', `A step got ${microBatches.length} micro-batches, expected at most ${expected} (batchSize / microBatchSize)`)
    }
    let sums = new Map<string, tf.Tensor>()
    const scalars: tf.Tensor1D[] = []
    let tokens = 0
    let examples = 0
    const parallel = this.parallel
    const owned: number[] = []
    try {
      parallel?.beginStep?.(microBatches, this.schedulePosition)
      for (const [micro, batch] of microBatches.entries()) {
        tokens += this.countTokens(batch)
        examples += this.countExamples(batch)
        if (parallel && ownerOfMicroBatch(micro, microBatches.length, parallel.world) !== parallel.rank) continue
        owned.push(micro)
        const dropoutSeed = dropoutSeedFor(this.config.seed, this.schedulePosition, micro)
        const previous = sums
        const next = tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const out = this.model.forward(batch, { training: true, dropoutSeed })
            // Kept past variableGrads' own tidy; disposed below once summed.
            scalars.push(tf.keep(tf.stack([out.loss, out.mlmLoss, out.nspLoss, out.mlmCorrect, out.mlmCount, out.nspCorrect]) as tf.Tensor1D))
            return out.loss
          }, this.variableList)
          const summed: Record<string, tf.Tensor> = {}
          for (const [tfName, grad] of Object.entries(grads)) {
            const name = this.nameOf.get(tfName)
            if (name === undefined || grad === null) continue
            const prior = previous.get(name)
            summed[name] = prior ? tf.add(prior, grad) : grad
          }
          return summed
        })
        sums = new Map(Object.entries(next))
        for (const [name, prior] of previous) {
          if (!sums.has(name)) sums.set(name, prior)
          else prior.dispose()
        }
      }
      if (parallel) {
        const localScalars = new Map<number, Float32Array>()
        for (const [i, scalar] of scalars.entries()) localScalars.set(owned[i]!, Float32Array.from(await scalar.data()))
        const reduced = await parallel.reduce({ scheduleStep: this.schedulePosition, microBatches: microBatches.length, sums, scalars: localScalars })
        for (const grad of sums.values()) grad.dispose()
        sums = reduced.sums
        for (const scalar of scalars) scalar.dispose()
        scalars.length = 0
        for (const row of reduced.scalars) scalars.push(tf.tensor1d(row, 'float32'))
      }
      const readout = tf.tidy(() => tf.concat([tf.reshape(globalNorm(sums.values()), [1]), tf.addN(scalars)]))
      const values = await readout.data()
      readout.dispose()
      const k = microBatches.length
      const gradNorm = values[0]! / k
      const loss = values[1 + LOSS]! / k
      const learningRate = this.learningRate
      const diverged = !Number.isFinite(loss) || !Number.isFinite(gradNorm)
      if (!diverged) {
        this.optimizer.apply(sums, learningRate, clipCoefficient(gradNorm, this.config.maxGradNorm) / k)
        this.schedulePosition += 1
      } else {
        this.hasDiverged = true
      }
      const elapsed = this.now() - started
      const metrics: TrainMetrics = {
        loss,
        mlm_loss: values[1 + MLM_LOSS]! / k,
        mlm_accuracy: ratio(values[1 + MLM_CORRECT]!, values[1 + MLM_COUNT]!),
        nsp_loss: values[1 + NSP_LOSS]! / k,
        nsp_accuracy: ratio(values[1 + NSP_CORRECT]!, examples),
        learning_rate: learningRate,
        grad_norm: gradNorm,
        tokens_per_second: elapsed > 0 ? (tokens * 1000) / elapsed : 0,
        step_time_ms: elapsed,
      }
      const result: StepResult = { step: this.globalStep, diverged, metrics }
      if (this.throttle) {
        this.throttle.push({ step: result.step, totalSteps: this.totalSteps, diverged, metrics })
        if (diverged) this.throttle.flush()
      }
      return result
    } finally {
      for (const grad of sums.values()) grad.dispose()
      for (const scalar of scalars) scalar.dispose()
    }
  }

  /** Loss and accuracies over held-out batches, without dropout. Losses are averaged per batch; accuracies pooled. */
  async evaluate(batches: Iterable<Batch>): Promise<EvalMetrics> {
    let total: tf.Tensor1D | undefined
    let count = 0
    let examples = 0
    for (const batch of batches) {
      const previous = total
      total = tf.tidy(() => {
        const out = this.model.forward(batch, { training: false })
        const row = tf.stack([out.loss, out.mlmLoss, out.nspLoss, out.mlmCorrect, out.mlmCount, out.nspCorrect]) as tf.Tensor1D
        return previous ? (tf.add(previous, row) as tf.Tensor1D) : row
      })
      previous?.dispose()
      count += 1
      examples += this.countExamples(batch)
    }
    if (!total) throw new StudioError('VALIDATION', 'Evaluation got 0 batches, expected at least 1')
    const values = await total.data()
    total.dispose()
    return {
      loss: values[LOSS]! / count,
      mlm_loss: values[MLM_LOSS]! / count,
      mlm_accuracy: ratio(values[MLM_CORRECT]!, values[MLM_COUNT]!),
      nsp_loss: values[NSP_LOSS]! / count,
      nsp_accuracy: ratio(values[NSP_CORRECT]!, examples),
    }
  }

  /** Emits the pending progress now (call at the end of a run or before pausing). */
  flushProgress(): void {
    this.throttle?.flush()
  }

  /** Frees the optimizer's slots (the model's variables belong to the model). */
  dispose(): void {
    this.optimizer.dispose()
  }
}

const ratio = (numerator: number, denominator: number): number => (denominator > 0 ? numerator / denominator : 0)

/** Metrics as the rows the store keeps: one per name, at `step`, `wallTime` in seconds since the epoch. */
export function toMetricRows(
  step: number,
  split: 'train' | 'validation',
  metrics: TrainMetrics | EvalMetrics,
  wallTime = Date.now() / 1000,
): { step: number; split: 'train' | 'validation'; name: string; value: number; wallTime: number }[] {
  return Object.entries(metrics).map(([name, value]) => ({ step, split, name, value: value as number, wallTime }))
}
