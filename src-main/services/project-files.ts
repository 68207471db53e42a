/**
 * A project as one file: a consistent snapshot of the live database (`VACUUM INTO`, never a copy
 * of a file being written) from which every other project is then removed, and its import back
 * into a studio as a new project, every id moved past the ids already there.
 */
import Database from 'better-sqlite3'
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { ProjectFile } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import { openDatabase, type Db, type OpenOptions } from '../store/index.ts'
import { version } from './version.ts'

export const PROJECT_FILE_FORMAT = 'bert-studio-project'
export const PROJECT_FILE_EXTENSION = '.bertstudio'
/** The table only a project file holds: what it is and where it came from. */
const INFO_TABLE = 'studio_project_file'

/** Writes the project to `path` (which must not exist) atomically: a temporary name beside it, fsync, rename. */
export function exportProject(db: Db, projectId: number, path: string, options: OpenOptions = {}): ProjectFile {
  const started = performance.now()
  const project = db.prepare('SELECT id, name FROM projects WHERE id = ?').get(projectId) as { id: number; name: string } | undefined
  if (!project) throw notFound(`No project with id ${projectId}`)
  if (existsSync(path)) throw new StudioError('CONFLICT', `${path} already exists; choose a new file name (export never overwrites)`)
  const partial = join(dirname(path), `.${basename(path)}.${process.pid}.partial`)
  rmSync(partial, { force: true })
  try {
    // One read transaction: the snapshot holds every table as of one moment, runs training meanwhile included.
    db.prepare('VACUUM INTO ?').run(partial)
    const copy = new Database(partial, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {})
    try {
      copy.pragma('journal_mode = DELETE')
      copy.pragma('foreign_keys = ON')
      copy.transaction(() => {
        // The word index is rebuilt after import (its rowids are document ids, which change).
        copy.exec("INSERT INTO documents_fts(documents_fts) VALUES ('delete-all')")
        copy.prepare('DELETE FROM projects WHERE id != ?').run(projectId)
        copy.exec('UPDATE corpora SET indexed_through = 0, search_ready = 0')
        copy.exec(`CREATE TABLE ${INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`)
        const info = copy.prepare(`INSERT INTO ${INFO_TABLE} (key, value) VALUES (?, ?)`)
        info.run('format', PROJECT_FILE_FORMAT)
        info.run('project', project.name)
        info.run('studio_version', version)
        info.run('exported_at', new Date().toISOString())
      })()
      copy.exec('VACUUM')
    } finally {
      copy.close()
    }
    const fd = openSync(partial, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(partial, path)
  } catch (error) {
    rmSync(partial, { force: true })
    throw error
  }
  return { path, bytes: statSync(path).size, seconds: (performance.now() - started) / 1000 }
}

/**
 * Imports a project file as a new project, in one transaction: every table's rows with their ids
 * (and the ids other rows, and JSON inside them, hold) moved past the live database's. A file of
 * an older schema is migrated first (on a copy; the file itself is never changed).
 */
export function importProject(db: Db, path: string, options: OpenOptions & { name?: string | undefined; home: string }): { projectId: number } {
  if (!existsSync(path)) throw notFound(`${path}: no such file`)
  const work = join(options.home, 'tmp', `import-${process.pid}-${Date.now()}.db`)
  let attached = false
  try {
    // A copy, opened like a studio database: integrity check and migrations to this build's schema.
    mkdirSync(dirname(work), { recursive: true })
    copyFileSync(path, work)
    let source: Db
    try {
      source = openDatabase(work, options)
    } catch (error) {
      throw new StudioError('BAD_INPUT', `${basename(path)} is not a BERT Studio project file: ${(error as Error).message}`)
    }
    let projectName: string
    try {
      const hasInfo = source.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(INFO_TABLE) !== undefined
      const format = hasInfo ? (source.prepare(`SELECT value FROM ${INFO_TABLE} WHERE key = 'format'`).pluck().get() as string | undefined) : undefined
      if (format !== PROJECT_FILE_FORMAT) {
        throw new StudioError('BAD_INPUT', `${basename(path)} is a studio database, not a project file: export a project with "Export project" first`)
      }
      const projects = source.prepare('SELECT name FROM projects').pluck().all() as string[]
      if (projects.length !== 1) throw new StudioError('BAD_INPUT', `${basename(path)} holds ${projects.length} projects, expected 1`)
      projectName = projects[0]!
      source.pragma('journal_mode = DELETE')
    } finally {
      source.close()
    }
    const name = freeProjectName(db, options.name ?? projectName)
    db.prepare('ATTACH DATABASE ? AS source').run(work)
    attached = true
    const projectId = copyRows(db, name)
    return { projectId }
  } finally {
    if (attached) db.exec('DETACH DATABASE source')
    rmSync(work, { force: true })
    rmSync(`${work}-wal`, { force: true })
    rmSync(`${work}-shm`, { force: true })
  }
}

interface TablePlan {
  name: string
  columns: string[]
  /** An INTEGER PRIMARY KEY named id: moved by the table's offset. */
  hasId: boolean
  /** Column → the table whose id it holds. */
  references: Map<string, string>
}

/** JSON keys that hold ids, and the table each names. */
const ID_KEYS: Record<string, string> = {
  projectId: 'projects',
  corpusId: 'corpora',
  tokenizerId: 'tokenizers',
  runId: 'runs',
  fromRunId: 'runs',
  parentRunId: 'runs',
  checkpointId: 'checkpoints',
  datasetId: 'datasets',
  documentId: 'documents',
  classId: 'label_classes',
  classIds: 'label_classes',
  evaluationId: 'evaluations',
}
/** Columns whose JSON (or gzip JSON) holds ids. */
const JSON_COLUMNS: Record<string, Record<string, 'json' | 'gzip'>> = {
  runs: { config_json: 'json' },
  labels: { value_json: 'json' },
  predictions: { value_json: 'json' },
  run_datasets: { examples: 'gzip' },
  evaluations: { predictions: 'gzip' },
}

function copyRows(db: Db, projectName: string): number {
  const tables = planTables(db)
  const offsets = new Map<string, number>()
  for (const table of tables) {
    if (table.hasId) offsets.set(table.name, (db.prepare(`SELECT coalesce(max(id), 0) FROM main."${table.name}"`).pluck().get() as number) ?? 0)
  }
  const move = (table: string, value: number) => value + (offsets.get(table) ?? 0)
  const remap = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(remap)
    if (value === null || typeof value !== 'object') return value
    const out: Record<string, unknown> = {}
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      const table = ID_KEYS[key]
      if (table && typeof inner === 'number') out[key] = move(table, inner)
      else if (table && Array.isArray(inner)) out[key] = inner.map((item) => (typeof item === 'number' ? move(table, item) : remap(item)))
      else out[key] = remap(inner)
    }
    return out
  }
  db.function('studio_remap_json', (text: unknown) => (typeof text === 'string' ? JSON.stringify(remap(JSON.parse(text))) : text))
  db.function('studio_remap_gzip', (blob: unknown) =>
    Buffer.isBuffer(blob) ? gzipSync(Buffer.from(JSON.stringify(remap(JSON.parse(gunzipSync(blob).toString('utf8')))), 'utf8')) : blob,
  )
  return db.transaction(() => {
    db.pragma('defer_foreign_keys = ON')
    for (const table of tables) {
      const expressions = table.columns.map((column) => {
        const quoted = `"${column}"`
        if (table.hasId && column === 'id') return `${quoted} + ${offsets.get(table.name)!}`
        const target = table.references.get(column)
        if (target !== undefined) return `CASE WHEN ${quoted} IS NULL THEN NULL ELSE ${quoted} + ${offsets.get(target) ?? 0} END`
        const kind = JSON_COLUMNS[table.name]?.[column]
        if (kind === 'json') return `studio_remap_json(${quoted})`
        if (kind === 'gzip') return `studio_remap_gzip(${quoted})`
        if (table.name === 'projects' && column === 'name') return '@projectName'
        return quoted
      })
      const list = table.columns.map((column) => `"${column}"`).join(', ')
      const sql = `INSERT INTO main."${table.name}" (${list}) SELECT ${expressions.join(', ')} FROM source."${table.name}"`
      const statement = db.prepare(sql)
      if (table.name === 'projects') statement.run({ projectName })
      else statement.run()
    }
    const projectId = (db.prepare('SELECT max(id) FROM source.projects').pluck().get() as number) + (offsets.get('projects') ?? 0)
    // Nothing imported trains by itself, and nothing claims a worker it does not have.
    db.prepare(
      `UPDATE runs SET status = 'paused', queue_position = NULL, owner_pid = NULL
       WHERE project_id = ? AND status IN ('queued', 'running')`,
    ).run(projectId)
    db.prepare('UPDATE corpora SET indexed_through = 0, search_ready = 0 WHERE project_id = ?').run(projectId)
    const broken = db.pragma('foreign_key_check') as unknown[]
    if (broken.length > 0) throw new StudioError('BAD_INPUT', `The project file's rows do not hold together (${broken.length} broken references)`)
    return projectId
  })()
}

