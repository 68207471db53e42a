import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DecimationState } from '../../../src-main/core/train/curves.ts'
import { openDatabase, type Db } from '../../../src-main/store/index.ts'
import {
  appendMetrics,
  createRun,
  deleteRun,
  getRun,
  lastMetricPoint,
  bestMetricPoint,
  listCheckpoints,
  metricNames,
  metricsAtStep,
  MetricsWriter,
  pruneRunCheckpoints,
  readCurve,
  saveCheckpoint,
  updateRunMeta,
  type MetricRow,
} from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'
import { checkpointAt } from './fixtures.ts'

let dir: ReturnType<typeof tempDir>
let db: Db
let projectId: number
beforeEach(() => {
  dir = tempDir()
  db = openDatabase(join(dir.path, 'studio.db'))
  projectId = db.prepare("INSERT INTO projects (name) VALUES ('p')").run().lastInsertRowid as number
})
afterEach(() => {
  db.close()
  dir.cleanup()
})

const newRun = (name = 'run') => createRun(db, { projectId, kind: 'pretrain', name, config: {}, modelConfig: {} }).id
const count = (sql: string, ...args: unknown[]) => db.prepare(sql).pluck().get(...args) as number
const train = (step: number, value: number, name = 'loss'): MetricRow => ({ step, split: 'train', name, value, wallTime: 1_000 + step })
const validation = (step: number, value: number): MetricRow => ({ step, split: 'validation', name: 'loss', value, wallTime: 1_000 + step })

describe('experiment store', () => {
  it('deletes a run with its checkpoints, chunks and metrics in one transaction', () => {
    const keep = newRun('keep')
    const doomed = newRun('doomed')
    for (const run of [keep, doomed]) {
      for (const step of [2, 4, 6]) saveCheckpoint(db, run, step, [train(step, 1 / step)], checkpointAt(step, 1 / step), { keepLast: 5 })
    }
    const chunksOf = (run: number) => count('SELECT count(*) FROM checkpoint_chunks WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE run_id = ?)', run)
    expect(chunksOf(doomed)).toBeGreaterThan(0)

    // A failure at the last statement (the run row) leaves every checkpoint and chunk in place.
    db.exec("CREATE TRIGGER refuse BEFORE DELETE ON runs BEGIN SELECT RAISE(ABORT, 'refused'); END")
    expect(() => deleteRun(db, doomed)).toThrow('refused')
    expect(listCheckpoints(db, doomed)).toHaveLength(3)
    expect(chunksOf(doomed)).toBeGreaterThan(0)
    expect(count('SELECT count(*) FROM metrics WHERE run_id = ?', doomed)).toBe(3)
    db.exec('DROP TRIGGER refuse')

    const removed = deleteRun(db, doomed)
    expect(removed.checkpoints).toBe(3)
    expect(removed.bytes).toBeGreaterThan(0)
    expect(getRun(db, doomed)).toBeUndefined()
    expect(count('SELECT count(*) FROM checkpoints WHERE run_id = ?', doomed)).toBe(0)
    expect(chunksOf(doomed)).toBe(0)
    expect(count('SELECT count(*) FROM metrics WHERE run_id = ?', doomed)).toBe(0)
    expect(count('SELECT count(*) FROM checkpoint_chunks')).toBe(chunksOf(keep))
    expect(listCheckpoints(db, keep)).toHaveLength(3)
  })

  it('prunes to the best and the last checkpoints', () => {
    const run = newRun()
    const losses: Record<number, number> = { 2: 0.9, 4: 0.3, 6: 0.5, 8: 0.6 }
    for (const [step, loss] of Object.entries(losses)) saveCheckpoint(db, run, Number(step), [], checkpointAt(Number(step), loss), { keepLast: 10 })
    const result = pruneRunCheckpoints(db, run, 'pretrain')
    expect(result.removed).toBe(2)
    expect(result.bytes).toBeGreaterThan(0)
    expect(listCheckpoints(db, run).map((checkpoint) => checkpoint.step)).toEqual([4, 8])
    expect(pruneRunCheckpoints(db, run, 'pretrain')).toEqual({ removed: 0, bytes: 0 })
  })

  it('finds names, last and best points and values at a step without reading every point', () => {
    const run = newRun()
    const rows: MetricRow[] = []
    for (let step = 1; step <= 2_000; step++) rows.push(train(step, 5 - step / 1_000), train(step, step / 10, 'grad_norm'))
    for (let step = 500; step <= 2_000; step += 500) rows.push(validation(step, step === 1_500 ? 1 : 2))
    appendMetrics(db, run, rows)
    expect(metricNames(db, run)).toEqual([
      { split: 'train', name: 'grad_norm' },
      { split: 'train', name: 'loss' },
      { split: 'validation', name: 'loss' },
    ])
    expect(lastMetricPoint(db, run, 'loss', 'train')).toEqual({ step: 2_000, value: 3 })
    expect(lastMetricPoint(db, run, 'loss', 'validation')).toEqual({ step: 2_000, value: 2 })
    expect(bestMetricPoint(db, run, 'loss', 'validation', true)).toEqual({ step: 1_500, value: 1 })
    const at = metricsAtStep(db, run, 1_234)
    expect(at).toContainEqual({ split: 'validation', name: 'loss', step: 1_000, value: 2 })
    expect(at).toContainEqual({ split: 'train', name: 'loss', step: 1_234, value: 5 - 1.234 })
    // The validation query is answered from the partial index.
    const plan = db.prepare("EXPLAIN QUERY PLAN SELECT step, value FROM metrics WHERE run_id = ? AND name = ? AND split = 'validation' AND value IS NOT NULL ORDER BY value ASC, step DESC LIMIT 1").all(run, 'loss') as { detail: string }[]
    expect(plan.map((row) => row.detail).join(' ')).toContain('metrics_validation')
    const curve = readCurve(db, run, 'loss', 100, 199)
    expect(curve.train.steps).toHaveLength(100)
    expect(curve.train.steps[0]).toBe(100)
    expect(curve.validation.steps).toEqual([])
  })

  it('batches metric writes: one transaction per batch, everything stored after the last flush', () => {
    const run = newRun()
    let now = 0
    const writer = new MetricsWriter(db, run, { maxRows: 100, maxDelayMs: 1_000, now: () => now })
    for (let step = 1; step <= 250; step++) writer.add([train(step, 1)])
    expect(count('SELECT count(*) FROM metrics WHERE run_id = ?', run)).toBe(200)
    expect(writer.size).toBe(50)
    now = 1_500
    writer.add([train(251, 1)])
    expect(writer.size).toBe(0)
    expect(count('SELECT count(*) FROM metrics WHERE run_id = ?', run)).toBe(251)
  })

  it('tags, annotates, archives and renames; a name taken in the project is refused', () => {
    const run = newRun('first')
    newRun('second')
    updateRunMeta(db, run, { tags: [' baseline ', 'lr', 'baseline', ''], notes: 'the reference run', archived: true })
    expect(getRun(db, run)).toMatchObject({ tags: ['baseline', 'lr'], notes: 'the reference run', archived: true })
    updateRunMeta(db, run, { archived: false })
    expect(getRun(db, run)).toMatchObject({ tags: ['baseline', 'lr'], archived: false })
    expect(() => updateRunMeta(db, run, { name: 'second' })).toThrow(/already exists/)
  })
})

