/**
 * Runs, their per-step metrics and their checkpoints. A checkpoint is written in one transaction
 * with the metrics since the previous one and the run's step, epoch and status, so the database
 * never holds a checkpoint out of step with its run; pruning to the last K + the best happens in
 * the same transaction.
 */
import { StudioError } from '../core/errors.ts'
import { deserializeCheckpoint, parseManifest, type Checkpoint, type SerializedCheckpoint } from '../core/train/checkpoint-format.ts'
import { DecimationState, type DecimatedColumns } from '../core/train/curves.ts'
import { bestCheckpoint } from './finetune.ts'
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
  tags: string[]
  notes: string
  archived: boolean
  /** Place in the queue (lower runs first); null when not waiting, or claimed by a process. */
  queuePosition: number | null
  sweepId: number | null
  /** Versions and backend the run trained with (set when it starts). */
  environment: unknown
  /** Bytes of its checkpoints' tensors. */
  checkpointBytes: number
  checkpointCount: number
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
  tags_json: string
  notes: string
  archived: number
  queue_position: number | null
  sweep_id: number | null
  environment_json: string | null
  checkpoint_bytes: number | null
  checkpoint_count: number
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
  (SELECT max(c.step) FROM checkpoints c WHERE c.run_id = r.id) AS checkpoint_step,
  r.tags_json, r.notes, r.archived, r.queue_position, r.sweep_id, r.environment_json,
  (SELECT sum(c.bytes) FROM checkpoints c WHERE c.run_id = r.id) AS checkpoint_bytes,
  (SELECT count(*) FROM checkpoints c WHERE c.run_id = r.id) AS checkpoint_count`
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
  tags: JSON.parse(row.tags_json) as string[],
  notes: row.notes,
  archived: row.archived === 1,
  queuePosition: row.queue_position,
  sweepId: row.sweep_id,
  environment: row.environment_json === null ? null : JSON.parse(row.environment_json),
  checkpointBytes: row.checkpoint_bytes ?? 0,
  checkpointCount: row.checkpoint_count,
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
         queue_position = CASE WHEN @status = 'queued' THEN queue_position ELSE NULL END,
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
  // A skip-scan over the primary key (run_id, name, step, split): one seek per name, not a pass
  // over every point (a long run holds millions).
  const names = db
    .prepare(
      `WITH RECURSIVE names(name) AS (
         SELECT (SELECT min(name) FROM metrics WHERE run_id = @run)
         UNION ALL
         SELECT (SELECT min(name) FROM metrics WHERE run_id = @run AND name > names.name) FROM names WHERE names.name IS NOT NULL
       ) SELECT name FROM names WHERE name IS NOT NULL`,
    )
    .pluck()
    .all({ run: runId }) as string[]
  const has = db.prepare('SELECT 1 FROM metrics WHERE run_id = ? AND name = ? AND split = ? LIMIT 1').pluck()
  const keys: { split: MetricSplit; name: string }[] = []
  for (const split of ['train', 'validation'] as const) {
    for (const name of names) if (has.get(runId, name, split) !== undefined) keys.push({ split, name })
  }
  return keys
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

// ---------------------------------------------------------------- experiments (issue #6)

export interface RunMetaUpdate {
  name?: string
  tags?: readonly string[]
  notes?: string
  archived?: boolean
}

/** Renames, tags, annotates or archives a run in one statement. */
export function updateRunMeta(db: Db, runId: number, update: RunMetaUpdate): void {
  db.transaction(() => {
    const run = getRun(db, runId)
    if (!run) throw new StudioError('NOT_FOUND', `No run with id ${runId}`)
    if (update.name !== undefined && update.name !== run.name) {
      const taken = db.prepare('SELECT 1 FROM runs WHERE project_id = ? AND name = ? AND id != ?').get(run.projectId, update.name, runId)
      if (taken) throw new StudioError('CONFLICT', `A run named "${update.name}" already exists in this project`)
    }
    const tags = update.tags === undefined ? null : JSON.stringify([...new Set(update.tags.map((tag) => tag.trim()).filter((tag) => tag !== ''))])
    db.prepare(
      `UPDATE runs SET name = coalesce(@name, name), tags_json = coalesce(@tags, tags_json), notes = coalesce(@notes, notes),
         archived = coalesce(@archived, archived) WHERE id = @id`,
    ).run({
      id: runId,
      name: update.name ?? null,
      tags,
      notes: update.notes ?? null,
      archived: update.archived === undefined ? null : update.archived ? 1 : 0,
    })
  })()
}

export function setRunEnvironment(db: Db, runId: number, environment: unknown): void {
  db.prepare('UPDATE runs SET environment_json = ? WHERE id = ?').run(JSON.stringify(environment), runId)
}

export interface QueuedRun {
  id: number
  projectId: number
  position: number
}

/** Puts the run at the end of the queue (status queued) and answers its position. */
export function enqueueRun(db: Db, runId: number): number {
  return db.transaction(() => {
    setRunStatus(db, runId, 'queued')
    const position = (db.prepare('SELECT coalesce(max(queue_position), 0) + 1 FROM runs').pluck().get() as number) ?? 1
    db.prepare('UPDATE runs SET queue_position = ?, owner_pid = NULL WHERE id = ?').run(position, runId)
    return position
  })()
}

/** Every run waiting in the queue, first to run first (all projects: there is one worker). */
export function queuedRuns(db: Db): QueuedRun[] {
  return db
    .prepare("SELECT id, project_id AS projectId, queue_position AS position FROM runs WHERE status = 'queued' AND queue_position IS NOT NULL ORDER BY queue_position, id")
    .all() as QueuedRun[]
}

/**
 * Takes a queued run for this process: false when another process took it first or it left the
 * queue (paused, cancelled, deleted). The run stays 'queued' until the worker starts it.
 */
export function claimQueuedRun(db: Db, runId: number): boolean {
  return (
    db
      .prepare("UPDATE runs SET queue_position = NULL, owner_pid = ? WHERE id = ? AND status = 'queued' AND queue_position IS NOT NULL")
      .run(process.pid, runId).changes === 1
  )
}

/**
 * The listed queued runs take the places they hold between them, in the order given (so one
 * project's queue reorders without moving another's runs). One transaction.
 */
export function reorderQueue(db: Db, runIds: readonly number[]): void {
  if (new Set(runIds).size !== runIds.length) throw new StudioError('VALIDATION', 'The new queue order names a run twice')
  db.transaction(() => {
    const get = db.prepare("SELECT queue_position FROM runs WHERE id = ? AND status = 'queued' AND queue_position IS NOT NULL").pluck()
    const positions = runIds.map((runId) => {
      const position = get.get(runId) as number | undefined
      if (position === undefined) throw new StudioError('CONFLICT', `Run ${runId} is not waiting in the queue`)
      return position
    })
    positions.sort((a, b) => a - b)
    const set = db.prepare('UPDATE runs SET queue_position = ? WHERE id = ?')
    runIds.forEach((runId, index) => set.run(positions[index], runId))
  })()
}

/** Puts a claimed, not yet begun run back at the head of the queue (its studio is closing). */
export function requeueFirst(db: Db, runId: number): void {
  db.prepare(
    "UPDATE runs SET queue_position = (SELECT coalesce(min(queue_position), 1) - 1 FROM runs), owner_pid = NULL WHERE id = ? AND status = 'queued'",
  ).run(runId)
}

/**
 * At open: runs left 'queued' without a place (a process claimed them and died before its worker
 * started them, or they were queued before the queue was kept) go back to the end, oldest first.
 */
export function requeueOrphans(db: Db): number[] {
  return db.transaction(() => {
    const rows = db
      .prepare("SELECT id, owner_pid FROM runs WHERE status = 'queued' AND queue_position IS NULL ORDER BY id")
      .all() as { id: number; owner_pid: number | null }[]
    const orphans = rows.filter((row) => row.owner_pid === null || row.owner_pid === process.pid || !processAlive(row.owner_pid)).map((row) => row.id)
    for (const id of orphans) enqueueRun(db, id)
    return orphans
  })()
}

/**
 * Deletes a run with its checkpoints (tensor chunks included), metrics, probes, evaluations and
 * export records in ONE transaction: a failure anywhere leaves everything in place. Runs started
 * from it keep their rows and lose the link.
 */
export function deleteRun(db: Db, runId: number): { checkpoints: number; bytes: number } {
  return db.transaction(() => {
    const run = getRun(db, runId)
    if (!run) throw new StudioError('NOT_FOUND', `No run with id ${runId}`)
    if (run.status === 'running') throw new StudioError('CONFLICT', `Run ${runId} is running: pause or cancel it before deleting it`)
    const held = db.prepare('SELECT count(*) AS count, coalesce(sum(bytes), 0) AS bytes FROM checkpoints WHERE run_id = ?').get(runId) as {
      count: number
      bytes: number
    }
    db.prepare('DELETE FROM checkpoint_chunks WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE run_id = ?)').run(runId)
    db.prepare('DELETE FROM checkpoints WHERE run_id = ?').run(runId)
    db.prepare('DELETE FROM metrics WHERE run_id = ?').run(runId)
    db.prepare('DELETE FROM runs WHERE id = ?').run(runId)
    return { checkpoints: held.count, bytes: held.bytes }
  })()
}

/**
 * Keeps the run's best checkpoint (what `best` exports: see bestCheckpoint), its last and its
 * final ones; removes the rest in one transaction.
 */
export function pruneRunCheckpoints(db: Db, runId: number, kind: RunKind): { removed: number; bytes: number } {
  return db.transaction(() => {
    const list = listCheckpoints(db, runId)
    const keep = new Set<number>()
    const best = bestCheckpoint(kind, list)
    if (best) keep.add(best.id)
    const last = list.at(-1)
    if (last) keep.add(last.id)
    for (const checkpoint of list) if (checkpoint.kind === 'final') keep.add(checkpoint.id)
    const deleteChunks = db.prepare('DELETE FROM checkpoint_chunks WHERE checkpoint_id = ?')
    const deleteCheckpoint = db.prepare('DELETE FROM checkpoints WHERE id = ?')
    let removed = 0
    let bytes = 0
    for (const checkpoint of list) {
      if (keep.has(checkpoint.id)) continue
      deleteChunks.run(checkpoint.id)
      deleteCheckpoint.run(checkpoint.id)
      removed += 1
      bytes += checkpoint.bytes
    }
    return { removed, bytes }
  })()
}

/** The latest point of one metric, or undefined when it has none. */
export function lastMetricPoint(db: Db, runId: number, name: string, split: MetricSplit): { step: number; value: number | null } | undefined {
  return db
    .prepare('SELECT step, value FROM metrics WHERE run_id = ? AND name = ? AND split = ? ORDER BY step DESC LIMIT 1')
    .get(runId, name, split) as { step: number; value: number | null } | undefined
}

/** The best point of one metric (the latest on a tie); validation reads the partial index. */
export function bestMetricPoint(
  db: Db,
  runId: number,
  name: string,
  split: MetricSplit,
  lowerIsBetter: boolean,
): { step: number; value: number } | undefined {
  const order = lowerIsBetter ? 'ASC' : 'DESC'
  return db
    .prepare(`SELECT step, value FROM metrics WHERE run_id = ? AND name = ? AND split = ? AND value IS NOT NULL ORDER BY value ${order}, step DESC LIMIT 1`)
    .get(runId, name, split) as { step: number; value: number } | undefined
}

/** The value of each metric at a step (the latest point at or before it, per metric and split). */
export function metricsAtStep(db: Db, runId: number, step: number): { split: MetricSplit; name: string; step: number; value: number | null }[] {
  const at = db.prepare('SELECT step, value FROM metrics WHERE run_id = ? AND name = ? AND split = ? AND step <= ? ORDER BY step DESC LIMIT 1')
  return metricNames(db, runId).flatMap(({ split, name }) => {
    const row = at.get(runId, name, split, step) as { step: number; value: number | null } | undefined
    return row ? [{ split, name, ...row }] : []
  })
}

export interface CurveColumns {
  steps: number[]
  values: (number | null)[]
  wallTimes: number[]
}

/** Every stored point of one metric between two steps (inclusive), by split, in step order. */
export function readCurve(db: Db, runId: number, name: string, from = 0, to = Number.MAX_SAFE_INTEGER): Record<MetricSplit, CurveColumns> {
  const out: Record<MetricSplit, CurveColumns> = { train: { steps: [], values: [], wallTimes: [] }, validation: { steps: [], values: [], wallTimes: [] } }
  const rows = db
    .prepare('SELECT step, split, value, wall_time FROM metrics WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ? ORDER BY step')
    .raw()
    .iterate(runId, name, from, to) as IterableIterator<[number, MetricSplit, number | null, number]>
  for (const [step, split, value, wallTime] of rows) {
    const columns = out[split]
    columns.steps.push(step)
    columns.values.push(value)
    columns.wallTimes.push(wallTime)
  }
  return out
}

/** The decimation the aggregate below feeds (set just before each query: calls are synchronous). */
let decimating: DecimationState | null = null
const withAggregate = new WeakSet<Db>()

/**
 * One metric of a run between two steps, by split, for a chart: every point when there are at
 * most ~2 × `buckets`, else per bucket of the step range its minimum, maximum and first gap (see
 * DecimationState). The points stream through an SQLite aggregate, one pass, no row objects.
 */
export function readCurveDecimated(
  db: Db,
  runId: number,
  name: string,
  buckets: number,
  from = 0,
  to = Number.MAX_SAFE_INTEGER,
): Partial<Record<MetricSplit, DecimatedColumns>> {
  if (!withAggregate.has(db)) {
    db.aggregate('studio_decimate', {
      start: 0,
      // Its arity (4 arguments after the total) is read from the function; the typings know only one.
      step: ((_total: number, split: string, step: number, value: number | null, wallTime: number) => {
        decimating!.add(split, step, value, wallTime)
      }) as unknown as (total: number, next: number) => void,
      result: () => 0,
    })
    withAggregate.add(db)
  }
  const edge = (order: 'ASC' | 'DESC') =>
    db.prepare(`SELECT step FROM metrics WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ? ORDER BY step ${order} LIMIT 1`).pluck().get(runId, name, from, to) as
      | number
      | undefined
  const low = edge('ASC')
  if (low === undefined) return {}
  const high = edge('DESC')!
  const state = new DecimationState(low, high - low, Math.max(1, buckets))
  decimating = state
  try {
    db.prepare('SELECT studio_decimate(split, step, value, wall_time) FROM metrics WHERE run_id = ? AND name = ? AND step BETWEEN ? AND ?').get(runId, name, from, to)
  } finally {
    decimating = null
  }
  return state.result() as Partial<Record<MetricSplit, DecimatedColumns>>
}

/** Every stored point of a run, metric by metric in step order (the CLI's export). */
export function iterateMetrics(db: Db, runId: number): IterableIterator<{ step: number; split: MetricSplit; name: string; value: number | null; wallTime: number }> {
  return db
    .prepare('SELECT step, split, name, value, wall_time AS wallTime FROM metrics WHERE run_id = ? ORDER BY name, step, split')
    .iterate(runId) as IterableIterator<{ step: number; split: MetricSplit; name: string; value: number | null; wallTime: number }>
}

/**
 * Collects metric rows and writes them in batches, one transaction each: a row per step per
 * metric written one by one would cost a transaction (an fsync under synchronous=FULL) per step.
 */
export class MetricsWriter {
  private pending: MetricRow[] = []
  private flushedAt: number

  constructor(
    private readonly db: Db,
    private readonly runId: number,
    private readonly options: { maxRows?: number; maxDelayMs?: number; now?: () => number } = {},
  ) {
    this.flushedAt = this.now()
  }

  get size(): number {
    return this.pending.length
  }

  add(rows: readonly MetricRow[]): void {
    for (const row of rows) this.pending.push(row)
    if (this.pending.length >= (this.options.maxRows ?? 5_000) || this.now() - this.flushedAt >= (this.options.maxDelayMs ?? 2_000)) this.flush()
  }

  flush(): void {
    const rows = this.pending
    this.pending = []
    this.flushedAt = this.now()
    appendMetrics(this.db, this.runId, rows)
  }

  private now(): number {
    return this.options.now?.() ?? Date.now()
  }
}

/** Stored metric points per run (what the disk view charges each run for its curves). */
export function metricRowCounts(db: Db, runIds: readonly number[]): Map<number, number> {
  const count = db.prepare('SELECT count(*) FROM metrics WHERE run_id = ?').pluck()
  return new Map(runIds.map((runId) => [runId, count.get(runId) as number]))
}

/** Bytes each table and index takes in the file (SQLite's dbstat). */
export function tableBytes(db: Db): Map<string, number> {
  const rows = db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[]
  return new Map(rows.map((row) => [row.name, row.bytes]))
}

export interface ExportRecord {
  id: number
  runId: number
  checkpointStep: number
  format: string
  folder: string
  createdAt: string
}

export function recordExport(db: Db, record: { runId: number; checkpointStep: number; format: string; folder: string }): void {
  db.prepare('INSERT INTO exports (run_id, checkpoint_step, format, folder) VALUES (?, ?, ?, ?)').run(record.runId, record.checkpointStep, record.format, record.folder)
}

export function listExports(db: Db, runId: number): ExportRecord[] {
  return db
    .prepare('SELECT id, run_id AS runId, checkpoint_step AS checkpointStep, format, folder, created_at AS createdAt FROM exports WHERE run_id = ? ORDER BY id')
    .all(runId) as ExportRecord[]
}

export interface SweepRow {
  id: number
  projectId: number
  name: string
  method: 'grid' | 'random'
  baseRunId: number | null
  space: unknown
  createdAt: string
}

export function createSweep(db: Db, sweep: { projectId: number; name: string; method: 'grid' | 'random'; baseRunId: number; space: unknown }): number {
  const taken = db.prepare('SELECT 1 FROM sweeps WHERE project_id = ? AND name = ?').get(sweep.projectId, sweep.name)
  if (taken) throw new StudioError('CONFLICT', `A sweep named "${sweep.name}" already exists in this project`)
  return db
    .prepare('INSERT INTO sweeps (project_id, name, method, base_run_id, space_json) VALUES (?, ?, ?, ?, ?)')
    .run(sweep.projectId, sweep.name, sweep.method, sweep.baseRunId, JSON.stringify(sweep.space)).lastInsertRowid as number
}

export function listSweeps(db: Db, projectId: number): SweepRow[] {
  const rows = db
    .prepare('SELECT id, project_id AS projectId, name, method, base_run_id AS baseRunId, space_json, created_at AS createdAt FROM sweeps WHERE project_id = ? ORDER BY id')
    .all(projectId) as (Omit<SweepRow, 'space'> & { space_json: string })[]
  return rows.map(({ space_json, ...row }) => ({ ...row, space: JSON.parse(space_json) }))
}

export function setRunSweep(db: Db, runId: number, sweepId: number): void {
  db.prepare('UPDATE runs SET sweep_id = ? WHERE id = ?').run(sweepId, runId)
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
  updateMeta: updateRunMeta,
  enqueue: enqueueRun,
  queued: queuedRuns,
  claimQueued: claimQueuedRun,
  reorderQueue,
  requeueOrphans,
  delete: deleteRun,
  pruneRunCheckpoints,
  readCurve,
}
