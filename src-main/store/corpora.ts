import type { Corpus, CorpusFormat, CorpusStats, DocumentRow, ImportOptions } from '../contract/index.ts'
import type { Db } from './index.ts'

/** List views show at most this many characters of a document. */
export const LIST_TEXT_CHARS = 2000

interface CorpusRow {
  id: number
  project_id: number
  name: string
  source_name: string
  format: string
  options_json: string
  stats_json: string
  created_at: string
  search_ready: number
}

const toCorpus = (row: CorpusRow): Corpus => ({
  id: row.id,
  projectId: row.project_id,
  name: row.name,
  sourceName: row.source_name,
  format: row.format as CorpusFormat,
  options: JSON.parse(row.options_json) as ImportOptions,
  createdAt: row.created_at,
  stats: JSON.parse(row.stats_json) as CorpusStats,
  searchReady: row.search_ready === 1,
})

const columns = 'id, project_id, name, source_name, format, options_json, stats_json, created_at, search_ready'

/** Queries over `corpora` and `documents`; the connection is the caller's (an import brings its own). */
export const corpusStore = {
  get(db: Db, corpusId: number): Corpus | undefined {
    const row = db.prepare(`SELECT ${columns} FROM corpora WHERE id = ?`).get(corpusId) as CorpusRow | undefined
    return row && toCorpus(row)
  },

  list(db: Db, projectId: number): Corpus[] {
    const rows = db
      .prepare(`SELECT ${columns} FROM corpora WHERE project_id = ? ORDER BY created_at DESC, id DESC`)
      .all(projectId) as CorpusRow[]
    return rows.map(toCorpus)
  },

  nameTaken(db: Db, projectId: number, name: string, exceptId = 0): boolean {
    return db.prepare('SELECT 1 FROM corpora WHERE project_id = ? AND name = ? AND id <> ?').get(projectId, name, exceptId) !== undefined
  },

  projectExists(db: Db, projectId: number): boolean {
    return db.prepare('SELECT 1 FROM projects WHERE id = ?').get(projectId) !== undefined
  },

  insert(db: Db, corpus: { projectId: number; name: string; sourceName: string; format: CorpusFormat; options: ImportOptions; stats: CorpusStats }): number {
    const info = db
      .prepare('INSERT INTO corpora (project_id, name, source_name, format, options_json, stats_json) VALUES (?, ?, ?, ?, ?, ?)')
      .run(corpus.projectId, corpus.name, corpus.sourceName, corpus.format, JSON.stringify(corpus.options), JSON.stringify(corpus.stats))
    return Number(info.lastInsertRowid)
  },

  setStats(db: Db, corpusId: number, stats: CorpusStats): void {
    db.prepare('UPDATE corpora SET stats_json = ? WHERE id = ?').run(JSON.stringify(stats), corpusId)
  },

  rename(db: Db, corpusId: number, name: string): void {
    db.prepare('UPDATE corpora SET name = ? WHERE id = ?').run(name, corpusId)
  },

  delete(db: Db, corpusId: number): void {
    db.transaction(() => {
      // The word index has no foreign key: its rows go first, by the documents' ids.
      db.prepare('DELETE FROM documents_fts WHERE rowid IN (SELECT id FROM documents WHERE corpus_id = ?)').run(corpusId)
      // Explicit rather than only ON DELETE CASCADE: one statement over the (corpus_id, ordinal) index.
      db.prepare('DELETE FROM documents WHERE corpus_id = ?').run(corpusId)
      db.prepare('DELETE FROM corpora WHERE id = ?').run(corpusId)
    })()
  },

  /** A page by position: ordinals are 1..n without gaps, so an offset is an index range. */
  page(db: Db, corpusId: number, offset: number, limit: number): DocumentRow[] {
    return db
      .prepare(
        `SELECT id, ordinal, substr(text, 1, ${LIST_TEXT_CHARS}) AS text, label, source FROM documents
         WHERE corpus_id = ? AND ordinal > ? ORDER BY ordinal LIMIT ?`,
      )
      .all(corpusId, offset, limit) as DocumentRow[]
  },

  /**
   * Ids of documents whose text is LIKE `pattern`, in order, at most `cap`. An import writes a
   * corpus in one transaction holding the write lock, so its ids are one ascending run: scanning
   * that id range reads the table once in order, with no index lookups per row.
   */
  search(db: Db, corpusId: number, pattern: string, cap: number): number[] {
    const range = db
      .prepare(
        `SELECT (SELECT id FROM documents WHERE corpus_id = ? ORDER BY ordinal LIMIT 1) AS first,
                (SELECT id FROM documents WHERE corpus_id = ? ORDER BY ordinal DESC LIMIT 1) AS last`,
      )
      .get(corpusId, corpusId) as { first: number | null; last: number | null }
    if (range.first === null || range.last === null) return []
    return db
      .prepare(
        `SELECT id FROM documents WHERE id BETWEEN ? AND ? AND corpus_id = ? AND text LIKE ? ESCAPE '\\'
         ORDER BY id LIMIT ?`,
      )
      .pluck()
      .all(Math.min(range.first, range.last), Math.max(range.first, range.last), corpusId, pattern, cap) as number[]
  },

  /** Ids of the documents matching an FTS5 expression, in order, and how many match in all. */
  searchWords(db: Db, match: string, offset: number, limit: number): { ids: number[]; total: number } {
    const ids = db
      .prepare('SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? ORDER BY rowid LIMIT ? OFFSET ?')
      .pluck()
      .all(match, limit, offset) as number[]
    const total = db.prepare('SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?').pluck().get(match) as number
    return { ids, total }
  },

  /** Corpora whose word index is not complete (after a crash, or imported before it existed). */
  unindexed(db: Db): number[] {
    return db.prepare('SELECT id FROM corpora WHERE search_ready = 0 ORDER BY id').pluck().all() as number[]
  },

  /**
   * Indexes the next `chunk` documents of a corpus in one transaction with its progress mark.
   * Returns how far it got and whether the corpus is now fully indexed.
   */
  indexChunk(db: Db, corpusId: number, chunk: number): { through: number; done: boolean } | null {
    // IMMEDIATE: take the write lock before reading. A deferred transaction that reads and then
    // writes fails with SQLITE_BUSY_SNAPSHOT, without waiting, when the worker committed in between.
    return db.transaction(() => {
      const row = db.prepare('SELECT indexed_through FROM corpora WHERE id = ?').get(corpusId) as
        | { indexed_through: number }
        | undefined
      if (!row) return null
      const rows = db
        .prepare('SELECT id, ordinal, text FROM documents WHERE corpus_id = ? AND ordinal > ? ORDER BY ordinal LIMIT ?')
        .all(corpusId, row.indexed_through, chunk) as { id: number; ordinal: number; text: string }[]
      const insert = db.prepare('INSERT INTO documents_fts (rowid, corpus, text) VALUES (?, ?, ?)')
      for (const document of rows) insert.run(document.id, `c${corpusId}`, document.text)
      const through = rows.at(-1)?.ordinal ?? row.indexed_through
      const done = rows.length < chunk
      db.prepare('UPDATE corpora SET indexed_through = ?, search_ready = ? WHERE id = ?').run(through, done ? 1 : 0, corpusId)
      return { through, done }
    }).immediate()
  },

  byIds(db: Db, ids: number[]): DocumentRow[] {
    if (ids.length === 0) return []
    return db
      .prepare(
        `SELECT id, ordinal, substr(text, 1, ${LIST_TEXT_CHARS}) AS text, label, source FROM documents
         WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY ordinal`,
      )
      .all(...ids) as DocumentRow[]
  },
}
