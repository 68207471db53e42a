/**
 * Training bundles (issue #9): "Run elsewhere" writes a pre-training run's remaining job for
 * PyTorch distributed training under <home>/bundles; "Import results" turns a bundle's output
 * folder into a run. The heavy work (drawing the instances, reading checkpoints) runs in the worker.
 *
 * Bundles are found by scanning <home>/bundles/*\/bundle.json rather than kept in a table: the folder
 * is the truth (the user may delete or copy it), and the scan is a few small reads.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { RunSummary, TrainingBundle } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'
import { writeFileAtomic } from '../core/tokenizer/files.ts'
import type { Db } from '../store/index.ts'
import * as runStore from '../store/runs.ts'
import {
  bundleCommand,
  folderBytes,
  outputCheckpoints,
  readBundleJson,
  readMetricsJsonl,
  type BundleTaskInput,
  type BundleTaskOutput,
  type ImportResultsTaskInput,
  type ImportResultsTaskOutput,
} from '../worker/bundle-task.ts'
import type { RunsService } from './runs.ts'
import { version } from './version.ts'
import type { TrainingWorker } from './worker.ts'

export interface BundlesServiceOptions {
  databasePath: string
  home: string
  nativeBinding?: string
}

/** Written into a bundle's folder once its results are imported. */
const IMPORTED_FILE = 'imported.json'

export class BundlesService {
  constructor(
    private readonly db: Db,
    private readonly worker: TrainingWorker,
    private readonly runs: RunsService,
    private readonly options: BundlesServiceOptions,
  ) {}

  get root(): string {
    return join(this.options.home, 'bundles')
  }

  private databaseInput() {
    return { databasePath: this.options.databasePath, ...(this.options.nativeBinding ? { nativeBinding: this.options.nativeBinding } : {}) }
  }

  /**
   * Writes run `runId`'s remaining pre-training as a bundle: into `dir` when given (the CLI's
   * --out), else a new folder under <home>/bundles named after the run.
   */
  async bundle(runId: number, dir?: string): Promise<TrainingBundle> {
    const run = this.runs.get(runId)
    if (run.kind !== 'pretrain') throw new StudioError('UNSUPPORTED', `Run ${runId} is a ${run.kind} run: only pre-training runs can be sent elsewhere for now`)
    if (run.status === 'running' || run.status === 'queued') {
      throw new StudioError('CONFLICT', `Run "${run.name}" is ${run.status}: pause it first, so the bundle starts from its last checkpoint`)
    }
    const target = dir !== undefined ? resolve(dir) : join(this.root, freeName(this.root, folderName(run.name)))
    const input: BundleTaskInput = { ...this.databaseInput(), runId, dir: target, cacheDir: join(this.options.home, 'cache'), studioVersion: version }
    const output = await this.worker.run<BundleTaskOutput>('runs.bundle', input)
    return this.describe(output.dir)
  }

  /** The project's bundles under <home>/bundles, newest first. */
  list(projectId: number): TrainingBundle[] {
    if (!existsSync(this.root)) return []
    const found: TrainingBundle[] = []
    for (const name of readdirSync(this.root)) {
      if (name.startsWith('.')) continue
      const dir = join(this.root, name)
      if (!existsSync(join(dir, 'bundle.json'))) continue
      try {
        const bundle = this.describe(dir)
        if (bundle.projectId === projectId) found.push(bundle)
      } catch {
        // A damaged or foreign folder is not a bundle of this project: leave it out of the list.
      }
    }
    return found.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }

  /** What a bundle folder holds: its config, its size and what its output folder has so far. */
  describe(dir: string): TrainingBundle {
    const bundle = readBundleJson(join(dir, 'bundle.json'))
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { train: { instances: number }; validation: { instances: number } }
    const output = join(dir, 'output')
    const checkpoints = outputCheckpoints(output).map((c) => c.step)
    let step = 0
    try {
      for (const row of readMetricsJsonl(join(output, 'metrics.jsonl'))) step = Math.max(step, row.step)
    } catch {
      step = checkpoints[checkpoints.length - 1] ?? 0
    }
    let importedRunId: number | null = null
    const importedPath = join(dir, IMPORTED_FILE)
    if (existsSync(importedPath)) {
      const recorded = (JSON.parse(readFileSync(importedPath, 'utf8')) as { runId?: unknown }).runId
      if (typeof recorded === 'number' && runStore.getRun(this.db, recorded) !== undefined) importedRunId = recorded
    }
    const name = dir.split(/[\\/]/).pop()!
    return {
      name,
      dir,
      projectId: bundle.source.project_id,
      runId: bundle.source.run_id,
      runName: bundle.source.run_name,
      kind: 'pretrain',
      fromStep: bundle.train.from_step,
      totalSteps: bundle.train.total_steps,
      instances: manifest.train.instances,
      validationInstances: manifest.validation.instances,
      bytes: folderBytes(dir, 'output'),
      createdAt: bundle.created_at,
      command: bundleCommand(name),
      results: checkpoints.length > 0 || step > 0 ? { step, checkpoints } : null,
      importedRunId,
    }
  }

  /**
   * An output folder → a new run. `source` is a bundle's name under <home>/bundles (its output/)
   * or a path to an output folder (the CLI, or a folder the analyst picked or uploaded).
   */
  async importResults(projectId: number, source: { bundle: string } | { path: string }, name?: string): Promise<RunSummary> {
    let output: string
    let bundleDir: string | null = null
    if ('bundle' in source) {
      bundleDir = join(this.root, source.bundle)
      if (resolve(bundleDir, '..') !== resolve(this.root) || !existsSync(join(bundleDir, 'bundle.json'))) {
        throw new StudioError('NOT_FOUND', `No bundle named "${source.bundle}" in ${this.root}`)
      }
      output = join(bundleDir, 'output')
    } else {
      output = resolve(source.path)
      // Given the bundle folder itself, take its output/.
      if (existsSync(join(output, 'manifest.json')) && existsSync(join(output, 'output'))) {
        bundleDir = output
        output = join(output, 'output')
      } else if (existsSync(join(output, '..', 'manifest.json'))) {
        bundleDir = resolve(output, '..')
      }
    }
    if (!existsSync(output) || !statSync(output).isDirectory()) {
      throw new StudioError('NOT_FOUND', `${output} does not exist: run the bundle's train.py first (it writes output/), or pick the output folder you copied back`)
    }
    const input: ImportResultsTaskInput = { ...this.databaseInput(), projectId, output, name: name ?? null, studioVersion: version }
    const result = await this.worker.run<ImportResultsTaskOutput>('runs.importResults', input)
    if (bundleDir !== null && existsSync(join(bundleDir, 'bundle.json'))) {
      try {
        writeFileAtomic(join(bundleDir, IMPORTED_FILE), JSON.stringify({ runId: result.runId, importedAt: new Date().toISOString(), steps: result.steps }) + '\n')
      } catch {
        // A read-only bundle folder: the run is imported all the same; the list just will not link it.
      }
    }
    return this.runs.get(result.runId)
  }
}

function folderName(runName: string): string {
  // The names runs.importResults accepts: ASCII letters, digits, space and . _ ( ) -.
  const cleaned = runName.replace(/[^A-Za-z0-9 ._()-]+/g, '-').replace(/^[^A-Za-z0-9]+|[.\s]+$/g, '').slice(0, 100)
  return `${cleaned || 'run'} bundle`
}

function freeName(parent: string, base: string): string {
  let name = base
  for (let n = 2; existsSync(join(parent, name)); n++) name = `${base} ${n}`
  return name
}
