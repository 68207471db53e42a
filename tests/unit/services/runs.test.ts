import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PretrainRequest, TokenizerTrainOptions, type RunProgress } from '../../../src-main/contract/index.ts'
import { createHandlers, dispatch } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number
let corpusId: number
let tokenizerId: number

const request = (overrides: Record<string, unknown> = {}) =>
  PretrainRequest.parse({ projectId, corpusId, tokenizerId, name: `run-${Math.random()}`, seqLength: 32, batchSize: 4, steps: 12, checkpointEvery: 4, validateEvery: 6, ...overrides })

beforeAll(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  process.env.STUDIO_BACKEND = 'wasm'
  home = tempDir()
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('P').id
  const path = join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt')
  corpusId = (await studio.corpora.import({ projectId, name: 'stories', jobId: 'import-1', source: { path, kind: 'file', displayName: 'stories.txt' }, options: {} })).corpus.id
  tokenizerId = (await studio.tokenizers.train({ projectId, corpusId, name: 'tok', jobId: 'tok-1', options: TokenizerTrainOptions.parse({ vocabSize: 300 }) })).id
  expect(readFileSync(path, 'utf8').length).toBeGreaterThan(1000)
}, 120_000)
afterAll(() => {
  studio.close()
  home.cleanup()
  delete process.env.STUDIO_BACKEND
})

