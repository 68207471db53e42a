/**
 * Fine-tuning in the worker: the run's stored config and frozen examples → training rows, the
 * task's head (from the parent's checkpoint, or random weights) → the Trainer, stepping epoch by
 * epoch in a seeded order, validating on the task's metric, keeping the best checkpoint, stopping
 * early when the metric stops improving, and at the end evaluating the best checkpoint on the
 * held-out test split. Checkpoints and metrics go through the store in one transaction each, as
 * pre-training's do, so a run killed at any moment resumes from its latest checkpoint bit-exactly.
 *
 * Also: evaluation on demand (the test split, or examples the CLI read from a file), and
 * prediction for the playground, batch files and model-in-the-loop labelling, with the last model
 * kept loaded so that a playground's successive inputs do not reload it.
 */
import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import { FINETUNE_MAX_AUTO_EPOCHS, FINETUNE_MIN_STEPS, type EvaluationBaseline, type FinetuneRequest, type TaskKind } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import type { LabelledExample, SnapshotExample } from '../core/data/examples.ts'
import { Rng } from '../core/data/rng.ts'
import { bertConfigFromJson } from '../core/model/config.ts'
import { BertTokenizer } from '../core/tokenizer/index.ts'
import { assertResumable, captureCheckpoint, engineVersions, restoreCheckpoint, serializeCheckpoint } from '../core/train/checkpoint.ts'
import { trainConfigFromJson, type TrainConfig } from '../core/train/config.ts'
import {
  classificationBaseline,
  classWeightsOf,
  pairedCounts,
  collate,
  createHead,
  encodeTrainingRows,
  evaluateOutputs,
  evaluationItems,
  freezeLowerLayers,
  predict,
  selectionMetric,
  specialIds,
  uncertaintyOf,
  predictedValue,
  type FinetuneArchitecture,
  type FinetuneBatch,
  type FinetuneHead,
  type FinetuneSetup,
  type PredictInput,
  type PredictOutput,
  type TaskEvaluation,
  type TrainingRow,
} from '../core/train/finetune.ts'
import { finetuneMetrics } from '../core/train/metrics.ts'
import { Trainer } from '../core/train/trainer.ts'
import type { BertConfig } from '../core/train/types.ts'
import type { ResolvedValue } from '../core/data/examples.ts'
import * as finetuneStore from '../store/finetune.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import { checkpointWeights } from './export-task.ts'
import { ensureBackend, type DatabaseInput } from './pretrain-task.ts'
import type { TaskContext } from './tasks.ts'

/** What a fine-tuning run stores as its config: the request and everything it resolved to. */
export interface StoredFinetuneConfig {
  request: FinetuneRequest
  task: TaskKind
  /** Read by export (Hugging Face's architectures, id2label, problem_type). */
  architecture: FinetuneArchitecture
  id2label: string[]
  problemType: 'single_label_classification' | 'multi_label_classification' | null
  setup: FinetuneSetup
  train: TrainConfig
  /** The pre-trained run and checkpoint it starts from; null: random weights. */
  parent: { runId: number; checkpointId: number; step: number } | null
  freezeLayers: number
  classWeights: boolean
  earlyStoppingPatience: number
  /** Steps between validations; null: once per epoch. */
  validateEvery: number | null
  /** Known once the worker has encoded the training rows. */
  totalSteps: number | null
  stepsPerEpoch: number | null
  /** Examples per split when the run was created. */
  splits: { train: number; validation: number; test: number }
  /** Set when early stopping ended the run before its last step. */
  stoppedEarly?: { step: number; metric: string; best: number | null; bestStep: number | null; patience: number }
}

export interface FinetuneTaskInput extends DatabaseInput {
  runId: number
  studioVersion: string
}

export interface FinetuneTaskOutput {
  status: 'done' | 'diverged' | 'paused' | 'cancelled'
  step: number
  backend: string
}

/** Where training stands: the data's position and early stopping's memory (a checkpoint's dataPosition). */
interface FinetunePosition {
  epoch: number
  /** Rows of this epoch's order already trained on. */
  cursor: number
  /** The best validation metric so far, its loss (ties broken by lower loss) and step. */
  best: number | null
  bestLoss: number | null
  bestStep: number | null
  /** Validations since the best. */
  sinceBest: number
}

