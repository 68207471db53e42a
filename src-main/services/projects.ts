import type { Project } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'
import type { Db } from '../store/index.ts'

interface ProjectRow {
  id: number
  name: string
  created_at: string
  corpora: number
}

const toProject = (row: ProjectRow): Project => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  corpora: row.corpora,
})

export class ProjectsService {
  constructor(private readonly db: Db) {}

  list(): Project[] {
    const rows = this.db
      .prepare(
        `SELECT p.id, p.name, p.created_at, (SELECT count(*) FROM corpora c WHERE c.project_id = p.id) AS corpora
         FROM projects p ORDER BY p.name COLLATE NOCASE`,
      )
      .all() as ProjectRow[]
    return rows.map(toProject)
  }

  get(projectId: number): Project {
    const row = this.db
      .prepare(
        `SELECT p.id, p.name, p.created_at, (SELECT count(*) FROM corpora c WHERE c.project_id = p.id) AS corpora
         FROM projects p WHERE p.id = ?`,
      )
      .get(projectId) as ProjectRow | undefined
    if (!row) throw new StudioError('NOT_FOUND', `No project with id ${projectId}`)
    return toProject(row)
  }

  create(name: string): Project {
    const existing = this.db.prepare('SELECT id FROM projects WHERE name = ?').get(name) as { id: number } | undefined
    if (existing) throw new StudioError('CONFLICT', `A project named "${name}" already exists`)
    const info = this.db.prepare('INSERT INTO projects (name) VALUES (?)').run(name)
    return this.get(Number(info.lastInsertRowid))
  }

  /** The project with this name, created when missing (the CLI's `--project`). */
  ensure(name: string): Project {
    const existing = this.db.prepare('SELECT id FROM projects WHERE name = ?').get(name) as { id: number } | undefined
    return existing ? this.get(existing.id) : this.create(name)
  }

  delete(projectId: number): void {
    this.get(projectId)
    this.db.transaction(() => {
      // The word index has no foreign keys: drop its rows for this project's documents first.
      this.db
        .prepare(
          `DELETE FROM documents_fts WHERE rowid IN
             (SELECT d.id FROM documents d JOIN corpora c ON c.id = d.corpus_id WHERE c.project_id = ?)`,
        )
        .run(projectId)
      // Cascades to corpora and documents.
      this.db.prepare('DELETE FROM projects WHERE id = ?').run(projectId)
    })()
  }
}
