import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EventBus } from '../../../src-main/services/events.ts'
import { RunsService } from '../../../src-main/services/runs.ts'
import { openDatabase, type Db } from '../../../src-main/store/index.ts'
import { createRun, getRun, queuedRuns } from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'
import { FakeLauncher, noWorker } from './fixtures.ts'

let dir: ReturnType<typeof tempDir>
let path: string
let db: Db
let projectId: number

beforeEach(() => {
  dir = tempDir()
  path = join(dir.path, 'studio.db')
  db = openDatabase(path)
  projectId = db.prepare("INSERT INTO projects (name) VALUES ('p')").run().lastInsertRowid as number
})
afterEach(() => {
  db.close()
  dir.cleanup()
})

/** A runs service whose launcher is `fake` for both kinds: nothing trains. */
function open(database: Db, fake: FakeLauncher, serveQueue = true): RunsService {
  const runs = new RunsService(database, new EventBus(), noWorker, { databasePath: path, home: dir.path, serveQueue })
  runs.registerKind('pretrain', fake.launch)
  runs.registerKind('finetune', fake.launch)
  return runs
}

const stored = (name: string, kind: 'pretrain' | 'finetune' = 'pretrain') =>
  createRun(db, { projectId, kind, name, config: { request: { name } }, modelConfig: {} }).id

describe('the run queue', () => {
  it('serves one run at a time, in order, and keeps the order across a restart of the studio', async () => {
    const fake = new FakeLauncher(db)
    const runs = open(db, fake)
    const [a, b, c, d] = [stored('a'), stored('b', 'finetune'), stored('c'), stored('d')]
    for (const id of [a, b, c, d]) runs.enqueue(id)
    // a went to the worker; b, c, d wait in order.
    expect(fake.order).toEqual([a])
    fake.start(a)
    expect(queuedRuns(db).map((run) => run.id)).toEqual([b, c, d])
    expect(runs.queueState()).toMatchObject({ running: { runId: a }, queued: [{ runId: b }, { runId: c }, { runId: d }] })

    runs.reorder([d, b, c])
    expect(queuedRuns(db).map((run) => run.id)).toEqual([d, b, c])

    // The studio stops (quit, crash) while a trains: nothing more is launched.
    runs.close()
    db.close()

    db = openDatabase(path)
    const after = new FakeLauncher(db)
    const reopened = open(db, after)
    reopened.recoverAfterCrash()
    // a was cut short: crashed. The queue resumes where it stood, d first.
    expect(getRun(db, a)).toMatchObject({ status: 'crashed' })
    expect(after.order).toEqual([d])
    after.start(d)
    after.launches[0]!.finish('done')
    await reopened.wait(d)
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(after.order).toEqual([d, b])
    after.start(b)
    after.launches[1]!.finish('done')
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(after.order).toEqual([d, b, c])
    expect(getRun(db, d)!.status).toBe('done')
  })

  it('puts back at the head of the queue a run handed to the worker but not begun when the studio closes', () => {
    const fake = new FakeLauncher(db)
    const runs = open(db, fake)
    const [a, b] = [stored('a'), stored('b')]
    runs.enqueue(a)
    runs.enqueue(b)
    expect(fake.order).toEqual([a])
    runs.close()
    expect(queuedRuns(db).map((run) => run.id)).toEqual([a, b])
  })

  it('pauses, resumes and cancels waiting and running runs', async () => {
    const fake = new FakeLauncher(db)
    const runs = open(db, fake)
    const [a, b, c] = [stored('a'), stored('b'), stored('c')]
    for (const id of [a, b, c]) runs.enqueue(id)
    fake.start(a)

    // A waiting run leaves the queue when paused, and rejoins at its end when resumed.
    expect(runs.pause(b).status).toBe('paused')
    expect(queuedRuns(db).map((run) => run.id)).toEqual([c])
    expect(runs.resume(b).status).toBe('queued')
    expect(queuedRuns(db).map((run) => run.id)).toEqual([c, b])
    expect(() => runs.resume(b)).toThrow(/already running or queued/)

    expect(runs.cancel(c).status).toBe('cancelled')
    expect(queuedRuns(db).map((run) => run.id)).toEqual([b])

    // The running one pauses (the worker checkpoints and stops); b starts next.
    runs.pause(a)
    expect((await runs.wait(a)).status).toBe('paused')
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(fake.order).toEqual([a, b])

    // Paused before the worker began it (it waited behind another task): it leaves the worker's queue, paused.
    runs.pause(b)
    expect((await runs.wait(b)).status).toBe('paused')
    expect(() => runs.pause(b)).toThrow(/not running or queued/)
  })

  it('lets a CLI serve only the runs it queued itself', () => {
    const fake = new FakeLauncher(db)
    const app = stored('queued by the app')
    db.prepare("UPDATE runs SET queue_position = 1 WHERE id = ?").run(app)
    const cli = open(db, fake, false)
    cli.recoverAfterCrash()
    expect(fake.order).toEqual([])
    const own = stored('queued by the CLI')
    cli.enqueue(own)
    expect(fake.order).toEqual([own])
    expect(getRun(db, app)).toMatchObject({ status: 'queued', queuePosition: 1 })
  })

  it('deletes a waiting run but refuses one in training', () => {
    const fake = new FakeLauncher(db)
    const runs = open(db, fake)
    const [a, b] = [stored('a'), stored('b')]
    runs.enqueue(a)
    runs.enqueue(b)
    fake.start(a)
    expect(() => runs.delete(a)).toThrow(/pause or cancel it/)
    runs.delete(b)
    expect(getRun(db, b)).toBeUndefined()
    expect(queuedRuns(db)).toEqual([])
  })
})