/** Tests set STUDIO_FAULT_EXIT_AT_STEP to make the worker die after that step. */
const faultExitAtStep = process.env.STUDIO_FAULT_EXIT_AT_STEP ? Number(process.env.STUDIO_FAULT_EXIT_AT_STEP) : null

function openDatabase(input: DatabaseInput, readonly = false): Database.Database {
  const db = new Database(input.databasePath, { readonly, ...(input.nativeBinding ? { nativeBinding: input.nativeBinding } : {}) })
  if (!readonly) {
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
  }
  db.pragma('busy_timeout = 10000')
  return db
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/**
 * A run's frozen data by content: the examples' text, labels and splits, not their document ids or
 * sources ("document 42"), so a project imported elsewhere (new ids, same examples) resumes its
 * paused runs, and runs on the same examples share one baseline.
 */
const finetuneDatasetHash = (frozen: { labels: readonly string[]; examples: readonly SnapshotExample[] }) =>
  sha256(Buffer.from(JSON.stringify([frozen.labels, frozen.examples.map((example) => [example.split, example.text, example.value])])))

interface FinetuneInputs {
  run: runStore.RunInfo
  stored: StoredFinetuneConfig
  tokenizer: BertTokenizer
  tokenizerHash: string
  modelConfig: BertConfig
}

function loadInputs(db: Database.Database, runId: number): FinetuneInputs {
  const run = runStore.getRun(db, runId)
  if (!run) throw notFound(`No run with id ${runId}`)
  if (run.kind !== 'finetune') throw new StudioError('CONFLICT', `Run ${runId} is a ${run.kind} run, not a fine-tuning run`)
  if (run.tokenizerId === null) throw new StudioError('CONFLICT', `Run ${runId} has lost its tokenizer (deleted since): it cannot be used`)
  const tokenizerJson = tokenizerStore.tokenizerJson(db, run.tokenizerId)
  if (tokenizerJson === undefined) throw notFound(`Run ${runId}'s tokenizer ${run.tokenizerId} no longer exists`)
  const stored = run.config as StoredFinetuneConfig
  return {
    run,
    stored: { ...stored, train: trainConfigFromJson(JSON.stringify(stored.train)) },
    tokenizer: BertTokenizer.fromTokenizerJson(tokenizerJson, `tokenizer ${run.tokenizerId}`),
    tokenizerHash: sha256(tokenizerJson),
    modelConfig: bertConfigFromJson(run.modelConfig as object),
  }
}

/** The model a checkpoint holds, every variable from it (a head the checkpoint lacks is an error, not a fresh start). */
function modelFromCheckpoint(db: Database.Database, inputs: FinetuneInputs, checkpointId: number): FinetuneHead {
  const { info, checkpoint } = runStore.loadCheckpoint(db, checkpointId)
  if (info.runId !== inputs.run.id) throw new StudioError('VALIDATION', `Checkpoint ${info.id} belongs to run ${info.runId}, not run ${inputs.run.id}`)
  const model = createHead(inputs.stored.setup, inputs.modelConfig, { seed: 0, weights: checkpointWeights(checkpoint.tensors) })
  if (model.loadReport.initialised.length > 0) {
    model.dispose()
    throw new StudioError('CONFLICT', `Checkpoint ${info.id} of run ${inputs.run.id} lacks ${model.loadReport.initialised.join(', ')}`)
  }
  return model
}

/** Metric rows of one step, as the store keeps them. */
const metricRows = (step: number, name: runStore.MetricSplit, metrics: Record<string, number>): runStore.MetricRow[] => {
  const wallTime = Date.now() / 1000
  return Object.entries(metrics).map(([metric, value]) => ({ step, split: name, name: metric, value, wallTime }))
}

const split = (examples: readonly SnapshotExample[], name: SnapshotExample['split']) => examples.filter((example) => example.split === name)

/** This epoch's order of the training rows: a shuffle derived from (seed, epoch) alone, so a resumed run draws the same. */
function epochOrder(seed: number, epoch: number, rows: number): number[] {
  return Rng.derive(seed, 'finetune-order', epoch).shuffle(Array.from({ length: rows }, (_, i) => i))
}

let cached: { key: string; model: FinetuneHead } | null = null
function dropCachedModel(): void {
  cached?.model.dispose()
  cached = null
}

export async function finetuneTask(input: FinetuneTaskInput, context: TaskContext): Promise<FinetuneTaskOutput> {
  const backend = await ensureBackend()
  dropCachedModel()
  const db = openDatabase(input)
  let model: FinetuneHead | null = null
  let trainer: Trainer<FinetuneBatch> | null = null
  try {
    const inputs = loadInputs(db, input.runId)
    const { stored, tokenizer, modelConfig } = inputs
    const { setup } = stored
    runStore.setRunStatus(db, input.runId, 'running', { backend: backend.backend })
    const frozen = finetuneStore.loadRunDataset(db, input.runId)
    const datasetHash = finetuneDatasetHash(frozen)
    const trainExamples = split(frozen.examples, 'train')
    if (trainExamples.length === 0) throw new StudioError('CONFLICT', `Run ${input.runId} has no training examples: label some and split the dataset`)
    context.progress({ phase: 'Encoding the examples', done: 0, total: null, items: 0 })
    const rows = encodeTrainingRows(tokenizer, setup, trainExamples)
    if (rows.length === 0) throw new StudioError('CONFLICT', `Run ${input.runId}'s training examples give no training rows (QA: no questions)`)
    const validationExamples = split(frozen.examples, 'validation')
    const validationRows = encodeTrainingRows(tokenizer, setup, validationExamples)
    const validationItems = evaluationItems(setup, validationExamples)
    const train = stored.train
    const stepsPerEpoch = Math.ceil(rows.length / train.batchSize)
    // Default epochs (the analyst left them unset): 3 passes, more on a small dataset so the head
    // gets enough updates — 72 steps left the topics sample at chance, 240 reached 0.98.
    const epochs =
      stored.request.epochs === undefined
        ? Math.min(FINETUNE_MAX_AUTO_EPOCHS, Math.max(train.epochs ?? 3, Math.ceil(FINETUNE_MIN_STEPS / stepsPerEpoch)))
        : (train.epochs ?? 1)
    const totalSteps = stored.totalSteps ?? Math.max(1, Math.round(epochs * stepsPerEpoch))
    if (stored.totalSteps === null) {
      db.prepare('UPDATE runs SET config_json = ? WHERE id = ?').run(JSON.stringify({ ...stored, totalSteps, stepsPerEpoch }), input.runId)
    }
    const validateEvery = stored.validateEvery ?? stepsPerEpoch
    const classWeights = stored.classWeights ? classWeightsOf(setup, rows) : null
    const latest = runStore.loadLatestCheckpoint(db, input.runId)

    // The starting weights: the run's own checkpoint (resume), the parent's, or random.
    let weights: Map<string, { shape: number[]; data: Float32Array }> | undefined
    if (!latest && stored.parent) {
      const parent = runStore.loadCheckpoint(db, stored.parent.checkpointId)
      weights = checkpointWeights(parent.checkpoint.tensors)
    }
    model = createHead(setup, modelConfig, { seed: train.seed, ...(weights ? { weights } : {}), classWeights })
    weights = undefined
    freezeLowerLayers(model, stored.freezeLayers)
    let lastReport: Record<string, number> = {}
    trainer = new Trainer<FinetuneBatch>(model, train, {
      totalSteps,
      onProgress: (p) => {
        lastReport = finetuneMetrics(p.metrics)
        context.progress({ phase: 'Training', done: p.step, total: totalSteps, items: p.step, metrics: lastReport })
      },
    })
    let position: FinetunePosition = { epoch: 0, cursor: 0, best: null, bestLoss: null, bestStep: null, sinceBest: 0 }
    if (latest) {
      assertResumable(latest.checkpoint.manifest, {
        datasetHash,
        tokenizerHash: inputs.tokenizerHash,
        formerDatasetHash: sha256(Buffer.concat([Buffer.from(JSON.stringify(frozen.labels)), frozen.raw])),
      })
      restoreCheckpoint(trainer, latest.checkpoint)
      position = latest.checkpoint.manifest.dataPosition as FinetunePosition
      // Steps after the checkpoint were lost with the crash or pause; they will be run again.
      runStore.discardMetricsAfter(db, input.runId, latest.info.step)
    }

    const padId = specialIds(tokenizer).pad
    const versions = engineVersions(input.studioVersion)
    const micro = train.microBatchSize
    let pending: runStore.MetricRow[] = []
    let lastSavedStep = latest?.info.step ?? -1
    const save = async (kind: runStore.CheckpointKind, validationLoss: number | null) => {
      const checkpoint = await captureCheckpoint(trainer!, {
        epoch: position.epoch,
        dataPosition: position,
        datasetHash,
        tokenizerHash: inputs.tokenizerHash,
        modelConfig,
        versions,
        validationLoss,
      })
      const step = trainer!.globalStep
      db.transaction(() => {
        runStore.saveCheckpoint(db, input.runId, step, pending, serializeCheckpoint(checkpoint), {
          kind,
          status: 'running',
          epoch: position.epoch,
          keepLast: Number.MAX_SAFE_INTEGER,
          keepBest: false,
        })
        finetuneStore.pruneFinetuneCheckpoints(db, input.runId, train.checkpoint.keepLast)
      })()
      pending = []
      lastSavedStep = step
    }
    let order = epochOrder(train.seed, position.epoch, rows.length)
    let status: FinetuneTaskOutput['status'] = 'done'
    let stoppedEarly = false
    const metricName = selectionMetric(setup.task)

    // Early stopping waits for the minimum a default run makes: on a small dataset an epoch is a
    // handful of steps, and three flat validations in the first few dozen steps (sentiment sample:
    // stopped at step 63 of 320, test accuracy 0.80) say nothing about where training is going.
    const earliestStop = Math.min(totalSteps, FINETUNE_MIN_STEPS)
    while (trainer.globalStep < totalSteps) {
      // A run that crashed right after deciding to stop early resumes into that decision.
      if (stored.earlyStoppingPatience > 0 && position.sinceBest >= stored.earlyStoppingPatience && trainer.globalStep >= earliestStop) {
        stoppedEarly = true
        break
      }
      // Let pause and cancel messages reach the worker between steps.
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (context.signal.aborted) {
        status = 'cancelled'
        break
      }
      if (context.pauseRequested()) {
        if (lastSavedStep !== trainer.globalStep) await save('interval', null)
        status = 'paused'
        break
      }
      const take = order.slice(position.cursor, position.cursor + train.batchSize)
      const batches: FinetuneBatch[] = []
      for (let at = 0; at < take.length; at += micro) batches.push(collate(setup, take.slice(at, at + micro).map((i) => rows[i]!), padId))
      const result = await trainer.step(batches)
      pending.push(...metricRows(result.step + (result.diverged ? 1 : 0), 'train', finetuneMetrics(result.metrics)))
      if (result.diverged) {
        status = 'diverged'
        break
      }
      if (faultExitAtStep !== null && result.step >= faultExitAtStep) process.exit(70)
      position = { ...position, cursor: position.cursor + take.length }
      if (position.cursor >= rows.length) {
        position = { ...position, epoch: position.epoch + 1, cursor: 0 }
        order = epochOrder(train.seed, position.epoch, rows.length)
      }
      const step = trainer.globalStep
      const last = step === totalSteps
      if (step % validateEvery !== 0 && !last) continue
      if (validationRows.length === 0) {
        await save(last ? 'final' : 'interval', null)
        continue
      }
      context.progress({ phase: 'Validating', done: step, total: totalSteps, items: step, metrics: lastReport })
      const validation = await validate(trainer, model, tokenizer, setup, validationRows, validationItems, padId, context)
      const value = validation.metrics[metricName] ?? 0
      const improved = position.best === null || value > position.best + 1e-9 || (Math.abs(value - position.best) <= 1e-9 && validation.loss < (position.bestLoss ?? Infinity))
      position = improved
        ? { ...position, best: value, bestLoss: validation.loss, bestStep: step, sinceBest: 0 }
        : { ...position, sinceBest: position.sinceBest + 1 }
      pending.push(...metricRows(step, 'validation', { loss: validation.loss, ...validation.metrics }))
      context.progress({
        phase: 'Validating',
        done: step,
        total: totalSteps,
        items: step,
        metrics: { ...lastReport, validation_loss: validation.loss, ...Object.fromEntries(Object.entries(validation.metrics).map(([k, v]) => [`validation_${k}`, v])) },
      })
      await save(improved ? 'best' : last ? 'final' : 'interval', validation.loss)
    }
    trainer.flushProgress()
    if (pending.length > 0) runStore.appendMetrics(db, input.runId, pending)
    let error: string | undefined
    if (status === 'diverged') error = `The loss became NaN or infinite at step ${trainer.globalStep + 1}; the last good checkpoint is kept`
    if (status === 'done') {
      if (stoppedEarly) {
        const note = { step: trainer.globalStep, metric: metricName, best: position.best, bestStep: position.bestStep, patience: stored.earlyStoppingPatience }
        db.prepare('UPDATE runs SET config_json = ? WHERE id = ?').run(JSON.stringify({ ...(runStore.getRun(db, input.runId)!.config as object), stoppedEarly: note }), input.runId)
        context.progress({ phase: `Stopped early: ${metricName} has not improved for ${stored.earlyStoppingPatience} validations`, done: trainer.globalStep, total: totalSteps, items: trainer.globalStep })
      }
      // The held-out test split, with the best checkpoint, once training is over.
      if (split(frozen.examples, 'test').length > 0) {
        const finalStep = trainer.globalStep
        trainer.dispose()
        trainer = null
        try {
          const atStep = { step: finalStep, totalSteps }
          context.progress({ phase: 'Evaluating on the test split', done: atStep.step, total: totalSteps, items: 0 })
          await storeEvaluation(db, inputs, frozen, model, await loadBestInto(db, inputs, model), context, atStep)
        } catch (caught) {
          // Training is over and its checkpoints are kept: the run is done either way, and `runs.evaluate` can try again.
          const cancelled = caught instanceof StudioError && caught.code === 'CANCELLED'
          error = cancelled ? 'Training finished; the evaluation on the test split was cancelled' : `Training finished, but the evaluation on the test split failed: ${(caught as Error).message}`
        }
      }
    }
    runStore.setRunStatus(db, input.runId, status, error === undefined ? {} : { error })
    return { status, step: runStore.getRun(db, input.runId)!.step, backend: backend.backend }
  } catch (error) {
    const cancelled = error instanceof StudioError && error.code === 'CANCELLED'
    runStore.setRunStatus(db, input.runId, cancelled ? 'cancelled' : 'crashed', { error: (error as Error).message })
    throw error
  } finally {
    trainer?.dispose()
    model?.dispose()
    db.close()
  }
}

/** Validation loss (the head's, over the validation rows) and the task's metrics on the validation examples. */
async function validate(
  trainer: Trainer<FinetuneBatch>,
  model: FinetuneHead,
  tokenizer: BertTokenizer,
  setup: FinetuneSetup,
  rows: readonly TrainingRow[],
  items: ReturnType<typeof evaluationItems>,
  padId: number,
  context: TaskContext,
): Promise<{ loss: number; metrics: Record<string, number> }> {
  const size = trainer.config.microBatchSize
  const batches = function* () {
    for (let at = 0; at < rows.length; at += size) yield collate(setup, rows.slice(at, at + size), padId)
  }
  const { loss } = await trainer.evaluate(batches())
  const outputs = await predict(model, tokenizer, setup, items.map((item) => item.input), { maxLength: setup.seqLength, batchSize: size, cancelled: () => context.signal.aborted })
  return { loss, metrics: evaluateOutputs(setup, items, outputs).metrics }
}

/** Puts the best checkpoint's weights into `model` (training leaves it at the last); the checkpoint's step. */
async function loadBestInto(db: Database.Database, inputs: FinetuneInputs, model: FinetuneHead): Promise<number> {
  const { checkpoint } = finetuneStore.resolveCheckpoint(db, inputs.run, 'best')
  const loaded = runStore.loadCheckpoint(db, checkpoint.id)
  const report = model.loadWeights(checkpointWeights(loaded.checkpoint.tensors))
  if (report.initialised.length > 0) throw new StudioError('CONFLICT', `The best checkpoint lacks ${report.initialised.join(', ')}`)
  return checkpoint.step
}

/** The model's position limit: what prediction and evaluation encode up to. */
const predictLength = (config: BertConfig) => Math.min(512, config.max_position_embeddings)

async function evaluateExamples(
  model: FinetuneHead,
  inputs: FinetuneInputs,
  examples: readonly (LabelledExample & { documentId?: number | null })[],
  context: TaskContext,
  /** Inside a training run the progress stays at the run's last step (its ETA counts steps). */
  atStep?: { step: number; totalSteps: number },
): Promise<TaskEvaluation> {
  const setup = inputs.stored.setup
  const items = evaluationItems(setup, examples)
  if (items.length === 0) throw new StudioError('CONFLICT', 'There are no examples to evaluate on')
  const outputs = await predict(model, inputs.tokenizer, setup, items.map((item) => item.input), {
    maxLength: predictLength(inputs.modelConfig),
    onProgress: (done) =>
      context.progress(
        atStep
          ? { phase: `Evaluating on the test split (${done}/${items.length})`, done: atStep.step, total: atStep.totalSteps, items: done }
          : { phase: 'Evaluating', done, total: items.length, items: done },
      ),
    cancelled: () => context.signal.aborted,
  })
  return evaluateOutputs(setup, items, outputs)
}

/** The TF-IDF + logistic regression baseline on the examples evaluated (classify runs; null for other tasks). */
async function baselineFor(
  inputs: FinetuneInputs,
  examples: readonly SnapshotExample[],
  evaluated: readonly LabelledExample[],
  context: TaskContext,
  atStep?: { step: number; totalSteps: number },
) {
  return classificationBaseline(inputs.stored.setup, { train: split(examples, 'train'), validation: split(examples, 'validation') }, evaluated, {
    cancelled: () => context.signal.aborted,
    onProgress: (done, total) => {
      const phase = `Fitting the TF-IDF baseline (${done}/${total})`
      context.progress(atStep ? { phase, done: atStep.step, total: atStep.totalSteps, items: done } : { phase, done, total, items: done })
    },
  })
}

/**
 * The baseline of the run's test split: an earlier evaluation's when one was made on the same data
 * (this run's, or another run's in the project on identical examples, as a sweep's runs are), else
 * fitted now.
 */
async function testBaseline(db: Database.Database, inputs: FinetuneInputs, frozen: { labels: readonly string[]; examples: readonly SnapshotExample[] }, context: TaskContext, atStep?: { step: number; totalSteps: number }) {
  const test = split(frozen.examples, 'test')
  const datasetHash = finetuneDatasetHash(frozen)
  const earlier = finetuneStore.baselineEvaluation(db, inputs.run.id, datasetHash)
  if (earlier?.baseline) {
    const predicted = finetuneStore.evaluationRecords(db, earlier.id).map((record) => record.baselinePredicted)
    if (predicted.length === test.length && predicted.every((label) => label !== undefined)) {
      const { modelBetter: _m, baselineBetter: _b, pValue: _p, ...baseline } = earlier.baseline
      return { baseline: { ...baseline, datasetHash }, predicted: predicted as string[] }
    }
  }
  const fitted = await baselineFor(inputs, frozen.examples, test, context, atStep)
  return fitted && { ...fitted, baseline: { ...fitted.baseline, datasetHash } }
}

/** Evaluates the model on the run's test split and stores it, with the baseline beside it. */
async function storeEvaluation(
  db: Database.Database,
  inputs: FinetuneInputs,
  frozen: { labels: readonly string[]; examples: readonly SnapshotExample[] },
  model: FinetuneHead,
  checkpointStep: number,
  context: TaskContext,
  atStep?: { step: number; totalSteps: number },
) {
  const result = await evaluateExamples(model, inputs, split(frozen.examples, 'test'), context, atStep)
  // Summaries bring their own (Lead, from the outputs); classification's is fitted.
  const fitted = result.baseline ? null : await testBaseline(db, inputs, frozen, context, atStep).catch((error: unknown) => {
    // The model's evaluation stands without its yardstick; a cancel still cancels.
    if (error instanceof StudioError && error.code === 'CANCELLED') throw error
    console.error(`Run ${inputs.run.id}: the TF-IDF baseline failed: ${(error as Error).message}`)
    return null
  })
  return finetuneStore.insertEvaluation(db, {
    runId: inputs.run.id,
    checkpointStep,
    split: 'test',
    body: {
      task: inputs.stored.task,
      examples: result.examples,
      metrics: result.metrics,
      labels: result.labels,
      perClass: result.perClass,
      confusion: result.confusion,
      calibration: result.calibration,
      baseline: result.baseline ?? (fitted && { ...fitted.baseline, ...pairedCounts(result.records, fitted.predicted) }),
    },
    records: fitted ? result.records.map((record, i) => ({ ...record, baselinePredicted: fitted.predicted[i]! })) : result.records,
  })
}

/** A loaded model for (run, checkpoint): the cached one when it is the same, else read from the store. */
function cachedModel(db: Database.Database, inputs: FinetuneInputs, checkpointId: number): FinetuneHead {
  const key = `${inputs.run.id}:${checkpointId}`
  if (cached?.key === key) return cached.model
  dropCachedModel()
  const model = modelFromCheckpoint(db, inputs, checkpointId)
  cached = { key, model }
  return model
}

function checkpointStepOf(db: Database.Database, runId: number, checkpointId: number): number {
  const found = runStore.listCheckpoints(db, runId).find((checkpoint) => checkpoint.id === checkpointId)
  if (!found) throw notFound(`Run ${runId} has no checkpoint ${checkpointId} (pruned since?)`)
  return found.step
}

export interface EvaluateTaskInput extends DatabaseInput {
  runId: number
  checkpointId: number
  /** Examples read from a file (the CLI's `eval --data`); absent: the run's test split, stored as an evaluation. */
  examples?: LabelledExample[]
  /** With `examples`: also fit and score the TF-IDF baseline on them (default true). */
  baseline?: boolean
}

export type EvaluateTaskOutput =
  | { stored: true; evaluationId: number }
  | { stored: false; checkpointStep: number; evaluation: Omit<TaskEvaluation, 'records' | 'baseline'> & { baseline: EvaluationBaseline | null } }

export async function evaluateTask(input: EvaluateTaskInput, context: TaskContext): Promise<EvaluateTaskOutput> {
  await ensureBackend()
  const db = openDatabase(input, input.examples !== undefined)
  try {
    const inputs = loadInputs(db, input.runId)
    const model = cachedModel(db, inputs, input.checkpointId)
    const checkpointStep = checkpointStepOf(db, input.runId, input.checkpointId)
    if (input.examples) {
      const { records, baseline: computed, ...evaluation } = await evaluateExamples(model, inputs, input.examples, context)
      const fitted = input.baseline === false || computed ? null : await baselineFor(inputs, finetuneStore.loadRunDataset(db, input.runId).examples, input.examples, context)
      const baseline = input.baseline === false ? null : (computed ?? (fitted && { ...fitted.baseline, ...pairedCounts(records, fitted.predicted) }))
      return { stored: false, checkpointStep, evaluation: { ...evaluation, baseline } }
    }
    const frozen = finetuneStore.loadRunDataset(db, input.runId)
    if (split(frozen.examples, 'test').length === 0) throw new StudioError('CONFLICT', `Run ${input.runId}'s test split is empty: there is nothing held out to evaluate on`)
    const stored = await storeEvaluation(db, inputs, frozen, model, checkpointStep, context)
    return { stored: true, evaluationId: stored.id }
  } finally {
    db.close()
  }
}

export interface PredictTaskInput extends DatabaseInput {
  runId: number
  checkpointId: number
  inputs: PredictInput[]
}

export async function predictTask(input: PredictTaskInput, context: TaskContext): Promise<PredictOutput[]> {
  await ensureBackend()
  const db = openDatabase(input, true)
  try {
    const inputs = loadInputs(db, input.runId)
    const model = cachedModel(db, inputs, input.checkpointId)
    return await predict(model, inputs.tokenizer, inputs.stored.setup, input.inputs, {
      maxLength: predictLength(inputs.modelConfig),
      onProgress: (done) => context.progress({ phase: 'Predicting', done, total: input.inputs.length, items: done }),
      cancelled: () => context.signal.aborted,
    })
  } finally {
    db.close()
  }
}

export interface PredictDatasetTaskInput extends DatabaseInput {
  runId: number
  checkpointId: number
  datasetId: number
  /** QA: the questions to answer per document (unlabelled passages have none). */
  questions?: { documentId: number; question: string }[]
}

export interface DatasetPredictionRow {
  documentId: number
  value: ResolvedValue
  confidence: number
  entropy: number
  margin: number
}

const DATASET_PAGE = 256

/** Predicts every document of a dataset (QA: every question given), a page at a time. */
export async function predictDatasetTask(input: PredictDatasetTaskInput, context: TaskContext): Promise<DatasetPredictionRow[]> {
  await ensureBackend()
  const db = openDatabase(input, true)
  try {
    const inputs = loadInputs(db, input.runId)
    const setup = inputs.stored.setup
    const model = cachedModel(db, inputs, input.checkpointId)
    const total = setup.task === 'qa' ? (input.questions?.length ?? 0) : finetuneStore.datasetDocumentCount(db, input.datasetId)
    const rows: DatasetPredictionRow[] = []
    const options = { maxLength: predictLength(inputs.modelConfig), cancelled: () => context.signal.aborted }
    if (setup.task === 'qa') {
      const questions = input.questions ?? []
      const text = db.prepare('SELECT text FROM documents WHERE id = ?').pluck()
      const byDocument = new Map<number, { documentId: number; question: string }[]>()
      for (const q of questions) byDocument.set(q.documentId, [...(byDocument.get(q.documentId) ?? []), q])
      for (const [documentId, asked] of byDocument) {
        const passage = text.get(documentId) as string | undefined
        if (passage === undefined) continue
        const predictInputs = asked.map((q) => ({ text: passage, question: q.question }))
        const outputs = await predict(model, inputs.tokenizer, setup, predictInputs, options)
        const items = outputs.flatMap((output, i) => {
          const value = predictedValue(setup, predictInputs[i]!, output)
          return value.kind === 'qa' ? value.items : []
        })
        const certainties = outputs.map(uncertaintyOf)
        rows.push({
          documentId,
          value: { kind: 'qa', items },
          confidence: Math.min(...certainties.map((c) => c.confidence)),
          entropy: certainties.reduce((sum, c) => sum + c.entropy, 0) / certainties.length,
          margin: Math.min(...certainties.map((c) => c.margin)),
        })
        context.progress({ phase: 'Predicting', done: rows.length, total: byDocument.size, items: rows.length })
      }
      return rows
    }
    let after = -1
    for (;;) {
      const page = finetuneStore.datasetDocuments(db, input.datasetId, after, DATASET_PAGE)
      if (page.length === 0) break
      after = page.at(-1)!.ordinal
      const predictInputs = page.map((document) => ({ text: document.text }))
      const outputs = await predict(model, inputs.tokenizer, setup, predictInputs, options)
      outputs.forEach((output, i) => rows.push({ documentId: page[i]!.documentId, value: predictedValue(setup, predictInputs[i]!, output), ...uncertaintyOf(output) }))
      context.progress({ phase: 'Predicting', done: rows.length, total, items: rows.length })
    }
    return rows
  } finally {
    db.close()
  }
}
