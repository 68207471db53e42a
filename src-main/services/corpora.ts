// SKELETON: the import helper replaces this file.
import type { Corpus, DocumentPage, ImportOptions, ImportPreview, ImportResult } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'
import type { Db } from '../store/index.ts'
import type { Jobs } from './jobs.ts'

export interface ImportSource {
  path: string
  kind: 'file' | 'folder'
  /** Shown in messages and stored as the corpus' source name. */
  displayName: string
}

export class CorporaService {
  constructor(
    private readonly db: Db,
    private readonly jobs: Jobs,
  ) {}

  async preview(_source: ImportSource, _options: ImportOptions, _fileId: string): Promise<ImportPreview> {
    throw new StudioError('UNSUPPORTED', 'not yet')
  }
  async import(_req: { projectId: number; name: string; jobId: string; source: ImportSource; options: ImportOptions }): Promise<ImportResult> {
    throw new StudioError('UNSUPPORTED', 'not yet')
  }
  list(_projectId: number): Corpus[] {
    return []
  }
  get(_corpusId: number): Corpus {
    throw new StudioError('NOT_FOUND', 'not yet')
  }
  documents(_req: { corpusId: number; query: string; offset: number; limit: number }): DocumentPage {
    return { total: 0, offset: 0, documents: [] }
  }
  rename(_corpusId: number, _name: string): Corpus {
    throw new StudioError('UNSUPPORTED', 'not yet')
  }
  delete(_corpusId: number): void {}
}
