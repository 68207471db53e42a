import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Studio } from '../../../src-main/services/studio.ts'
import { wordQuery } from '../../../src-main/services/corpora.ts'
import { tempDir } from '../helpers.ts'

let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number

beforeEach(() => {
  home = tempDir()
  studio = new Studio({ home: home.path })
  projectId = studio.projects.create('P').id
})
afterEach(() => {
  studio.close()
  home.cleanup()
})

async function importLines(name: string, lines: string[]) {
  const path = join(home.path, `${name}.txt`)
  writeFileSync(path, lines.join('\n'))
  const { corpus } = await studio.corpora.import({
    projectId,
    name,
    jobId: `job-${name}-1`,
    source: { path, kind: 'file', displayName: `${name}.txt` },
    options: {},
  })
  return corpus
}

const search = (corpusId: number, query: string, offset = 0, limit = 10) =>
  studio.corpora.documents({ corpusId, query, offset, limit })
const ftsRows = () => studio.db.prepare('SELECT count(*) FROM documents_fts').pluck().get() as number

describe('word search index', () => {
  const lines = [
    'The packaging arrived broken',
    'Great café, friendly staff',
    'Packages were late again',
    'Nothing to report',
    '東京の天気は良いです',
    'כתבתי ביקורת טובה',
  ]

  it('is built in the background after an import, and finds words by prefix, accents folded', async () => {
    const corpus = await importLines('reviews', lines)
    expect(corpus.searchReady).toBe(false)
    await studio.searchIndex.idle()
    expect(studio.corpora.get(corpus.id).searchReady).toBe(true)
    expect(search(corpus.id, 'packag').documents.map((d) => d.ordinal)).toEqual([1, 3])
    expect(search(corpus.id, 'PACKAGING broken').documents.map((d) => d.ordinal)).toEqual([1])
    expect(search(corpus.id, 'cafe').documents.map((d) => d.ordinal)).toEqual([2])
    expect(search(corpus.id, 'ביקורת').documents.map((d) => d.ordinal)).toEqual([6])
    // An unspaced script cannot be split into words: search scans for the substring instead.
    expect(search(corpus.id, '天気').documents.map((d) => d.ordinal)).toEqual([5])
    expect(search(corpus.id, 'absent').total).toBe(0)
  })

  it('keeps corpora apart and pages through matches', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `review number ${i} says fine`)
    const first = await importLines('first', many)
    const second = await importLines('second', ['fine fine', 'not here'])
    await studio.searchIndex.idle()
    const page = search(first.id, 'fine', 25, 10)
    expect(page.total).toBe(30)
    expect(page.documents.map((d) => d.ordinal)).toEqual([26, 27, 28, 29, 30])
    expect(search(second.id, 'fine').total).toBe(1)
  })

  it('gives the same answers before the index is ready (scan) as after it', async () => {
    const corpus = await importLines('same', lines)
    const before = search(corpus.id, 'packaging').documents.map((d) => d.ordinal)
    await studio.searchIndex.idle()
    expect(search(corpus.id, 'packaging').documents.map((d) => d.ordinal)).toEqual(before)
  })

  it('resumes an index interrupted by a crash, and drops index rows with their corpus or project', async () => {
    const corpus = await importLines('resume', Array.from({ length: 12_000 }, (_, i) => `line ${i} alpha`))
    await studio.searchIndex.idle()
    // As if the process died after the first chunk: roll the index back to that state.
    studio.db.prepare('DELETE FROM documents_fts WHERE rowid IN (SELECT id FROM documents WHERE corpus_id = ? AND ordinal > 5000)').run(corpus.id)
    studio.db.prepare('UPDATE corpora SET search_ready = 0, indexed_through = 5000 WHERE id = ?').run(corpus.id)
    studio.close()
    studio = new Studio({ home: home.path })
    await studio.searchIndex.idle()
    expect(studio.corpora.get(corpus.id).searchReady).toBe(true)
    expect(search(corpus.id, 'alpha').total).toBe(12_000)
    expect(ftsRows()).toBe(12_000)

    const other = await importLines('other', ['x y z'])
    await studio.searchIndex.idle()
    studio.corpora.delete(corpus.id)
    expect(ftsRows()).toBe(1)
    studio.projects.delete(studio.corpora.get(other.id).projectId)
    expect(ftsRows()).toBe(0)
  })

  it('builds FTS expressions only from words', () => {
    expect(wordQuery(3, 'Hello, "world"!')).toBe('corpus:c3 AND text:("Hello"* AND "world"*)')
    expect(wordQuery(3, '*** ---')).toBeNull()
    expect(wordQuery(3, '東京')).toBeNull()
  })
})
