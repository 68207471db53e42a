import type {
  TokenizerDiagnostics,
  TokenizerInfo,
  TokenizerTrainOptions,
  TokenizerTrainStats,
} from '../contract/index.ts'
import type { Db } from './index.ts'

interface TokenizerRow {
  id: number
  project_id: number
  name: string
  origin: 'trained' | 'imported'
  corpus_id: number | null
  source_name: string
  options_json: string | null
  vocab_size: number
  lowercase: number
  hash: string
  train_json: string | null
  diagnostics_json: string | null
  created_at: string
}

const columns =
  'id, project_id, name, origin, corpus_id, source_name, options_json, vocab_size, lowercase, hash, train_json, diagnostics_json, created_at'

const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T))

const toInfo = (row: TokenizerRow): TokenizerInfo => ({
  id: row.id,
  projectId: row.project_id,
  name: row.name,
  origin: row.origin,
  corpusId: row.corpus_id,
  sourceName: row.source_name,
  vocabSize: row.vocab_size,
  lowercase: row.lowercase === 1,
  options: parse<TokenizerTrainOptions>(row.options_json),
  hash: row.hash,
  createdAt: row.created_at,
  train: parse<TokenizerTrainStats>(row.train_json),
  diagnostics: parse<TokenizerDiagnostics>(row.diagnostics_json),
})

export interface NewTokenizer {
  projectId: number
  name: string
  origin: 'trained' | 'imported'
  corpusId: number | null
  sourceName: string
  options: TokenizerTrainOptions | null
  tokenizerJson: string
  vocabSize: number
  lowercase: boolean
  hash: string
  train: TokenizerTrainStats | null
  diagnostics: TokenizerDiagnostics | null
}

export const tokenizerStore = {
  get(db: Db, tokenizerId: number): TokenizerInfo | undefined {
    const row = db.prepare(`SELECT ${columns} FROM tokenizers WHERE id = ?`).get(tokenizerId) as TokenizerRow | undefined
    return row && toInfo(row)
  },

  list(db: Db, projectId: number): TokenizerInfo[] {
    const rows = db
      .prepare(`SELECT ${columns} FROM tokenizers WHERE project_id = ? ORDER BY created_at DESC, id DESC`)
      .all(projectId) as TokenizerRow[]
    return rows.map(toInfo)
  },

  tokenizerJson(db: Db, tokenizerId: number): string | undefined {
    return db.prepare('SELECT tokenizer_json FROM tokenizers WHERE id = ?').pluck().get(tokenizerId) as string | undefined
  },

  nameTaken(db: Db, projectId: number, name: string, exceptId = 0): boolean {
    return db.prepare('SELECT 1 FROM tokenizers WHERE project_id = ? AND name = ? AND id <> ?').get(projectId, name, exceptId) !== undefined
  },

  insert(db: Db, tokenizer: NewTokenizer): number {
    const info = db
      .prepare(
        `INSERT INTO tokenizers (project_id, name, origin, corpus_id, source_name, options_json, tokenizer_json,
           vocab_size, lowercase, hash, train_json, diagnostics_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        tokenizer.projectId,
        tokenizer.name,
        tokenizer.origin,
        tokenizer.corpusId,
        tokenizer.sourceName,
        tokenizer.options && JSON.stringify(tokenizer.options),
        tokenizer.tokenizerJson,
        tokenizer.vocabSize,
        tokenizer.lowercase ? 1 : 0,
        tokenizer.hash,
        tokenizer.train && JSON.stringify(tokenizer.train),
        tokenizer.diagnostics && JSON.stringify(tokenizer.diagnostics),
      )
    return Number(info.lastInsertRowid)
  },

  rename(db: Db, tokenizerId: number, name: string): void {
    db.prepare('UPDATE tokenizers SET name = ? WHERE id = ?').run(name, tokenizerId)
  },

  delete(db: Db, tokenizerId: number): void {
    db.prepare('DELETE FROM tokenizers WHERE id = ?').run(tokenizerId)
  },

  /** Up to `limit` documents spread evenly over the corpus (a sample for diagnostics). */
  sampleTexts(db: Db, corpusId: number, documents: number, limit: number): string[] {
    // Ordinals run 1..n without gaps, so evenly spread ones are index lookups, not a scan.
    const stride = Math.max(1, documents / limit)
    const ordinals = Array.from({ length: Math.min(limit, documents) }, (_, i) => 1 + Math.floor(i * stride))
    return db
      .prepare('SELECT text FROM documents WHERE corpus_id = ? AND ordinal IN (SELECT value FROM json_each(?)) ORDER BY ordinal')
      .pluck()
      .all(corpusId, JSON.stringify(ordinals)) as string[]
  },
}
