import { statSync } from 'node:fs'
import {
  gridSize,
  MAX_SWEEP_RUNS,
  TASK_METRIC,
  type DiskUsage,
  type ExperimentRun,
  type MetricPoint,
  type ModelCheckpoint,
  type RunConfigExport,
  type RunCurve,
  type RunEnvironment,
  type RunLineage,
  type RunMetricsAt,
  type RunSummary,
  type SweepInfo,
  type SweepRequest,
  type SweepSpace,
} from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import type { Db } from '../store/index.ts'
import * as finetuneStore from '../store/finetune.ts'
import * as runStore from '../store/runs.ts'
import type { RunsService } from './runs.ts'

export interface ExperimentsOptions {
  databasePath: string
  /** A run's checkpoints with `best` and `last` marked (the models service's view). */
  checkpoints: (runId: number) => ModelCheckpoint[]
  /** Why the database cannot be compacted now (an import writing), or null. */
  busy?: () => string | null
}

/** Creates a run of a kind from its request, through the same path an analyst's request takes. */
export type CreateRun = (kind: runStore.RunKind, request: Record<string, unknown>) => Promise<RunSummary>

/** Curves kept decimated: ~100 KB each. */
const CURVE_CACHE_ENTRIES = 200

/** The headline metric: lower is better for a loss. */
const HEADLINE = 'loss'

/**
 * Experiments over the runs of every kind: the Runs view's rows, tags and notes, delete, run
 * again, sweeps, curves for charts, lineage, disk use, pruning and compacting.
 */
export class ExperimentsService {
  /** Decimated curves, least recently used first (a finished run's curve is read once, not per chart). */
  private readonly curveCache = new Map<string, ReturnType<typeof runStore.readCurveDecimated>>()

  constructor(
    private readonly db: Db,
    private readonly runs: RunsService,
    private readonly options: ExperimentsOptions,
  ) {}

  list(projectId: number): ExperimentRun[] {
    const names = this.names()
    return runStore.listRuns(this.db, projectId).map((run) => this.toExperiment(run, names))
  }

  get(runId: number): ExperimentRun {
    return this.toExperiment(this.info(runId), this.names())
  }

  update(update: { runId: number } & runStore.RunMetaUpdate): ExperimentRun {
    this.info(update.runId)
    runStore.updateRunMeta(this.db, update.runId, update)
    return this.get(update.runId)
  }

  delete(runId: number): { checkpoints: number; bytes: number } {
    return this.runs.delete(runId)
  }

  /** A new queued run with this run's request (seed and every setting included). */
  async again(runId: number, name: string | undefined, create: CreateRun): Promise<RunSummary> {
    const run = this.info(runId)
    const request = this.requestOf(run)
    return create(run.kind, { ...request, name: name ?? this.freeName(run.projectId, `${run.name} (again)`) })
  }

  config(runId: number): RunConfigExport {
    const run = this.info(runId)
    return {
      run: { id: run.id, name: run.name, kind: run.kind, corpusId: run.corpusId, tokenizerId: run.tokenizerId, parentRunId: run.parentRunId },
      config: run.config,
      modelConfig: run.modelConfig,
      environment: this.environment(run, true),
    }
  }

