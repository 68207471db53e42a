import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  serializeCheckpoint,
  type Checkpoint,
  type SerializedCheckpoint,
} from '../../../src-main/core/train/checkpoint-format.ts'
import { defaultTrainConfig } from '../../../src-main/core/train/config.ts'
import { openDatabase, type Db } from '../../../src-main/store/index.ts'
import {
  appendMetrics,
  bestValidationLoss,
  createRun,
  discardMetricsAfter,
  getRun,
  listCheckpoints,
  listRuns,
  loadCheckpoint,
  loadLatestCheckpoint,
  markCrashedRuns,
  metricNames,
  metricSeries,
  saveCheckpoint,
  setRunStatus,
  type MetricRow,
} from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'

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

const newRun = (name = 'run') => createRun(db, { projectId, kind: 'pretrain', name, config: defaultTrainConfig(), modelConfig: { hidden_size: 8 } })

/** A small checkpoint of `step` with one tensor of `size` floats whose bytes encode the step. */
function checkpointAt(step: number, validationLoss: number | null = null, size = 300): Checkpoint {
  const data = new Uint8Array(size * 4).map((_, i) => (i * 31 + step) & 0xff)
  return {
    manifest: {
      format: CHECKPOINT_FORMAT,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      step,
      optimizerStep: step,
      scheduleStep: step,
      epoch: Math.floor(step / 10),
      dataPosition: { epoch: 0, documentCursor: step, instanceInDocument: 0 },
      rng: { seed: 42, dropout: 'murmur3(seed, step, micro-batch)' },
      datasetHash: null,
      tokenizerHash: null,
      trainConfig: defaultTrainConfig(),
      modelConfig: { hidden_size: 8 },
      versions: { studio: 'test', tfjs: 'test', backend: 'cpu' },
      validationLoss,
      byteOrder: 'little',
      totalBytes: 0,
      tensors: [],
    },
    tensors: [{ name: 'w', dtype: 'float32', shape: [size], data }],
  }
}

const rows = (from: number, to: number): MetricRow[] =>
  Array.from({ length: to - from }, (_, i) => ({ step: from + i + 1, split: 'train' as const, name: 'loss', value: 10 - (from + i) / 10, wallTime: 1000 + i }))

const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n

