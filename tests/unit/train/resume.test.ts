import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import '@tensorflow/tfjs-backend-wasm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { captureCheckpoint, engineVersions, restoreCheckpoint, serializeCheckpoint } from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig, type TrainConfig } from '../../../src-main/core/train/config.ts'
import { Trainer, toMetricRows } from '../../../src-main/core/train/trainer.ts'
import { openDatabase } from '../../../src-main/store/index.ts'
import { createRun, getRun, loadLatestCheckpoint, metricSeries, saveCheckpoint, type MetricRow } from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'
import { ToyModel, toyBatch, weightBytes } from './stand-in.ts'

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.cleanup())

const STEPS = 12
const micros = (step: number) => [toyBatch(step, 0, 2), toyBatch(step, 1, 2)]

async function straight(config: TrainConfig) {
  const model = new ToyModel(1, { dropout: 0.3 })
  const trainer = new Trainer(model, config, { totalSteps: STEPS })
  const losses: number[] = []
  for (let step = 0; step < STEPS; step++) losses.push((await trainer.step(micros(step))).metrics.loss)
  const result = { losses, weights: await weightBytes(model.variables), m: await weightBytes(trainer.optimizer.state().m) }
  trainer.dispose()
  model.dispose()
  return result
}

async function interrupted(config: TrainConfig, path: string) {
  const losses: number[] = []
  // First half, then a checkpoint into SQLite with its metrics, in one transaction.
  let db = openDatabase(path)
  const projectId = db.prepare("INSERT INTO projects (name) VALUES ('p')").run().lastInsertRowid as number
  const run = createRun(db, { projectId, kind: 'pretrain', name: 'r', config, modelConfig: { toy: true } })
  {
    const model = new ToyModel(1, { dropout: 0.3 })
    const trainer = new Trainer(model, config, { totalSteps: STEPS })
    const rows: MetricRow[] = []
    for (let step = 0; step < STEPS / 2; step++) {
      const result = await trainer.step(micros(step))
      losses.push(result.metrics.loss)
      rows.push(...toMetricRows(result.step, 'train', result.metrics))
    }
    const checkpoint = await captureCheckpoint(trainer, {
      epoch: 0,
      dataPosition: { epoch: 0, documentCursor: STEPS / 2, instanceInDocument: 0 },
      datasetHash: 'd',
      tokenizerHash: 't',
      modelConfig: { toy: true },
      versions: engineVersions('test'),
    })
    saveCheckpoint(db, run.id, trainer.globalStep, rows, serializeCheckpoint(checkpoint, 100), { status: 'running' })
    trainer.dispose()
    model.dispose()
    db.close()
  }
  // A fresh process, in effect: reopen, rebuild from the stored config, restore, finish.
  db = openDatabase(path)
  expect(getRun(db, run.id)).toMatchObject({ step: STEPS / 2, status: 'running', checkpointStep: STEPS / 2 })
  expect(metricSeries(db, run.id, 'loss').map((p) => p.value)).toEqual(losses)
  const loaded = loadLatestCheckpoint(db, run.id)!
  db.close()
  const model = new ToyModel(77, { dropout: 0.3 }) // other initial weights: the checkpoint must overwrite them all
  const trainer = new Trainer(model, parseTrainConfig(loaded.checkpoint.manifest.trainConfig), { totalSteps: STEPS })
  restoreCheckpoint(trainer, loaded.checkpoint)
  const position = loaded.checkpoint.manifest.dataPosition as { documentCursor: number }
  for (let step = position.documentCursor; step < STEPS; step++) losses.push((await trainer.step(micros(step))).metrics.loss)
  const result = { losses, weights: await weightBytes(model.variables), m: await weightBytes(trainer.optimizer.state().m) }
  trainer.dispose()
  model.dispose()
  return result
}

describe('resume', () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`continues bit-for-bit from a checkpoint in SQLite (${backend})`, async () => {
      expect(await tf.setBackend(backend)).toBe(true)
      const config = parseTrainConfig({ batchSize: 4, microBatchSize: 2, steps: STEPS, seed: 11, optimizer: { learningRate: 0.02 } })
      const a = await straight(config)
      const b = await interrupted(config, join(dir.path, 'studio.db'))
      expect(b.losses).toEqual(a.losses)
      expect(b.weights).toEqual(a.weights)
      expect(b.m).toEqual(a.m)
      // Dropout is on: a different seed must give a different run, or the test proves nothing.
      const other = await straight({ ...config, seed: 12 })
      expect(other.losses).not.toEqual(a.losses)
      expect(other.weights).not.toEqual(a.weights)
    })
  }
})
