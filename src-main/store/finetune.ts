/**
 * Fine-tuning's own tables (migration 8): the examples a run froze at creation (gzip JSON), its
 * evaluations with one record per example (gzip JSON), and which checkpoint `best` names.
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import type { CheckpointChoice, Evaluation, EvaluationExample, TaskKind } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import type { DatasetSnapshot, SnapshotExample } from '../core/data/examples.ts'
import type { Db } from './index.ts'
import { listCheckpoints, type CheckpointInfo, type RunKind } from './runs.ts'

const packJson = (value: unknown): Buffer => gzipSync(Buffer.from(JSON.stringify(value), 'utf8'))
const unpackJson = <T>(blob: Buffer): T => JSON.parse(gunzipSync(blob).toString('utf8')) as T

/** Freezes a run's examples (call in the transaction that creates the run). */
export function saveRunDataset(db: Db, runId: number, snapshot: DatasetSnapshot): void {
  db.prepare('INSERT INTO run_datasets (run_id, dataset_id, task, labels_json, examples) VALUES (?, ?, ?, ?, ?)').run(
    runId,
    snapshot.datasetId,
    snapshot.task,
    JSON.stringify(snapshot.labels),
    packJson(snapshot.examples),
  )
}

export interface FrozenDataset extends DatasetSnapshot {
  /** The stored (compressed) examples, for hashing: a checkpoint must resume on the same bytes. */
  readonly raw: Buffer
}

export function loadRunDataset(db: Db, runId: number): FrozenDataset {
  const row = db.prepare('SELECT dataset_id, task, labels_json, examples FROM run_datasets WHERE run_id = ?').get(runId) as
    | { dataset_id: number | null; task: TaskKind; labels_json: string; examples: Buffer }
    | undefined
  if (!row) throw notFound(`Run ${runId} has no frozen examples: it is not a fine-tuning run`)
  return { datasetId: row.dataset_id, task: row.task, labels: JSON.parse(row.labels_json) as string[], examples: unpackJson<SnapshotExample[]>(row.examples), raw: row.examples }
}

/** What an evaluation stores besides its per-example records. */
export type EvaluationBody = Omit<Evaluation, 'id' | 'runId' | 'checkpointStep' | 'split' | 'createdAt'>

export function insertEvaluation(
  db: Db,
  evaluation: { runId: number; checkpointStep: number; split: 'validation' | 'test'; body: EvaluationBody; records: readonly EvaluationExample[] },
): Evaluation {
  const id = db
    .prepare('INSERT INTO evaluations (run_id, checkpoint_step, split, metrics_json, predictions) VALUES (?, ?, ?, ?, ?)')
    .run(evaluation.runId, evaluation.checkpointStep, evaluation.split, JSON.stringify(evaluation.body), packJson(evaluation.records)).lastInsertRowid as number
  return getEvaluation(db, id)!
}

interface EvaluationRow {
  id: number
  run_id: number
  checkpoint_step: number
  split: 'validation' | 'test'
  metrics_json: string
  created_at: string
}

const toEvaluation = (row: EvaluationRow): Evaluation => ({
  id: row.id,
  runId: row.run_id,
  checkpointStep: row.checkpoint_step,
  split: row.split,
  ...(JSON.parse(row.metrics_json) as EvaluationBody),
  // Evaluations stored before the baseline existed have none.
  baseline: (JSON.parse(row.metrics_json) as Partial<EvaluationBody>).baseline ?? null,
  createdAt: row.created_at,
})

export function getEvaluation(db: Db, evaluationId: number): Evaluation | undefined {
  const row = db.prepare('SELECT id, run_id, checkpoint_step, split, metrics_json, created_at FROM evaluations WHERE id = ?').get(evaluationId) as EvaluationRow | undefined
  return row && toEvaluation(row)
}

/** The run's most recent evaluation, or null. */
export function latestEvaluation(db: Db, runId: number): Evaluation | null {
  const row = db
    .prepare('SELECT id, run_id, checkpoint_step, split, metrics_json, created_at FROM evaluations WHERE run_id = ? ORDER BY id DESC LIMIT 1')
    .get(runId) as EvaluationRow | undefined
  return row ? toEvaluation(row) : null
}

/**
 * The evaluation whose baseline a new test evaluation of `runId` can take: the run's latest, else
 * the project's latest one made on the same examples (`datasetHash`), as the runs of a sweep are.
 */
