import type { LabelClass, LabelValue, TaskKind } from '../contract/index.ts'
import type { SplitName } from '../core/data/examples.ts'
import type { Db } from './index.ts'

export interface DatasetRow {
  id: number
  project_id: number
  corpus_id: number
  name: string
  task: TaskKind
  allow_overlap: number
  split_seed: number | null
  split_fractions_json: string | null
  created_at: string
}

export interface LabelRow {
  document_id: number
  annotator: string
  value_json: string
  updated_at: string
}

export interface PredictionRow {
  document_id: number
  run_id: number
  value_json: string
  confidence: number
  entropy: number
  margin: number
}

export interface DocumentText {
  id: number
  ordinal: number
  text: string
  source: string
}

const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

/** Queries over datasets, label_classes, labels, splits and predictions. Transactions are the caller's. */
export const labelStore = {
  dataset(db: Db, datasetId: number): DatasetRow | undefined {
    return db.prepare('SELECT * FROM datasets WHERE id = ?').get(datasetId) as DatasetRow | undefined
  },

  datasets(db: Db, projectId: number): DatasetRow[] {
    return db.prepare('SELECT * FROM datasets WHERE project_id = ? ORDER BY created_at DESC, id DESC').all(projectId) as DatasetRow[]
  },

  datasetNameTaken(db: Db, projectId: number, name: string, exceptId = 0): boolean {
    return db.prepare('SELECT 1 FROM datasets WHERE project_id = ? AND name = ? AND id <> ?').get(projectId, name, exceptId) !== undefined
  },

  insertDataset(db: Db, dataset: { projectId: number; corpusId: number; name: string; task: TaskKind; allowOverlap: boolean }): number {
    const info = db
      .prepare('INSERT INTO datasets (project_id, corpus_id, name, task, allow_overlap) VALUES (?, ?, ?, ?, ?)')
      .run(dataset.projectId, dataset.corpusId, dataset.name, dataset.task, dataset.allowOverlap ? 1 : 0)
    return Number(info.lastInsertRowid)
  },

  renameDataset(db: Db, datasetId: number, name: string): void {
    db.prepare('UPDATE datasets SET name = ? WHERE id = ?').run(name, datasetId)
  },

  deleteDataset(db: Db, datasetId: number): void {
    // Classes, labels, splits and predictions cascade; fine-tuning runs keep their frozen data.
    db.prepare('DELETE FROM datasets WHERE id = ?').run(datasetId)
  },

  setSplit(db: Db, datasetId: number, seed: number, fractions: readonly [number, number, number]): void {
    db.prepare('UPDATE datasets SET split_seed = ?, split_fractions_json = ? WHERE id = ?').run(seed, JSON.stringify(fractions), datasetId)
  },

  // ------------------------------------------------------------ classes

  classes(db: Db, datasetId: number): LabelClass[] {
    return db.prepare('SELECT id, name, color, position FROM label_classes WHERE dataset_id = ? ORDER BY position, id').all(datasetId) as LabelClass[]
  },

  classRow(db: Db, classId: number): (LabelClass & { datasetId: number }) | undefined {
    return db.prepare('SELECT id, dataset_id AS datasetId, name, color, position FROM label_classes WHERE id = ?').get(classId) as
      | (LabelClass & { datasetId: number })
      | undefined
  },

  classNameTaken(db: Db, datasetId: number, name: string, exceptId = 0): boolean {
    return db.prepare('SELECT 1 FROM label_classes WHERE dataset_id = ? AND name = ? AND id <> ?').get(datasetId, name, exceptId) !== undefined
  },

  insertClass(db: Db, datasetId: number, name: string, color: string): number {
    const position = db.prepare('SELECT coalesce(max(position) + 1, 0) FROM label_classes WHERE dataset_id = ?').pluck().get(datasetId) as number
    const info = db.prepare('INSERT INTO label_classes (dataset_id, name, color, position) VALUES (?, ?, ?, ?)').run(datasetId, name, color, position)
    return Number(info.lastInsertRowid)
  },

  updateClass(db: Db, classId: number, change: { name?: string; color?: string }): void {
    if (change.name !== undefined) db.prepare('UPDATE label_classes SET name = ? WHERE id = ?').run(change.name, classId)
    if (change.color !== undefined) db.prepare('UPDATE label_classes SET color = ? WHERE id = ?').run(change.color, classId)
  },

  deleteClass(db: Db, classId: number): void {
    db.prepare('DELETE FROM label_classes WHERE id = ?').run(classId)
  },

  setPositions(db: Db, classIds: readonly number[]): void {
    const update = db.prepare('UPDATE label_classes SET position = ? WHERE id = ?')
    classIds.forEach((id, position) => update.run(position, id))
  },

  // ------------------------------------------------------------ labels

  labelsOf(db: Db, datasetId: number, documentIds: readonly number[]): LabelRow[] {
    if (documentIds.length === 0) return []
    return db
      .prepare(
        `SELECT document_id, annotator, value_json, updated_at FROM labels
         WHERE dataset_id = ? AND document_id IN (${documentIds.map(() => '?').join(', ')})
         ORDER BY document_id, annotator`,
      )
      .all(datasetId, ...documentIds) as LabelRow[]
  },

  allLabels(db: Db, datasetId: number): LabelRow[] {
    return db
      .prepare('SELECT document_id, annotator, value_json, updated_at FROM labels WHERE dataset_id = ? ORDER BY document_id, annotator')
      .all(datasetId) as LabelRow[]
  },

  upsertLabel(db: Db, datasetId: number, documentId: number, annotator: string, value: LabelValue): void {
    db.prepare(
      `INSERT INTO labels (dataset_id, document_id, annotator, value_json, updated_at) VALUES (?, ?, ?, ?, ${NOW})
       ON CONFLICT (dataset_id, document_id, annotator) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at`,
    ).run(datasetId, documentId, annotator, JSON.stringify(value))
  },

  /** A prepared insert for bulk imports (every label new, one transaction). */
  labelInserter(db: Db, datasetId: number, annotator: string): (documentId: number, value: LabelValue) => void {
    const insert = db.prepare(`INSERT INTO labels (dataset_id, document_id, annotator, value_json, updated_at) VALUES (?, ?, ?, ?, ${NOW})`)
    return (documentId, value) => insert.run(datasetId, documentId, annotator, JSON.stringify(value))
  },

  deleteLabel(db: Db, datasetId: number, documentId: number, annotator: string): void {
    db.prepare('DELETE FROM labels WHERE dataset_id = ? AND document_id = ? AND annotator = ?').run(datasetId, documentId, annotator)
  },

  rewriteLabel(db: Db, datasetId: number, documentId: number, annotator: string, value: LabelValue): void {
    // A schema change (a merge) is not a new judgement: updated_at stays.
    db.prepare('UPDATE labels SET value_json = ? WHERE dataset_id = ? AND document_id = ? AND annotator = ?').run(
      JSON.stringify(value),
      datasetId,
      documentId,
      annotator,
    )
  },

  labelledCount(db: Db, datasetId: number): number {
    return db.prepare('SELECT count(DISTINCT document_id) FROM labels WHERE dataset_id = ?').pluck().get(datasetId) as number
  },

  annotators(db: Db, datasetId: number): { name: string; labelled: number }[] {
    return db
      .prepare('SELECT annotator AS name, count(*) AS labelled FROM labels WHERE dataset_id = ? GROUP BY annotator ORDER BY annotator')
      .all(datasetId) as { name: string; labelled: number }[]
  },

  /** Documents labelled with each class by anyone: class ids of `classes` values and of spans. */
  perClass(db: Db, datasetId: number): Map<number, number> {
    const rows = db
      .prepare(
        `SELECT class_id, count(DISTINCT document_id) AS count FROM (
           SELECT l.document_id, j.value AS class_id FROM labels l, json_each(l.value_json, '$.classIds') j WHERE l.dataset_id = ?
           UNION ALL
           SELECT l.document_id, json_extract(j.value, '$.classId') FROM labels l, json_each(l.value_json, '$.spans') j WHERE l.dataset_id = ?
         ) GROUP BY class_id`,
      )
      .all(datasetId, datasetId) as { class_id: number; count: number }[]
    return new Map(rows.map((row) => [row.class_id, row.count]))
  },

  /** Every pair of labels two annotators gave the same document (first < second by name). */
  labelPairs(db: Db, datasetId: number): { first: string; second: string; firstValue: string; secondValue: string }[] {
    return db
      .prepare(
        `SELECT a.annotator AS first, b.annotator AS second, a.value_json AS firstValue, b.value_json AS secondValue
         FROM labels a JOIN labels b ON b.dataset_id = a.dataset_id AND b.document_id = a.document_id AND a.annotator < b.annotator
         WHERE a.dataset_id = ? ORDER BY a.annotator, b.annotator`,
      )
      .all(datasetId) as { first: string; second: string; firstValue: string; secondValue: string }[]
  },

  // ------------------------------------------------------------ documents

  document(db: Db, corpusId: number, documentId: number): DocumentText | undefined {
    return db.prepare('SELECT id, ordinal, text, source FROM documents WHERE id = ? AND corpus_id = ?').get(documentId, corpusId) as DocumentText | undefined
  },

  documents(db: Db, documentIds: readonly number[]): DocumentText[] {
    if (documentIds.length === 0) return []
    return db
      .prepare(`SELECT id, ordinal, text, source FROM documents WHERE id IN (${documentIds.map(() => '?').join(', ')}) ORDER BY ordinal`)
      .all(...documentIds) as DocumentText[]
  },

  /** Documents with a non-empty label cell (the corpus importer's label column). */
  documentLabels(db: Db, corpusId: number): { id: number; label: string }[] {
    return db
      .prepare(`SELECT id, label FROM documents WHERE corpus_id = ? AND label IS NOT NULL AND trim(label) <> '' ORDER BY ordinal`)
      .all(corpusId) as { id: number; label: string }[]
  },

  /** A prepared insert into documents, as the corpus importer writes them. */
  documentInserter(db: Db, corpusId: number): (ordinal: number, text: string, label: string | null, source: string) => number {
    const insert = db.prepare('INSERT INTO documents (corpus_id, ordinal, text, label, source) VALUES (?, ?, ?, ?, ?)')
    return (ordinal, text, label, source) => Number(insert.run(corpusId, ordinal, text, label, source).lastInsertRowid)
  },

  // ------------------------------------------------------------ splits

  splitsOf(db: Db, datasetId: number, documentIds: readonly number[]): Map<number, SplitName> {
    if (documentIds.length === 0) return new Map()
    const rows = db
      .prepare(`SELECT document_id, split FROM splits WHERE dataset_id = ? AND document_id IN (${documentIds.map(() => '?').join(', ')})`)
      .all(datasetId, ...documentIds) as { document_id: number; split: SplitName }[]
    return new Map(rows.map((row) => [row.document_id, row.split]))
  },

  allSplits(db: Db, datasetId: number): Map<number, SplitName> {
    const rows = db.prepare('SELECT document_id, split FROM splits WHERE dataset_id = ?').all(datasetId) as { document_id: number; split: SplitName }[]
    return new Map(rows.map((row) => [row.document_id, row.split]))
  },

  splitInserter(db: Db, datasetId: number): (documentId: number, split: SplitName) => void {
    const insert = db.prepare('INSERT INTO splits (dataset_id, document_id, split) VALUES (?, ?, ?)')
    return (documentId, split) => insert.run(datasetId, documentId, split)
  },

  /** Labelled documents of the dataset that have no stored split yet. */
  labelledWithoutSplit(db: Db, datasetId: number): number[] {
    return db
      .prepare(
        `SELECT DISTINCT l.document_id FROM labels l
         WHERE l.dataset_id = ? AND NOT EXISTS (SELECT 1 FROM splits s WHERE s.dataset_id = l.dataset_id AND s.document_id = l.document_id)
         ORDER BY l.document_id`,
      )
      .pluck()
      .all(datasetId) as number[]
  },

  /** Stored splits of labelled documents, counted. */
  labelledSplitCounts(db: Db, datasetId: number): Record<SplitName, number> {
    const rows = db
      .prepare(
        `SELECT s.split, count(*) AS count FROM splits s
         WHERE s.dataset_id = ? AND EXISTS (SELECT 1 FROM labels l WHERE l.dataset_id = s.dataset_id AND l.document_id = s.document_id)
         GROUP BY s.split`,
      )
      .all(datasetId) as { split: SplitName; count: number }[]
    const counts: Record<SplitName, number> = { train: 0, validation: 0, test: 0 }
    for (const row of rows) counts[row.split] = row.count
    return counts
  },

  // ------------------------------------------------------------ predictions

  predictionsOf(db: Db, datasetId: number, documentIds: readonly number[]): Map<number, PredictionRow> {
    if (documentIds.length === 0) return new Map()
    const rows = db
      .prepare(
        `SELECT document_id, run_id, value_json, confidence, entropy, margin FROM predictions
         WHERE dataset_id = ? AND document_id IN (${documentIds.map(() => '?').join(', ')})`,
      )
      .all(datasetId, ...documentIds) as PredictionRow[]
    return new Map(rows.map((row) => [row.document_id, row]))
  },

  allPredictions(db: Db, datasetId: number): PredictionRow[] {
    return db
      .prepare('SELECT document_id, run_id, value_json, confidence, entropy, margin FROM predictions WHERE dataset_id = ?')
      .all(datasetId) as PredictionRow[]
  },

  deletePredictions(db: Db, datasetId: number): void {
    db.prepare('DELETE FROM predictions WHERE dataset_id = ?').run(datasetId)
  },

  predictionInserter(db: Db, datasetId: number): (row: PredictionRow) => void {
    const insert = db.prepare(
      'INSERT INTO predictions (dataset_id, document_id, run_id, value_json, confidence, entropy, margin) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    return (row) => insert.run(datasetId, row.document_id, row.run_id, row.value_json, row.confidence, row.entropy, row.margin)
  },

  rewritePrediction(db: Db, datasetId: number, documentId: number, value: LabelValue): void {
    db.prepare('UPDATE predictions SET value_json = ? WHERE dataset_id = ? AND document_id = ?').run(JSON.stringify(value), datasetId, documentId)
  },
}
