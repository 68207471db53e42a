/**
 * The training worker dying mid-step, inside a long-lived main process (as Electron's or web
 * mode's): the process keeps answering requests, the run is marked crashed and resumable from its
 * last checkpoint, it resumes to the end, and the next run gets a fresh worker and works.
 * (tests/unit/train/kill-resume.test.ts covers the same through the CLI, where main is short-lived.)
 */
import { existsSync } from 'node:fs'
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

beforeAll(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  process.env.STUDIO_BACKEND = 'wasm'
  // A worker thread takes a copy of the environment when it starts: this one dies after step 3.
  process.env.STUDIO_FAULT_EXIT_AT_STEP = '3'
  home = tempDir()
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('P').id
  const path = join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt')
  corpusId = (await studio.corpora.import({ projectId, name: 'stories', jobId: 'import-1', source: { path, kind: 'file', displayName: 'stories.txt' }, options: {} })).corpus.id
  tokenizerId = (await studio.tokenizers.train({ projectId, corpusId, name: 'tok', jobId: 'tok-1', options: TokenizerTrainOptions.parse({ vocabSize: 300 }) })).id
}, 120_000)
afterAll(async () => {
  delete process.env.STUDIO_FAULT_EXIT_AT_STEP
  delete process.env.STUDIO_BACKEND
  await studio.worker.close()
  studio.close()
  home.cleanup()
})

describe('the training worker dying mid-step', () => {
  it('leaves main serving, the run crashed-resumable from its checkpoint, and the next run working', async () => {
    const request = (name: string) =>
      PretrainRequest.parse({ projectId, corpusId, tokenizerId, name, seqLength: 32, batchSize: 4, steps: 8, checkpointEvery: 2, validateEvery: 1000, seed: 11 })
    const events: RunProgress[] = []
    const unsubscribe = studio.bus.subscribe((event, payload) => event === 'run.progress' && events.push(payload))
    const doomed = studio.runs.pretrain(request('doomed'))
    const crashed = await studio.runs.wait(doomed.id)
    expect(crashed).toMatchObject({ status: 'crashed', step: 2, checkpointStep: 2 })
    expect(crashed.error).toMatch(/The training worker stopped while running train\.pretrain: it exited with code 70/)
    expect(events.at(-1)).toMatchObject({ runId: doomed.id, status: 'crashed' })
    unsubscribe()

    // Main is alive and answers, reads and writes alike.
    const handlers = createHandlers(studio)
    expect(await dispatch(handlers, 'runs.get', { runId: doomed.id }, { transport: 'test' })).toMatchObject({ ok: true, value: { status: 'crashed' } })
    expect(await dispatch(handlers, 'projects.create', { name: 'still here' }, { transport: 'test' })).toMatchObject({ ok: true })
    expect(studio.db.pragma('integrity_check', { simple: true })).toBe('ok')

    // The next worker starts without the fault: the run resumes from step 2, and a new run works.
    delete process.env.STUDIO_FAULT_EXIT_AT_STEP
    const resumedFrom: number[] = []
    const off = studio.bus.subscribe((event, payload) => {
      if (event === 'run.progress' && payload.runId === doomed.id && payload.phase === 'Training' && resumedFrom.length === 0) resumedFrom.push(payload.step)
    })
    studio.runs.resume(doomed.id)
    expect(await studio.runs.wait(doomed.id)).toMatchObject({ status: 'done', step: 8 })
    off()
    expect(resumedFrom[0]).toBeGreaterThanOrEqual(2)
    const losses = studio.runs.metrics(doomed.id).find((series) => series.name === 'loss' && series.split === 'train')!
    expect(losses.steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8])

    const next = studio.runs.pretrain(request('next'))
    expect(await studio.runs.wait(next.id)).toMatchObject({ status: 'done', step: 8 })
    // Same seed, same data: the resumed run and the straight one agree step for step.
    const straight = studio.runs.metrics(next.id).find((series) => series.name === 'loss' && series.split === 'train')!
    expect(losses.values).toEqual(straight.values)
  }, 240_000)
})