export function baselineEvaluation(db: Db, runId: number, datasetHash: string): Evaluation | null {
  const own = latestEvaluation(db, runId)
  if (own?.split === 'test' && own.baseline !== null) return own
  const rows = db
    .prepare(
      `SELECT e.id, e.run_id, e.checkpoint_step, e.split, e.metrics_json, e.created_at FROM evaluations e JOIN runs r ON r.id = e.run_id
       WHERE r.project_id = (SELECT project_id FROM runs WHERE id = ?) AND e.split = 'test' AND e.run_id != ? AND instr(e.metrics_json, ?) > 0
       ORDER BY e.id DESC`,
    )
    .all(runId, runId, datasetHash) as EvaluationRow[]
  return rows.map(toEvaluation).find((evaluation) => evaluation.baseline?.datasetHash === datasetHash) ?? null
}

export function evaluationRecords(db: Db, evaluationId: number): EvaluationExample[] {
  const blob = db.prepare('SELECT predictions FROM evaluations WHERE id = ?').pluck().get(evaluationId) as Buffer | undefined
  if (blob === undefined) throw notFound(`No evaluation with id ${evaluationId}`)
  return unpackJson<EvaluationExample[]>(blob)
}

/**
 * The checkpoint `best` names. Fine-tuning marks each new best on the validation metric as kind
 * 'best', so the latest of those; pre-training: the lowest validation loss (the latest on a tie).
 * Either way, the last checkpoint when none qualifies.
 */
export function bestCheckpoint(kind: RunKind, list: readonly CheckpointInfo[]): CheckpointInfo | undefined {
  if (kind === 'finetune') return list.filter((checkpoint) => checkpoint.kind === 'best').at(-1) ?? list.at(-1)
  let best: CheckpointInfo | undefined
  for (const checkpoint of list) {
    if (checkpoint.validationLoss === null) continue
    if (!best || checkpoint.validationLoss <= best.validationLoss!) best = checkpoint
  }
  return best ?? list.at(-1)
}

/** The checkpoint a choice names: best, last, or the latest one of a step. */
export function resolveCheckpoint(db: Db, run: { id: number; kind: RunKind }, choice: CheckpointChoice): { checkpoint: CheckpointInfo; chosenAs: 'best' | 'last' | 'step' } {
  const list = listCheckpoints(db, run.id)
  if (list.length === 0) throw new StudioError('CONFLICT', `Run ${run.id} has no checkpoint yet`)
  if (choice === 'best') return { checkpoint: bestCheckpoint(run.kind, list)!, chosenAs: 'best' }
  if (choice === 'last') return { checkpoint: list.at(-1)!, chosenAs: 'last' }
  const atStep = list.filter((checkpoint) => checkpoint.step === choice).at(-1)
  if (!atStep) throw notFound(`Run ${run.id} has no checkpoint of step ${choice}; it has steps ${[...new Set(list.map((c) => c.step))].join(', ')}`)
  return { checkpoint: atStep, chosenAs: 'step' }
}

/**
 * Keeps a fine-tuning run's latest `keepLast` checkpoints and its best (see bestCheckpoint);
 * deletes the rest. Call in the transaction that saved the newest one.
 */
export function pruneFinetuneCheckpoints(db: Db, runId: number, keepLast: number): void {
  const list = listCheckpoints(db, runId)
  const keep = new Set(list.slice(-keepLast).map((checkpoint) => checkpoint.id))
  const best = bestCheckpoint('finetune', list)
  if (best) keep.add(best.id)
  const deleteChunks = db.prepare('DELETE FROM checkpoint_chunks WHERE checkpoint_id = ?')
  const deleteCheckpoint = db.prepare('DELETE FROM checkpoints WHERE id = ?')
  for (const checkpoint of list) {
    if (keep.has(checkpoint.id)) continue
    deleteChunks.run(checkpoint.id)
    deleteCheckpoint.run(checkpoint.id)
  }
}

/** A dataset's documents in corpus order, a page at a time (model-in-the-loop prediction). */
export function datasetDocuments(db: Db, datasetId: number, afterOrdinal: number, limit: number): { documentId: number; ordinal: number; text: string }[] {
  return db
    .prepare(
      `SELECT d.id AS documentId, d.ordinal AS ordinal, d.text AS text FROM documents d
       JOIN datasets s ON s.corpus_id = d.corpus_id
       WHERE s.id = ? AND d.ordinal > ? ORDER BY d.ordinal LIMIT ?`,
    )
    .all(datasetId, afterOrdinal, limit) as { documentId: number; ordinal: number; text: string }[]
}

export function datasetDocumentCount(db: Db, datasetId: number): number {
  return db.prepare('SELECT count(*) FROM documents d JOIN datasets s ON s.corpus_id = d.corpus_id WHERE s.id = ?').pluck().get(datasetId) as number
}
