import { existsSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { WINDOWS_RESERVED_NAME, type CheckpointChoice, type ExportFormat, type ModelCheckpoint, type ModelExport, type ModelImport } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import type { Db } from '../store/index.ts'
import { bestCheckpoint } from '../store/finetune.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type { ExportTaskInput, ExportTaskOutput, ImportTaskInput, ImportTaskOutput } from '../worker/export-task.ts'
import type { RunsService } from './runs.ts'
import type { TokenizersService } from './tokenizers.ts'
import { version } from './version.ts'
import type { TrainingWorker } from './worker.ts'

export interface ModelsServiceOptions {
  databasePath: string
  home: string
  nativeBinding?: string
}

export interface ExportRequest {
  runId: number
  checkpoint: CheckpointChoice
  format: ExportFormat
  /** The folder to create; it must not exist (export never overwrites). */
  dir: string
}

/**
 * Export and import of models: the use-cases over the run store and the worker, which does the
 * tfjs work (writing the files, the parity check, initialising missing heads).
 */
export class ModelsService {
  constructor(
    private readonly db: Db,
    private readonly worker: TrainingWorker,
    private readonly runs: RunsService,
    private readonly tokenizers: TokenizersService,
    private readonly options: ModelsServiceOptions,
  ) {}

  /** Where web mode (no folder dialog) writes exports. */
  get exportsDir(): string {
    return join(this.options.home, 'exports')
  }

  /** A run's checkpoints, oldest first, with the ones `best` and `last` pick marked. */
  checkpoints(runId: number): ModelCheckpoint[] {
    const run = this.runs.get(runId)
    const list = runStore.listCheckpoints(this.db, runId)
    const best = bestCheckpoint(run.kind, list)
    const last = list.at(-1)
    return list.map((checkpoint) => ({
      step: checkpoint.step,
      kind: checkpoint.kind,
      validationLoss: checkpoint.validationLoss,
      bytes: checkpoint.bytes,
      createdAt: checkpoint.createdAt,
      best: checkpoint.id === best?.id,
      last: checkpoint.id === last?.id,
    }))
  }

  /** Writes the run's checkpoint as a new folder at `dir`, reads it back and checks it against the in-app model. */
  async export(request: ExportRequest): Promise<ModelExport> {
    const started = performance.now()
    const run = this.runs.get(request.runId)
    const { checkpoint, chosenAs } = this.resolveCheckpoint(run.id, request.checkpoint)
    const dir = resolve(request.dir)
    if (existsSync(dir)) throw new StudioError('CONFLICT', `${dir} already exists; choose a new folder (export never overwrites)`)
    const input: ExportTaskInput = {
      ...this.databaseInput(),
      runId: run.id,
      checkpointId: checkpoint.id,
      format: request.format,
      dir,
      cacheDir: join(this.options.home, 'cache'),
    }
    const output = await this.worker.run<ExportTaskOutput>('models.export', input)
    // The run's lineage lists where its models went.
    runStore.recordExport(this.db, { runId: run.id, checkpointStep: checkpoint.step, format: request.format, folder: output.dir })
    return {
      runId: run.id,
      runName: run.name,
      format: request.format,
      architecture: output.architecture,
      checkpoint: { step: checkpoint.step, kind: checkpoint.kind, validationLoss: checkpoint.validationLoss, chosenAs },
      folder: output.dir,
      files: output.files,
      parity: output.parity,
      seconds: (performance.now() - started) / 1000,
    }
  }

  /**
   * Exports into a new subfolder of `parent`: `name` when given (refused if it exists), else one
   * named after the run (with -2, -3, … when taken).
   */
  exportInto(request: Omit<ExportRequest, 'dir'> & { parent: string; name?: string | undefined }): Promise<ModelExport> {
    const run = this.runs.get(request.runId)
    const parent = resolve(request.parent)
    const dir = request.name !== undefined ? join(parent, request.name) : join(parent, freeName(parent, folderName(run.name, request.format)))
    return this.export({ runId: request.runId, checkpoint: request.checkpoint, format: request.format, dir })
  }

  /**
   * A Hugging Face BERT folder → a finished pre-training run (named `name`, else after the folder)
   * and its tokenizer, both listed in the project at once.
   */
  async import(request: { projectId: number; path: string; displayName?: string; name?: string | undefined }): Promise<ModelImport> {
    const folder = resolve(request.path)
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw notFound(`${folder} is not a folder: pick the folder that holds config.json and model.safetensors`)
    const sourceName = request.displayName ?? basename(folder)
    const runNames = new Set(runStore.listRuns(this.db, request.projectId).map((run) => run.name))
    let runName: string
    if (request.name !== undefined) {
      if (runNames.has(request.name)) throw new StudioError('CONFLICT', `A run named "${request.name}" already exists in this project`)
      runName = request.name
    } else {
      runName = unique(sourceName, (candidate) => runNames.has(candidate))
    }
    const tokenizerName = unique(runName, (candidate) => tokenizerStore.nameTaken(this.db, request.projectId, candidate))
    const input: ImportTaskInput = { ...this.databaseInput(), projectId: request.projectId, folder, runName, tokenizerName, sourceName, studioVersion: version }
    const output = await this.worker.run<ImportTaskOutput>('models.import', input)
    return {
      run: this.runs.get(output.runId),
      tokenizer: this.tokenizers.get(output.tokenizerId),
      architecture: output.architecture,
      initializedHeads: output.initializedHeads,
      ignoredWeights: output.ignoredWeights,
    }
  }

  private resolveCheckpoint(runId: number, choice: CheckpointChoice): { checkpoint: runStore.CheckpointInfo; chosenAs: ModelExport['checkpoint']['chosenAs'] } {
    const list = runStore.listCheckpoints(this.db, runId)
    if (list.length === 0) throw new StudioError('CONFLICT', `Run ${runId} has no checkpoint yet: export after its first one`)
    if (choice === 'best') return { checkpoint: bestCheckpoint(this.runs.get(runId).kind, list)!, chosenAs: 'best' }
    if (choice === 'last') return { checkpoint: list.at(-1)!, chosenAs: 'last' }
    // The latest one of that step (a best and an interval checkpoint can share a step).
    const atStep = list.filter((checkpoint) => checkpoint.step === choice).at(-1)
    if (!atStep) throw notFound(`Run ${runId} has no checkpoint of step ${choice}; it has steps ${[...new Set(list.map((c) => c.step))].join(', ')}`)
    return { checkpoint: atStep, chosenAs: 'step' }
  }

  private databaseInput() {
    return {
      databasePath: this.options.databasePath,
      ...(this.options.nativeBinding ? { nativeBinding: this.options.nativeBinding } : {}),
    }
  }
}

/** A run's name as one folder name every platform accepts. */
export function folderName(runName: string, format: ExportFormat): string {
  const cleaned = runName
    .normalize('NFC')
    .replace(/[\\/:*?"<>|\u0000-\u001f]+/g, '-')
    .replace(/^[\s.-]+|[\s.]+$/g, '')
    .slice(0, 100)
  const base = cleaned || 'model'
  // `CON-tfjs` is as reserved as `CON` (Windows ignores what follows a dot, not a dash), so test the result.
  const name = `${base}${format === 'tfjs' ? '-tfjs' : ''}`
  return WINDOWS_RESERVED_NAME.test(name) ? `${name}-model` : name
}

function freeName(parent: string, base: string): string {
  return unique(base, (candidate) => existsSync(join(parent, candidate)))
}

function unique(base: string, taken: (candidate: string) => boolean): string {
  let candidate = base
  for (let i = 2; taken(candidate); i++) candidate = `${base}-${i}`
  return candidate
}
