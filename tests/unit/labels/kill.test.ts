import Database from 'better-sqlite3'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Studio } from '../../../src-main/services/studio.ts'
import { tempDir } from '../helpers.ts'

// The child is the built web-mode server, the path every label from the UI takes: the test is
// its client, and a label counts as "shown as saved" once labels.set has answered ok. Run
// `npm run build` first when running this file alone (npm test builds before vitest).
const web = resolve(__dirname, '../../../out/main/web.js')
const home = tempDir('label-kill-')
const DOCUMENTS = 400
const WORKERS = 6
let datasetId: number
let classIds: number[]
let documentIds: number[]

beforeAll(async () => {
  if (!existsSync(web)) throw new Error(`${web} is missing: run \`npm run build\` before this test (npm test does)`)
  const studio = new Studio({ home: home.path })
  try {
    const project = studio.projects.ensure('default')
    const path = join(home.path, 'texts.txt')
    writeFileSync(path, Array.from({ length: DOCUMENTS }, (_, i) => `document number ${i} to label`).join('\n'))
    const corpus = await studio.corpora.import({ projectId: project.id, name: 'texts', jobId: 'kill-import', source: { path, kind: 'file', displayName: 'texts.txt' }, options: {} })
    const info = studio.labels.create({ projectId: project.id, corpusId: corpus.corpus.id, name: 'Kill', task: 'classify', classes: ['a', 'b', 'c'], allowOverlap: false, importLabels: false })
    datasetId = info.id
    classIds = info.classes.map((c) => c.id)
    documentIds = studio.labels.examples({ datasetId, filter: { kind: 'all' }, query: '', offset: 0, limit: 500 }).examples.map((e) => e.documentId)
  } finally {
    studio.close()
  }
})
afterAll(() => home.cleanup())

function startServer(): Promise<{ child: ChildProcess; url: URL }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [web, '--home', home.path], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (data: Buffer) => {
      out += data
      const line = out.split('\n').find((l) => l.startsWith('http://'))
      if (line) done({ child, url: new URL(line.trim()) })
    })
    child.stderr!.on('data', (data: Buffer) => (err += data))
    child.on('error', fail)
    child.on('exit', (code) => fail(new Error(`the server exited (${code}) before serving: ${err}`)))
  })
}

interface Saved {
  /** The value labels.set last answered ok for. */
  acknowledged: number
  /** A request sent and not answered when the server died: it may or may not have committed. */
  inFlight: number | null
}

/** Labels documents from several concurrent clients until the server dies; returns what each was told. */
async function labelUntilKilled(child: ChildProcess, url: URL, round: number): Promise<{ saved: Map<number, Saved>; killed: boolean }> {
  const saved = new Map<number, Saved>()
  const token = url.searchParams.get('token')!
  let acks = 0
  let armed = false
  let dead = false
  const exited = new Promise<boolean>((done) => child.on('exit', (_code, signal) => done(signal === 'SIGKILL')))
  void exited.then(() => (dead = true))
  const worker = async (w: number) => {
    // Each client owns its documents, so the last acknowledged value of each is unambiguous.
    const mine = documentIds.filter((_, i) => i % WORKERS === w)
    for (let i = 0; !dead; i++) {
      const documentId = mine[i % mine.length]!
      const classId = classIds[(i + w + round) % classIds.length]!
      const entry = saved.get(documentId)
      if (entry) entry.inFlight = classId
      else saved.set(documentId, { acknowledged: -1, inFlight: classId })
      let ok = false
      try {
        const response = await fetch(new URL('/api/invoke/labels.set', url), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: JSON.stringify({ datasetId, documentId, annotator: 'kill-test', value: { kind: 'classes', classIds: [classId] } }),
        })
        const result = (await response.json()) as { ok: boolean; value?: { labels: { annotator: string; value: { classIds: number[] } }[] } }
        ok = result.ok && result.value!.labels.some((l) => l.annotator === 'kill-test' && l.value.classIds[0] === classId)
        if (!result.ok) throw new Error(`labels.set failed: ${JSON.stringify(result)}`)
      } catch (error) {
        if (dead || (error as Error).name === 'TypeError') return
        throw error
      }
      if (ok) {
        saved.set(documentId, { acknowledged: classId, inFlight: null })
        acks++
        if (!armed && acks >= 30) {
          armed = true
          setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 400))
        }
      }
    }
  }
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)))
  return { saved, killed: await exited }
}

describe('a kill -9 during labelling', () => {
  it('loses no label that was shown as saved', async () => {
    const everSaved = new Map<number, Saved>()
    for (let round = 0; round < 3; round++) {
      const { child, url } = await startServer()
      const { saved, killed } = await labelUntilKilled(child, url, round)
      expect(killed).toBe(true)
      for (const [documentId, entry] of saved) {
        if (entry.acknowledged >= 0 || !everSaved.has(documentId)) everSaved.set(documentId, entry)
        else everSaved.get(documentId)!.inFlight = entry.inFlight
      }
      const db = new Database(join(home.path, 'studio.db'), { readonly: true })
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
        const stored = new Map(
          (db.prepare("SELECT document_id, value_json FROM labels WHERE dataset_id = ? AND annotator = 'kill-test'").all(datasetId) as { document_id: number; value_json: string }[]).map(
            (row) => [row.document_id, (JSON.parse(row.value_json) as { classIds: number[] }).classIds[0]!],
          ),
        )
        const acknowledged = [...everSaved].filter(([, e]) => e.acknowledged >= 0)
        expect(acknowledged.length).toBeGreaterThanOrEqual(30)
        for (const [documentId, entry] of acknowledged) {
          // The acknowledged value, unless a later request that never got its answer committed.
          const allowed = entry.inFlight === null ? [entry.acknowledged] : [entry.acknowledged, entry.inFlight]
          expect(allowed, `document ${documentId}`).toContain(stored.get(documentId))
        }
      } finally {
        db.close()
      }
    }
  }, 120_000)
})