describe('decimation for display', () => {
  /** Feeds the points in a shuffled order (the aggregate must not rely on row order) and answers what it keeps. */
  const decimate = (steps: number[], values: (number | null)[], buckets: number) => {
    const state = new DecimationState(steps[0]!, steps.at(-1)! - steps[0]!, buckets)
    const order = steps.map((_, index) => index).sort((a, b) => ((a * 7919) % 1009) - ((b * 7919) % 1009))
    for (const index of order) state.add(index % 5 === 0 ? 'validation' : 'train', steps[index]!, values[index]!, 1_000 + steps[index]!)
    return state.result()
  }
  const series = (length: number) => {
    const steps = Array.from({ length }, (_, i) => i + 1)
    // Noise with one deep dip, one spike and one non-finite step the chart must still show.
    const values: (number | null)[] = steps.map((step) => Math.sin(step / 50) + ((step * 7919) % 13) / 100)
    values[12_346] = -50
    values[54_321] = 80
    values[70_001] = null
    return { steps, values }
  }

  it('keeps the first and last points, each bucket’s minimum and maximum, and gaps', () => {
    const { steps, values } = series(100_000)
    const buckets = 500
    const { train } = decimate(steps, values, buckets)
    expect(train!.count).toBe(80_000)
    expect(train!.steps.length).toBeLessThanOrEqual(3 * buckets + 2)
    expect(train!.steps.length).toBeGreaterThan(buckets)
    const trainSteps = steps.filter((_, index) => index % 5 !== 0)
    expect(train!.steps[0]).toBe(trainSteps[0])
    expect(train!.steps.at(-1)).toBe(trainSteps.at(-1))
    expect([...train!.steps].sort((a, b) => a - b)).toEqual(train!.steps)
    const kept = new Set(train!.steps)
    expect(kept.has(12_347)).toBe(true)
    expect(kept.has(54_322)).toBe(true)
    expect(train!.values[train!.steps.indexOf(70_002)]).toBeNull()
    expect(train!.wallTimes[train!.steps.indexOf(54_322)]).toBe(1_000 + 54_322)
    // Every bucket's extremes survive.
    const width = (steps.at(-1)! - steps[0]!) / buckets
    for (let bucket = 0; bucket < buckets; bucket += 37) {
      const inBucket = steps
        .map((_, index) => index)
        .filter((index) => index % 5 !== 0 && values[index] !== null && Math.min(buckets - 1, Math.floor((steps[index]! - 1) / width)) === bucket)
      const low = inBucket.reduce((best, index) => (values[index]! < values[best]! ? index : best))
      const high = inBucket.reduce((best, index) => (values[index]! > values[best]! ? index : best))
      expect(kept.has(steps[low]!)).toBe(true)
      expect(kept.has(steps[high]!)).toBe(true)
    }
  })

  it('returns every point of a short series, in step order', () => {
    const { validation, train } = decimate([1, 2, 3, 4, 5, 6], [3, 1, 2, 9, 4, 5], 10)
    expect(train!.steps).toEqual([2, 3, 4, 5])
    expect(train!.values).toEqual([1, 2, 9, 4])
    expect(validation!.steps).toEqual([1, 6])
  })
})
