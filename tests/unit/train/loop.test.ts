import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { engineVersions, restoreCheckpoint } from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig } from '../../../src-main/core/train/config.ts'
import { runTrainingLoop, type TrainingData } from '../../../src-main/core/train/loop.ts'
import { Trainer } from '../../../src-main/core/train/trainer.ts'
import { openDatabase, type Db } from '../../../src-main/store/index.ts'
import { createRun, listCheckpoints, loadLatestCheckpoint, metricSeries, saveCheckpoint, setRunStatus } from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'
import { ToyModel, toyBatch, weightBytes, type ToyBatch } from './stand-in.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})
let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.cleanup())

/** A resumable stream: its position is the count of batches drawn. */
class ToyData implements TrainingData<ToyBatch> {
  constructor(private drawn = 0) {}
  nextBatch(size: number) {
    const batch = toyBatch(this.drawn, 0, size)
    this.drawn += 1
    return { batch, position: { epoch: 0, drawn: this.drawn } }
  }
  *validationBatches(size: number) {
    yield toyBatch(10_000, 0, size)
  }
}

const config = parseTrainConfig({
  batchSize: 4,
  microBatchSize: 2,
  steps: 10,
  seed: 3,
  optimizer: { learningRate: 0.02 },
  checkpoint: { intervalSteps: 4, keepLast: 1 },
  validation: { intervalSteps: 2 },
})
const context = { datasetHash: 'd', tokenizerHash: 't', modelConfig: {}, versions: engineVersions('test') }

function storeWriter(db: Db, runId: number) {
  return (write: Parameters<Parameters<typeof runTrainingLoop>[0]['saveCheckpoint']>[0]) =>
    void saveCheckpoint(db, runId, write.step, write.metricRows, write.checkpoint, { kind: write.kind, keepLast: config.checkpoint.keepLast })
}

describe('runTrainingLoop', () => {
  it('checkpoints on its intervals, pauses, and resumes into the same run as an uninterrupted one', async () => {
    const db = openDatabase(join(dir.path, 'studio.db'))
    const projectId = db.prepare("INSERT INTO projects (name) VALUES ('p')").run().lastInsertRowid as number
    const straightRun = createRun(db, { projectId, kind: 'pretrain', name: 'straight', config, modelConfig: {} })
    const pausedRun = createRun(db, { projectId, kind: 'pretrain', name: 'paused', config, modelConfig: {} })

    const straightModel = new ToyModel(1)
    const straightTrainer = new Trainer(straightModel, config, { totalSteps: 10 })
    const done = await runTrainingLoop({ trainer: straightTrainer, data: new ToyData(), position: { epoch: 0, drawn: 0 }, context, saveCheckpoint: storeWriter(db, straightRun.id) })
    expect(done).toMatchObject({ status: 'done', step: 10, pendingMetrics: [] })
    // keepLast 1 + the best + the final.
    const kept = listCheckpoints(db, straightRun.id)
    expect(kept.at(-1)).toMatchObject({ step: 10, kind: 'final' })
    expect(metricSeries(db, straightRun.id, 'loss').map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(metricSeries(db, straightRun.id, 'loss', 'validation').map((p) => p.step)).toEqual([2, 4, 6, 8, 10])

    const model = new ToyModel(1)
    const trainer = new Trainer(model, config, { totalSteps: 10 })
    let steps = 0
    const paused = await runTrainingLoop({
      trainer,
      data: new ToyData(),
      position: { epoch: 0, drawn: 0 },
      context,
      saveCheckpoint: storeWriter(db, pausedRun.id),
      onStep: () => steps++,
      stopRequested: () => (steps === 5 ? 'pause' : null),
    })
    expect(paused).toMatchObject({ status: 'paused', step: 5 })
    setRunStatus(db, pausedRun.id, 'paused')
    trainer.dispose()
    model.dispose()

    const loaded = loadLatestCheckpoint(db, pausedRun.id)!
    expect(loaded.info.step).toBe(5)
    const position = loaded.checkpoint.manifest.dataPosition as { epoch: number; drawn: number }
    expect(position).toEqual({ epoch: 0, drawn: 10 })
    const resumedModel = new ToyModel(50)
    const resumed = new Trainer(resumedModel, parseTrainConfig(loaded.checkpoint.manifest.trainConfig), { totalSteps: 10 })
    restoreCheckpoint(resumed, loaded.checkpoint)
    const finished = await runTrainingLoop({
      trainer: resumed,
      data: new ToyData(position.drawn),
      position,
      context,
      saveCheckpoint: storeWriter(db, pausedRun.id),
    })
    expect(finished.status).toBe('done')
    expect(await weightBytes(resumedModel.variables)).toEqual(await weightBytes(straightModel.variables))
    expect(metricSeries(db, pausedRun.id, 'loss').map((p) => p.value)).toEqual(metricSeries(db, straightRun.id, 'loss').map((p) => p.value))
    for (const t of [straightTrainer, resumed]) t.dispose()
    for (const m of [straightModel, resumedModel]) m.dispose()
    db.close()
  })

  it('stops at divergence with the diverged step’s metrics pending, and cancels on request', async () => {
    const model = new ToyModel(2)
    const trainer = new Trainer(model, config, { totalSteps: 10 })
    const saved: number[] = []
    const poisoned: TrainingData<ToyBatch> = {
      nextBatch(size) {
        const batch = toyBatch(0, 0, size)
        if (trainer.globalStep === 2) batch.x[0] = Number.POSITIVE_INFINITY
        return { batch, position: null }
      },
    }
    const diverged = await runTrainingLoop({ trainer, data: poisoned, position: null, context, saveCheckpoint: (w) => void saved.push(w.step) })
    expect(diverged.status).toBe('diverged')
    expect(diverged.step).toBe(2)
    expect(diverged.pendingMetrics.find((r) => r.name === 'loss')?.step).toBe(1)
    expect(diverged.pendingMetrics.filter((r) => r.name === 'loss').map((r) => r.step)).toEqual([1, 2, 3])
    expect(saved).toEqual([])
    trainer.dispose()
    model.dispose()

    const other = new ToyModel(3)
    const otherTrainer = new Trainer(other, config, { totalSteps: 10 })
    const cancelled = await runTrainingLoop({ trainer: otherTrainer, data: new ToyData(), position: null, context, saveCheckpoint: () => {}, stopRequested: () => (otherTrainer.globalStep === 1 ? 'cancel' : null) })
    expect(cancelled).toMatchObject({ status: 'cancelled', step: 1 })
    expect(cancelled.pendingMetrics.length).toBeGreaterThan(0)
    otherTrainer.dispose()
    other.dispose()
  })
})
