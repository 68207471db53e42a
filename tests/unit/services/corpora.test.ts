import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ImportOptions } from '../../../src-main/contract/index.ts'
import { Studio } from '../../../src-main/services/studio.ts'

const fixtures = join(__dirname, '../../fixtures/import')
let home: string
let studio: Studio
let projectId: number
let jobs = 0

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'corpora-'))
  studio = new Studio({ home })
  projectId = studio.projects.create('P').id
})
afterEach(() => {
  studio.close()
  rmSync(home, { recursive: true, force: true })
})

const source = (path: string, kind: 'file' | 'folder' = 'file') => ({ path, kind, displayName: path.split('/').at(-1)! })
const importFile = (name: string, corpusName: string, options: ImportOptions = {}, kind: 'file' | 'folder' = 'file') =>
  studio.corpora.import({ projectId, name: corpusName, jobId: `job-${++jobs}-x`, source: source(join(fixtures, name), kind), options })
const counts = () => studio.db.prepare('SELECT (SELECT count(*) FROM corpora) AS corpora, (SELECT count(*) FROM documents) AS documents').get()

describe('import', () => {
  it('stores documents, labels, sources and stats', async () => {
    const { corpus } = await importFile('reviews.csv', 'reviews', { labelColumn: 'sentiment' })
    expect(corpus).toMatchObject({ name: 'reviews', sourceName: 'reviews.csv', format: 'csv', options: { format: 'csv', textColumn: 'review', labelColumn: 'sentiment' } })
    expect(corpus.stats).toMatchObject({ documents: 4, words: 10, bytes: 110, minWords: 1, maxWords: 4, medianWords: 2.5 })
    expect(corpus.stats.labels).toEqual([{ label: 'neg', count: 2 }, { label: 'pos', count: 1 }])
    const page = studio.corpora.documents({ corpusId: corpus.id, query: '', offset: 0, limit: 10 })
    expect(page.total).toBe(4)
    expect(page.documents.map((d) => [d.ordinal, d.text, d.label, d.source])).toEqual([
      [1, 'Great phone, really "great"', 'pos', 'reviews.csv:2'],
      [2, 'Broke after\na week', 'neg', 'reviews.csv:3'],
      [3, 'Fine', null, 'reviews.csv:5'],
      [4, 'Meh', 'neg', 'reviews.csv:7'],
    ])
  })

  it('imports a folder', async () => {
    const { corpus } = await importFile('folder', 'f', {}, 'folder')
    expect(corpus.stats.documents).toBe(5)
    expect(corpus.format).toBe('folder')
  })

  it.each([
    ['ragged.csv', /^ragged\.csv line 4: expected 2 columns/],
    ['unterminated.csv', /^unterminated\.csv line \d+: a quoted field/],
    ['latin1.txt', /^latin1\.txt line 3: not valid UTF-8/],
    ['binary.bin.txt', /looks like a binary file/],
    ['empty.txt', /^empty\.txt is empty/],
    ['blank.txt', /holds no documents/],
    ['bad.jsonl', /^bad\.jsonl line 3: not valid JSON/],
  ])('refuses %s and stores nothing', async (name, message) => {
    await expect(importFile(name, 'bad')).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(message) })
    expect(counts()).toEqual({ corpora: 0, documents: 0 })
  })

  it('refuses a duplicate name', async () => {
    await importFile('lines.txt', 'same')
    await expect(importFile('lines.txt', 'same')).rejects.toMatchObject({ code: 'CONFLICT', message: 'A corpus named "same" already exists in this project' })
    expect(counts()).toEqual({ corpora: 1, documents: 3 })
  })

  it('cancels mid-import leaving nothing, and reports progress', async () => {
    const path = join(home, 'big.txt')
    writeFileSync(path, Array.from({ length: 400_000 }, (_, i) => `document number ${i} with a few words`).join('\n'))
    const events: { state: string; done: number; items: number }[] = []
    studio.bus.subscribe((event, payload) => {
      if (event !== 'job.progress') return
      events.push(payload)
      if (payload.items > 0 && payload.state === 'running') studio.jobs.cancel('cancel-me')
    })
    await expect(studio.corpora.import({ projectId, name: 'big', jobId: 'cancel-me', source: source(path), options: {} })).rejects.toMatchObject({ code: 'CANCELLED' })
    expect(events.at(-1)?.state).toBe('cancelled')
    expect(events.some((e) => e.items > 0 && e.done > 0)).toBe(true)
    expect(counts()).toEqual({ corpora: 0, documents: 0 })
  })
})

describe('list, get, rename, delete', () => {
  it('lists newest first, renames within the project uniquely, deletes with documents', async () => {
    const a = (await importFile('lines.txt', 'a')).corpus
    const b = (await importFile('records.jsonl', 'b', { labelColumn: 'label' })).corpus
    expect(studio.corpora.list(projectId).map((c) => c.name)).toEqual(['b', 'a'])
    expect(() => studio.corpora.rename(a.id, 'b')).toThrow(expect.objectContaining({ code: 'CONFLICT' }))
    expect(studio.corpora.rename(a.id, 'renamed').name).toBe('renamed')
    studio.corpora.delete(b.id)
    expect(() => studio.corpora.get(b.id)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }))
    expect(counts()).toEqual({ corpora: 1, documents: 3 })
  })
})

describe('documents', () => {
  it('pages and searches case-insensitively, with literal % and _', async () => {
    const path = join(home, 'many.txt')
    writeFileSync(path, Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? `Needle ${i} 50%_off` : `hay ${i}`)).join('\n'))
    const { corpus } = await studio.corpora.import({ projectId, name: 'many', jobId: 'many-job', source: source(path), options: {} })
    const page = studio.corpora.documents({ corpusId: corpus.id, query: '', offset: 990, limit: 50 })
    expect(page.total).toBe(1000)
    expect(page.documents.map((d) => d.ordinal)).toEqual([991, 992, 993, 994, 995, 996, 997, 998, 999, 1000])
    const found = studio.corpora.documents({ corpusId: corpus.id, query: 'NEEDLE', offset: 10, limit: 5 })
    expect(found.total).toBe(100)
    expect(found.documents.map((d) => d.text)).toEqual([100, 110, 120, 130, 140].map((i) => `Needle ${i} 50%_off`))
    expect(studio.corpora.documents({ corpusId: corpus.id, query: '0%_', offset: 0, limit: 500 }).total).toBe(100)
    expect(studio.corpora.documents({ corpusId: corpus.id, query: '%', offset: 0, limit: 500 }).total).toBe(100)
    expect(studio.corpora.documents({ corpusId: corpus.id, query: 'absent', offset: 0, limit: 5 })).toMatchObject({ total: 0, documents: [] })
  })

  it('truncates long texts in lists', async () => {
    const path = join(home, 'long.txt')
    writeFileSync(path, 'word '.repeat(1000))
    const { corpus } = await studio.corpora.import({ projectId, name: 'long', jobId: 'long-job', source: source(path), options: {} })
    expect(studio.corpora.documents({ corpusId: corpus.id, query: '', offset: 0, limit: 1 }).documents[0]!.text).toHaveLength(2000)
  })
})
