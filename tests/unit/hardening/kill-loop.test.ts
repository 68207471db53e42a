/**
 * kill -9 in a loop (issue #8 point 4), at random moments, against the real built entries:
 * imports (the CLI), labelling and labelled-file imports (web mode, over HTTP as the page does)
 * and pre-training with checkpoints (the CLI, resumed after each kill). After every kill the
 * database passes integrity_check, everything acknowledged before it is there, nothing half
 * written is visible, and training goes on from its last checkpoint. At least 30 kills in all.
 *
 * The moments are drawn from a seeded generator; the seed is printed, and KILL_SEED=N replays it.
 */
import Database from 'better-sqlite3'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
const webEntry = join(repoRoot, 'out', 'main', 'web.js')
const stories = join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt')
const seed = process.env.KILL_SEED ? Number(process.env.KILL_SEED) : Math.floor(Math.random() * 2 ** 31)
// Kills of the cheap processes (import, web mode) are many; training restarts cost seconds each, so
// SLOW=1 (the slow part of .ci/run) adds more of them.
const SLOW = process.env.SLOW === '1'
const IMPORT_KILLS = 13
const LABEL_KILLS = 11
const TRAIN_KILLS = SLOW ? 20 : 6

/** mulberry32: small, seeded, good enough to spread kill moments. */
function rng(state: number) {
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const random = rng(seed)
const between = (low: number, high: number) => Math.floor(low + random() * (high - low))

let scratch: ReturnType<typeof tempDir>
const kills: Record<string, number> = { import: 0, labelling: 0, training: 0 }

function runCli(home: string, args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home], { encoding: 'utf8', env: { ...process.env, STUDIO_BACKEND: 'wasm' } })
  const last = result.stdout.trim().split('\n').filter(Boolean).at(-1)
  return { status: result.status, last: last ? JSON.parse(last) : null, stderr: result.stderr }
}

/** SIGKILLs a child `delayMs` after `armed` resolves (or at once if it exited), and waits for it to be gone. */
async function killAfter(child: ChildProcess, armed: Promise<unknown>, delayMs: number): Promise<'killed' | 'exited'> {
  const exited = once(child, 'exit')
  const outcome = await Promise.race([armed.then(() => 'armed' as const), exited.then(() => 'exited' as const)])
  if (outcome === 'armed') {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, delayMs)), exited])
    child.kill('SIGKILL')
  }
  const [, signal] = (await exited) as [number | null, string | null]
  return signal === 'SIGKILL' ? 'killed' : 'exited'
}

function openDb(home: string) {
  const db = new Database(join(home, 'studio.db'), { readonly: true })
  expect(db.pragma('integrity_check', { simple: true }), 'integrity_check').toBe('ok')
  expect(db.pragma('foreign_key_check'), 'foreign_key_check').toEqual([])
  return db
}

