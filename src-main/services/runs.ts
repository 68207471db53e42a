import { join } from 'node:path'
import type {
  FillMaskResult,
  MetricSeries,
  ProbeAtStep,
  PretrainRequest,
  QueueState,
  RunEnvironment,
  RunProgress,
  RunSummary,
  TrainingPlan,
} from '../contract/index.ts'
import { defaultPretrainDropout, defaultPretrainLearningRate } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import { bertConfigFromJson, bertConfigToJson, dropoutConfig, presetConfig } from '../core/model/config.ts'
import type { BertConfig } from '../core/train/types.ts'
import * as finetuneStore from '../store/finetune.ts'
import { parseTrainConfig } from '../core/train/config.ts'
import { corpusStore } from '../store/corpora.ts'
import type { Db } from '../store/index.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type { FinetuneTaskInput } from '../worker/finetune-task.ts'
import type { PlanTaskInput, PretrainInit, PretrainTaskInput, StoredPretrainConfig } from '../worker/pretrain-task.ts'
import type { TaskProgress } from '../worker/protocol.ts'
import type { EventBus } from './events.ts'
import { PROGRESS_INTERVAL_MS } from './jobs.ts'
import { version } from './version.ts'
import type { TrainingWorker } from './worker.ts'

export interface RunsServiceOptions {
  databasePath: string
  home: string
  nativeBinding?: string
  /**
   * Serve every queued run of the database (the app: Electron, web mode), or only the runs this
   * process queued (the CLI, which must not start the app's waiting runs).
   */
  serveQueue?: boolean
}

/** How often `wait` looks at the database for a run another process trains. */
const WAIT_POLL_MS = 2_000

/** What a kind's launcher gets: stop signals and the progress and start callbacks. */
export interface RunControls {
  signal: AbortSignal
  pauseSignal: AbortSignal
  onProgress: (progress: TaskProgress) => void
  onStart: () => void
}

/**
 * Trains one run of a kind in the worker (`worker.run(task, input, controls)`) and resolves when
 * it stops; the task itself records the run's status (running, then done, paused, …).
 */
export type RunLauncher = (runId: number, controls: RunControls) => Promise<unknown>

interface Active {
  runId: number
  cancel: AbortController
  pause: AbortController
  /** The worker has begun it (until then it waits behind another task: pausing cancels it). */
  started: boolean
  pauseBeforeStart: boolean
}

/**
 * Runs of every kind: queued in the database (the order survives a restart) and served one at a
 * time by the one worker, controlled (pause, resume, cancel, reorder) and watched (run.progress).
 * Pre-training runs are created here; other kinds register a launcher and call `enqueue`.
 */
