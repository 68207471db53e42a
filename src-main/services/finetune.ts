import { basename, extname } from 'node:path'
import type {
  BatchPrediction,
  CheckpointChoice,
  Evaluation,
  EvaluationBaseline,
  EvaluationExample,
  FinetuneRequest,
  LabelledFileOptions,
  Prediction,
  RunSummary,
  TaskKind,
} from '../contract/index.ts'
import { defaultFinetuneLearningRate } from '../contract/index.ts'
import { badInput, notFound, StudioError } from '../core/errors.ts'
import { openTextFile, readLabelledFile, type TextRecord } from '../core/data/labelled-file.ts'
import { toCsv } from '../core/io/safe-csv.ts'
import { bertConfigFromJson, bertConfigToJson, dropoutConfig, presetConfig } from '../core/model/config.ts'
import { parseTrainConfig } from '../core/train/config.ts'
import {
  architectureOf,
  headLabels,
  predictedClasses,
  predictedSpans,
  toPrediction,
  type FinetuneSetup,
  type PredictInput,
  type PredictOutput,
  type TaskEvaluation,
} from '../core/train/finetune.ts'
import * as finetuneStore from '../store/finetune.ts'
import type { Db } from '../store/index.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type {
  DatasetPredictionRow,
  EvaluateTaskInput,
  EvaluateTaskOutput,
  PredictDatasetTaskInput,
  PredictTaskInput,
  StoredFinetuneConfig,
} from '../worker/finetune-task.ts'
import type { Jobs } from './jobs.ts'
import type { LabelsService } from './labels.ts'
import type { RunsService } from './runs.ts'
import type { TrainingWorker } from './worker.ts'

export interface FinetuneServiceOptions {
  databasePath: string
  nativeBinding?: string
}

/** Inputs per worker call when predicting a file: progress and cancel between calls. */
const PREDICT_CHUNK = 256

/** The largest divisor of the batch that keeps a micro-batch near 8,192 tokens (gradients are accumulated past it). */
export function microBatchSize(batchSize: number, seqLength: number): number {
  const limit = Math.max(1, Math.floor(8192 / seqLength))
  for (let size = Math.min(batchSize, limit); size >= 1; size--) if (batchSize % size === 0) return size
  return 1
}

/** An evaluation on examples read from a file (not stored: it is not the run's held-out split). */
export interface FileEvaluation {
  runId: number
  checkpointStep: number
  evaluation: Omit<TaskEvaluation, 'records' | 'baseline'> & { baseline: EvaluationBaseline | null }
}

/**
 * Fine-tuning runs (created with every default resolved, their examples frozen, queued on the
 * worker through the runs service, which also pauses, resumes and cancels them), their
 * evaluations, and prediction: one input (playground), a file (CSV out), a dataset (model in the
 * loop).
 */
export class FinetuneService {
  constructor(
    private readonly db: Db,
    private readonly jobs: Jobs,
    private readonly worker: TrainingWorker,
    private readonly runs: RunsService,
    private readonly labels: LabelsService,
    private readonly options: FinetuneServiceOptions,
  ) {}

