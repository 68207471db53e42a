/**
 * Runs, their per-step metrics and their checkpoints. A checkpoint is written in one transaction
 * with the metrics since the previous one and the run's step, epoch and status, so the database
 * never holds a checkpoint out of step with its run; pruning to the last K + the best happens in
 * the same transaction.
 */
import { StudioError } from '../core/errors.ts'
import { deserializeCheckpoint, parseManifest, type Checkpoint, type SerializedCheckpoint } from '../core/train/checkpoint-format.ts'
import type { Db } from './index.ts'

export type RunKind = 'pretrain' | 'finetune'
export type RunStatus = 'queued' | 'running' | 'paused' | 'done' | 'diverged' | 'crashed' | 'cancelled'
export type MetricSplit = 'train' | 'validation'
export type CheckpointKind = 'interval' | 'best' | 'final'

const terminal: ReadonlySet<RunStatus> = new Set(['done', 'diverged', 'crashed', 'cancelled'])

export interface RunInfo {
  id: number
  projectId: number
  kind: RunKind
  name: string
  status: RunStatus
  config: unknown
  modelConfig: unknown
  corpusId: number | null
  tokenizerId: number | null
  parentRunId: number | null
  backend: string | null
  step: number
  epoch: number
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  error: string | null
  /** Step of the latest checkpoint, null when there is none (the run cannot be resumed). */
  checkpointStep: number | null
}

export interface NewRun {
  projectId: number
  kind: RunKind
  name: string
  /** The full TrainConfig (stored as JSON). */
  config: unknown
  /** The full model config (BertConfig; stored as JSON). */
  modelConfig: unknown
  corpusId?: number | null
  tokenizerId?: number | null
  parentRunId?: number | null
  backend?: string | null
}

export interface MetricRow {
  step: number
  split: MetricSplit
  name: string
  /** Stored as NULL when not finite (a diverged step's NaN loss). */
  value: number
  /** Seconds since the epoch. */
  wallTime: number
}

export interface MetricPoint {
  step: number
  value: number | null
  wallTime: number
}

export interface CheckpointInfo {
  id: number
  runId: number
  step: number
  kind: CheckpointKind
  validationLoss: number | null
  bytes: number
  createdAt: string
}

export interface LoadedCheckpoint {
  info: CheckpointInfo
  checkpoint: Checkpoint
}

export interface SaveCheckpointOptions {
  kind?: CheckpointKind
  /** The run's status after the write (default: unchanged). */
  status?: RunStatus
  /** Default: the manifest's epoch. */
  epoch?: number
  /** Keep the latest this many checkpoints (default 3)… */
  keepLast?: number
  /** …and the one with the lowest validation loss (default true). Final checkpoints are always kept. */
  keepBest?: boolean
}

interface RunRow {
  id: number
  project_id: number
  kind: RunKind
  name: string
  status: RunStatus
  config_json: string
  model_config_json: string
  corpus_id: number | null
  tokenizer_id: number | null
  parent_run_id: number | null
  backend: string | null
  step: number
  epoch: number
  created_at: string
  started_at: string | null
  finished_at: string | null
  error: string | null
  checkpoint_step: number | null
}

interface CheckpointRow {
  id: number
  run_id: number
  step: number
  kind: CheckpointKind
  validation_loss: number | null
  bytes: number
  created_at: string
}

const runColumns = `r.id, r.project_id, r.kind, r.name, r.status, r.config_json, r.model_config_json, r.corpus_id, r.tokenizer_id,
  r.parent_run_id, r.backend, r.step, r.epoch, r.created_at, r.started_at, r.finished_at, r.error,
  (SELECT max(c.step) FROM checkpoints c WHERE c.run_id = r.id) AS checkpoint_step`
const checkpointColumns = 'id, run_id, step, kind, validation_loss, bytes, created_at'
const now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

const toRun = (row: RunRow): RunInfo => ({
  id: row.id,
  projectId: row.project_id,
  kind: row.kind,
  name: row.name,
  status: row.status,
  config: JSON.parse(row.config_json),
  modelConfig: JSON.parse(row.model_config_json),
  corpusId: row.corpus_id,
  tokenizerId: row.tokenizer_id,
  parentRunId: row.parent_run_id,
  backend: row.backend,
  step: row.step,
  epoch: row.epoch,
  createdAt: row.created_at,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
  error: row.error,
  checkpointStep: row.checkpoint_step,
})