  /** One metric of each run, decimated to `maxPoints` per split for display. */
  curves(request: { runIds: readonly number[]; name: string; from?: number | undefined; to?: number | undefined; maxPoints: number }): RunCurve[] {
    const curves: RunCurve[] = []
    const buckets = Math.max(1, Math.floor(request.maxPoints / 2))
    const from = request.from ?? 0
    const to = request.to ?? Number.MAX_SAFE_INTEGER
    for (const runId of request.runIds) {
      this.info(runId)
      // A curve changes only when a point is written after its last one (or a resumed run writes
      // its steps again, with new wall times): that last point is the cache's version.
      const last = this.db
        .prepare('SELECT step, wall_time FROM metrics WHERE run_id = ? AND name = ? ORDER BY step DESC, wall_time DESC LIMIT 1')
        .raw()
        .get(runId, request.name) as [number, number] | undefined
      const key = `${runId}\u0000${request.name}\u0000${from}\u0000${to}\u0000${buckets}\u0000${last?.join(':') ?? ''}`
      let read = this.curveCache.get(key)
      if (read) this.curveCache.delete(key)
      else read = runStore.readCurveDecimated(this.db, runId, request.name, buckets, from, to)
      this.curveCache.set(key, read)
      if (this.curveCache.size > CURVE_CACHE_ENTRIES) this.curveCache.delete(this.curveCache.keys().next().value!)
      for (const split of ['train', 'validation'] as const) {
        const columns = read[split]
        if (!columns || columns.count === 0) continue
        curves.push({ runId, name: request.name, split, stored: columns.count, steps: columns.steps, values: columns.values, wallTimes: columns.wallTimes })
      }
    }
    return curves
  }

  /** Every metric of each run at `step`, or at its best step (lowest headline loss). */
  metricsAt(runIds: readonly number[], step?: number): RunMetricsAt[] {
    return runIds.map((runId) => {
      this.info(runId)
      const at = step ?? this.best(runId)?.step ?? null
      const metrics: Record<string, number | null> = {}
      if (at !== null) {
        for (const row of runStore.metricsAtStep(this.db, runId, at)) metrics[row.split === 'validation' ? `validation_${row.name}` : row.name] = row.value
      }
      return { runId, step: at, metrics }
    })
  }

  lineage(runId: number): RunLineage {
    const run = this.info(runId)
    const named = (table: 'corpora' | 'tokenizers', id: number | null) =>
      id === null ? null : ((this.db.prepare(`SELECT id, name FROM ${table} WHERE id = ?`).get(id) as { id: number; name: string } | undefined) ?? null)
    const lineageRun = (info: runStore.RunInfo) => ({ id: info.id, name: info.name, kind: info.kind, status: info.status })
    const ancestors: RunLineage['ancestors'] = []
    const seen = new Set([run.id])
    for (let parentId = run.parentRunId; parentId !== null && !seen.has(parentId); ) {
      seen.add(parentId)
      const parent = runStore.getRun(this.db, parentId)
      if (!parent) break
      ancestors.unshift(lineageRun(parent))
      parentId = parent.parentRunId
    }
    const children = (this.db.prepare('SELECT id FROM runs WHERE parent_run_id = ? ORDER BY id').pluck().all(run.id) as number[])
      .map((id) => runStore.getRun(this.db, id))
      .filter((child): child is runStore.RunInfo => child !== undefined)
      .map(lineageRun)
    return {
      runId: run.id,
      corpus: named('corpora', run.corpusId),
      dataset: this.dataset(run.id),
      tokenizer: named('tokenizers', run.tokenizerId),
      ancestors,
      children,
      checkpoints: this.options.checkpoints(run.id),
      exports: runStore.listExports(this.db, run.id).map(({ checkpointStep, format, folder, createdAt }) => ({ checkpointStep, format, folder, createdAt })),
    }
  }