describe('run store', () => {
  it('creates, lists and moves runs through their statuses with timestamps', () => {
    const run = newRun()
    expect(run).toMatchObject({ projectId, kind: 'pretrain', status: 'queued', step: 0, epoch: 0, startedAt: null, checkpointStep: null })
    expect(run.config).toEqual(defaultTrainConfig())
    setRunStatus(db, run.id, 'running', { backend: 'wasm' })
    const running = getRun(db, run.id)!
    expect(running.startedAt).not.toBeNull()
    expect(running.backend).toBe('wasm')
    setRunStatus(db, run.id, 'diverged', { error: 'loss is NaN at step 3' })
    expect(getRun(db, run.id)).toMatchObject({ status: 'diverged', error: 'loss is NaN at step 3', finishedAt: expect.any(String) })
    expect(() => setRunStatus(db, 999, 'done')).toThrow('No run with id 999')
    newRun('second')
    expect(listRuns(db, projectId).map((r) => r.name)).toEqual(['second', 'run'])
    expect(listRuns(db, projectId, 'finetune')).toEqual([])
    expect(() => db.prepare("UPDATE runs SET status = 'bogus'").run()).toThrow(/CHECK constraint/)
  })

  it('appends metrics in batches, replaces re-run steps, and stores NaN as null', () => {
    const run = newRun()
    appendMetrics(db, run.id, [...rows(0, 5), { step: 5, split: 'validation', name: 'loss', value: 3, wallTime: 1 }])
    appendMetrics(db, run.id, [{ step: 5, split: 'train', name: 'loss', value: Number.NaN, wallTime: 2 }])
    expect(metricSeries(db, run.id, 'loss').map((p) => p.value)).toEqual([10, 9.9, 9.8, 9.7, null])
    expect(metricSeries(db, run.id, 'loss', 'validation')).toEqual([{ step: 5, value: 3, wallTime: 1 }])
    expect(metricNames(db, run.id)).toEqual([{ split: 'train', name: 'loss' }, { split: 'validation', name: 'loss' }])
    discardMetricsAfter(db, run.id, 3)
    expect(metricSeries(db, run.id, 'loss').map((p) => p.step)).toEqual([1, 2, 3])
  })

  it('saves a checkpoint with its metrics and run state, and loads it back byte for byte', () => {
    const run = newRun()
    const checkpoint = checkpointAt(20, 2.5)
    const info = saveCheckpoint(db, run.id, 20, rows(0, 20), serializeCheckpoint(checkpoint, 500), { status: 'running' })
    expect(info).toMatchObject({ runId: run.id, step: 20, kind: 'interval', validationLoss: 2.5, bytes: 1200 })
    expect(count('checkpoint_chunks')).toBe(3)
    expect(getRun(db, run.id)).toMatchObject({ step: 20, epoch: 2, status: 'running', checkpointStep: 20 })
    expect(metricSeries(db, run.id, 'loss')).toHaveLength(20)
    const loaded = loadLatestCheckpoint(db, run.id)!
    expect(loaded.info).toEqual(info)
    expect(loaded.checkpoint.manifest.dataPosition).toEqual({ epoch: 0, documentCursor: 20, instanceInDocument: 0 })
    expect(Buffer.from(loaded.checkpoint.tensors[0]!.data).equals(Buffer.from(checkpoint.tensors[0]!.data))).toBe(true)
    expect(loadCheckpoint(db, info.id).info.id).toBe(info.id)
    expect(() => loadCheckpoint(db, 12345)).toThrow('No checkpoint with id 12345')
    expect(loadLatestCheckpoint(db, newRun('empty').id)).toBeUndefined()
  })

  it('keeps the last K, the best by validation loss and every final checkpoint', () => {
    const run = newRun()
    const losses: Record<number, number | null> = { 10: 3, 20: 1.5, 30: 2, 40: null, 50: 2.2, 60: 1.9 }
    for (const [step, loss] of Object.entries(losses)) {
      saveCheckpoint(db, run.id, Number(step), [], serializeCheckpoint(checkpointAt(Number(step), loss)), { keepLast: 2 })
    }
    expect(listCheckpoints(db, run.id).map((c) => c.step)).toEqual([20, 50, 60])
    expect(bestValidationLoss(db, run.id)).toBe(1.5)
    saveCheckpoint(db, run.id, 70, [], serializeCheckpoint(checkpointAt(70, null)), { keepLast: 2, kind: 'final' })
    saveCheckpoint(db, run.id, 80, [], serializeCheckpoint(checkpointAt(80, 1.0)), { keepLast: 1, kind: 'best' })
    expect(listCheckpoints(db, run.id).map((c) => [c.step, c.kind])).toEqual([
      [70, 'final'],
      [80, 'best'],
    ])
    // No orphaned chunks.
    expect(count('checkpoint_chunks')).toBe(listCheckpoints(db, run.id).length)
  })

  it('writes nothing when a checkpoint write throws midway', () => {
    const run = newRun()
    saveCheckpoint(db, run.id, 10, rows(0, 10), serializeCheckpoint(checkpointAt(10), 400))
    const before = { metrics: count('metrics'), checkpoints: count('checkpoints'), chunks: count('checkpoint_chunks'), run: getRun(db, run.id) }
    const good = serializeCheckpoint(checkpointAt(20), 400)
    const failing: SerializedCheckpoint = {
      ...good,
      chunks: (function* () {
        let index = 0
        for (const chunk of good.chunks) {
          if (index++ === 2) throw new Error('disk went away')
          yield chunk
        }
      })(),
    }
    expect(() => saveCheckpoint(db, run.id, 20, rows(10, 20), failing, { status: 'paused' })).toThrow('disk went away')
    expect({ metrics: count('metrics'), checkpoints: count('checkpoints'), chunks: count('checkpoint_chunks'), run: getRun(db, run.id) }).toEqual(before)
    // A checkpoint for a step other than the one claimed is refused before anything is written.
    expect(() => saveCheckpoint(db, run.id, 21, [], serializeCheckpoint(checkpointAt(20)))).toThrow('The checkpoint is of step 20, expected step 21')
    expect(() => saveCheckpoint(db, 999, 20, rows(10, 20), serializeCheckpoint(checkpointAt(20)))).toThrow(/No run with id 999|FOREIGN KEY/)
    expect(count('metrics')).toBe(before.metrics)
  })

  it('marks runs left running as crashed at startup, resumable when they have a checkpoint', () => {
    const withCheckpoint = newRun('a')
    const without = newRun('b')
    const done = newRun('c')
    for (const run of [withCheckpoint, without]) setRunStatus(db, run.id, 'running')
    setRunStatus(db, done.id, 'done')
    saveCheckpoint(db, withCheckpoint.id, 5, [], serializeCheckpoint(checkpointAt(5)))
    expect(markCrashedRuns(db)).toEqual([
      { runId: withCheckpoint.id, resumable: true },
      { runId: without.id, resumable: false },
    ])
    expect(getRun(db, withCheckpoint.id)).toMatchObject({ status: 'crashed', finishedAt: expect.any(String), error: expect.stringMatching(/stopped/) })
    expect(getRun(db, done.id)!.status).toBe('done')
    expect(markCrashedRuns(db)).toEqual([])
  })

  it('leaves alone a run that another live process is training, and clears a stale error when a run ends well', () => {
    const elsewhere = newRun('elsewhere')
    const dead = newRun('dead')
    setRunStatus(db, elsewhere.id, 'running')
    setRunStatus(db, dead.id, 'running')
    // The parent of this test process is alive; a pid beyond the kernel's maximum is not.
    db.prepare('UPDATE runs SET owner_pid = ? WHERE id = ?').run(process.ppid, elsewhere.id)
    db.prepare('UPDATE runs SET owner_pid = ? WHERE id = ?').run(2 ** 22 + 1, dead.id)
    expect(markCrashedRuns(db)).toEqual([{ runId: dead.id, resumable: false }])
    expect(getRun(db, elsewhere.id)!.status).toBe('running')
    setRunStatus(db, dead.id, 'running')
    setRunStatus(db, dead.id, 'done')
    expect(getRun(db, dead.id)).toMatchObject({ status: 'done', error: null })
  })

  it('deletes a project’s runs, metrics, checkpoints and chunks with it', () => {
    const run = newRun()
    saveCheckpoint(db, run.id, 5, rows(0, 5), serializeCheckpoint(checkpointAt(5)))
    db.prepare('DELETE FROM projects WHERE id = ?').run(projectId)
    expect([count('runs'), count('metrics'), count('checkpoints'), count('checkpoint_chunks')]).toEqual([0, 0, 0, 0])
  })
})
