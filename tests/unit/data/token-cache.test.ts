import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { buildTokenCache, TokenCache } from '../../../src-main/core/data/token-cache.ts'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'
import { tempDir } from '../helpers.ts'
import { makeDocuments, makeTokenizer, streamOf } from './corpus.ts'

const dir = tempDir('studio-cache-')
afterAll(() => dir.cleanup())

/** What the cache should hold: non-blank Intl.Segmenter sentences, tokenised, cut at `max` tokens. */
async function expectedSentences(tokenizer: BertTokenizer, text: string, max: number): Promise<number[][]> {
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' })
  const sentences = [...segmenter.segment(text)].map(({ segment }) => segment.trim()).filter((s) => s.length > 0)
  const out: number[][] = []
  for (const ids of await tokenizer.encodeIdsBatch(sentences)) for (let i = 0; i < ids.length; i += max) out.push(ids.slice(i, i + max))
  return out
}

describe('token cache', () => {
  const tokenizer = makeTokenizer()
  const longDocument = makeDocuments(1, 9, 1)[0]!.text.replace(/[.!]/g, ' ').repeat(1).trim() // one long sentence…
  const documents = [
    ...makeDocuments(5, 2),
    { id: 1, text: 'Kalo mira neru.' }, // one sentence
    { id: 2, text: '' }, // empty
    { id: 3, text: '   \n\t ' }, // blank
    { id: 4, text: '中文日本語。字中文。日本' }, // CJK: 3 sentences
    { id: 5, text: makeDocuments(300, 3, 4).map((d) => d.text).join(' ') }, // very long document
    { id: 6, text: (longDocument + ' ').repeat(40) }, // no sentence punctuation: one sentence, cut into pieces
    { id: 7, text: 'Zzz qqq. Kalo!' }, // unknown words: [UNK]
    { id: 8, text: 'Kalo mira.\nNeru sota\ntavi. Pedo!\r\n\r\n  Guha\u2028lomi.\n\n' }, // line breaks end sentences
  ]

  it('round-trips documents, sentences and ids, and reads sentences at random', async () => {
    const path = join(dir.path, 'corpus.tokens')
    const progress: number[] = []
    const header = await buildTokenCache(streamOf(documents), tokenizer, path, { tokenizerHash: 'abc', maxSentenceTokens: 64, encodeBatchSentences: 37, progressIntervalMs: 0, onProgress: (p) => progress.push(p.documents) })
    expect(readdirSync(dir.path)).toEqual(['corpus.tokens']) // no temporary file left
    expect(progress.at(-1)).toBe(documents.length)
    const cache = TokenCache.open(path, { tokenizerHash: 'abc', vocabSize: tokenizer.size })
    expect(cache.header).toEqual(header)
    expect(header.tokenBytes).toBe(2)
    expect(cache.documentCount).toBe(documents.length)
    expect(header.counts.emptyDocuments).toBe(2)
    expect(cache.documentSentencesOf(12)).toHaveLength(6)
    expect([...cache.documentIds]).toEqual(documents.map((d) => d.id))
    let sentences = 0
    let tokens = 0
    for (let d = 0; d < documents.length; d++) {
      const expected = await expectedSentences(tokenizer, documents[d]!.text, 64)
      expect(cache.documentSentencesOf(d).map((s) => [...s])).toEqual(expected)
      sentences += expected.length
      tokens += expected.reduce((sum, s) => sum + s.length, 0)
    }
    expect(cache.sentenceCount).toBe(sentences)
    expect(cache.tokenCount).toBe(tokens)
    expect(cache.documentSentencesOf(5)).toHaveLength(1)
    expect(cache.documentSentencesOf(6)).toHaveLength(0)
    expect(cache.documentSentencesOf(8)).toHaveLength(3)
    expect([...cache.documentSentencesOf(8)[0]!]).toEqual(['中', '文', '日', '本', '語', '。'].map((t) => tokenizer.tokenToId(t)))
    expect(cache.documentSentencesOf(10).every((s) => s.length <= 64)).toBe(true)
    expect(cache.documentSentencesOf(10).length).toBeGreaterThan(1)
    expect(cache.documentSentencesOf(11)[0]![0]).toBe(tokenizer.tokenToId('[UNK]'))
    // Random access: a sentence in the middle of the long document equals the document read.
    const [first, end] = cache.sentenceRange(9)
    const middle = Math.floor((first + end) / 2)
    expect([...cache.sentence(middle)]).toEqual([...cache.documentSentencesOf(9)[middle - first]!])
    expect(() => TokenCache.open(path, { tokenizerHash: 'other' })).toThrow(/built with tokenizer abc, expected other/)
    expect(() => cache.sentenceRange(99)).toThrow(/outside/)
    cache.close()
    // Size: 2 bytes a token plus the index.
    expect(statSync(path).size).toBeLessThan(200 + tokens * 2 + (sentences + 1) * 4 + documents.length * 12 + 1000)
  })

  it('hashes the content, not the ids: the same text under new ids hashes the same, other text does not', async () => {
    const build = async (name: string, docs: readonly { id: number; text: string }[]) => {
      await buildTokenCache(streamOf(docs), tokenizer, join(dir.path, name), { tokenizerHash: 'abc' })
      const cache = TokenCache.open(join(dir.path, name))
      try {
        return cache.contentHash()
      } finally {
        cache.close()
      }
    }
    const original = await build('original.tokens', documents)
    expect(original).toMatch(/^[0-9a-f]{64}$/)
    expect(await build('moved.tokens', documents.map((d) => ({ ...d, id: d.id + 1000 })))).toBe(original)
    const edited = documents.map((d, i) => (i === 3 ? { ...d, text: `${d.text} Kalo.` } : d))
    expect(await build('edited.tokens', edited)).not.toBe(original)
    // The same tokens split into documents differently is other data.
    const merged = [{ id: 1, text: `${documents[0]!.text}\n${documents[1]!.text}` }, ...documents.slice(2)]
    expect(await build('merged.tokens', merged)).not.toBe(original)
  })

  it('stores int32 ids when the vocabulary exceeds 65,536 tokens', async () => {
    const big = BertTokenizer.fromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ...Array.from({ length: 70_000 }, (_, i) => `w${i}`)], { lowercase: true })
    const path = join(dir.path, 'big.tokens')
    const header = await buildTokenCache([{ id: 1, text: 'w0 w69999 w65536. W7.' }], big, path)
    expect(header.tokenBytes).toBe(4)
    const cache = TokenCache.open(path)
    expect(cache.documentSentencesOf(0).map((s) => [...s])).toEqual([[6, 70005, 65542, 5], [13, 5]])
    cache.close()
  })

  it('leaves nothing behind when cancelled', async () => {
    const path = join(dir.path, 'cancelled.tokens')
    const controller = new AbortController()
    async function* slow() {
      yield { id: 1, text: 'Kalo mira.' }
      controller.abort()
      yield { id: 2, text: 'Neru.' }
    }
    await expect(buildTokenCache(slow(), tokenizer, path, { signal: controller.signal })).rejects.toThrow(/cancelled/)
    expect(existsSync(path)).toBe(false)
    expect(readdirSync(dir.path).filter((name) => name.startsWith('cancelled'))).toEqual([])
  })

  it('rejects a file that is not a token cache', async () => {
    const path = join(dir.path, 'not-a-cache')
    await import('node:fs/promises').then((fs) => fs.writeFile(path, 'hello'))
    expect(() => TokenCache.open(path)).toThrow(/not a token cache/)
  })
})