  /** Stores the run with its resolved config and frozen examples, in one transaction, and queues it. */
  finetune(request: FinetuneRequest): RunSummary {
    const dataset = this.labels.get(request.datasetId)
    if (dataset.projectId !== request.projectId) throw new StudioError('VALIDATION', `Dataset ${dataset.id} is not in project ${request.projectId}`)
    if (runStore.listRuns(this.db, request.projectId).some((run) => run.name === request.name)) {
      throw new StudioError('CONFLICT', `A run named "${request.name}" already exists in this project`)
    }
    let parent: StoredFinetuneConfig['parent'] = null
    let tokenizerId: number
    let modelConfig
    let parentSeqLength: number | null = null
    if (request.fromRunId !== undefined) {
      const from = runStore.getRun(this.db, request.fromRunId)
      if (!from) throw notFound(`No run with id ${request.fromRunId} to fine-tune from`)
      if (from.projectId !== request.projectId) throw new StudioError('VALIDATION', `Run ${from.id} is not in project ${request.projectId}`)
      // Its checkpoints are pruned while it trains: the one chosen now might be gone when this run starts.
      if (from.status === 'running' || from.status === 'queued') throw new StudioError('CONFLICT', `Run ${from.id} is still ${from.status}: fine-tune from it once it is paused or done`)
      if (from.tokenizerId === null) throw new StudioError('CONFLICT', `Run ${from.id}'s tokenizer was deleted: a model cannot be fine-tuned without it`)
      if (request.tokenizerId !== undefined && request.tokenizerId !== from.tokenizerId) {
        throw new StudioError('VALIDATION', `tokenizerId is ${request.tokenizerId}, but run ${from.id} was trained with tokenizer ${from.tokenizerId}: leave it out to use the run's`)
      }
      const { checkpoint } = finetuneStore.resolveCheckpoint(this.db, from, request.fromCheckpoint ?? 'best')
      parent = { runId: from.id, checkpointId: checkpoint.id, step: checkpoint.step }
      tokenizerId = from.tokenizerId
      modelConfig = { ...bertConfigFromJson(from.modelConfig as object), ...dropoutConfig(request.dropout) }
      const data = (from.config as { data?: { seqLength?: unknown } } | null)?.data
      parentSeqLength = typeof data?.seqLength === 'number' ? data.seqLength : null
    } else {
      if (request.tokenizerId === undefined) throw new StudioError('VALIDATION', 'Give a tokenizerId to fine-tune from random weights (or a fromRunId to start from a pre-trained model)')
      const tokenizer = tokenizerStore.get(this.db, request.tokenizerId)
      if (!tokenizer) throw notFound(`No tokenizer with id ${request.tokenizerId}`)
      if (tokenizer.projectId !== request.projectId) throw new StudioError('VALIDATION', `Tokenizer ${tokenizer.id} is not in project ${request.projectId}`)
      tokenizerId = tokenizer.id
      modelConfig = presetConfig(request.preset, tokenizer.vocabSize, { max_position_embeddings: 512, ...dropoutConfig(request.dropout) })
    }
    const limit = modelConfig.max_position_embeddings
    const seqLength = request.seqLength ?? Math.min(limit, dataset.task === 'qa' ? 384 : (parentSeqLength ?? 128))
    if (seqLength > limit) throw new StudioError('VALIDATION', `seqLength is ${seqLength}, longer than the model's ${limit} positions`)
    if (request.freezeLayers > modelConfig.num_hidden_layers) {
      throw new StudioError('VALIDATION', `freezeLayers is ${request.freezeLayers}, but the model has ${modelConfig.num_hidden_layers} layers`)
    }

    const snapshot = this.labels.snapshot(request.datasetId)
    const counts = { train: 0, validation: 0, test: 0 }
    for (const example of snapshot.examples) counts[example.split] += 1
    if (counts.train === 0) throw new StudioError('CONFLICT', `Dataset "${dataset.name}" has no labelled examples in its training split: label some first`)
    const needsClasses = snapshot.task === 'classify' || snapshot.task === 'multilabel' || snapshot.task === 'tag'
    if (needsClasses && snapshot.labels.length < (snapshot.task === 'classify' ? 2 : 1)) {
      throw new StudioError('CONFLICT', `Dataset "${dataset.name}" has ${snapshot.labels.length} classes; ${snapshot.task} needs at least ${snapshot.task === 'classify' ? 2 : 1}`)
    }
    const setup: FinetuneSetup = {
      task: snapshot.task,
      labels: snapshot.labels,
      seqLength,
      docStride: request.docStride,
      maxAnswerLength: request.maxAnswerLength,
      summaryWords: request.summaryWords,
    }
    const train = parseTrainConfig({
      optimizer: { learningRate: request.learningRate ?? defaultFinetuneLearningRate(modelConfig.hidden_size) },
      schedule: { warmupFraction: request.warmupFraction },
      batchSize: request.batchSize,
      microBatchSize: microBatchSize(request.batchSize, seqLength),
      epochs: request.epochs ?? 3,
      seed: request.seed,
      checkpoint: { keepLast: 2 },
      ...(request.validateEvery !== undefined ? { validation: { intervalSteps: request.validateEvery } } : {}),
    })
    const stored: StoredFinetuneConfig = {
      request,
      task: snapshot.task,
      architecture: architectureOf(snapshot.task),
      id2label: headLabels(setup),
      problemType: snapshot.task === 'classify' ? 'single_label_classification' : snapshot.task === 'multilabel' ? 'multi_label_classification' : null,
      setup,
      train,
      parent,
      freezeLayers: request.freezeLayers,
      classWeights: request.classWeights,
      earlyStoppingPatience: request.earlyStoppingPatience,
      validateEvery: request.validateEvery ?? null,
      totalSteps: null,
      stepsPerEpoch: null,
      splits: counts,
    }
    const runId = this.db.transaction(() => {
      const run = runStore.createRun(this.db, {
        projectId: request.projectId,
        kind: 'finetune',
        name: request.name,
        config: stored,
        modelConfig: JSON.parse(bertConfigToJson(modelConfig)),
        corpusId: dataset.corpusId,
        tokenizerId,
        parentRunId: parent?.runId ?? null,
      })
      finetuneStore.saveRunDataset(this.db, run.id, snapshot)
      return run.id
    })()
    this.runs.queue(runId)
    return this.runs.get(runId)
  }