  /**
   * Queues a grid (every combination) or a random search over the base run's request. Every
   * variant is checked before the first is queued, so a bad value queues nothing.
   */
  async sweep(request: SweepRequest, create: CreateRun, validate: (kind: runStore.RunKind, request: Record<string, unknown>) => void): Promise<SweepInfo> {
    const base = this.info(request.baseRunId)
    const baseRequest = this.requestOf(base)
    const variants = request.method === 'grid' ? gridVariants(request.space) : randomVariants(request.space, request.count, request.seed)
    if (variants.length > MAX_SWEEP_RUNS) throw new StudioError('VALIDATION', `The sweep holds ${variants.length} runs; at most ${MAX_SWEEP_RUNS}`)
    const taken = new Set(runStore.listRuns(this.db, base.projectId).map((run) => run.name))
    const requests = variants.map((variant, index) => {
      const next: Record<string, unknown> = { ...baseRequest, ...variant }
      // A length in epochs replaces one in steps (a request gives one or the other).
      if (variant.epochs !== undefined) delete next.steps
      const label = describeVariant(variant)
      let name = `${request.name} ${index + 1}/${variants.length}${label ? ` (${label})` : ''}`.slice(0, 200)
      for (let count = 2; taken.has(name); count++) name = `${request.name} ${index + 1}/${variants.length} #${count}`
      taken.add(name)
      next.name = name
      validate(base.kind, next)
      return next
    })
    const sweepId = runStore.createSweep(this.db, { projectId: base.projectId, name: request.name, method: request.method, baseRunId: base.id, space: request.space })
    for (const next of requests) {
      const run = await create(base.kind, next)
      runStore.setRunSweep(this.db, run.id, sweepId)
    }
    return this.sweepInfo(sweepId)
  }

  sweeps(projectId: number): SweepInfo[] {
    return runStore.listSweeps(this.db, projectId).map((sweep) => this.sweepInfo(sweep.id))
  }

  /** Bytes on disk: the file, its free pages, and each run's checkpoints and share of the metrics. */
  disk(projectId: number): DiskUsage {
    const runs = runStore.listRuns(this.db, projectId)
    const counts = runStore.metricRowCounts(this.db, runs.map((run) => run.id))
    const totalPoints = this.db.prepare('SELECT count(*) FROM metrics').pluck().get() as number
    const metricTable = this.db.prepare("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('metrics', 'metrics_validation')").pluck().get() as number
    const pageSize = this.db.pragma('page_size', { simple: true }) as number
    const freePages = this.db.pragma('freelist_count', { simple: true }) as number
    const rows = runs.map((run) => {
      const points = counts.get(run.id) ?? 0
      return {
        runId: run.id,
        name: run.name,
        checkpointBytes: run.checkpointBytes,
        metricPoints: points,
        metricBytes: totalPoints > 0 ? Math.round((metricTable * points) / totalPoints) : 0,
        checkpoints: this.options.checkpoints(run.id),
      }
    })
    return {
      databaseBytes: fileBytes(this.options.databasePath) + fileBytes(`${this.options.databasePath}-wal`),
      freeBytes: pageSize * freePages,
      checkpointBytes: rows.reduce((sum, row) => sum + row.checkpointBytes, 0),
      metricBytes: rows.reduce((sum, row) => sum + row.metricBytes, 0),
      runs: rows,
    }
  }

  /** Keeps the best and last checkpoints of one run, or of every run of the project that is not training. */
  prune(projectId: number, runId?: number): { removed: number; bytes: number } {
    const targets = runId !== undefined ? [this.info(runId)] : runStore.listRuns(this.db, projectId)
    let removed = 0
    let bytes = 0
    for (const run of targets) {
      if (run.projectId !== projectId) throw new StudioError('VALIDATION', `Run ${run.id} is not in project ${projectId}`)
      if (run.status === 'running' || run.status === 'queued' || this.runs.isActive(run.id)) {
        if (runId !== undefined) throw new StudioError('CONFLICT', `Run ${run.id} is ${run.status}: prune it once it stops`)
        continue
      }
      const result = runStore.pruneRunCheckpoints(this.db, run.id, run.kind)
      removed += result.removed
      bytes += result.bytes
    }
    return { removed, bytes }
  }