describe('runs service', () => {
  it('trains in the worker, streams coalesced progress, stores metrics and checkpoints', async () => {
    const events: RunProgress[] = []
    const unsubscribe = studio.bus.subscribe((event, payload) => event === 'run.progress' && events.push(payload))
    const started = studio.runs.pretrain(request({ name: 'first' }))
    expect(['queued', 'running']).toContain(started.status)
    const run = await studio.runs.wait(started.id)
    unsubscribe()
    expect(run).toMatchObject({ status: 'done', step: 12, totalSteps: 12, backend: 'wasm', checkpointStep: 12 })
    expect(run.lastMetrics.loss).toBeGreaterThan(0)
    expect(run.lastMetrics.validation_loss).toBeGreaterThan(0)
    expect(events.some((e) => e.phase === 'Training' && e.step > 0 && e.metrics.loss !== undefined)).toBe(true)
    expect(events.at(-1)).toMatchObject({ status: 'done', step: 12 })
    const series = studio.runs.metrics(started.id)
    const loss = series.find((s) => s.name === 'loss' && s.split === 'train')!
    expect(loss.steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect(series.find((s) => s.name === 'loss' && s.split === 'validation')!.steps).toEqual([6, 12])
    // The worker probes held-out sentences at each checkpoint (every 4 steps).
    const probes = studio.runs.probes(started.id)
    // Interval checkpoints at 4, 8, 12 and a best one at the validation of step 6.
    expect(probes.map((p) => p.step)).toEqual([4, 6, 8, 12])
    for (const { results } of probes) {
      expect(results.length).toBeGreaterThan(0)
      for (const result of results) {
        expect(result.text).toContain('[MASK]')
        expect(result.masks[0]!.candidates).toHaveLength(5)
      }
    }
    const probe = await studio.runs.fillMask({ runId: started.id, text: 'the [MASK] was happy', topK: 5 })
    expect(probe.masks).toHaveLength(1)
    expect(probe.masks[0]!.candidates).toHaveLength(5)
    const total = probe.masks[0]!.candidates.reduce((sum, c) => sum + c.probability, 0)
    expect(total).toBeGreaterThan(0)
    expect(total).toBeLessThanOrEqual(1.0001)
  }, 120_000)

  it('pauses at a step boundary with a checkpoint, resumes to the end, and cancels', async () => {
    const started = studio.runs.pretrain(request({ name: 'paused', steps: 40 }))
    await new Promise<void>((resolve) => {
      const off = studio.bus.subscribe((event, payload) => {
        if (event === 'run.progress' && payload.runId === started.id && payload.phase === 'Training' && payload.step >= 2) {
          off()
          studio.runs.pause(started.id)
          resolve()
        }
      })
    })
    const paused = await studio.runs.wait(started.id)
    expect(paused.status).toBe('paused')
    expect(paused.checkpointStep).toBe(paused.step)
    expect(paused.step).toBeLessThan(40)
    studio.runs.resume(started.id)
    expect((await studio.runs.wait(started.id)).status).toBe('done')

    const doomed = studio.runs.pretrain(request({ name: 'cancelled', steps: 400 }))
    setTimeout(() => studio.runs.cancel(doomed.id), 300)
    expect((await studio.runs.wait(doomed.id)).status).toBe('cancelled')
  }, 180_000)

  it('refuses bad requests through the contract', async () => {
    const handlers = createHandlers(studio)
    const both = await dispatch(handlers, 'runs.pretrain', { projectId, corpusId, tokenizerId, name: 'x', steps: 5, epochs: 1 }, { transport: 'test' })
    expect(both).toMatchObject({ ok: false, code: 'VALIDATION', message: expect.stringContaining('steps or epochs') })
    const other = studio.projects.create('Other').id
    const foreign = await dispatch(handlers, 'runs.pretrain', { projectId: other, corpusId, tokenizerId, name: 'x' }, { transport: 'test' })
    expect(foreign).toMatchObject({ ok: false, code: 'VALIDATION' })
    const noCheckpoint = await dispatch(handlers, 'runs.resume', { runId: 9999 }, { transport: 'test' })
    expect(noCheckpoint).toMatchObject({ ok: false, code: 'NOT_FOUND' })
  })
  it('continues pre-training from another run: its weights and model, a fresh optimizer, lineage', async () => {
    const parent = await studio.runs.wait(studio.runs.pretrain(request({ name: 'parent', steps: 8 })).id)
    expect(parent.status).toBe('done')
    const text = 'the [MASK] was happy'
    const before = await studio.runs.fillMask({ runId: parent.id, text, topK: 5 })
    // One step at a negligible learning rate: the child's model is the parent's.
    const child = await studio.runs.wait(
      studio.runs.pretrain(request({ name: 'child', steps: 1, checkpointEvery: 1, learningRate: 1e-12, fromRunId: parent.id, preset: 'mini' })).id,
    )
    expect(child).toMatchObject({ status: 'done', step: 1, parentRunId: parent.id })
    expect(studio.experiments.get(child.id).hyper.preset).toBe('tiny') // the parent's model, whatever preset the request named
    const after = await studio.runs.fillMask({ runId: child.id, text, topK: 5 })
    expect(after.masks[0]!.candidates.map((c) => c.token)).toEqual(before.masks[0]!.candidates.map((c) => c.token))
    after.masks[0]!.candidates.forEach((c, i) => expect(Math.abs(c.probability - before.masks[0]!.candidates[i]!.probability)).toBeLessThan(1e-5))
    // From random weights instead, the same request gives other guesses.
    const fresh = await studio.runs.wait(studio.runs.pretrain(request({ name: 'fresh', steps: 1, checkpointEvery: 1, learningRate: 1e-12 })).id)
    const random = await studio.runs.fillMask({ runId: fresh.id, text, topK: 5 })
    expect(random.masks[0]!.candidates[0]!.probability).not.toBeCloseTo(before.masks[0]!.candidates[0]!.probability, 4)
    // Its first training loss is the trained parent's, not a random model's ~ln(vocab) + ln(2).
    const firstLoss = (id: number) => studio.runs.metrics(id).find((s) => s.name === 'mlm_loss' && s.split === 'train')!.values[0]!
    expect(firstLoss(child.id)).toBeLessThan(firstLoss(fresh.id))

    const handlers = createHandlers(studio)
    const call = (args: Record<string, unknown>) =>
      dispatch(handlers, 'runs.pretrain', { projectId, corpusId, tokenizerId, name: `bad-${Math.random()}`, steps: 2, ...args }, { transport: 'test' })
    expect(await call({ fromCheckpoint: 'last' })).toMatchObject({ ok: false, code: 'VALIDATION', message: expect.stringContaining('fromRunId') })
    expect(await call({ fromRunId: 9999 })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await call({ fromRunId: parent.id, fromCheckpoint: 5 })).toMatchObject({ ok: false, code: 'NOT_FOUND', message: expect.stringContaining('steps 4, 6, 8') })
    expect(await call({ fromRunId: parent.id, seqLength: 600 })).toMatchObject({ ok: false, code: 'VALIDATION' })
    const other = (await studio.tokenizers.train({ projectId, corpusId, name: 'tok2', jobId: 'tok-2', options: TokenizerTrainOptions.parse({ vocabSize: 200 }) })).id
    expect(await call({ fromRunId: parent.id, tokenizerId: other })).toMatchObject({ ok: false, code: 'VALIDATION', message: expect.stringContaining('tokenizer') })
    // A chosen checkpoint: step 4's.
    const fromFour = studio.runs.create(request({ name: 'from-four', fromRunId: parent.id, fromCheckpoint: 4, dropout: 0.3 }))
    expect((studio.runs.get(fromFour.id).config as { init: { step: number } }).init.step).toBe(4)

    // Dropout: none for Tiny and Mini unless asked, BERT's 0.1 above; a continued run keeps its parent's unless asked.
    const dropoutOf = (run: { modelConfig: unknown }) => {
      const config = run.modelConfig as { hidden_dropout_prob: number; attention_probs_dropout_prob: number }
      return [config.hidden_dropout_prob, config.attention_probs_dropout_prob]
    }
    expect(dropoutOf(parent)).toEqual([0, 0])
    expect(dropoutOf(child)).toEqual([0, 0])
    expect(dropoutOf(fromFour)).toEqual([0.3, 0.3])
    expect(dropoutOf(studio.runs.create(request({ name: 'mini', preset: 'mini' })))).toEqual([0, 0])
    expect(dropoutOf(studio.runs.create(request({ name: 'small', preset: 'small' })))).toEqual([0.1, 0.1])
    expect(dropoutOf(studio.runs.create(request({ name: 'tiny-dropout', dropout: 0.2 })))).toEqual([0.2, 0.2])
  }, 180_000)
})