const toCheckpoint = (row: CheckpointRow): CheckpointInfo => ({
  id: row.id,
  runId: row.run_id,
  step: row.step,
  kind: row.kind,
  validationLoss: row.validation_loss,
  bytes: row.bytes,
  createdAt: row.created_at,
})

export function createRun(db: Db, run: NewRun): RunInfo {
  const id = db
    .prepare(
      `INSERT INTO runs (project_id, kind, name, config_json, model_config_json, corpus_id, tokenizer_id, parent_run_id, backend)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      run.projectId,
      run.kind,
      run.name,
      JSON.stringify(run.config),
      JSON.stringify(run.modelConfig),
      run.corpusId ?? null,
      run.tokenizerId ?? null,
      run.parentRunId ?? null,
      run.backend ?? null,
    ).lastInsertRowid as number
  return getRun(db, id)!
}

export function getRun(db: Db, runId: number): RunInfo | undefined {
  const row = db.prepare(`SELECT ${runColumns} FROM runs r WHERE r.id = ?`).get(runId) as RunRow | undefined
  return row && toRun(row)
}

export function listRuns(db: Db, projectId: number, kind?: RunKind): RunInfo[] {
  const rows = (
    kind === undefined
      ? db.prepare(`SELECT ${runColumns} FROM runs r WHERE r.project_id = ? ORDER BY r.created_at DESC, r.id DESC`).all(projectId)
      : db.prepare(`SELECT ${runColumns} FROM runs r WHERE r.project_id = ? AND r.kind = ? ORDER BY r.created_at DESC, r.id DESC`).all(projectId, kind)
  ) as RunRow[]
  return rows.map(toRun)
}

/**
 * Moves a run to `status`: `started_at` is set the first time it runs, `finished_at` when it
 * reaches done/diverged/crashed/cancelled (and cleared when a crashed or paused run resumes).
 */
export function setRunStatus(db: Db, runId: number, status: RunStatus, details: { error?: string | null; backend?: string } = {}): void {
  const result = db
    .prepare(
      `UPDATE runs SET status = @status,
         started_at = CASE WHEN @status = 'running' AND started_at IS NULL THEN ${now} ELSE started_at END,
         finished_at = CASE WHEN @terminal THEN ${now} WHEN @status = 'running' THEN NULL ELSE finished_at END,
         error = CASE WHEN @hasError THEN @error WHEN @status IN ('queued', 'running', 'paused', 'done') THEN NULL ELSE error END,
         owner_pid = CASE WHEN @status = 'running' THEN @pid ELSE owner_pid END,
         backend = coalesce(@backend, backend)
       WHERE id = @id`,
    )
    .run({
      id: runId,
      status,
      terminal: terminal.has(status) ? 1 : 0,
      hasError: details.error !== undefined ? 1 : 0,
      error: details.error ?? null,
      backend: details.backend ?? null,
      pid: process.pid,
    })
  if (result.changes === 0) throw new StudioError('NOT_FOUND', `No run with id ${runId}`)
}

function insertMetrics(db: Db, runId: number, rows: readonly MetricRow[]): void {
  const insert = db.prepare('INSERT OR REPLACE INTO metrics (run_id, step, split, name, value, wall_time) VALUES (?, ?, ?, ?, ?, ?)')
  for (const row of rows) insert.run(runId, row.step, row.split, row.name, Number.isFinite(row.value) ? row.value : null, row.wallTime)
}

/** Appends metric rows in one transaction (a row for the same run, name, step and split replaces the old one). */
export function appendMetrics(db: Db, runId: number, rows: readonly MetricRow[]): void {
  if (rows.length === 0) return
  db.transaction(() => insertMetrics(db, runId, rows))()
}

/** One metric's series, by step. */
export function metricSeries(db: Db, runId: number, name: string, split: MetricSplit = 'train'): MetricPoint[] {
  return db
    .prepare('SELECT step, value, wall_time AS wallTime FROM metrics WHERE run_id = ? AND name = ? AND split = ? ORDER BY step')
    .all(runId, name, split) as MetricPoint[]
}

/** The names of the metrics a run has, by split. */
export function metricNames(db: Db, runId: number): { split: MetricSplit; name: string }[] {
  return db.prepare('SELECT DISTINCT split, name FROM metrics WHERE run_id = ? ORDER BY split, name').all(runId) as { split: MetricSplit; name: string }[]
}

/** Drops metrics after `step` (a run resuming from a checkpoint at `step` writes them again). */
export function discardMetricsAfter(db: Db, runId: number, step: number): void {
  db.prepare('DELETE FROM metrics WHERE run_id = ? AND step > ?').run(runId, step)
}

/**
 * In ONE transaction: the metric rows since the last checkpoint, the run's step/epoch (and status
 * when given), the checkpoint's manifest and chunks; then prunes the run's checkpoints to the latest
 * `keepLast`, the best by validation loss and every final one. A throw anywhere (a chunk that cannot
 * be produced included) leaves the database as it was.
 */
export function saveCheckpoint(
  db: Db,
  runId: number,
  step: number,
  metricsRows: readonly MetricRow[],
  checkpoint: SerializedCheckpoint,
  options: SaveCheckpointOptions = {},
): CheckpointInfo {
  const kind = options.kind ?? 'interval'
  const keepLast = options.keepLast ?? 3
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new StudioError('VALIDATION', `keepLast is ${keepLast}, expected an integer ≥ 1`)
  if (checkpoint.manifest.step !== step) {
    throw new StudioError('VALIDATION', `The checkpoint is of step ${checkpoint.manifest.step}, expected step ${step}`)
  }
  return db.transaction((): CheckpointInfo => {
    insertMetrics(db, runId, metricsRows)
    const updated = db
      .prepare('UPDATE runs SET step = ?, epoch = ?, status = coalesce(?, status) WHERE id = ?')
      .run(step, options.epoch ?? checkpoint.manifest.epoch, options.status ?? null, runId)
    if (updated.changes === 0) throw new StudioError('NOT_FOUND', `No run with id ${runId}`)
    const validationLoss = checkpoint.manifest.validationLoss
    const checkpointId = db
      .prepare('INSERT INTO checkpoints (run_id, step, kind, validation_loss, manifest_json, bytes) VALUES (?, ?, ?, ?, ?, ?)')
      .run(runId, step, kind, validationLoss !== null && Number.isFinite(validationLoss) ? validationLoss : null, checkpoint.manifestJson, checkpoint.bytes)
      .lastInsertRowid as number
    const insertChunk = db.prepare('INSERT INTO checkpoint_chunks (checkpoint_id, idx, data) VALUES (?, ?, ?)')
    let index = 0
    let written = 0
    for (const chunk of checkpoint.chunks) {
      insertChunk.run(checkpointId, index, chunk)
      index += 1
      written += chunk.byteLength
    }
    if (written !== checkpoint.bytes) {
      throw new StudioError('INTERNAL', `The checkpoint's chunks held ${written} bytes, expected ${checkpoint.bytes}`)
    }
    pruneCheckpoints(db, runId, keepLast, options.keepBest ?? true)
    return toCheckpoint(db.prepare(`SELECT ${checkpointColumns} FROM checkpoints WHERE id = ?`).get(checkpointId) as CheckpointRow)
  })()
}

