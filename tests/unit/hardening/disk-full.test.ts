/**
 * Disk full (issue #8 point 4): the studio's home on a small tmpfs this test mounts (it runs as
 * root here and in CI), nearly filled by a filler file. An import, a training checkpoint and an
 * export each fail with "Disk full" in words, leave nothing half-written, and work again once the
 * filler is deleted. Where mounting is not permitted the test says why and exercises the same
 * code paths with SQLite's max_page_count (import) and an injected ENOSPC (export).
 */
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PretrainRequest, TokenizerTrainOptions } from '../../../src-main/contract/index.ts'
import { asDiskFull } from '../../../src-main/core/errors.ts'
import { CorporaService } from '../../../src-main/services/corpora.ts'
import { createHandlers, dispatch, toFailure } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { openConnection } from '../../../src-main/store/index.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
const stories = join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt')
const MOUNT_BYTES = 96 * 1024 * 1024

let outside: ReturnType<typeof tempDir>
let mountPoint: string
let mounted = false
let skipReason = ''

/** Lines of text, `megabytes` of them, outside the tmpfs. */
function sourceFile(name: string, megabytes: number): string {
  const path = join(outside.path, name)
  const line = 'the quick brown fox jumps over the lazy dog while the studio keeps writing rows\n'
  writeFileSync(path, line.repeat(Math.ceil((megabytes * 1024 * 1024) / line.length)))
  return path
}

