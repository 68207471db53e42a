/**
 * Metrics storage benchmark (issue #6): writes `runs` × `points` metric points through the store's
 * batched writer (as training does), then reads one run's loss curve the way the Runs view does
 * (runs.curves: every stored point read, min/max-decimated to the chart's width, serialised for the
 * bridge; read_ms is a first read, not one the service's curve cache answers) and lists the runs as
 * the table does.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventBus } from '../src-main/services/events.ts'
import { ExperimentsService } from '../src-main/services/experiments.ts'
import { RunsService } from '../src-main/services/runs.ts'
import type { TrainingWorker } from '../src-main/services/worker.ts'
import { openDatabase } from '../src-main/store/index.ts'
import { createRun, MetricsWriter, readCurve, setRunStatus, type MetricRow } from '../src-main/store/runs.ts'

export interface MetricsBenchOptions {
  runs: number
  points: number
  /** Validation points every this many steps (they count among `points`). */
  validateEvery: number
  maxPoints: number
  dir?: string
  keep?: boolean
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

export async function metricsBench(options: MetricsBenchOptions): Promise<object> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'bert-studio-metrics-'))
  const path = join(dir, 'studio.db')
  rmSync(path, { force: true })
  try {
    let db = openDatabase(path)
    const projectId = db.prepare("INSERT INTO projects (name) VALUES ('bench')").run().lastInsertRowid as number
    const runIds: number[] = []
    const started = performance.now()
    for (let run = 0; run < options.runs; run++) {
      const id = createRun(db, { projectId, kind: 'pretrain', name: `run ${run + 1}`, config: { request: { learningRate: 1e-4 * (run + 1) } }, modelConfig: {} }).id
      runIds.push(id)
      setRunStatus(db, id, 'running')
      const writer = new MetricsWriter(db, id)
      let written = 0
      let wallTime = 1.7e9
      for (let step = 1; written < options.points; step++) {
        wallTime += 0.05
        // Curves of different speed and floor per run, with step-to-step noise: what a sweep looks like.
        let hash = Math.imul(step ^ Math.imul(run + 1, 0x9e3779b1), 0x85ebca6b)
        hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
        const noise = ((hash ^ (hash >>> 16)) >>> 0) / 4294967296
        const loss = 1.2 + 0.04 * run + 8 * Math.exp(-step / (6_000 + 1_500 * run)) + 0.25 * (noise - 0.5)
        const rows: MetricRow[] = [{ step, split: 'train', name: 'loss', value: loss, wallTime }]
        if (step % options.validateEvery === 0 && written + 1 < options.points) rows.push({ step, split: 'validation', name: 'loss', value: loss - 0.1, wallTime })
        writer.add(rows)
        written += rows.length
      }
      writer.flush()
      setRunStatus(db, id, 'done')
    }
    const writeSeconds = (performance.now() - started) / 1000
    db.close()

    // Reopened: the first read comes from the file, not from this connection's cache.
    db = openDatabase(path)
    const worker = { run: () => Promise.reject(new Error('no worker in the benchmark')), close: async () => {} } as unknown as TrainingWorker
    const runs = new RunsService(db, new EventBus(), worker, { databasePath: path, home: dir, serveQueue: false })
    const service = () => new ExperimentsService(db, runs, { databasePath: path, checkpoints: () => [] })
    const experiments = service()
    const target = runIds[Math.floor(runIds.length / 2)]!
    /** A read as the chart's first request makes it: from the database, not the service's cache. */
    const readOnce = (reader = service()) => {
      const begin = performance.now()
      const curves = reader.curves({ runIds: [target], name: 'loss', maxPoints: options.maxPoints })
      const bytes = JSON.stringify(curves).length
      return { ms: performance.now() - begin, curves, bytes }
    }
    const cold = readOnce()
    const warm = Array.from({ length: 5 }, () => readOnce())
    readOnce(experiments)
    const cached = readOnce(experiments)
    const stored = cold.curves.reduce((sum, curve) => sum + curve.stored, 0)
    const drawn = cold.curves.reduce((sum, curve) => sum + curve.steps.length, 0)
    const allBegin = performance.now()
    const all = readCurve(db, target, 'loss')
    const readAllMs = performance.now() - allBegin
    const listBegin = performance.now()
    const listed = experiments.list(projectId).length
    const listMs = performance.now() - listBegin
    const overlayBegin = performance.now()
    experiments.curves({ runIds, name: 'loss', maxPoints: options.maxPoints })
    const overlayMs = performance.now() - overlayBegin
    const fileBytes = statSync(path).size + (() => { try { return statSync(`${path}-wal`).size } catch { return 0 } })()
    db.close()
    return {
      runs: options.runs,
      points_per_run: options.points,
      write_s: Number(writeSeconds.toFixed(2)),
      points_per_second: Math.round((options.runs * options.points) / writeSeconds),
      read_ms: Number(median(warm.map((read) => read.ms)).toFixed(1)),
      read_cold_ms: Number(cold.ms.toFixed(1)),
      read_cached_ms: Number(cached.ms.toFixed(2)),
      read_points: stored,
      drawn_points: drawn,
      response_bytes: cold.bytes,
      read_all_points_ms: Number(readAllMs.toFixed(1)),
      read_all_points: all.train.steps.length + all.validation.steps.length,
      overlay_all_runs_ms: Number(overlayMs.toFixed(1)),
      list_runs_ms: Number(listMs.toFixed(1)),
      listed_runs: listed,
      database_mb: Number((fileBytes / 1e6).toFixed(1)),
    }
  } finally {
    if (!options.keep && !options.dir) rmSync(dir, { recursive: true, force: true })
  }
}
