/**
 * How well a vocabulary fits a corpus, over a sample of documents: [UNK] rate, pieces per word,
 * the most-split words, the share of words that are one piece, and what the vocabulary is made of.
 */
import { CONTINUING_PREFIX, SPECIAL_TOKENS, UNK } from './format.ts'

/** What `diagnose` needs from a tokenizer (BertTokenizer has it). */
export interface WordTokenizer {
  readonly vocab: readonly string[]
  tokenizeWords(text: string): Array<{ word: string; pieces: string[] }>
}

export interface VocabComposition {
  size: number
  special: number
  /** Word-initial tokens of two or more characters. */
  wholeWords: number
  /** `##` continuation pieces of two or more characters. */
  continuations: number
  /** Single characters, bare or `##`-prefixed. */
  singleCharacters: number
}

export interface SplitWord {
  word: string
  pieces: string[]
  /** Occurrences in the sample. */
  count: number
}

export interface Diagnostics {
  documents: number
  words: number
  pieces: number
  /** Share of pieces that are [UNK]. */
  unknownRate: number
  /** Share of words that became [UNK]. */
  unknownWordRate: number
  piecesPerWord: number
  /** Share of words that are a single (non-[UNK]) piece. */
  coveredRate: number
  /** The 20 distinct words split into the most pieces (ties: more frequent first). */
  mostSplit: SplitWord[]
  composition: VocabComposition
}

export function vocabComposition(vocab: readonly string[]): VocabComposition {
  const composition: VocabComposition = { size: vocab.length, special: 0, wholeWords: 0, continuations: 0, singleCharacters: 0 }
  const specials = new Set<string>(SPECIAL_TOKENS)
  for (const token of vocab) {
    if (specials.has(token)) composition.special++
    else {
      const continuation = token.startsWith(CONTINUING_PREFIX) && token.length > CONTINUING_PREFIX.length
      const body = continuation ? token.slice(CONTINUING_PREFIX.length) : token
      if (Array.from(body).length === 1) composition.singleCharacters++
      else if (continuation) composition.continuations++
      else composition.wholeWords++
    }
  }
  return composition
}

export function diagnose(tokenizer: WordTokenizer, sample: Iterable<string>, top = 20): Diagnostics {
  let documents = 0
  let words = 0
  let pieces = 0
  let unknownPieces = 0
  let unknownWords = 0
  let covered = 0
  const split = new Map<string, SplitWord>()
  for (const document of sample) {
    documents++
    for (const { word, pieces: wordPieces } of tokenizer.tokenizeWords(document)) {
      words++
      pieces += wordPieces.length
      const unknown = wordPieces.length === 1 && wordPieces[0] === UNK
      if (unknown) {
        unknownWords++
        unknownPieces++
      } else if (wordPieces.length === 1) covered++
      if (wordPieces.length > 1) {
        const seen = split.get(word)
        if (seen) seen.count++
        else split.set(word, { word, pieces: wordPieces, count: 1 })
      }
    }
  }
  const mostSplit = [...split.values()]
    .sort((a, b) => b.pieces.length - a.pieces.length || b.count - a.count || (a.word < b.word ? -1 : a.word > b.word ? 1 : 0))
    .slice(0, top)
  return {
    documents,
    words,
    pieces,
    unknownRate: pieces ? unknownPieces / pieces : 0,
    unknownWordRate: words ? unknownWords / words : 0,
    piecesPerWord: words ? pieces / words : 0,
    coveredRate: words ? covered / words : 0,
    mostSplit,
    composition: vocabComposition(tokenizer.vocab),
  }
}

export interface Comparison {
  first: Diagnostics
  second: Diagnostics
  /** second − first for each rate (negative piecesPerWord: the second splits less). */
  difference: { unknownRate: number; piecesPerWord: number; coveredRate: number; vocabSize: number }
  /** Words of the sample each tokenizer splits differently, up to 20, most frequent first. */
  differentlySplit: Array<{ word: string; count: number; first: string[]; second: string[] }>
}

export function compareTokenizers(first: WordTokenizer, second: WordTokenizer, sample: Iterable<string>, top = 20): Comparison {
  const documents = [...sample]
  const a = diagnose(first, documents, top)
  const b = diagnose(second, documents, top)
  const words = new Map<string, number>()
  for (const document of documents) for (const { word } of first.tokenizeWords(document)) words.set(word, (words.get(word) ?? 0) + 1)
  const differentlySplit: Comparison['differentlySplit'] = []
  for (const [word, count] of [...words].sort((x, y) => y[1] - x[1])) {
    const firstPieces = first.tokenizeWords(word).flatMap((w) => w.pieces)
    const secondPieces = second.tokenizeWords(word).flatMap((w) => w.pieces)
    if (firstPieces.join(' ') !== secondPieces.join(' ')) differentlySplit.push({ word, count, first: firstPieces, second: secondPieces })
    if (differentlySplit.length >= top) break
  }
  return {
    first: a,
    second: b,
    difference: {
      unknownRate: b.unknownRate - a.unknownRate,
      piecesPerWord: b.piecesPerWord - a.piecesPerWord,
      coveredRate: b.coveredRate - a.coveredRate,
      vocabSize: b.composition.size - a.composition.size,
    },
    differentlySplit,
  }
}