function pruneCheckpoints(db: Db, runId: number, keepLast: number, keepBest: boolean): void {
  const rows = db
    .prepare('SELECT id, kind, validation_loss FROM checkpoints WHERE run_id = ? ORDER BY step DESC, id DESC')
    .all(runId) as { id: number; kind: CheckpointKind; validation_loss: number | null }[]
  const keep = new Set(rows.slice(0, keepLast).map((row) => row.id))
  for (const row of rows) if (row.kind === 'final') keep.add(row.id)
  if (keepBest) {
    let best: { id: number; loss: number } | undefined
    // Rows run latest first, so a tie keeps the latest.
    for (const row of rows) if (row.validation_loss !== null && (!best || row.validation_loss < best.loss)) best = { id: row.id, loss: row.validation_loss }
    if (best) keep.add(best.id)
  }
  const deleteChunks = db.prepare('DELETE FROM checkpoint_chunks WHERE checkpoint_id = ?')
  const deleteCheckpoint = db.prepare('DELETE FROM checkpoints WHERE id = ?')
  for (const row of rows) {
    if (keep.has(row.id)) continue
    deleteChunks.run(row.id)
    deleteCheckpoint.run(row.id)
  }
}

export function listCheckpoints(db: Db, runId: number): CheckpointInfo[] {
  const rows = db.prepare(`SELECT ${checkpointColumns} FROM checkpoints WHERE run_id = ? ORDER BY step, id`).all(runId) as CheckpointRow[]
  return rows.map(toCheckpoint)
}