  /** Evaluates a checkpoint on the run's held-out test split and stores the result. */
  async evaluate(request: { runId: number; checkpoint: CheckpointChoice }): Promise<Evaluation> {
    const { run, checkpointId } = this.checkpointOf(request.runId, request.checkpoint)
    const input: EvaluateTaskInput = { ...this.databaseInput(), runId: run.id, checkpointId }
    const output = await this.worker.run<EvaluateTaskOutput>('finetune.evaluate', input)
    if (!output.stored) throw new StudioError('INTERNAL', 'The evaluation was not stored')
    return finetuneStore.getEvaluation(this.db, output.evaluationId)!
  }

  /** Evaluates a checkpoint on a labelled file (the CLI's `eval --data`); nothing is stored. */
  async evaluateFile(request: { runId: number; checkpoint: CheckpointChoice; path: string; options: LabelledFileOptions; baseline?: boolean }): Promise<FileEvaluation> {
    const { run, checkpointId, stored } = this.checkpointOf(request.runId, request.checkpoint)
    const file = await readLabelledFile({ path: request.path, displayName: basename(request.path) }, stored.task, request.options)
    const input: EvaluateTaskInput = { ...this.databaseInput(), runId: run.id, checkpointId, examples: file.examples, baseline: request.baseline !== false }
    const output = await this.worker.run<EvaluateTaskOutput>('finetune.evaluate', input)
    if (output.stored) throw new StudioError('INTERNAL', 'An evaluation of a file was stored')
    return { runId: run.id, checkpointStep: output.checkpointStep, evaluation: output.evaluation }
  }

  /** The run's latest evaluation, or null when it has none. */
  evaluation(runId: number): Evaluation | null {
    this.runs.get(runId)
    return finetuneStore.latestEvaluation(this.db, runId)
  }

  /** The examples of one confusion-matrix cell; an empty `actual` or `predicted` matches any. */
  evaluationExamples(request: { evaluationId: number; actual: string; predicted: string }): EvaluationExample[] {
    if (!finetuneStore.getEvaluation(this.db, request.evaluationId)) throw notFound(`No evaluation with id ${request.evaluationId}`)
    return finetuneStore
      .evaluationRecords(this.db, request.evaluationId)
      .filter((record) => (request.actual === '' || record.actual === request.actual) && (request.predicted === '' || record.predicted === request.predicted))
  }

  /** Playground: one input through a run's checkpoint. */
  async predict(request: { runId: number; text: string; question?: string | undefined; checkpoint: CheckpointChoice }): Promise<Prediction> {
    const { stored } = this.checkpointOf(request.runId, request.checkpoint)
    if (stored.task === 'qa' && (request.question === undefined || request.question.trim() === '')) {
      throw new StudioError('VALIDATION', 'A question-answering model needs a question as well as the passage')
    }
    const input: PredictInput = { text: request.text, ...(request.question !== undefined ? { question: request.question } : {}) }
    const { outputs, setup } = await this.predictInputs(request.runId, request.checkpoint, [input])
    return toPrediction(setup, input, outputs[0]!)
  }