/** The tables both databases hold (the word index and SQLite's own excepted), parents before children. */
function planTables(db: Db): TablePlan[] {
  const names = (schema: string) =>
    new Set(
      db
        .prepare(`SELECT name FROM ${schema}.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'documents_fts%'`)
        .pluck()
        .all() as string[],
    )
  const main = names('main')
  const source = names('source')
  const plans = new Map<string, TablePlan>()
  for (const name of main) {
    if (!source.has(name)) continue
    const mainColumns = db.prepare(`SELECT name, pk, type FROM pragma_table_info(?, 'main')`).all(name) as { name: string; pk: number; type: string }[]
    const sourceColumns = new Set(db.prepare(`SELECT name FROM pragma_table_info(?, 'source')`).pluck().all(name) as string[])
    const columns = mainColumns.map((column) => column.name).filter((column) => sourceColumns.has(column))
    const keys = mainColumns.filter((column) => column.pk > 0)
    const hasId = keys.length === 1 && keys[0]!.name === 'id' && keys[0]!.type.toUpperCase() === 'INTEGER'
    const references = new Map<string, string>()
    for (const fk of db.prepare(`SELECT "from", "table", "to" FROM pragma_foreign_key_list(?, 'main')`).all(name) as { from: string; table: string; to: string | null }[]) {
      if (fk.to === null || fk.to === 'id') references.set(fk.from, fk.table)
    }
    plans.set(name, { name, columns, hasId, references })
  }
  // Parents first, so an id a child references is already there (foreign keys are also deferred).
  const ordered: TablePlan[] = []
  const visiting = new Set<string>()
  const visit = (plan: TablePlan) => {
    if (ordered.includes(plan) || visiting.has(plan.name)) return
    visiting.add(plan.name)
    for (const parent of plan.references.values()) {
      const parentPlan = plans.get(parent)
      if (parentPlan && parentPlan !== plan) visit(parentPlan)
    }
    ordered.push(plan)
  }
  for (const plan of plans.values()) visit(plan)
  return ordered
}

function freeProjectName(db: Db, wanted: string): string {
  const taken = db.prepare('SELECT 1 FROM projects WHERE name = ?')
  if (!taken.get(wanted)) return wanted
  for (let count = 1; ; count++) {
    const name = `${wanted} (imported${count > 1 ? ` ${count}` : ''})`.slice(0, 200)
    if (!taken.get(name)) return name
  }
}
