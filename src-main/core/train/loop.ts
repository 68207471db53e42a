/**
 * The run loop, pure: draws micro-batches from the data, steps the trainer, validates and
 * checkpoints on the config's intervals, keeps the metric rows since the last checkpoint so the
 * caller writes them in the checkpoint's transaction, and stops on divergence or when asked.
 * The worker supplies the data and a `saveCheckpoint` that writes to the store.
 */
import { accumulationSteps } from './config.ts'
import { captureCheckpoint, serializeCheckpoint, type CheckpointContext, type SerializedCheckpoint } from './checkpoint.ts'
import { toMetricRows, type EvalMetrics, type StepResult, type Trainer } from './trainer.ts'

export type MetricRows = ReturnType<typeof toMetricRows>

/** What the loop needs from the data pipeline (PretrainDataGenerator fits). */
export interface TrainingData<Batch> {
  /** The next `size` training examples and the stream's position after them (plain JSON). */
  nextBatch(size: number): { batch: Batch; position: unknown }
  /** The held-out set, the same every call; at most `maxBatches` batches. */
  validationBatches?(size: number, maxBatches?: number): Iterable<Batch>
}

export interface CheckpointWrite {
  step: number
  kind: 'interval' | 'best' | 'final'
  checkpoint: SerializedCheckpoint
  /** Every metric row since the previous checkpoint: write them in the same transaction. */
  metricRows: MetricRows
}

export interface LoopOptions<Batch> {
  trainer: Trainer<Batch>
  data: TrainingData<Batch>
  /** Where the data stands now (a resumed run: the checkpoint's position). */
  position: unknown
  /** What checkpoints carry besides the trainer's state. */
  context: Omit<CheckpointContext, 'epoch' | 'dataPosition' | 'validationLoss'>
  /** Best validation loss so far (a resumed run: the best checkpoint's), to decide when a new best is saved. */
  bestValidationLoss?: number | null
  saveCheckpoint: (write: CheckpointWrite) => void | Promise<void>
  /** Polled between steps: 'pause' checkpoints then stops, 'cancel' stops. */
  stopRequested?: () => 'pause' | 'cancel' | null
  onStep?: (result: StepResult) => void
  onValidation?: (step: number, metrics: EvalMetrics) => void
  /** Seconds since the epoch, for metric rows. */
  wallTime?: () => number
}

export interface LoopResult {
  status: 'done' | 'diverged' | 'paused' | 'cancelled'
  step: number
  /** Rows not yet written with a checkpoint (after divergence or cancel): append them. */
  pendingMetrics: MetricRows
  bestValidationLoss: number | null
}

const epochOf = (position: unknown): number => {
  const epoch = (position as { epoch?: unknown } | null)?.epoch
  return typeof epoch === 'number' ? epoch : 0
}

export async function runTrainingLoop<Batch>(options: LoopOptions<Batch>): Promise<LoopResult> {
  const { trainer, data } = options
  const config = trainer.config
  const wallTime = options.wallTime ?? (() => Date.now() / 1000)
  const micros = accumulationSteps(config)
  let position = options.position
  let best = options.bestValidationLoss ?? null
  let pending: MetricRows = []
  let lastValidation: number | null = null

  const save = async (kind: CheckpointWrite['kind']) => {
    const checkpoint = await captureCheckpoint(trainer, {
      ...options.context,
      epoch: epochOf(position),
      dataPosition: position,
      validationLoss: lastValidation,
    })
    await options.saveCheckpoint({ step: trainer.globalStep, kind, checkpoint: serializeCheckpoint(checkpoint), metricRows: pending })
    pending = []
  }

  while (trainer.globalStep < trainer.totalSteps) {
    // A step's awaits settle as microtasks on the cpu and wasm backends: yield a macrotask turn so
    // pause and cancel messages reach the worker between steps.
    await new Promise<void>((resolve) => setImmediate(resolve))
    const stop = options.stopRequested?.() ?? null
    if (stop === 'pause') {
      await save('interval')
      trainer.flushProgress()
      return { status: 'paused', step: trainer.globalStep, pendingMetrics: [], bestValidationLoss: best }
    }
    if (stop === 'cancel') {
      trainer.flushProgress()
      return { status: 'cancelled', step: trainer.globalStep, pendingMetrics: pending, bestValidationLoss: best }
    }
    const batches: Batch[] = []
    let nextPosition = position
    for (let i = 0; i < micros; i++) {
      const drawn = data.nextBatch(config.microBatchSize)
      batches.push(drawn.batch)
      nextPosition = drawn.position
    }
    const result = await trainer.step(batches)
    options.onStep?.(result)
    pending.push(...toMetricRows(result.step + (result.diverged ? 1 : 0), 'train', result.metrics, wallTime()))
    if (result.diverged) {
      return { status: 'diverged', step: trainer.globalStep, pendingMetrics: pending, bestValidationLoss: best }
    }
    position = nextPosition
    const step = trainer.globalStep
    const last = step === trainer.totalSteps
    lastValidation = null
    let newBest = false
    if (data.validationBatches && (step % config.validation.intervalSteps === 0 || last)) {
      const metrics = await trainer.evaluate(data.validationBatches(config.microBatchSize, config.validation.maxBatches ?? undefined))
      options.onValidation?.(step, metrics)
      pending.push(...toMetricRows(step, 'validation', metrics, wallTime()))
      lastValidation = metrics.loss
      newBest = Number.isFinite(metrics.loss) && (best === null || metrics.loss < best)
      if (newBest) best = metrics.loss
    }
    if (last) await save('final')
    else if (step % config.checkpoint.intervalSteps === 0) await save('interval')
    else if (newBest && config.checkpoint.keepBest) await save('best')
  }
  trainer.flushProgress()
  return { status: 'done', step: trainer.globalStep, pendingMetrics: pending, bestValidationLoss: best }
}