  /** VACUUM, when nothing writes: rewrites the file without its free pages. */
  compact(): { beforeBytes: number; afterBytes: number } {
    const running = this.db.prepare("SELECT name FROM runs WHERE status = 'running' LIMIT 1").pluck().get() as string | undefined
    if (running !== undefined || this.runs.queueState().running) {
      throw new StudioError('CONFLICT', `Run "${running ?? this.runs.queueState().running?.name}" is training: compact the database when no run is running`)
    }
    const busy = this.options.busy?.() ?? null
    if (busy) throw new StudioError('CONFLICT', `${busy}: compact the database when it has finished`)
    const size = () => fileBytes(this.options.databasePath) + fileBytes(`${this.options.databasePath}-wal`)
    const beforeBytes = size()
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)')
      this.db.exec('VACUUM')
      this.db.pragma('wal_checkpoint(TRUNCATE)')
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_BUSY') {
        throw new StudioError('CONFLICT', 'Another program is using the studio database (a CLI run?): compact it when that has finished')
      }
      throw error
    }
    return { beforeBytes, afterBytes: size() }
  }

  // ---------------------------------------------------------------- rows

  private toExperiment(run: runStore.RunInfo, names: Names): ExperimentRun {
    const summary = this.runs.get(run.id)
    const config = (run.config ?? {}) as StoredConfig
    const request = config.request ?? {}
    const train = config.train ?? {}
    const seqLength = numberOr(config.data?.seqLength, config.setup?.seqLength, request.seqLength)
    const batchSize = numberOr(train.batchSize, request.batchSize)
    const epochs = numberOr(request.epochs, train.epochs)
    const totalSteps = summary.totalSteps
    const stepsPerEpoch = numberOr(config.stepsPerEpoch) ?? (epochs !== null && totalSteps !== null && config.request?.steps === undefined ? totalSteps / epochs : null)
    const best = this.best(run.id)
    const lastPoint = runStore.lastMetricPoint(this.db, run.id, HEADLINE, 'train')
    const started = run.startedAt === null ? null : Date.parse(run.startedAt)
    const ended = run.finishedAt !== null ? Date.parse(run.finishedAt) : run.status === 'running' ? Date.now() : this.lastWallTime(run.id)
    return {
      ...summary,
      tags: run.tags,
      notes: run.notes,
      archived: run.archived,
      queuePosition: run.queuePosition,
      sweepId: run.sweepId,
      dataName: this.dataset(run.id)?.name ?? (run.corpusId === null ? null : (names.corpora.get(run.corpusId) ?? null)),
      tokenizerName: run.tokenizerId === null ? null : (names.tokenizers.get(run.tokenizerId) ?? null),
      parentName: run.parentRunId === null ? null : (names.runs.get(run.parentRunId) ?? null),
      hyper: {
        // A continued pre-training has its parent's model, whatever preset its request names.
        preset: config.init ? (config.init.preset ?? describeModel(run.modelConfig)) : typeof request.preset === 'string' ? request.preset : describeModel(run.modelConfig),
        task: typeof config.task === 'string' ? config.task : null,
        learningRate: numberOr(train.optimizer?.learningRate, request.learningRate),
        batchSize,
        seqLength,
        steps: numberOr(request.steps, train.steps, totalSteps),
        epochs,
        seed: numberOr(train.seed, request.seed),
      },
      best,
      last: lastPoint && lastPoint.value !== null ? { name: HEADLINE, split: 'train', step: lastPoint.step, value: lastPoint.value } : null,
      durationSeconds: started !== null && ended !== null && ended >= started ? (ended - started) / 1000 : null,
      checkpoints: run.checkpointCount,
      checkpointBytes: run.checkpointBytes,
      tokensPerStep: batchSize !== null && seqLength !== null ? batchSize * seqLength : null,
      stepsPerEpoch,
      resumable: run.checkpointStep !== null && ['paused', 'crashed', 'cancelled'].includes(run.status),
      environment: this.environment(run, false),
      test: this.test(run),
    }
  }

  /** A fine-tuning run's latest test evaluation, by its task's headline metric. */
  private test(run: runStore.RunInfo): ExperimentRun['test'] {
    if (run.kind !== 'finetune') return null
    const evaluation = finetuneStore.latestEvaluation(this.db, run.id)
    if (evaluation?.split !== 'test') return null
    const metric = TASK_METRIC[evaluation.task]
    const value = evaluation.metrics[metric]
    if (value === undefined) return null
    return { metric, value, baselineValue: evaluation.baseline?.metric === metric ? ((evaluation.baseline.metrics as Record<string, number>)[metric] ?? null) : null, checkpointStep: evaluation.checkpointStep }
  }

  /** The lowest validation loss, else the lowest training loss. */
  private best(runId: number): MetricPoint | null {
    for (const split of ['validation', 'train'] as const) {
      const point = runStore.bestMetricPoint(this.db, runId, HEADLINE, split, true)
      if (point) return { name: HEADLINE, split, step: point.step, value: point.value }
    }
    return null
  }

  private lastWallTime(runId: number): number | null {
    const seconds = this.db.prepare("SELECT wall_time FROM metrics WHERE run_id = ? AND name = ? AND split = 'train' ORDER BY step DESC LIMIT 1").pluck().get(runId, HEADLINE) as
      | number
      | undefined
    return seconds === undefined ? null : seconds * 1000
  }

  private environment(run: runStore.RunInfo, withCheckpoint: boolean): RunEnvironment | null {
    const stored = run.environment as RunEnvironment | null
    if (!stored && run.backend === null) return null
    const environment: RunEnvironment = {
      studioVersion: stored?.studioVersion ?? 'unknown',
      backend: run.backend,
      node: stored?.node ?? 'unknown',
      platform: stored?.platform ?? 'unknown',
      arch: stored?.arch ?? 'unknown',
      libraries: { ...(stored?.libraries ?? {}) },
    }
    if (withCheckpoint) {
      // The versions the worker itself recorded with its latest checkpoint.
      const latest = this.db.prepare('SELECT id FROM checkpoints WHERE run_id = ? ORDER BY step DESC, id DESC LIMIT 1').pluck().get(run.id) as number | undefined
      if (latest !== undefined) {
        const versions = runStore.checkpointManifest(this.db, latest).versions as unknown as Record<string, unknown>
        for (const [key, value] of Object.entries(versions)) if (typeof value === 'string' && key !== 'backend' && key !== 'studio') environment.libraries[key] = value
      }
    }
    return environment
  }

  private dataset(runId: number): { id: number; name: string; task: string } | null {
    return (
      (this.db.prepare('SELECT d.id, d.name, rd.task FROM run_datasets rd JOIN datasets d ON d.id = rd.dataset_id WHERE rd.run_id = ?').get(runId) as
        | { id: number; name: string; task: string }
        | undefined) ?? null
    )
  }

  private names(): Names {
    const map = (sql: string) => new Map((this.db.prepare(sql).all() as { id: number; name: string }[]).map((row) => [row.id, row.name]))
    return { corpora: map('SELECT id, name FROM corpora'), tokenizers: map('SELECT id, name FROM tokenizers'), runs: map('SELECT id, name FROM runs') }
  }

  private info(runId: number): runStore.RunInfo {
    const run = runStore.getRun(this.db, runId)
    if (!run) throw notFound(`No run with id ${runId}`)
    return run
  }

  private requestOf(run: runStore.RunInfo): Record<string, unknown> {
    const request = (run.config as StoredConfig | null)?.request
    if (!request || typeof request !== 'object') {
      throw new StudioError('UNSUPPORTED', `Run "${run.name}" holds no request to repeat (an imported model): start a new run from the ${run.kind === 'pretrain' ? 'Pre-train' : 'Fine-tune'} step`)
    }
    return { ...(request as Record<string, unknown>) }
  }

  private freeName(projectId: number, wanted: string): string {
    const taken = new Set(runStore.listRuns(this.db, projectId).map((run) => run.name))
    const base = wanted.slice(0, 190)
    let name = base
    for (let count = 2; taken.has(name); count++) name = `${base} ${count}`
    return name
  }

  private sweepInfo(sweepId: number): SweepInfo {
    const row = this.db.prepare('SELECT id, project_id, name, method, base_run_id, space_json, created_at FROM sweeps WHERE id = ?').get(sweepId) as {
      id: number
      project_id: number
      name: string
      method: 'grid' | 'random'
      base_run_id: number | null
      space_json: string
      created_at: string
    }
    return {
      id: row.id,
      projectId: row.project_id,
      name: row.name,
      method: row.method,
      baseRunId: row.base_run_id,
      space: JSON.parse(row.space_json) as SweepSpace,
      runIds: this.db.prepare('SELECT id FROM runs WHERE sweep_id = ? ORDER BY id').pluck().all(sweepId) as number[],
      createdAt: row.created_at,
    }
  }
}