  /** Outputs for inputs in order (the CLI's `predict`; files go through here in chunks). */
  async predictInputs(
    runId: number,
    checkpoint: CheckpointChoice,
    inputs: readonly PredictInput[],
    options: { signal?: AbortSignal; onProgress?: (done: number) => void } = {},
  ): Promise<{ setup: FinetuneSetup; outputs: PredictOutput[]; checkpointStep: number }> {
    const { run, checkpointId, stored, checkpointStep } = this.checkpointOf(runId, checkpoint)
    const outputs: PredictOutput[] = []
    for (let at = 0; at < inputs.length; at += PREDICT_CHUNK) {
      const input: PredictTaskInput = { ...this.databaseInput(), runId: run.id, checkpointId, inputs: inputs.slice(at, at + PREDICT_CHUNK) }
      outputs.push(...(await this.worker.run<PredictOutput[]>('finetune.predict', input, options.signal ? { signal: options.signal } : {})))
      options.onProgress?.(outputs.length)
    }
    return { setup: stored.setup, outputs, checkpointStep }
  }

  /** Batch prediction of a file (a job): the input rows and the predictions as formula-safe CSV. */
  async predictFile(request: { runId: number; path: string; displayName: string; jobId: string; options: LabelledFileOptions; checkpoint: CheckpointChoice }): Promise<BatchPrediction> {
    const { stored } = this.checkpointOf(request.runId, request.checkpoint)
    const job = this.jobs.start(request.jobId, 'predict', `Predict ${request.displayName}`)
    try {
      const stream = await openTextFile({ path: request.path, displayName: request.displayName }, request.options)
      const records: TextRecord[] = []
      try {
        for await (const batch of stream.batches) {
          if (job.signal.aborted) throw new StudioError('CANCELLED', 'Prediction cancelled')
          records.push(...batch)
          job.progress(0, null, records.length, 'Reading')
        }
      } finally {
        await stream.batches.return(undefined)
      }
      if (records.length === 0) throw badInput(`${request.displayName} holds no texts to predict`)
      const inputs = records.map((record) => predictInputOf(stored.task, record))
      const { outputs, setup } = await this.predictInputs(request.runId, request.checkpoint, inputs, {
        signal: job.signal,
        onProgress: (done) => job.progress(done, records.length, done, 'Predicting'),
      })
      const csv = predictionsCsv(setup, records, inputs, outputs, stream.textField)
      job.finish('done')
      return { csv, rows: records.length, fileName: `${basename(request.displayName, extname(request.displayName)) || 'input'}-predictions.csv` }
    } catch (error) {
      job.finish(error instanceof StudioError && error.code === 'CANCELLED' ? 'cancelled' : 'failed', (error as Error).message)
      throw error
    }
  }

  /** Model in the loop: the run predicts every example of the dataset; the predictions replace the dataset's previous ones. */
  async predictDataset(request: { datasetId: number; runId: number; jobId: string }): Promise<{ predicted: number }> {
    const dataset = this.labels.get(request.datasetId)
    const { run, checkpointId, stored } = this.checkpointOf(request.runId, 'best')
    if (stored.task !== dataset.task) throw new StudioError('VALIDATION', `Run ${run.id} is a ${stored.task} model; dataset "${dataset.name}" is a ${dataset.task} dataset`)
    const job = this.jobs.start(request.jobId, 'predict', `Predict ${dataset.name} with ${run.name}`)
    try {
      const input: PredictDatasetTaskInput = { ...this.databaseInput(), runId: run.id, checkpointId, datasetId: dataset.id }
      if (dataset.task === 'qa') {
        // Passages are answered for the questions their labels ask; an unlabelled passage has none.
        input.questions = this.labels.snapshot(dataset.id).examples.flatMap((example) =>
          example.value.kind === 'qa' && example.documentId !== null ? example.value.items.map((item) => ({ documentId: example.documentId!, question: item.question })) : [],
        )
      }
      const rows = await this.worker.run<DatasetPredictionRow[]>('finetune.predictDataset', input, {
        signal: job.signal,
        onProgress: (progress) => job.progress(progress.done, progress.total, progress.items, progress.phase),
      })
      this.labels.storePredictions(
        dataset.id,
        run.id,
        rows.map((row) => ({ documentId: row.documentId, value: this.labels.toLabelValue(dataset.id, row.value), confidence: row.confidence, entropy: row.entropy, margin: row.margin })),
      )
      job.finish('done')
      return { predicted: rows.length }
    } catch (error) {
      job.finish(error instanceof StudioError && error.code === 'CANCELLED' ? 'cancelled' : 'failed', (error as Error).message)
      throw error
    }
  }