beforeAll(() => {
  outside = tempDir('disk-full-src-')
  mountPoint = join(outside.path, 'tmpfs')
  mkdirSync(mountPoint)
  if (process.platform !== 'linux') {
    skipReason = `mounting a tmpfs needs Linux (this is ${process.platform})`
  } else {
    const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${MOUNT_BYTES}`, 'tmpfs', mountPoint], { encoding: 'utf8' })
    if (result.status === 0) mounted = true
    else skipReason = `mount -t tmpfs was not permitted (${(result.stderr || result.error?.message || `exit ${result.status}`).trim()})`
  }
  if (!mounted) console.log(`skip: disk full on a real file system — ${skipReason}; falling back to max_page_count and an injected ENOSPC`)
})

afterAll(() => {
  if (mounted) {
    const result = spawnSync('umount', [mountPoint], { encoding: 'utf8' })
    if (result.status !== 0) spawnSync('umount', ['-l', mountPoint])
    mounted = false
  }
  outside.cleanup()
})

describe('disk full on a small tmpfs', () => {
  let studio: Studio
  let home: string
  let filler: string
  let projectId: number
  let corpusId: number
  let tokenizerId: number

  const free = () => {
    const stats = statfsSync(mountPoint)
    return stats.bavail * stats.bsize
  }
  /** Rewrites the filler so that about `bytes` stay free on the tmpfs. */
  const leaveFree = (bytes: number) => {
    const current = existsSync(filler) ? statSync(filler).size : 0
    const size = Math.max(0, Math.floor((current + free() - bytes) / 4096) * 4096)
    rmSync(filler, { force: true })
    const fd = openSync(filler, 'w')
    const block = Buffer.alloc(1 << 20, 7)
    try {
      for (let written = 0; written < size; ) written += writeSync(fd, block, 0, Math.min(block.length, size - written))
    } finally {
      closeSync(fd)
    }
  }
  /** Empties the write-ahead log, so the next write must take new space instead of reusing the log's. */
  const truncateWal = () => studio.db.pragma('wal_checkpoint(TRUNCATE)')
  const integrity = () => studio.db.pragma('integrity_check', { simple: true })

  beforeAll(async () => {
    if (!mounted) return
    if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
    process.env.STUDIO_BACKEND = 'wasm'
    home = join(mountPoint, 'home')
    filler = join(mountPoint, 'filler.bin')
    studio = new Studio({ home, workerPath })
    projectId = studio.projects.create('P').id
    corpusId = (await studio.corpora.import({ projectId, name: 'stories', jobId: 'import-stories', source: { path: stories, kind: 'file', displayName: 'stories.txt' }, options: {} })).corpus.id
    tokenizerId = (await studio.tokenizers.train({ projectId, corpusId, name: 'tok', jobId: 'tok-1', options: TokenizerTrainOptions.parse({ vocabSize: 300 }) })).id
  }, 180_000)

  afterAll(async () => {
    if (!studio) return
    await studio.worker.close()
    studio.close()
    delete process.env.STUDIO_BACKEND
  })

  it('an import fails with "Disk full", stores nothing, and works once space is freed', async (context) => {
    if (!mounted) return context.skip(skipReason)
    const source = sourceFile('eight-mb.txt', 8)
    truncateWal()
    leaveFree(512 * 1024)
    const handlers = createHandlers(studio)
    const { fileId } = studio.files.register(source, 'file')
    const args = { projectId, fileId, name: 'big', jobId: 'job-disk-full-1' }
    const reply = await dispatch(handlers, 'corpora.import', args, { transport: 'test' })
    expect(reply).toMatchObject({ ok: false, code: 'DISK_FULL', message: expect.stringMatching(/^Disk full: importing eight-mb\.txt failed \(database or disk is full\)\. Nothing half-written was kept\. Free some disk space/) })
    console.log(`import on a full disk: ${(reply as { message: string }).message}`)
    expect(integrity()).toBe('ok')
    expect(studio.corpora.list(projectId).map((corpus) => corpus.name)).toEqual(['stories'])
    expect(studio.db.prepare('SELECT count(*) FROM documents WHERE corpus_id <> ?').pluck().get(corpusId)).toBe(0)
    // The studio still answers while the disk is full.
    expect(await dispatch(handlers, 'corpora.list', { projectId }, { transport: 'test' })).toMatchObject({ ok: true })

    rmSync(filler)
    const again = await dispatch(handlers, 'corpora.import', { ...args, jobId: 'job-disk-full-2' }, { transport: 'test' })
    expect(again, JSON.stringify(again)).toMatchObject({ ok: true, value: { corpus: { name: 'big' } } })
    expect(integrity()).toBe('ok')
  }, 120_000)

  it('a checkpoint fails with "Disk full", the run keeps its last checkpoint, and resumes from it once space is freed', async (context) => {
    if (!mounted) return context.skip(skipReason)
    const request = PretrainRequest.parse({ projectId, corpusId, tokenizerId, name: 'squeezed', seqLength: 32, batchSize: 4, steps: 12, checkpointEvery: 4, validateEvery: 1000, seed: 3 })
    const started = studio.runs.pretrain(request)
    // Pause after step 2: pausing writes a checkpoint while there is room.
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
    expect(paused).toMatchObject({ status: 'paused' })
    const kept = paused.checkpointStep!
    expect(kept).toBe(paused.step)
    const checkpointsBefore = studio.models.checkpoints(started.id).map((c) => c.step)

    truncateWal()
    leaveFree(768 * 1024)
    studio.runs.resume(started.id)
    const crashed = await studio.runs.wait(started.id)
    console.log(`checkpoint on a full disk: run ${crashed.status} at step ${crashed.step}: ${crashed.error}`)
    expect(crashed).toMatchObject({ status: 'crashed', step: kept, checkpointStep: kept })
    expect(crashed.error).toMatch(/^Disk full: saving training progress failed \(database or disk is full\)\. Nothing half-written was kept\. Free some disk space/)
    // No half-written checkpoint is visible: the ones there were, intact.
    expect(studio.models.checkpoints(started.id).map((c) => c.step)).toEqual(checkpointsBefore)
    expect(integrity()).toBe('ok')

    rmSync(filler)
    studio.runs.resume(started.id)
    const done = await studio.runs.wait(started.id)
    expect(done).toMatchObject({ status: 'done', step: 12, checkpointStep: 12 })
    const losses = studio.runs.metrics(started.id).find((series) => series.name === 'loss' && series.split === 'train')!
    expect(losses.steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect(integrity()).toBe('ok')
  }, 240_000)

  it('an export fails with "Disk full", leaves no folder or temp files, and works once space is freed', async (context) => {
    if (!mounted) return context.skip(skipReason)
    const run = studio.runs.list(projectId).find((r) => r.name === 'squeezed')!
    const parent = join(mountPoint, 'exports')
    mkdirSync(parent, { recursive: true })
    leaveFree(256 * 1024)
    const failed = await studio.models.exportInto({ runId: run.id, checkpoint: 'last', format: 'hf', parent, name: 'model' }).then(
      () => null,
      (error: unknown) => toFailure(error),
    )
    console.log(`export on a full disk: ${failed?.message}`)
    expect(failed).toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/^Disk full: writing the exported model failed \(ENOSPC: no space left on device, write\)\. Nothing half-written was kept/) })
    expect(readdirSync(parent)).toEqual([])

    rmSync(filler)
    const exported = await studio.models.exportInto({ runId: run.id, checkpoint: 'last', format: 'hf', parent, name: 'model' })
    expect(exported.parity).toMatchObject({ passed: true })
    expect(readdirSync(parent)).toEqual(['model'])
  }, 180_000)
})

describe('disk full without a tmpfs (the same code paths, simulated)', () => {
  it('maps SQLITE_FULL from an import to "Disk full" and stores nothing', async () => {
    const home = tempDir()
    const studio = new Studio({ home: home.path })
    try {
      const projectId = studio.projects.create('P').id
      // Each import connection may grow the file only a little: SQLite answers SQLITE_FULL.
      const pages = (studio.db.pragma('page_count', { simple: true }) as number) + 8
      const squeezed = new CorporaService(studio.db, studio.jobs, (path) => {
        const db = openConnection(path)
        db.pragma(`max_page_count = ${pages}`)
        return db
      })
      const source = sourceFile('two-mb.txt', 2)
      const error = await squeezed.import({ projectId, name: 'x', jobId: 'job-squeezed', source: { path: source, kind: 'file', displayName: 'two-mb.txt' }, options: {} }).catch((e: unknown) => e)
      expect(toFailure(error)).toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/^Disk full: importing two-mb\.txt failed \(database or disk is full\)/) })
      expect(studio.db.prepare('SELECT count(*) FROM corpora').pluck().get()).toBe(0)
      expect(studio.db.pragma('integrity_check', { simple: true })).toBe('ok')
      // With room again (the default connection), the same import works.
      expect((await studio.corpora.import({ projectId, name: 'x', jobId: 'job-roomy', source: { path: source, kind: 'file', displayName: 'two-mb.txt' }, options: {} })).corpus.stats.documents).toBeGreaterThan(20_000)
    } finally {
      studio.close()
      home.cleanup()
    }
  }, 60_000)

  it('maps ENOSPC and SQLITE_FULL, wherever they come from, to one clear DISK_FULL failure', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/exports/model/model.safetensors' })
    expect(toFailure(enospc)).toEqual({
      ok: false,
      code: 'DISK_FULL',
      message: 'Disk full writing /exports/model/model.safetensors (ENOSPC: no space left on device, write). Nothing half-written was kept. Free some disk space, then try again.',
    })
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
    expect(toFailure(asDiskFull(full, 'saving a checkpoint'))).toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/^Disk full: saving a checkpoint failed \(database or disk is full\)/) })
    const other = Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT' })
    expect(asDiskFull(other)).toBe(other)
  })
})