interface Names {
  corpora: Map<number, string>
  tokenizers: Map<number, string>
  runs: Map<number, string>
}

/** The parts of a stored config (pre-training or fine-tuning) the Runs view reads. */
interface StoredConfig {
  request?: Record<string, unknown> & { preset?: unknown; seqLength?: unknown; batchSize?: unknown; steps?: unknown; epochs?: unknown; learningRate?: unknown; seed?: unknown }
  train?: { optimizer?: { learningRate?: unknown }; batchSize?: unknown; steps?: unknown; epochs?: unknown; seed?: unknown }
  data?: { seqLength?: unknown }
  setup?: { seqLength?: unknown }
  task?: unknown
  stepsPerEpoch?: unknown
  /** Continued pre-training: the parent checkpoint it started from. */
  init?: { preset?: string | null }
}

const numberOr = (...candidates: unknown[]): number | null => {
  for (const value of candidates) if (typeof value === 'number' && Number.isFinite(value)) return value
  return null
}

/** "2×128" (layers × hidden) for a model without a preset name (an imported one). */
function describeModel(modelConfig: unknown): string | null {
  const config = modelConfig as { num_hidden_layers?: unknown; hidden_size?: unknown } | null
  return typeof config?.num_hidden_layers === 'number' && typeof config.hidden_size === 'number' ? `${config.num_hidden_layers}×${config.hidden_size}` : null
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

export type SweepVariant = Partial<{ learningRate: number; batchSize: number; epochs: number; seed: number }>

const AXES = ['learningRate', 'batchSize', 'epochs', 'seed'] as const

/** Every combination of the listed values, the learning rate varying slowest. */
export function gridVariants(space: SweepSpace): SweepVariant[] {
  let variants: SweepVariant[] = [{}]
  for (const axis of AXES) {
    const values = space[axis]
    if (values.length === 0) continue
    variants = variants.flatMap((variant) => values.map((value) => ({ ...variant, [axis]: value })))
  }
  if (variants.length !== gridSize(space)) throw new StudioError('INTERNAL', `A grid of ${variants.length} runs, expected ${gridSize(space)}`)
  return variants
}

/** `count` draws: the learning rate log-uniform between the least and greatest listed, the others from their lists. */
export function randomVariants(space: SweepSpace, count: number, seed: number): SweepVariant[] {
  const random = mulberry32(seed)
  return Array.from({ length: count }, () => {
    const variant: SweepVariant = {}
    if (space.learningRate.length > 0) {
      const low = Math.log(Math.min(...space.learningRate))
      const high = Math.log(Math.max(...space.learningRate))
      // Two significant digits: 1.3e-4 reads better than 1.2873e-4 and trains the same.
      variant.learningRate = Number(Math.exp(low + random() * (high - low)).toPrecision(2))
    }
    for (const axis of ['batchSize', 'epochs', 'seed'] as const) {
      const values = space[axis]
      if (values.length > 0) variant[axis] = values[Math.floor(random() * values.length)]!
    }
    return variant
  })
}

function describeVariant(variant: SweepVariant): string {
  const parts: string[] = []
  if (variant.learningRate !== undefined) parts.push(`lr ${variant.learningRate}`)
  if (variant.batchSize !== undefined) parts.push(`batch ${variant.batchSize}`)
  if (variant.epochs !== undefined) parts.push(`${variant.epochs} epochs`)
  if (variant.seed !== undefined) parts.push(`seed ${variant.seed}`)
  return parts.join(', ')
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
