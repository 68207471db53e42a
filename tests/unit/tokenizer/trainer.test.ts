import { describe, expect, it } from 'vitest'
import { StudioError } from '../../../src-main/core/errors.ts'
import { countWords, trainFromCounts, trainWordPiece, type TrainProgress } from '../../../src-main/core/tokenizer/trainer.ts'

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']

async function* stream(documents: string[]) {
  for (const document of documents) yield document
}

describe('trainWordPiece (Hugging Face WordPiece/BPE trainer algorithm)', () => {
  it('learns hand-checkable merges, specials first', async () => {
    // words: ab ×3, abc ×1 → alphabet a b c, then ##b ##c; (a, ##b) 4× → "ab"; (ab, ##c) 1×.
    const vocab = await trainWordPiece(stream(['AB ab', 'ab abc']), { lowercase: true, minFrequency: 1, vocabSize: 100 })
    expect(vocab).toEqual([...SPECIALS, 'a', 'b', 'c', '##b', '##c', 'ab', 'abc'])
  })

  it('stops at minFrequency and at vocabSize', async () => {
    const documents = ['ab ab ab abc']
    expect(await trainWordPiece(documents, { lowercase: true, minFrequency: 2, vocabSize: 100 })).toEqual([...SPECIALS, 'a', 'b', 'c', '##b', '##c', 'ab'])
    expect(await trainWordPiece(documents, { lowercase: true, minFrequency: 1, vocabSize: 10 })).toEqual([...SPECIALS, 'a', 'b', 'c', '##b', '##c'])
  })

  it('breaks count ties by the smaller pair ids, as Hugging Face does', async () => {
    // alphabet a b x y (ids 5..8), then ##y (9, seen first) and ##b (10): (a, ##b) = (5, 10) beats (x, ##y) = (7, 9).
    const vocab = await trainWordPiece(['xy ab'], { lowercase: true, minFrequency: 1 })
    expect(vocab.slice(5)).toEqual(['a', 'b', 'x', 'y', '##y', '##b', 'ab', 'xy'])
  })

  it('merges repeated symbols left to right and strips ## from the right part', async () => {
    const vocab = await trainWordPiece(['aaaa aaaa'], { lowercase: true, minFrequency: 1 })
    // a ##a ##a ##a: (##a, ##a) ×2 per word → "##aa"; then (a, ##aa) ×2 and (##aa, ##aa)... ids decide.
    expect(vocab.slice(5, 7)).toEqual(['a', '##a'])
    expect(vocab).toContain('##aa')
    expect(vocab[vocab.length - 1]).toBe('aaaa')
  })

  it('keeps only the most frequent characters under limitAlphabet, dropping the rest from words', async () => {
    const vocab = await trainWordPiece(['aab aab aab q z'], { lowercase: true, minFrequency: 1, limitAlphabet: 2 })
    expect(vocab.slice(5, 7)).toEqual(['a', 'b'])
    expect(vocab).not.toContain('q')
    expect(vocab).not.toContain('z')
  })

  it('keeps case and accents when cased, lowercases and strips accents when uncased', async () => {
    // Alphabet in code point order, then ## variants; like Hugging Face, the initial alphabet and
    // its ## variants are kept even past vocabSize (no merges are made then).
    expect(await trainWordPiece(['Été'], { lowercase: false, minFrequency: 1, vocabSize: 8 })).toEqual([...SPECIALS, 't', 'É', 'é', '##t', '##é'])
    expect(await trainWordPiece(['Été'], { lowercase: true, minFrequency: 1, vocabSize: 7 })).toEqual([...SPECIALS, 'e', 't', '##t', '##e'])
  })

  it('reports progress for both phases and is deterministic', async () => {
    const words = Array.from({ length: 400 }, (_, i) => `w${(i * 7919) % 97}x${i % 13}ing`)
    const documents = Array.from({ length: 50 }, (_, d) => words.slice(d * 8, d * 8 + 8).join(' '))
    const seen: TrainProgress[] = []
    const first = await trainWordPiece(stream(documents), { lowercase: true, vocabSize: 200 }, { onProgress: (p) => seen.push(p), progressIntervalMs: 0 })
    const second = await trainWordPiece(documents, { lowercase: true, vocabSize: 200 })
    expect(first).toEqual(second)
    expect(first.length).toBeLessThanOrEqual(200)
    expect(new Set(first).size).toBe(first.length)
    expect(seen.some((p) => p.phase === 'counting')).toBe(true)
    expect(seen.some((p) => p.phase === 'merging')).toBe(true)
    expect(seen[seen.length - 1]).toMatchObject({ phase: 'merging' })
  })

  it('stops with CANCELLED when the signal aborts, in either phase', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(trainWordPiece(['a b'], { lowercase: true }, { signal: controller.signal })).rejects.toMatchObject({ code: 'CANCELLED' })

    // Abort from a timer while merging a corpus big enough to take longer than one yield.
    const words = Array.from({ length: 30_000 }, (_, i) => (i * 2654435761 >>> 0).toString(36))
    const counter = await countWords([words.join(' ')], { lowercase: true })
    const merging = new AbortController()
    setTimeout(() => merging.abort(), 5)
    const error = await trainFromCounts(counter, { lowercase: true, minFrequency: 1, vocabSize: 1_000_000 }, { signal: merging.signal }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StudioError)
    expect((error as StudioError).code).toBe('CANCELLED')
  })

  it('rejects bad options with the value and what was expected', async () => {
    await expect(trainWordPiece(['a'], { lowercase: true, vocabSize: 3 })).rejects.toThrow(/vocabSize is 3, expected an integer ≥ 5/)
    await expect(trainWordPiece(['a'], { lowercase: true, limitAlphabet: 0 })).rejects.toThrow(/limitAlphabet is 0/)
  })
})
