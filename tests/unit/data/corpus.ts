/** A tiny vocabulary and a seeded synthetic corpus for the data pipeline tests. */
import { Rng } from '../../../src-main/core/data/rng.ts'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'so', 'ta', 'vi', 'pe', 'do', 'gu', 'ha']
export const WORDS: string[] = []
for (const first of SYLLABLES) for (const second of SYLLABLES) WORDS.push(first + second) // 144 words
export const SUFFIXES = ['##ing', '##ed', '##s']
export const CJK = ['中', '文', '日', '本', '語', '字']

export const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', '!', '?', '。', ...WORDS, ...SUFFIXES, ...CJK]

export const makeTokenizer = () => BertTokenizer.fromVocab(VOCAB, { lowercase: true })

/** A sentence of `words` words; some words carry a suffix (two pieces), so whole-word masking has work. */
export function sentence(rng: Rng, words: number): string {
  const out: string[] = []
  for (let i = 0; i < words; i++) {
    const word = WORDS[rng.int(WORDS.length)]!
    out.push(rng.float() < 0.25 ? word + SUFFIXES[rng.int(SUFFIXES.length)]!.slice(2) : word)
  }
  const text = out.join(' ')
  return text[0]!.toUpperCase() + text.slice(1) + (rng.float() < 0.8 ? '.' : '!')
}

/** `count` documents of 1..maxSentences sentences of 4..16 words. */
export function makeDocuments(count: number, seed = 1, maxSentences = 12): { id: number; text: string }[] {
  const rng = Rng.derive(seed, 'corpus')
  return Array.from({ length: count }, (_, d) => {
    const sentences = 1 + rng.int(maxSentences)
    return { id: 1000 + d, text: Array.from({ length: sentences }, () => sentence(rng, 4 + rng.int(13))).join(' ') }
  })
}

export async function* streamOf<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item
}
