import { join } from 'node:path'
import type {
  FillMaskResult,
  MetricSeries,
  ProbeAtStep,
  PretrainRequest,
  RunProgress,
  RunSummary,
  TrainingPlan,
} from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import { presetConfig, bertConfigToJson } from '../core/model/config.ts'
import { parseTrainConfig } from '../core/train/config.ts'
import { corpusStore } from '../store/corpora.ts'
import type { Db } from '../store/index.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type { PlanTaskInput, PretrainTaskInput, PretrainTaskOutput, StoredPretrainConfig } from '../worker/pretrain-task.ts'
import type { EventBus } from './events.ts'
import { PROGRESS_INTERVAL_MS } from './jobs.ts'
import { version } from './version.ts'
import type { TrainingWorker } from './worker.ts'

export interface RunsServiceOptions {
  databasePath: string
  home: string
  nativeBinding?: string
}

interface Active {
  cancel: AbortController
  pause: AbortController
  done: Promise<PretrainTaskOutput | null>
}

/**
 * Pre-training runs: created from the analyst's request with every default resolved and stored,
 * queued on the one worker, controlled (pause, resume, cancel) and watched (run.progress).
 */
export class RunsService {
  private readonly active = new Map<number, Active>()

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly worker: TrainingWorker,
    private readonly options: RunsServiceOptions,
  ) {}

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
    const { corpusId, tokenizerId } = this.checkSources(request)
    const vocabSize = this.vocabSize(tokenizerId)
    const modelConfig = presetConfig(request.preset, vocabSize, { max_position_embeddings: Math.max(512, request.seqLength) })
    const microBatchSize = request.microBatchSize ?? request.batchSize
    const train = parseTrainConfig({
      optimizer: { learningRate: request.learningRate },
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
    })
    this.start(run.id)
    return this.get(run.id)
  }

  /** Resolves when the run stops (done, paused, cancelled, diverged or crashed). */
  async wait(runId: number): Promise<RunSummary> {
    await this.active.get(runId)?.done
    return this.get(runId)
  }

  pause(runId: number): RunSummary {
    const active = this.active.get(runId)
    if (!active) throw new StudioError('CONFLICT', `Run ${runId} is not running`)
    active.pause.abort()
    return this.get(runId)
  }

  resume(runId: number): RunSummary {
    const run = this.get(runId)
    if (this.active.has(runId)) throw new StudioError('CONFLICT', `Run ${runId} is already running or queued`)
    if (!['paused', 'crashed', 'cancelled'].includes(run.status)) {
      throw new StudioError('CONFLICT', `Run ${runId} is ${run.status}: only a paused, crashed or cancelled run resumes`)
    }
    this.start(runId)
    return this.get(runId)
  }

  cancel(runId: number): RunSummary {
    const active = this.active.get(runId)
    if (!active) throw new StudioError('CONFLICT', `Run ${runId} is not running`)
    active.cancel.abort()
    return this.get(runId)
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
    const input: PlanTaskInput = { request, vocabSize, totalSteps }
    return this.worker.run<TrainingPlan>('train.plan', input)
  }

  /** At open: runs that were running when the app died become crashed (resumable from a checkpoint). */
  recoverAfterCrash(): void {
    runStore.markCrashedRuns(this.db)
  }

  private start(runId: number): void {
    const cancel = new AbortController()
    const pause = new AbortController()
    const input: PretrainTaskInput = {
      ...this.databaseInput(),
      runId,
      cacheDir: join(this.options.home, 'cache'),
      studioVersion: version,
    }
    runStore.setRunStatus(this.db, runId, 'queued')
    let lastEmit = 0
    const rate = { step: -1, at: 0 }
    const done = this.worker
      .run<PretrainTaskOutput>('train.pretrain', input, {
        signal: cancel.signal,
        pauseSignal: pause.signal,
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
      })
      .catch((error: unknown) => {
        // Queued runs cancelled before they started never reached the worker.
        if (error instanceof StudioError && error.code === 'CANCELLED') {
          const run = runStore.getRun(this.db, runId)
          if (run?.status === 'queued') runStore.setRunStatus(this.db, runId, 'cancelled')
        } else {
          const run = runStore.getRun(this.db, runId)
          if (run && !['crashed', 'diverged', 'cancelled'].includes(run.status)) {
            runStore.setRunStatus(this.db, runId, 'crashed', { error: (error as Error).message })
          }
        }
        return null
      })
      .finally(() => {
        this.active.delete(runId)
        const run = this.get(runId)
        this.emit({ runId, status: run.status, phase: 'Stopped', step: run.step, totalSteps: run.totalSteps, etaSeconds: 0, metrics: run.lastMetrics })
      })
    this.active.set(runId, { cancel, pause, done })
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
    for (const row of this.db
      .prepare(
        `SELECT m.split, m.name, m.value FROM metrics m
         JOIN (SELECT split, name, max(step) AS step FROM metrics WHERE run_id = ? GROUP BY split, name) latest
           ON latest.split = m.split AND latest.name = m.name AND latest.step = m.step
         WHERE m.run_id = ?`,
      )
      .all(run.id, run.id) as { split: string; name: string; value: number | null }[]) {
      if (row.value !== null) lastMetrics[row.split === 'validation' ? `validation_${row.name}` : row.name] = row.value
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