export function loadCheckpoint(db: Db, checkpointId: number): LoadedCheckpoint {
  const row = db.prepare(`SELECT ${checkpointColumns}, manifest_json FROM checkpoints WHERE id = ?`).get(checkpointId) as
    | (CheckpointRow & { manifest_json: string })
    | undefined
  if (!row) throw new StudioError('NOT_FOUND', `No checkpoint with id ${checkpointId}`)
  const chunks = (db.prepare('SELECT data FROM checkpoint_chunks WHERE checkpoint_id = ? ORDER BY idx').pluck().all(checkpointId) as Buffer[]).map(
    (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
  )
  return { info: toCheckpoint(row), checkpoint: deserializeCheckpoint(row.manifest_json, chunks) }
}

/** The run's latest checkpoint (highest step), or undefined when it has none. */
export function loadLatestCheckpoint(db: Db, runId: number): LoadedCheckpoint | undefined {
  const id = db.prepare('SELECT id FROM checkpoints WHERE run_id = ? ORDER BY step DESC, id DESC LIMIT 1').pluck().get(runId) as number | undefined
  return id === undefined ? undefined : loadCheckpoint(db, id)
}

/** The lowest validation loss among the run's checkpoints (what a resumed loop must beat to save a new best). */
export function bestValidationLoss(db: Db, runId: number): number | null {
  return (db.prepare('SELECT min(validation_loss) FROM checkpoints WHERE run_id = ?').pluck().get(runId) as number | null) ?? null
}

/** A checkpoint's manifest alone (no tensor bytes read). */
export function checkpointManifest(db: Db, checkpointId: number) {
  const text = db.prepare('SELECT manifest_json FROM checkpoints WHERE id = ?').pluck().get(checkpointId) as string | undefined
  if (text === undefined) throw new StudioError('NOT_FOUND', `No checkpoint with id ${checkpointId}`)
  return parseManifest(text)
}

/**
 * At startup: every run still marked running was cut short by a crash or a kill. Marks them
 * crashed and says which can resume (those with a checkpoint).
 */
export function markCrashedRuns(db: Db): { runId: number; resumable: boolean }[] {
  return db.transaction(() => {
    const running = db.prepare("SELECT id, owner_pid FROM runs WHERE status = 'running' ORDER BY id").all() as {
      id: number
      owner_pid: number | null
    }[]
    // A run another live process is training is not crashed (this process has just opened, so
    // its own pid on a run means an earlier process of that pid died).
    const ids = running.filter((run) => run.owner_pid === null || run.owner_pid === process.pid || !processAlive(run.owner_pid)).map((run) => run.id)
    for (const id of ids) setRunStatus(db, id, 'crashed', { error: 'The studio stopped while this run was running' })
    return ids.map((runId) => ({
      runId,
      resumable: db.prepare('SELECT 1 FROM checkpoints WHERE run_id = ? LIMIT 1').get(runId) !== undefined,
    }))
  })()
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The repository as one object, like the other stores. */
export const runStore = {
  create: createRun,
  get: getRun,
  list: listRuns,
  setStatus: setRunStatus,
  appendMetrics,
  metricSeries,
  metricNames,
  discardMetricsAfter,
  saveCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  checkpointManifest,
  bestValidationLoss,
  markCrashedRuns,
}