  /** The fine-tuning run and the checkpoint a choice names. */
  private checkpointOf(runId: number, choice: CheckpointChoice) {
    const run = runStore.getRun(this.db, runId)
    if (!run) throw notFound(`No run with id ${runId}`)
    if (run.kind !== 'finetune') throw new StudioError('CONFLICT', `Run ${runId} is a ${run.kind} run: evaluation and prediction need a fine-tuned run`)
    const { checkpoint } = finetuneStore.resolveCheckpoint(this.db, run, choice)
    return { run, checkpointId: checkpoint.id, checkpointStep: checkpoint.step, stored: run.config as StoredFinetuneConfig }
  }

  private databaseInput() {
    return { databasePath: this.options.databasePath, ...(this.options.nativeBinding ? { nativeBinding: this.options.nativeBinding } : {}) }
  }
}

/** A record of a prediction file as a model input: QA reads its question from the record's `question` field. */
export function predictInputOf(task: TaskKind, record: TextRecord): PredictInput {
  if (task !== 'qa') return { text: record.text }
  const key = Object.keys(record.fields).find((name) => name.toLowerCase() === 'question')
  const question = key === undefined ? '' : record.fields[key]!.trim()
  if (question === '') throw badInput(`${record.source}: a question-answering input needs a "question" field beside its passage`)
  return { text: record.text, question }
}

/** The prediction columns of a task, after the input's own. */
function predictionColumns(setup: FinetuneSetup): string[] {
  switch (setup.task) {
    case 'classify':
    case 'multilabel':
      return ['prediction', 'confidence', ...setup.labels.map((label) => `p(${label})`)]
    case 'tag':
      return ['entities', 'spans']
    case 'qa':
      return ['answer', 'answer_start', 'answer_end', 'score']
    case 'summarize':
      return ['summary', 'summary_sentences']
  }
}

function predictionCells(setup: FinetuneSetup, input: PredictInput, output: PredictOutput): (string | number)[] {
  switch (output.task) {
    case 'classify':
    case 'multilabel': {
      const chosen = predictedClasses(setup, output.probabilities)
      const confidence = output.task === 'classify' ? Math.max(...output.probabilities) : Math.min(1, ...output.probabilities.map((p) => Math.max(p, 1 - p)))
      return [chosen.join('|'), confidence, ...output.probabilities]
    }
    case 'tag': {
      const spans = predictedSpans(setup, input.text, output)
      return [spans.map((span) => `${span.label}: ${span.text}`).join('; '), JSON.stringify(spans)]
    }
    case 'qa':
      return output.answer ? [output.answer.text, output.answer.start, output.answer.end, output.answer.probability] : ['', '', '', 0]
    case 'summarize':
      return [output.selected.map((s) => output.sentences[s]!.text).join(' '), JSON.stringify(output.selected)]
  }
}

/** Input rows (their own columns, in file order) with the prediction columns after them. */
export function predictionsCsv(setup: FinetuneSetup, records: readonly TextRecord[], inputs: readonly PredictInput[], outputs: readonly PredictOutput[], textField: string | null): string {
  const inputColumns: string[] = []
  const seen = new Set<string>()
  for (const record of records) {
    for (const name of Object.keys(record.fields)) {
      if (!seen.has(name)) {
        seen.add(name)
        inputColumns.push(name)
      }
    }
  }
  if (inputColumns.length === 0) inputColumns.push(textField ?? 'text')
  const predicted = predictionColumns(setup)
  const rows: (string | number)[][] = [[...inputColumns, ...predicted.map((name) => (seen.has(name) ? `predicted_${name}` : name))]]
  records.forEach((record, i) => rows.push([...inputColumns.map((name) => record.fields[name] ?? ''), ...predictionCells(setup, inputs[i]!, outputs[i]!)]))
  return toCsv(rows)
}
