import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StudioError } from '../../../src-main/core/errors.ts'
import { migrations } from '../../../src-main/store/migrations/index.ts'
import { openDatabase } from '../../../src-main/store/index.ts'
import { tempDir } from '../helpers.ts'

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.cleanup())

describe('store', () => {
  it('opens with WAL, synchronous=FULL, foreign keys and every migration applied', () => {
    const db = openDatabase(join(dir.path, 'nested', 'studio.db'))
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('synchronous', { simple: true })).toBe(2) // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version)
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name)
    expect(tables).toEqual(expect.arrayContaining(['projects', 'corpora', 'documents']))
    db.close()
  })

  it('numbers migrations in order from 1 without gaps', () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, index) => index + 1))
  })

  it('is idempotent across reopen and keeps data', () => {
    const path = join(dir.path, 'studio.db')
    const first = openDatabase(path)
    first.prepare('INSERT INTO projects (name) VALUES (?)').run('kept')
    first.close()
    const second = openDatabase(path)
    expect(second.prepare('SELECT name FROM projects').all()).toEqual([{ name: 'kept' }])
    second.close()
  })

  it('cascades deletes through foreign keys', () => {
    const db = openDatabase(join(dir.path, 'studio.db'))
    const project = db.prepare('INSERT INTO projects (name) VALUES (?)').run('p').lastInsertRowid
    const corpus = db
      .prepare("INSERT INTO corpora (project_id, name, source_name, format, options_json, stats_json) VALUES (?, 'c', 'c.txt', 'txt', '{}', '{}')")
      .run(project).lastInsertRowid
    db.prepare("INSERT INTO documents (corpus_id, ordinal, text, source) VALUES (?, 0, 'hello', 'c.txt:1')").run(corpus)
    db.prepare('DELETE FROM projects WHERE id = ?').run(project)
    expect(db.prepare('SELECT count(*) AS n FROM documents').get()).toEqual({ n: 0 })
    db.close()
  })

  it('refuses a file that is not a database with a message naming it', () => {
    const path = join(dir.path, 'studio.db')
    writeFileSync(path, 'this is not a database, just text that happens to be here '.repeat(200))
    expect(() => openDatabase(path)).toThrowError(StudioError)
    expect(() => openDatabase(path)).toThrow(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*(cannot be read|damaged)`))
  })

  it('reports a damaged database found by quick_check', () => {
    const path = join(dir.path, 'studio.db')
    const db = openDatabase(path)
    db.pragma('journal_mode = DELETE')
    db.exec("CREATE TABLE filler (x TEXT); CREATE INDEX filler_x ON filler(x);")
    const insert = db.prepare('INSERT INTO filler (x) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`row ${i} ${'y'.repeat(50)}`)
    })()
    const indexRoot = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'filler_x'").get() as { rootpage: number }).rootpage
    const pageSize = db.pragma('page_size', { simple: true }) as number
    db.close()
    // Scribble over the index's root page: the table stays readable, the index no longer matches it.
    const fd = openSync(path, 'r+')
    writeSync(fd, Buffer.alloc(pageSize - 200, 0x41), 0, pageSize - 200, (indexRoot - 1) * pageSize + 100)
    closeSync(fd)
    expect(() => openDatabase(path)).toThrow(/damaged|cannot be read/)
  })

  it('refuses a database from a newer build', () => {
    const path = join(dir.path, 'studio.db')
    const raw = new Database(path)
    raw.pragma('user_version = 999')
    raw.close()
    expect(() => openDatabase(path)).toThrow(/schema version 999, newer than this build knows/)
  })
})
