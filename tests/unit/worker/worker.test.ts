import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { TaskProgress } from '../../../src-main/worker/protocol.ts'
import { TrainingWorker } from '../../../src-main/services/worker.ts'
import { repoRoot } from '../helpers.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
let worker: TrainingWorker

beforeEach(() => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  worker = new TrainingWorker(workerPath)
})
afterEach(() => worker.close())

describe('training worker', () => {
  it('runs tasks in order and relays coalesced progress', async () => {
    const seen: TaskProgress[] = []
    const first = worker.run('diagnostics.echo', { value: 'a', ms: 400 }, { onProgress: (p) => seen.push(p) })
    const second = worker.run('diagnostics.echo', { value: 'b' })
    expect(await first).toBe('a')
    expect(await second).toBe('b')
    // ~40 ticks of 10 ms, coalesced to at most one message per 125 ms (plus the final flush).
    expect(seen.length).toBeGreaterThanOrEqual(2)
    expect(seen.length).toBeLessThanOrEqual(6)
    expect(seen.at(-1)).toMatchObject({ phase: 'waiting', total: 400 })
  })

  it('cancels a running task and a queued one', async () => {
    const controller = new AbortController()
    const queuedController = new AbortController()
    const running = worker.run('diagnostics.echo', { value: 1, ms: 10_000 }, { signal: controller.signal })
    // Settled into a value at once, so the rejection is never unhandled.
    const queued = worker.run('diagnostics.echo', { value: 2 }, { signal: queuedController.signal }).then(
      (value) => value,
      (error: unknown) => error,
    )
    queuedController.abort()
    setTimeout(() => controller.abort(), 100)
    await expect(running).rejects.toMatchObject({ code: 'CANCELLED' })
    expect(await queued).toMatchObject({ code: 'CANCELLED' })
    expect(await worker.run('diagnostics.echo', { value: 3 })).toBe(3)
  })

  it('fails the task in flight when the worker dies, and the next task gets a fresh worker', async () => {
    await expect(worker.run('diagnostics.echo', { value: 0, crash: true })).rejects.toThrow(/training worker stopped.*code 70/)
    expect(await worker.run('diagnostics.echo', { value: 'after' })).toBe('after')
  })

  it('answers an unknown task with an error', async () => {
    await expect(worker.run('no.such.task', {})).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
