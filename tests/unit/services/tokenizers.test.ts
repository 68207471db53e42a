import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { JobProgress } from '../../../src-main/contract/index.ts'
import { TokenizerTrainOptions } from '../../../src-main/contract/index.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number
let corpusId: number

const words = ['the', 'cat', 'sat', 'on', 'mat', 'running', 'runner', 'unhappy', 'happily', 'played', 'playing', 'dogs', 'walked', 'walking', 'reviews', 'review']
function corpusLines(count: number, seed = 7): string[] {
  let state = seed
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648
  return Array.from({ length: count }, () => Array.from({ length: 6 + Math.floor(next() * 8) }, () => words[Math.floor(next() * words.length)]).join(' '))
}

const options = (overrides: Partial<TokenizerTrainOptions> = {}) => TokenizerTrainOptions.parse({ vocabSize: 120, ...overrides })

beforeEach(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  home = tempDir()
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('P').id
  const path = join(home.path, 'corpus.txt')
  writeFileSync(path, corpusLines(400).join('\n'))
  corpusId = (await studio.corpora.import({ projectId, name: 'c', jobId: 'import-1', source: { path, kind: 'file', displayName: 'corpus.txt' }, options: {} })).corpus.id
})
afterEach(() => {
  studio.close()
  home.cleanup()
})

describe('tokenizers service', () => {
  it('trains in the worker with progress, stores the tokenizer with its stats and diagnostics', async () => {
    const events: JobProgress[] = []
    studio.bus.subscribe((event, payload) => event === 'job.progress' && events.push(payload))
    const info = await studio.tokenizers.train({ projectId, corpusId, name: 'wp', jobId: 'train-1', options: options() })
    expect(info).toMatchObject({ name: 'wp', origin: 'trained', corpusId, sourceName: 'c', lowercase: true, options: { vocabSize: 120 } })
    expect(info.vocabSize).toBeLessThanOrEqual(120)
    expect(info.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(info.train).toMatchObject({ documents: 400 })
    expect(info.diagnostics!.documents).toBe(400)
    expect(info.diagnostics!.piecesPerWord).toBeGreaterThanOrEqual(1)
    expect(events.at(-1)).toMatchObject({ jobId: 'train-1', kind: 'tokenizer', state: 'done' })
    expect(studio.tokenizers.list(projectId).map((t) => t.id)).toEqual([info.id])

    const files = studio.tokenizers.files(info.id)
    const vocab = files['vocab.txt'].trimEnd().split('\n')
    expect(vocab.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    expect(vocab).toHaveLength(info.vocabSize)
    expect(JSON.parse(files['tokenizer.json']).model.type).toBe('WordPiece')
    expect(JSON.parse(files['tokenizer_config.json'])).toMatchObject({ do_lower_case: true })

    const encoded = await studio.tokenizers.encode({ tokenizerId: info.id, text: 'The cat', pair: 'sat down' })
    expect(encoded.tokens[0]).toBe('[CLS]')
    expect(encoded.tokens.filter((t) => t === '[SEP]')).toHaveLength(2)
    expect(encoded.tokenTypeIds.at(-1)).toBe(1)
    expect(encoded.words.map((w) => w.word)).toEqual(['the', 'cat', 'sat', 'down'])
  })

  it('compares two vocabularies on the same sample', async () => {
    const small = await studio.tokenizers.train({ projectId, corpusId, name: 'small', jobId: 'train-s', options: options({ vocabSize: 60 }) })
    const large = await studio.tokenizers.train({ projectId, corpusId, name: 'large', jobId: 'train-l', options: options({ vocabSize: 200 }) })
    const comparison = studio.tokenizers.compare({ firstId: small.id, secondId: large.id, corpusId, sample: 200 })
    expect(comparison.first.diagnostics.piecesPerWord).toBeGreaterThan(comparison.second.diagnostics.piecesPerWord)
    expect(comparison.differences.length).toBeGreaterThan(0)
    for (const difference of comparison.differences) expect(difference.first.join(' ')).not.toBe(difference.second.join(' '))
  })

  it('cancels training and stores nothing', async () => {
    const path = join(home.path, 'big.txt')
    writeFileSync(path, corpusLines(60_000, 3).join('\n'))
    const big = (await studio.corpora.import({ projectId, name: 'big', jobId: 'import-2', source: { path, kind: 'file', displayName: 'big.txt' }, options: {} })).corpus
    const training = studio.tokenizers.train({ projectId, corpusId: big.id, name: 'never', jobId: 'train-c', options: options() })
    setTimeout(() => studio.jobs.cancel('train-c'), 50)
    await expect(training).rejects.toMatchObject({ code: 'CANCELLED' })
    expect(studio.tokenizers.list(projectId)).toEqual([])
  })

  it('imports a vocab.txt, refuses a bad one, and keeps names unique', async () => {
    const vocabPath = join(home.path, 'vocab.txt')
    writeFileSync(vocabPath, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##aff', '##able', 'want'].join('\n') + '\n')
    const imported = studio.tokenizers.import({ projectId, path: vocabPath, displayName: 'vocab.txt', name: 'ref', lowercase: true })
    expect(imported).toMatchObject({ origin: 'imported', vocabSize: 9, train: null, sourceName: 'vocab.txt' })
    expect((await studio.tokenizers.encode({ tokenizerId: imported.id, text: 'unaffable' })).tokens).toEqual(['[CLS]', 'un', '##aff', '##able', '[SEP]'])
    expect(() => studio.tokenizers.import({ projectId, path: vocabPath, displayName: 'vocab.txt', name: 'ref', lowercase: true })).toThrow(/already exists/)
    const bad = join(home.path, 'bad.json')
    writeFileSync(bad, '{"model": {"type": "BPE"}}')
    expect(() => studio.tokenizers.import({ projectId, path: bad, displayName: 'bad.json', name: 'bad', lowercase: true })).toThrow(/bad\.json/)
    expect(studio.tokenizers.list(projectId)).toHaveLength(1)
    expect(studio.tokenizers.rename(imported.id, 'renamed').name).toBe('renamed')
    studio.tokenizers.delete(imported.id)
    expect(() => studio.tokenizers.get(imported.id)).toThrow(/No tokenizer/)
  })

  it('saves the four files transformers loads', async () => {
    const info = await studio.tokenizers.train({ projectId, corpusId, name: 'wp', jobId: 'train-2', options: options() })
    const folder = join(home.path, 'export')
    studio.tokenizers.save(info.id, folder)
    for (const name of ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      expect(readFileSync(join(folder, name), 'utf8')).toBe(studio.tokenizers.files(info.id)[name as 'vocab.txt'])
    }
  })
})