export class RunsService {
  private readonly launchers = new Map<runStore.RunKind, RunLauncher>()
  private current: Active | null = null
  /** Runs this process queued (all it serves when not serving the whole queue). */
  private readonly mine = new Set<number>()
  private readonly waiters = new Map<number, (() => void)[]>()
  /** Serving starts once crashed runs are marked (at open) or a run is queued, never mid-construction. */
  private serving = false
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly worker: TrainingWorker,
    private readonly options: RunsServiceOptions,
  ) {
    this.registerKind('pretrain', (runId, controls) => {
      const input: PretrainTaskInput = {
        ...this.databaseInput(),
        runId,
        cacheDir: join(this.options.home, 'cache'),
        studioVersion: version,
      }
      return this.worker.run('train.pretrain', input, controls)
    })
    this.registerKind('finetune', (runId, controls) => {
      const input: FinetuneTaskInput = { ...this.databaseInput(), runId, studioVersion: version }
      return this.worker.run('finetune.train', input, controls)
    })
  }

  /** A kind's launcher; queued runs of a kind without one wait until it is registered. */
  registerKind(kind: runStore.RunKind, launcher: RunLauncher): void {
    this.launchers.set(kind, launcher)
    this.pump()
  }

  list(projectId: number): RunSummary[] {
    return runStore.listRuns(this.db, projectId).map((run) => this.summary(run))
  }

  get(runId: number): RunSummary {
    const run = runStore.getRun(this.db, runId)
    if (!run) throw notFound(`No run with id ${runId}`)
    return this.summary(run)
  }

  /** Stores the run with its resolved configs and queues it; resolves once it is queued. */
  pretrain(request: PretrainRequest): RunSummary {
    const run = this.store(request)
    this.enqueue(run.id)
    return this.get(run.id)
  }

  /** Stores the run without starting it: paused at step 0 (resume starts it; a bundle can take it elsewhere). */
  create(request: PretrainRequest): RunSummary {
    const run = this.store(request)
    runStore.setRunStatus(this.db, run.id, 'paused')
    return this.get(run.id)
  }

  private store(request: PretrainRequest): runStore.RunInfo {
    const { corpusId, tokenizerId } = this.checkSources(request)
    const vocabSize = this.vocabSize(tokenizerId)
    const init = request.fromRunId !== undefined ? this.initFrom(request, tokenizerId) : null
    let modelConfig: BertConfig
    if (init) {
      modelConfig = request.dropout === undefined ? init.modelConfig : { ...init.modelConfig, ...dropoutConfig(request.dropout) }
    } else {
      const preset = presetConfig(request.preset, vocabSize, { max_position_embeddings: Math.max(512, request.seqLength) })
      modelConfig = { ...preset, ...dropoutConfig(request.dropout ?? defaultPretrainDropout(preset.hidden_size)) }
    }
    if (request.seqLength > modelConfig.max_position_embeddings) {
      throw new StudioError('VALIDATION', `seqLength is ${request.seqLength}, longer than the model's ${modelConfig.max_position_embeddings} positions`)
    }
    const microBatchSize = request.microBatchSize ?? request.batchSize
    const train = parseTrainConfig({
      optimizer: { learningRate: request.learningRate ?? defaultPretrainLearningRate(modelConfig.hidden_size) },
      schedule: { warmupFraction: request.warmupFraction },
      batchSize: request.batchSize,
      microBatchSize,
      ...(request.steps !== undefined ? { steps: request.steps } : { epochs: request.epochs ?? 1 }),
      seed: request.seed,
      checkpoint: { intervalSteps: request.checkpointEvery },
      validation: { intervalSteps: request.validateEvery },
    })
    const stored: StoredPretrainConfig = {
      request,
      train,
      data: { seqLength: request.seqLength, wholeWordMask: request.wholeWordMask, seed: request.seed },
      totalSteps: request.steps ?? null,
      ...(init ? { init: init.parent } : {}),
    }
    if (runStore.listRuns(this.db, request.projectId).some((run) => run.name === request.name)) {
      throw new StudioError('CONFLICT', `A run named "${request.name}" already exists in this project`)
    }
    const run = runStore.createRun(this.db, {
      projectId: request.projectId,
      kind: 'pretrain',
      name: request.name,
      config: stored,
      modelConfig: JSON.parse(bertConfigToJson(modelConfig)),
      corpusId,
      tokenizerId,
      parentRunId: init?.parent.runId ?? null,
    })
    return run
  }

  /** The checkpoint a continued pre-training starts from, and the model config it implies. */
  private initFrom(request: PretrainRequest, tokenizerId: number): { parent: PretrainInit; modelConfig: BertConfig } {
    const from = runStore.getRun(this.db, request.fromRunId!)
    if (!from) throw notFound(`No run with id ${request.fromRunId} to continue pre-training from`)
    if (from.projectId !== request.projectId) throw new StudioError('VALIDATION', `Run ${from.id} is not in project ${request.projectId}`)
    // Its checkpoints are pruned while it trains: the one chosen now might be gone when this run starts.
    if (from.status === 'running' || from.status === 'queued') throw new StudioError('CONFLICT', `Run ${from.id} is still ${from.status}: continue from it once it is paused or done`)
    if (from.kind === 'finetune') throw new StudioError('VALIDATION', `Run ${from.id} is a fine-tuning run: continue pre-training from a pre-training run or an imported model`)
    if (from.tokenizerId !== tokenizerId) {
      throw new StudioError('VALIDATION', `Run ${from.id} was trained with tokenizer ${from.tokenizerId ?? '(deleted)'}, not ${tokenizerId}: continued pre-training keeps the parent's vocabulary`)
    }
    const { checkpoint } = finetuneStore.resolveCheckpoint(this.db, from, request.fromCheckpoint ?? 'last')
    const preset = (from.config as { request?: { preset?: unknown } } | null)?.request?.preset
    return {
      parent: { runId: from.id, checkpointId: checkpoint.id, step: checkpoint.step, preset: typeof preset === 'string' ? preset : null },
      modelConfig: bertConfigFromJson(from.modelConfig as object),
    }
  }

  /** Puts a stored run at the end of the queue; it starts when the worker is free. */
  enqueue(runId: number): void {
    runStore.enqueueRun(this.db, runId)
    this.mine.add(runId)
    this.serving = true
    this.emitStatus(runId)
    this.pump()
  }

  /** Resolves when the run stops (done, paused, cancelled, diverged or crashed), at once when it is not queued or running. */
  async wait(runId: number): Promise<RunSummary> {
    const run = this.get(runId)
    if (this.current?.runId === runId || run.status === 'queued' || run.status === 'running') {
      await new Promise<void>((resolve) => {
        // Another process sharing the home may have taken the run from the queue: watch the database too.
        const timer = setInterval(() => {
          const now = runStore.getRun(this.db, runId)
          if (this.current?.runId !== runId && (!now || !['queued', 'running'].includes(now.status))) done()
        }, WAIT_POLL_MS)
        const done = () => {
          clearInterval(timer)
          resolve()
        }
        this.waiters.set(runId, [...(this.waiters.get(runId) ?? []), done])
      })
    }
    return this.get(runId)
  }

  /** Running: stops after the current step with a checkpoint. Waiting: leaves the queue. */
  pause(runId: number): RunSummary {
    const current = this.current
    if (current?.runId === runId) {
      if (current.started) current.pause.abort()
      else {
        current.pauseBeforeStart = true
        current.cancel.abort()
      }
      return this.get(runId)
    }
    if (this.get(runId).status !== 'queued') throw new StudioError('CONFLICT', `Run ${runId} is not running or queued`)
    this.leaveQueue(runId, 'paused')
    return this.get(runId)
  }

  /** A paused, crashed or cancelled run goes to the end of the queue and continues from its last checkpoint. */
  resume(runId: number): RunSummary {
    const run = this.get(runId)
    if (this.current?.runId === runId || run.status === 'queued') throw new StudioError('CONFLICT', `Run ${runId} is already running or queued`)
    if (!['paused', 'crashed', 'cancelled'].includes(run.status)) {
      throw new StudioError('CONFLICT', `Run ${runId} is ${run.status}: only a paused, crashed or cancelled run resumes`)
    }
    this.enqueue(runId)
    return this.get(runId)
  }

  cancel(runId: number): RunSummary {
    const current = this.current
    if (current?.runId === runId) {
      current.cancel.abort()
      return this.get(runId)
    }
    if (this.get(runId).status !== 'queued') throw new StudioError('CONFLICT', `Run ${runId} is not running or queued`)
    this.leaveQueue(runId, 'cancelled')
    return this.get(runId)
  }

  /** Queues a stored run of any kind (what the fine-tuning service calls). */
  queue(runId: number): void {
    this.enqueue(runId)
  }

  /** The run the worker trains and the runs waiting, in order. */
  queueState(): QueueState {
    const name = this.db.prepare('SELECT name FROM runs WHERE id = ?').pluck()
    const current = this.current && runStore.getRun(this.db, this.current.runId)
    return {
      running: current ? { runId: current.id, projectId: current.projectId, name: current.name } : null,
      queued: runStore.queuedRuns(this.db).map((run) => ({ runId: run.id, projectId: run.projectId, name: name.get(run.id) as string, position: run.position })),
    }
  }

  reorder(runIds: readonly number[]): QueueState {
    runStore.reorderQueue(this.db, runIds)
    return this.queueState()
  }

  /** Whether this process is training (or about to train) the run. */
  isActive(runId: number): boolean {
    return this.current?.runId === runId
  }

  /** Deletes a run that is not training, with its checkpoints, in one transaction. */
  delete(runId: number): { checkpoints: number; bytes: number } {
    if (this.current?.runId === runId) throw new StudioError('CONFLICT', `Run ${runId} is running: pause or cancel it before deleting it`)
    const removed = runStore.deleteRun(this.db, runId)
    this.mine.delete(runId)
    this.release(runId)
    return removed
  }

  /**
   * Stops serving the queue (the studio is closing): waiting runs stay queued for the next open,
   * and a run handed to the worker that has not begun goes back to the head of the queue.
   */
  close(): void {
    this.closed = true
    const current = this.current
    if (current && !current.started) runStore.requeueFirst(this.db, current.runId)
  }

  metrics(runId: number): MetricSeries[] {
    this.get(runId)
    return runStore.metricNames(this.db, runId).map(({ split, name }) => {
      const points = runStore.metricSeries(this.db, runId, name, split)
      return { name, split, steps: points.map((p) => p.step), values: points.map((p) => p.value) }
    })
  }

  probes(runId: number): ProbeAtStep[] {
    this.get(runId)
    const rows = this.db.prepare('SELECT step, results_json FROM probes WHERE run_id = ? ORDER BY step').all(runId) as {
      step: number
      results_json: string
    }[]
    return rows.map((row) => ({ step: row.step, results: JSON.parse(row.results_json) as FillMaskResult[] }))
  }

  fillMask(request: { runId: number; text: string; topK: number }): Promise<FillMaskResult> {
    this.get(request.runId)
    return this.worker.run<FillMaskResult>('train.fillMask', { ...this.databaseInput(), ...request })
  }

  /** A calibration in the worker (it waits behind a running training run). */
  plan(request: PretrainRequest): Promise<TrainingPlan> {
    const { corpusId, tokenizerId } = this.checkSources(request)
    const vocabSize = this.vocabSize(tokenizerId)
    const corpus = corpusStore.get(this.db, corpusId)!
    // Without the token cache, estimate instances from words: ~1.3 pieces per word, sequences ~90% full.
    const instances = Math.max(1, (corpus.stats.words * 1.3) / ((request.seqLength - 3) * 0.9))
    const totalSteps = request.steps ?? Math.max(1, Math.ceil(((request.epochs ?? 1) * instances) / request.batchSize))
    const input: PlanTaskInput = { request, vocabSize, totalSteps, ...(request.fromRunId !== undefined ? { modelConfig: this.initFrom(request, tokenizerId).modelConfig } : {}) }
    return this.worker.run<TrainingPlan>('train.plan', input)
  }

  /**
   * At open: runs that were running when the app died become crashed (resumable from a
   * checkpoint); runs a dead process had claimed rejoin the queue, which starts in its order.
   */
  recoverAfterCrash(): void {
    runStore.markCrashedRuns(this.db)
    if (this.options.serveQueue ?? true) runStore.requeueOrphans(this.db)
    this.serving = true
    this.pump()
  }

  /** Starts the first waiting run this process serves, if the worker is free. */
  private pump(): void {
    if (this.current || this.closed || !this.serving) return
    const serveAll = this.options.serveQueue ?? true
    for (const next of runStore.queuedRuns(this.db)) {
      if (!serveAll && !this.mine.has(next.id)) continue
      const run = runStore.getRun(this.db, next.id)
      const launcher = run && this.launchers.get(run.kind)
      if (!run || !launcher) continue
      if (!runStore.claimQueuedRun(this.db, run.id)) continue
      this.launch(run.id, launcher)
      return
    }
  }

  private launch(runId: number, launcher: RunLauncher): void {
    const active: Active = { runId, cancel: new AbortController(), pause: new AbortController(), started: false, pauseBeforeStart: false }
    this.current = active
    this.mine.delete(runId)
    runStore.setRunEnvironment(this.db, runId, this.environmentAtLaunch())
    let lastEmit = 0
    const rate = { step: -1, at: 0 }
    const controls: RunControls = {
      signal: active.cancel.signal,
      pauseSignal: active.pause.signal,
      onStart: () => {
        active.started = true
      },
      onProgress: (progress) => {
        const now = Date.now()
        if (progress.phase === 'Training' && rate.step < 0) Object.assign(rate, { step: progress.done, at: now })
        const stepsPerMs = rate.step >= 0 && now > rate.at ? (progress.done - rate.step) / (now - rate.at) : 0
        const etaSeconds = progress.total !== null && stepsPerMs > 0 ? (progress.total - progress.done) / stepsPerMs / 1000 : null
        if (now - lastEmit < PROGRESS_INTERVAL_MS) return
        lastEmit = now
        this.emit({
          runId,
          status: 'running',
          phase: progress.phase,
          step: progress.done,
          totalSteps: progress.total,
          etaSeconds,
          metrics: progress.metrics ?? {},
        })
      },
    }
    let launched: Promise<unknown>
    try {
      launched = launcher(runId, controls)
    } catch (error) {
      launched = Promise.reject(error)
    }
    void launched
      .catch((error: unknown) => {
        // Closing: the next open finds the run queued (not begun) or crashed (cut short).
        if (this.closed) return
        const run = runStore.getRun(this.db, runId)
        if (!run) return
        if (error instanceof StudioError && error.code === 'CANCELLED') {
          // Stopped before the worker began it (it waited behind another task).
          if (['queued', 'running'].includes(run.status)) runStore.setRunStatus(this.db, runId, active.pauseBeforeStart ? 'paused' : 'cancelled')
        } else if (!['crashed', 'diverged', 'cancelled'].includes(run.status)) {
          runStore.setRunStatus(this.db, runId, 'crashed', { error: (error as Error).message })
        }
      })
      .finally(() => {
        if (this.current === active) this.current = null
        if (this.closed) return this.release(runId)
        const run = runStore.getRun(this.db, runId)
        // A task that ended without recording an end (a launcher of another kind) must not leave the run "running".
        if (run && (run.status === 'running' || run.status === 'queued') && run.queuePosition === null) {
          runStore.setRunStatus(this.db, runId, 'crashed', { error: 'The run stopped without saying how' })
        }
        this.release(runId)
        this.emitStatus(runId)
        this.pump()
      })
  }

  private leaveQueue(runId: number, status: 'paused' | 'cancelled'): void {
    runStore.setRunStatus(this.db, runId, status)
    this.mine.delete(runId)
    this.release(runId)
    this.emitStatus(runId)
  }

  /** Wakes whoever waits for the run to stop. */
  private release(runId: number): void {
    const waiting = this.waiters.get(runId) ?? []
    this.waiters.delete(runId)
    for (const resolve of waiting) resolve()
  }

  /** The run's state now, as a progress event (queued, stopped): every view hears of it. */
  private emitStatus(runId: number): void {
    const run = runStore.getRun(this.db, runId)
    if (!run) return
    const summary = this.summary(run)
    this.emit({
      runId,
      status: run.status,
      phase: run.status === 'queued' ? 'Queued' : 'Stopped',
      step: run.step,
      totalSteps: summary.totalSteps,
      etaSeconds: run.status === 'queued' ? null : 0,
      metrics: summary.lastMetrics,
    })
  }

  private environmentAtLaunch(): RunEnvironment {
    return {
      studioVersion: version,
      backend: null,
      node: process.versions.node,
      platform: process.platform,
      arch: process.arch,
      libraries: { sqlite: this.db.prepare('SELECT sqlite_version()').pluck().get() as string },
    }
  }

  private emit(progress: RunProgress): void {
    this.bus.emit('run.progress', progress)
  }

  private checkSources(request: PretrainRequest): { corpusId: number; tokenizerId: number } {
    const corpus = corpusStore.get(this.db, request.corpusId)
    if (!corpus) throw notFound(`No corpus with id ${request.corpusId}`)
    const tokenizer = tokenizerStore.get(this.db, request.tokenizerId)
    if (!tokenizer) throw notFound(`No tokenizer with id ${request.tokenizerId}`)
    if (corpus.projectId !== request.projectId || tokenizer.projectId !== request.projectId) {
      throw new StudioError('VALIDATION', `The corpus and the tokenizer must belong to project ${request.projectId}`)
    }
    return { corpusId: corpus.id, tokenizerId: tokenizer.id }
  }

  private vocabSize(tokenizerId: number): number {
    return tokenizerStore.get(this.db, tokenizerId)!.vocabSize
  }

  private databaseInput() {
    return {
      databasePath: this.options.databasePath,
      ...(this.options.nativeBinding ? { nativeBinding: this.options.nativeBinding } : {}),
    }
  }

  private summary(run: runStore.RunInfo): RunSummary {
    const stored = run.config as Partial<StoredPretrainConfig> | null
    const lastMetrics: Record<string, number> = {}
    for (const { split, name } of runStore.metricNames(this.db, run.id)) {
      const point = runStore.lastMetricPoint(this.db, run.id, name, split)
      if (point && point.value !== null) lastMetrics[split === 'validation' ? `validation_${name}` : name] = point.value
    }
    return {
      id: run.id,
      projectId: run.projectId,
      kind: run.kind,
      name: run.name,
      status: run.status,
      corpusId: run.corpusId,
      tokenizerId: run.tokenizerId,
      parentRunId: run.parentRunId,
      backend: run.backend,
      step: run.step,
      totalSteps: stored?.totalSteps ?? stored?.train?.steps ?? null,
      epoch: run.epoch,
      createdAt: run.createdAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      error: run.error,
      checkpointStep: run.checkpointStep,
      config: run.config,
      modelConfig: run.modelConfig,
      lastMetrics,
    }
  }
}
