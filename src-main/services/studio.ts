import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { AppInfo } from '../contract/index.ts'
import { openConnection, openDatabase, type Db, type OpenOptions } from '../store/index.ts'
import { CorporaService, type ImportSource } from './corpora.ts'
import { EventBus } from './events.ts'
import { ExperimentsService } from './experiments.ts'
import { FileRegistry } from './files.ts'
import { FinetuneService } from './finetune.ts'
import { Jobs } from './jobs.ts'
import { LabelsService } from './labels.ts'
import { ModelsService } from './models.ts'
import { BundlesService } from './bundles.ts'
import { ProjectsService } from './projects.ts'
import { SearchIndexer } from './search-index.ts'
import { RunsService } from './runs.ts'
import { TokenizersService } from './tokenizers.ts'
import { TrainingWorker } from './worker.ts'
import { version } from './version.ts'

export interface StudioOptions extends OpenOptions {
  home: string
  /** A native file dialog (Electron); absent elsewhere. Resolves to a path or null if dismissed. */
  pickFile?: (kind: 'file' | 'folder') => Promise<string | null>
  /** The built worker entry (out/main/worker.js); entries pass the one beside them. */
  workerPath?: string
  /** Serve every queued run (default) or only those this process queues (the CLI). */
  serveQueue?: boolean
}

/** The composition root shared by Electron, web mode, the CLI and the tests. */
export class Studio {
  readonly db: Db
  readonly bus = new EventBus()
  readonly jobs = new Jobs(this.bus)
  readonly files = new FileRegistry()
  readonly projects: ProjectsService
  readonly corpora: CorporaService
  readonly searchIndex: SearchIndexer
  readonly worker: TrainingWorker
  readonly tokenizers: TokenizersService
  readonly runs: RunsService
  readonly models: ModelsService
  readonly bundles: BundlesService
  readonly experiments: ExperimentsService
  readonly labels: LabelsService
  readonly finetune: FinetuneService
  readonly pickFile: StudioOptions['pickFile']
  readonly home: string
  readonly databasePath: string
  readonly uploadsDir: string
  /** How this studio opens database connections (the native build under Electron). */
  readonly openOptions: OpenOptions

  constructor(options: StudioOptions) {
    this.home = options.home
    this.databasePath = join(options.home, 'studio.db')
    this.uploadsDir = join(options.home, 'uploads')
    this.openOptions = options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}
    // Uploads are only kept for the session that made them.
    rmSync(this.uploadsDir, { recursive: true, force: true })
    this.db = openDatabase(this.databasePath, options)
    this.projects = new ProjectsService(this.db)
    // Imports write on a connection of their own (one long transaction); it must load the same
    // native build as this one (Electron's, under Electron).
    this.corpora = new CorporaService(this.db, this.jobs, (path) => openConnection(path, options))
    this.searchIndex = new SearchIndexer(this.db, this.jobs, () => this.corpora.isImporting)
    this.corpora.afterImport = (corpusId) => this.searchIndex.schedule(corpusId)
    this.searchIndex.resumeUnfinished()
    this.labels = new LabelsService(this.db, this.jobs, this.corpora)
    this.worker = new TrainingWorker(options.workerPath ?? missingWorker())
    this.tokenizers = new TokenizersService(this.db, this.jobs, this.worker, {
      databasePath: this.databasePath,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    })
    this.runs = new RunsService(this.db, this.bus, this.worker, {
      databasePath: this.databasePath,
      home: this.home,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
      ...(options.serveQueue === false ? { serveQueue: false } : {}),
    })
    this.runs.recoverAfterCrash()
    this.models = new ModelsService(this.db, this.worker, this.runs, this.tokenizers, {
      databasePath: this.databasePath,
      home: this.home,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    })
    this.bundles = new BundlesService(this.db, this.worker, this.runs, {
      databasePath: this.databasePath,
      home: this.home,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    })
    this.finetune = new FinetuneService(this.db, this.jobs, this.worker, this.runs, this.labels, {
      databasePath: this.databasePath,
      ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
    })
    this.experiments = new ExperimentsService(this.db, this.runs, {
      databasePath: this.databasePath,
      checkpoints: (runId) => this.models.checkpoints(runId),
      busy: () => (this.corpora.isImporting ? 'A corpus is being imported' : null),
    })
    this.pickFile = options.pickFile
  }

  info(mode: AppInfo['mode']): AppInfo {
    return {
      version,
      home: this.home,
      databasePath: this.databasePath,
      mode,
      platform: process.platform,
      nativeFileDialog: this.pickFile !== undefined,
    }
  }

  importSource(fileId: string): ImportSource {
    const file = this.files.get(fileId)
    return { path: file.path, kind: file.kind, displayName: file.name }
  }

  close(): void {
    this.runs.close()
    void this.worker.close()
    this.searchIndex.close()
    this.db.close()
  }
}

/** A path that fails clearly if a studio made without a worker entry is asked to train. */
function missingWorker(): string {
  return '(no worker entry: pass workerPath to the Studio)'
}
