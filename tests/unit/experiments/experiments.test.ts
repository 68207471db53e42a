import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RunSummary } from '../../../src-main/contract/index.ts'
import { gridVariants, randomVariants } from '../../../src-main/services/experiments.ts'
import { createHandlers, dispatch } from '../../../src-main/services/handlers.ts'
import type { Studio } from '../../../src-main/services/studio.ts'
import { appendMetrics, getRun, queuedRuns, saveCheckpoint } from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'
import { checkpointAt, FakeLauncher, studioWithData } from './fixtures.ts'

let home: ReturnType<typeof tempDir>
let studio: Studio
let fake: FakeLauncher
let data: Awaited<ReturnType<typeof studioWithData>>

beforeEach(async () => {
  home = tempDir()
  data = await studioWithData(home.path)
  studio = data.studio
  fake = new FakeLauncher(studio.db)
  studio.runs.registerKind('pretrain', fake.launch)
})
afterEach(() => {
  studio.close()
  home.cleanup()
})

async function call<V>(channel: string, args: unknown): Promise<V> {
  const result = await dispatch(createHandlers(studio), channel, args, { transport: 'test' })
  if (!result.ok) throw new Error(`${channel}: ${result.code} ${result.message}`)
  return result.value as V
}

describe('experiments', () => {
  it('runs again with the full config, seed included, as a new queued run', async () => {
    const first = studio.runs.pretrain(data.request({ name: 'original', learningRate: 3e-4, seed: 99, wholeWordMask: true }))
    const again = await call<RunSummary>('runs.again', { runId: first.id })
    expect(again.id).not.toBe(first.id)
    expect(again.name).toBe('original (again)')
    expect(again.status).toBe('queued')
    const before = getRun(studio.db, first.id)!
    const after = getRun(studio.db, again.id)!
    const { name: _a, ...requestBefore } = (before.config as { request: Record<string, unknown> }).request
    const { name: _b, ...requestAfter } = (after.config as { request: Record<string, unknown> }).request
    expect(requestAfter).toEqual(requestBefore)
    expect(requestAfter.seed).toBe(99)
    expect((after.config as { train: unknown }).train).toEqual((before.config as { train: unknown }).train)
    expect((after.config as { data: unknown }).data).toEqual((before.config as { data: unknown }).data)
    expect(after.modelConfig).toEqual(before.modelConfig)
    expect([after.corpusId, after.tokenizerId]).toEqual([before.corpusId, before.tokenizerId])
    // A second copy gets a free name.
    expect((await call<RunSummary>('runs.again', { runId: first.id })).name).toBe('original (again) 2')
    // The config and environment the analyst copies as JSON.
    const exported = await call<{ config: unknown; environment: unknown }>('runs.config', { runId: first.id })
    expect(exported.config).toEqual(before.config)
    expect(exported.environment).toMatchObject({ node: process.versions.node, platform: process.platform })
  })

  it('queues a grid sweep of every combination under one sweep, and checks every variant first', async () => {
    const base = studio.runs.pretrain(data.request({ name: 'base' }))
    const sweep = await call<{ id: number; runIds: number[] }>('runs.sweep', {
      baseRunId: base.id,
      name: 'lr x seed',
      method: 'grid',
      space: { learningRate: [1e-4, 3e-4], seed: [1, 2, 3] },
    })
    expect(sweep.runIds).toHaveLength(6)
    const requests = sweep.runIds.map((id) => (getRun(studio.db, id)!.config as { request: { learningRate: number; seed: number; name: string; steps: number } }).request)
    expect(requests.map((request) => [request.learningRate, request.seed])).toEqual([
      [1e-4, 1], [1e-4, 2], [1e-4, 3], [3e-4, 1], [3e-4, 2], [3e-4, 3],
    ])
    expect(new Set(requests.map((request) => request.name)).size).toBe(6)
    expect(requests[0]!.name).toBe('lr x seed 1/6 (lr 0.0001, seed 1)')
    expect(requests.every((request) => request.steps === 6)).toBe(true)
    // All six wait in order behind the base run (which the fake worker holds).
    expect(queuedRuns(studio.db).map((run) => run.id)).toEqual(sweep.runIds)
    expect(sweep.runIds.every((id) => getRun(studio.db, id)!.sweepId === sweep.id)).toBe(true)

    // Epochs replace steps; a batch the request refuses fails the sweep before anything is queued.
    const epochs = await call<{ runIds: number[] }>('runs.sweep', { baseRunId: base.id, name: 'epochs', space: { epochs: [1, 2] } })
    const epochRequest = (getRun(studio.db, epochs.runIds[1]!)!.config as { request: Record<string, unknown> }).request
    expect(epochRequest.epochs).toBe(2)
    expect(epochRequest.steps).toBeUndefined()
    const queued = queuedRuns(studio.db).length
    const refused = await dispatch(createHandlers(studio), 'runs.sweep', { baseRunId: base.id, name: 'bad', space: { batchSize: [4, 5000] } }, { transport: 'test' })
    expect(refused).toMatchObject({ ok: false, code: 'VALIDATION' })
    expect(queuedRuns(studio.db).length).toBe(queued)
    const tooBig = await dispatch(createHandlers(studio), 'runs.sweep', { baseRunId: base.id, name: 'huge', space: { learningRate: [1, 2, 3, 4, 5].map((x) => x / 1e4), seed: Array.from({ length: 30 }, (_, i) => i) } }, { transport: 'test' })
    expect(tooBig).toMatchObject({ ok: false, code: 'VALIDATION', message: expect.stringContaining('at most 100') })
  })

  it('sizes grids and draws random searches within the listed ranges, reproducibly', () => {
    const space = { learningRate: [1e-5, 1e-3], batchSize: [8, 16, 32], epochs: [], seed: [1, 2] }
    expect(gridVariants(space)).toHaveLength(12)
    expect(gridVariants({ learningRate: [], batchSize: [], epochs: [2], seed: [] })).toEqual([{ epochs: 2 }])
    const drawn = randomVariants(space, 20, 5)
    expect(drawn).toHaveLength(20)
    for (const variant of drawn) {
      expect(variant.learningRate!).toBeGreaterThanOrEqual(1e-5 * 0.95)
      expect(variant.learningRate!).toBeLessThanOrEqual(1e-3 * 1.05)
      expect([8, 16, 32]).toContain(variant.batchSize)
      expect(variant.epochs).toBeUndefined()
    }
    expect(new Set(drawn.map((variant) => variant.learningRate)).size).toBeGreaterThan(10)
    expect(randomVariants(space, 20, 5)).toEqual(drawn)
  })

  it('lists runs of every kind with their best and last metric, lineage and curves', async () => {
    const run = studio.runs.pretrain(data.request({ name: 'measured' }))
    fake.start(run.id)
    const rows = []
    for (let step = 1; step <= 3_000; step++) rows.push({ step, split: 'train' as const, name: 'loss', value: 10 - step / 1_000, wallTime: 1_000 + step })
    appendMetrics(studio.db, run.id, rows)
    saveCheckpoint(studio.db, run.id, 1_000, [{ step: 1_000, split: 'validation', name: 'loss', value: 4, wallTime: 2_000 }], checkpointAt(1_000, 4))
    saveCheckpoint(studio.db, run.id, 2_000, [{ step: 2_000, split: 'validation', name: 'loss', value: 5, wallTime: 3_000 }], checkpointAt(2_000, 5))
    fake.launches[0]!.finish('done')
    await studio.runs.wait(run.id)
    const [row] = await call<import('../../../src-main/contract/index.ts').ExperimentRun[]>('runs.experiments', { projectId: data.projectId })
    expect(row).toMatchObject({
      name: 'measured',
      kind: 'pretrain',
      status: 'done',
      dataName: 'stories',
      tokenizerName: 'vocab',
      best: { split: 'validation', step: 1_000, value: 4 },
      last: { split: 'train', step: 3_000, value: 7 },
      // learningRate: Tiny's default (defaultPretrainLearningRate).
      hyper: { preset: 'tiny', learningRate: 1e-3, batchSize: 4, seqLength: 32, steps: 6, seed: 7 },
      tokensPerStep: 128,
      checkpoints: 2,
    })
    const curves = await call<import('../../../src-main/contract/index.ts').RunCurve[]>('runs.curves', { runIds: [run.id], name: 'loss', maxPoints: 200 })
    const trainCurve = curves.find((curve) => curve.split === 'train')!
    expect(trainCurve.stored).toBe(3_000)
    expect(trainCurve.steps.length).toBeLessThanOrEqual(202)
    expect(curves.find((curve) => curve.split === 'validation')!.steps).toEqual([1_000, 2_000])
    // A zoomed window comes at full detail.
    const zoomed = await call<import('../../../src-main/contract/index.ts').RunCurve[]>('runs.curves', { runIds: [run.id], name: 'loss', from: 100, to: 199, maxPoints: 200 })
    expect(zoomed.find((curve) => curve.split === 'train')!.steps).toHaveLength(100)
    const [atBest] = await call<{ step: number; metrics: Record<string, number> }[]>('runs.metricsAt', { runIds: [run.id] })
    expect(atBest).toMatchObject({ step: 1_000, metrics: { loss: 9, validation_loss: 4 } })
    const lineage = await call<import('../../../src-main/contract/index.ts').RunLineage>('runs.lineage', { runId: run.id })
    expect(lineage).toMatchObject({ corpus: { name: 'stories' }, tokenizer: { name: 'vocab' }, ancestors: [], children: [] })
    expect(lineage.checkpoints.map((checkpoint) => [checkpoint.step, checkpoint.best, checkpoint.last])).toEqual([[1_000, true, false], [2_000, false, true]])
    const disk = await call<import('../../../src-main/contract/index.ts').DiskUsage>('runs.disk', { projectId: data.projectId })
    expect(disk.runs[0]).toMatchObject({ runId: run.id, metricPoints: 3_002 })
    expect(disk.checkpointBytes).toBeGreaterThan(0)
    const compacted = await call<{ beforeBytes: number; afterBytes: number }>('projects.compact', {})
    expect(compacted.afterBytes).toBeGreaterThan(0)
  })
})