beforeAll(() => {
  for (const entry of [cli, webEntry]) {
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build before this test (npm test does)`)
  }
  scratch = tempDir('kill-loop-')
  console.log(`kill loop seed ${seed} (replay with KILL_SEED=${seed})`)
})
const started = Date.now()
afterAll(() => {
  console.log(`kills: ${JSON.stringify(kills)}, total ${kills.import! + kills.labelling! + kills.training!}, in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  scratch.cleanup()
})

describe('kill -9 in a loop', () => {
  it(`during imports (${IMPORT_KILLS} kills), with acknowledged imports in between`, async () => {
    const home = join(scratch.path, 'imports')
    const big = join(scratch.path, 'big.txt')
    const small = join(scratch.path, 'small.txt')
    const line = (i: number) => `document ${i} says the quick brown fox jumps over the lazy dog again and again`
    writeFileSync(big, Array.from({ length: 150_000 }, (_, i) => line(i)).join('\n') + '\n') // ~12 MB
    writeFileSync(small, 'kept one\nkept two\nkept three\n')
    const expectedDocuments: Record<string, number> = { small: 3, big: 150_000 }
    const acknowledged: string[] = []

    // How long a whole import of the big file takes here, so that kill moments fall inside it on
    // fast machines and slow ones alike (a fixed 0–2.5 s window let most imports finish on a fast
    // CI machine). This import is acknowledged like any other.
    const timedStart = Date.now()
    const timed = runCli(home, ['import', big, '--name', 'timed'])
    const importMs = Date.now() - timedStart
    expect(timed.status, timed.stderr).toBe(0)
    acknowledged.push('timed')

    // An import that finished before its kill counts as acknowledged, not as a kill: go on until enough kills.
    for (let i = 0; kills.import! < IMPORT_KILLS; i++) {
      expect(i, `imports keep finishing before their kill (a whole one took ${importMs} ms)`).toBeLessThan(IMPORT_KILLS * 2)
      if (i % 3 === 0) {
        const kept = runCli(home, ['import', small, '--name', `kept-${i}`])
        expect(kept.status, kept.stderr).toBe(0)
        acknowledged.push(`kept-${i}`)
      }
      const child = spawn(process.execPath, [cli, 'import', big, '--name', `doomed-${i}`, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk))
      child.stderr!.resume()
      // From the moment the process exists: startup, mid-transaction and commit are all fair game.
      const delay = between(0, importMs * 0.9)
      const outcome = await killAfter(child, once(child, 'spawn'), delay)
      if (outcome === 'killed') kills.import!++
      if (stdout.includes('"corpus_id"')) acknowledged.push(`doomed-${i}`)

      const db = openDb(home)
      try {
        const corpora = db.prepare('SELECT c.id, c.name, c.stats_json, (SELECT count(*) FROM documents d WHERE d.corpus_id = c.id) AS stored FROM corpora c').all() as {
          id: number
          name: string
          stats_json: string
          stored: number
        }[]
        const names = corpora.map((c) => c.name)
        for (const name of acknowledged) expect(names, `acknowledged ${name} kept after kill ${i} at ${delay} ms`).toContain(name)
        // A corpus is there whole or not at all: every document of its file, matching its stats.
        for (const corpus of corpora) {
          const expected = expectedDocuments[corpus.name.startsWith('kept') ? 'small' : 'big']
          expect(corpus.stored, `${corpus.name} documents`).toBe(expected)
          expect(JSON.parse(corpus.stats_json).documents).toBe(expected)
        }
        expect(db.prepare('SELECT count(*) FROM documents WHERE corpus_id NOT IN (SELECT id FROM corpora)').pluck().get()).toBe(0)
      } finally {
        db.close()
      }
    }
    expect(kills.import).toBe(IMPORT_KILLS)
  }, 240_000)

  it(`during labelling and labelled-file imports in web mode (${LABEL_KILLS} kills)`, async () => {
    const home = join(scratch.path, 'labels')
    const labelled = join(scratch.path, 'labelled.csv')
    const rows = 8_000
    writeFileSync(labelled, 'text,label\n' + Array.from({ length: rows }, (_, i) => `review number ${i} was ${i % 2 ? 'great' : 'awful'} overall,${i % 2 ? 'pos' : 'neg'}`).join('\n') + '\n')

    async function startWeb() {
      const child = spawn(process.execPath, [webEntry, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      child.stderr!.resume()
      const url = await new Promise<URL>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          stdout += chunk
          const match = /^(http:\/\/\S+)$/m.exec(stdout)
          if (match) resolve(new URL(match[1]!))
        })
        child.once('exit', (code) => reject(new Error(`web mode exited ${code} before printing its address`)))
      })
      const token = url.searchParams.get('token')!
      const headers = { Authorization: `Bearer ${token}` }
      const invoke = async (channel: string, args: unknown) => {
        const response = await fetch(new URL(`/api/invoke/${channel}`, url), { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(args) })
        return (await response.json()) as { ok: boolean; value?: any; code?: string; message?: string }
      }
      const upload = async (path: string, name: string) => {
        const response = await fetch(new URL(`/api/upload?name=${encodeURIComponent(name)}`, url), { method: 'POST', headers, body: new Blob([await import('node:fs').then((fs) => fs.readFileSync(path))]) })
        return ((await response.json()) as { value: { fileId: string } }).value.fileId
      }
      return { child, invoke, upload }
    }

    // Setup: a project, a corpus and a classification dataset, through the same API.
    const setup = await startWeb()
    const project = await setup.invoke('projects.create', { name: 'labelling' })
    const projectId = project.value.id as number
    const storiesId = await setup.upload(stories, 'stories.txt')
    const corpus = await setup.invoke('corpora.import', { projectId, fileId: storiesId, name: 'stories', jobId: 'job-stories' })
    expect(corpus.ok, corpus.message).toBe(true)
    const dataset = await setup.invoke('datasets.create', { projectId, corpusId: corpus.value.corpus.id, name: 'sentiment', task: 'classify', classes: ['pos', 'neg'] })
    expect(dataset.ok, dataset.message).toBe(true)
    const datasetId = dataset.value.id as number
    const classIds = (dataset.value.classes as { id: number }[]).map((c) => c.id)
    const page = await setup.invoke('labels.examples', { datasetId, filter: { kind: 'all' }, offset: 0, limit: 500 })
    expect(page.ok, page.message).toBe(true)
    const documentIds = (page.value.examples as { documentId: number }[]).map((e) => e.documentId)
    expect(documentIds.length).toBeGreaterThan(10)
    setup.child.kill('SIGTERM')
    await once(setup.child, 'exit')

    const acknowledged: { documentId: number; annotator: string; classId: number }[] = []
    const refused: string[] = []
    const importedNames: string[] = []
    for (let i = 0; i < LABEL_KILLS; i++) {
      const web = await startWeb()
      let stop = false
      // Three labellers at once, each writing its own (document, annotator) pairs.
      const labellers = [0, 1, 2].map(async (w) => {
        for (let n = 0; !stop; n++) {
          const documentId = documentIds[(n * 3 + w) % documentIds.length]!
          const annotator = `kill${i}-w${w}-${Math.floor((n * 3 + w) / documentIds.length)}`
          const classId = classIds[(n + w) % classIds.length]!
          let reply: Awaited<ReturnType<typeof web.invoke>>
          try {
            reply = await web.invoke('labels.set', { datasetId, documentId, annotator, value: { kind: 'classes', classIds: [classId] } })
          } catch {
            return // the server is gone: this request was never acknowledged
          }
          if (reply.ok) acknowledged.push({ documentId, annotator, classId })
          else refused.push(`${reply.code}: ${reply.message}`)
        }
      })
      // Every other round a labelled file is being imported when the kill comes.
      let importing: Promise<unknown> = Promise.resolve()
      if (i % 2 === 0) {
        const name = `imported-${i}`
        importing = web
          .upload(labelled, 'labelled.csv')
          .then((fileId) => web.invoke('datasets.importLabelled', { projectId, fileId, name, task: 'classify', jobId: `job-labelled-${i}`, options: { labelColumn: 'label' } }))
          .then((reply) => {
            if (reply.ok) importedNames.push(name)
          })
          .catch(() => undefined)
      }
      const delay = between(100, i % 2 === 0 ? 3_000 : 1_500)
      const outcome = await killAfter(web.child, Promise.resolve(), delay)
      stop = true
      await Promise.allSettled([...labellers, importing])
      if (outcome === 'killed') kills.labelling!++

      const db = openDb(home)
      try {
        const label = db.prepare('SELECT value_json FROM labels WHERE dataset_id = ? AND document_id = ? AND annotator = ?').pluck()
        for (const ack of acknowledged) {
          const stored = label.get(datasetId, ack.documentId, ack.annotator) as string | undefined
          expect(stored, `acknowledged label ${ack.annotator}/${ack.documentId} after kill ${i} at ${delay} ms`).toBeDefined()
          expect(JSON.parse(stored!).classIds).toEqual([ack.classId])
        }
        // Every stored label is a whole value naming classes of its dataset.
        for (const row of db.prepare('SELECT dataset_id, value_json FROM labels').all() as { dataset_id: number; value_json: string }[]) {
          const value = JSON.parse(row.value_json)
          const known = db.prepare('SELECT id FROM label_classes WHERE dataset_id = ?').pluck().all(row.dataset_id)
          for (const id of value.classIds) expect(known).toContain(id)
        }
        // A labelled import is there whole (corpus, dataset, a label per row) or not at all.
        const datasets = db.prepare("SELECT d.id, d.name, d.corpus_id FROM datasets d WHERE d.name LIKE 'imported-%'").all() as { id: number; name: string; corpus_id: number }[]
        for (const name of importedNames) expect(datasets.map((d) => d.name), `acknowledged ${name}`).toContain(name)
        for (const d of datasets) {
          expect(db.prepare('SELECT count(*) FROM documents WHERE corpus_id = ?').pluck().get(d.corpus_id), `${d.name} documents`).toBe(rows)
          expect(db.prepare('SELECT count(*) FROM labels WHERE dataset_id = ?').pluck().get(d.id), `${d.name} labels`).toBe(rows)
        }
        const orphans = db.prepare("SELECT count(*) FROM corpora c WHERE c.name LIKE 'imported-%' AND NOT EXISTS (SELECT 1 FROM datasets d WHERE d.corpus_id = c.id)").pluck().get()
        expect(orphans, 'a corpus left without its dataset').toBe(0)
      } finally {
        db.close()
      }
    }
    console.log(`labelling: ${acknowledged.length} acknowledged labels and ${importedNames.length} acknowledged labelled imports, all kept through ${kills.labelling} kills`)
    expect(refused, 'labels the server refused').toEqual([])
    expect(acknowledged.length).toBeGreaterThan(LABEL_KILLS)
    expect(kills.labelling).toBe(LABEL_KILLS)
  }, 240_000)

  it(`during pre-training with checkpoints (${TRAIN_KILLS} kills), resuming from the last checkpoint each time`, async () => {
    const home = join(scratch.path, 'training')
    for (const args of [['import', stories, '--name', 'stories'], ['tokenizer', 'train', '--corpus', '1', '--vocab-size', '300', '--out', join(scratch.path, 'tok')]]) {
      const result = runCli(home, args)
      expect(result.status, result.stderr.slice(-1000)).toBe(0)
    }
    // Kills aim at most `steps - 12` (progress lines come every ~125 ms), so the run never finishes
    // before its last kill; the last resume then trains the few steps left.
    const steps = SLOW ? 80 : 30
    const train = ['pretrain', '--corpus', '1', '--tokenizer', '1', '--preset', 'tiny', '--seq', '32', '--batch', '4', '--steps', String(steps), '--checkpoint-every', '2', '--validate-every', '1000', '--seed', '5', '--lr', '5e-4', '--dropout', '0.1', '--name', 'killed']
    let runId: number | null = null
    let lastCheckpoint = 0
    const history: string[] = []

    for (let i = 0; i < TRAIN_KILLS; i++) {
      const args = runId === null ? train : ['resume', '--run', String(runId)]
      const child = spawn(process.execPath, [cli, ...args, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STUDIO_BACKEND: 'wasm' } })
      let stderr = ''
      let firstStep: number | null = null
      // Most kills land while steps run, a random number of steps in; some during startup
      // (loading the engine, restoring the checkpoint).
      const early = random() < 0.3
      // Past the first step reported (about the last checkpoint's), so most rounds write a new checkpoint.
      const stepsIn = between(2, 7)
      const delay = early ? between(200, 1_500) : between(0, 100)
      const training = new Promise<void>((resolve) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk
          const reported = [...stderr.matchAll(/Training (\d+)\//g)].map((m) => Number(m[1]))
          if (reported.length === 0) return
          firstStep ??= reported[0]!
          if (reported.at(-1)! >= Math.min(firstStep + stepsIn, steps - 12)) resolve()
        })
      })
      child.stdout!.resume()
      const outcome = await killAfter(child, early ? once(child, 'spawn') : training, delay)
      expect(outcome, `the run finished before kill ${i}:\n${stderr.slice(-500)}`).toBe('killed')
      kills.training!++

      const db = openDb(home)
      try {
        const run = db.prepare("SELECT id, step FROM runs WHERE name = 'killed'").get() as { id: number; step: number } | undefined
        if (run === undefined) {
          // Killed before the run was stored: nothing to resume yet.
          expect(runId).toBeNull()
          history.push(`${i}: before the run existed`)
          continue
        }
        runId = run.id
        const checkpoints = db.prepare('SELECT id, step, bytes FROM checkpoints WHERE run_id = ? ORDER BY step').all(run.id) as { id: number; step: number; bytes: number }[]
        const latest = checkpoints.at(-1)?.step ?? 0
        // The run's state is its last checkpoint's: the steps after it are gone, not half there.
        expect(run.step, `run step vs its last checkpoint after kill ${i}`).toBe(latest)
        expect(latest, 'a checkpoint acknowledged before this kill was lost').toBeGreaterThanOrEqual(lastCheckpoint)
        const maxMetric = (db.prepare("SELECT max(step) FROM metrics WHERE run_id = ? AND split = 'train'").pluck().get(run.id) as number | null) ?? 0
        expect(maxMetric, 'metrics past the last checkpoint').toBeLessThanOrEqual(latest)
        for (const checkpoint of checkpoints) {
          const stored = db.prepare('SELECT coalesce(sum(length(data)), 0) FROM checkpoint_chunks WHERE checkpoint_id = ?').pluck().get(checkpoint.id)
          expect(stored, `checkpoint at step ${checkpoint.step} complete`).toBe(checkpoint.bytes)
        }
        // A resumed process goes on from the checkpoint it found, not from step 0.
        if (firstStep !== null && args[0] === 'resume') expect(firstStep, 'first step reported after resuming').toBeGreaterThanOrEqual(lastCheckpoint)
        history.push(`${i}: killed ${early ? `${delay} ms after start` : `${stepsIn} steps + ${delay} ms into training`}, first step reported ${firstStep ?? '-'}, last checkpoint ${latest}`)
        lastCheckpoint = latest
      } finally {
        db.close()
      }
    }
    console.log(`training kills:\n  ${history.join('\n  ')}`)
    expect(runId).not.toBeNull()

    // Last, a resume that runs to the end: every step's loss recorded once, no gap, no repeat.
    const done = runCli(home, ['resume', '--run', String(runId)])
    expect(done.status, `${done.stderr.slice(-1000)} ${JSON.stringify(done.last)}`).toBe(0)
    expect(done.last).toMatchObject({ status: 'done', step: steps })
    const db = openDb(home)
    try {
      const losses = db.prepare("SELECT step FROM metrics WHERE run_id = ? AND split = 'train' AND name = 'loss' ORDER BY step").pluck().all(runId) as number[]
      expect(losses).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    } finally {
      db.close()
    }
    const leftovers = readdirSync(join(home, 'cache'), { recursive: true }).filter((name) => String(name).includes('.tmp-'))
    if (leftovers.length > 0) console.log(`token-cache temp files left by kills: ${leftovers.length}`)
  }, 300_000)

  it('killed at least 30 times in all', () => {
    expect(kills.import! + kills.labelling! + kills.training!).toBeGreaterThanOrEqual(30)
  })
})
