import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { StudioError } from '../core/errors.ts'
import { migrations } from './migrations/index.ts'

export type Db = Database.Database

export interface OpenOptions {
  /** Electron's main process loads an Electron-ABI build of the native module from here. */
  nativeBinding?: string
}

/**
 * Opens (creating if needed) the studio database: WAL, synchronous=FULL, foreign keys, a quick
 * integrity check, then the migrations this build knows and the file lacks.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  mkdirSync(dirname(path), { recursive: true })
  let db: Db
  try {
    db = new Database(path, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {})
  } catch (error) {
    throw new StudioError('DATABASE', `Cannot open the studio database ${path}: ${(error as Error).message}`)
  }
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    const check = db.pragma('quick_check', { simple: false }) as { quick_check: string }[]
    const problems = check.map((row) => row.quick_check).filter((line) => line !== 'ok')
    if (problems.length > 0) {
      throw new StudioError(
        'DATABASE',
        `The studio database ${path} is damaged (quick_check: ${problems.slice(0, 3).join('; ')}). ` +
          'Restore it from a backup, or move it aside to start an empty studio.',
      )
    }
    migrate(db, path)
    return db
  } catch (error) {
    db.close()
    if (error instanceof StudioError) throw error
    // SQLITE_NOTADB and friends arrive here: a file that is not a database at all.
    throw new StudioError(
      'DATABASE',
      `The studio database ${path} cannot be read (${(error as Error).message}). ` +
        'Restore it from a backup, or move it aside to start an empty studio.',
    )
  }
}

/** A further connection to an open studio database, with the same settings (no migrations). */
export function openConnection(path: string, options: OpenOptions = {}): Db {
  const db = new Database(path, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {})
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  return db
}

function migrate(db: Db, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number
  const latest = migrations.at(-1)?.version ?? 0
  if (current > latest) {
    throw new StudioError(
      'DATABASE',
      `The studio database ${path} is at schema version ${current}, newer than this build knows (${latest}). ` +
        'Update BERT Studio to open it.',
    )
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue
    db.transaction(() => {
      db.exec(migration.sql)
      db.pragma(`user_version = ${migration.version}`)
    })()
  }
}
