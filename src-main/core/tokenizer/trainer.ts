/**
 * WordPiece vocabulary training, the algorithm of Hugging Face's `WordPieceTrainer` (which is its
 * BPE trainer with a `##` continuing prefix): count words, keep the most frequent characters as
 * the alphabet, split words into characters (non-initial ones `##`-prefixed), then repeatedly merge
 * the most frequent adjacent pair (ties: the pair with the smaller ids) into left + right-without-##
 * until the vocabulary is full or the best pair is rarer than `minFrequency`.
 *
 * Pair counts are updated incrementally from the words that hold the merged pair (a pair → words
 * index), and the best pair comes from a max-heap re-validated lazily, as in `bpe/trainer.rs`.
 * Differences, both deliberate: words are visited in first-seen order (Hugging Face iterates a
 * hash map, so its `##x` ids vary run to run), and alphabet ties at the cut drop the higher code
 * point, so the same corpus always gives the same vocabulary.
 */
import { cancelled, badInput } from '../errors.ts'
import { CONTINUING_PREFIX, SPECIAL_TOKENS } from './format.ts'
import { bertWords, type NormalizerOptions } from './normalize.ts'

export interface WordPieceTrainerOptions {
  /**
   * Largest vocabulary, specials included. Default 30,522 (BERT's). As in Hugging Face, the
   * alphabet and its ## variants are always kept, so a tiny vocabSize can be exceeded.
   */
  readonly vocabSize?: number
  /** A pair rarer than this is never merged. Default 2 (Hugging Face's BertWordPieceTokenizer). */
  readonly minFrequency?: number
  readonly lowercase: boolean
  readonly stripAccents?: boolean | null
  /** Keep at most this many distinct characters, the most frequent. Default 1,000; null: all. */
  readonly limitAlphabet?: number | null
  /** Default [PAD] [UNK] [CLS] [SEP] [MASK], ids 0..4. */
  readonly specialTokens?: readonly string[]
}

export const trainerDefaults = {
  vocabSize: 30_522,
  minFrequency: 2,
  limitAlphabet: 1_000,
} as const

export interface TrainProgress {
  readonly phase: 'counting' | 'merging'
  /** 0..1; null while counting a corpus of unknown size. */
  readonly fraction: number | null
  readonly documents: number
  readonly uniqueWords: number
  readonly vocabSize: number
}

export interface TrainControl {
  readonly onProgress?: (progress: TrainProgress) => void
  readonly signal?: AbortSignal
  /** Corpus size in characters, when known, for the counting fraction. */
  readonly totalChars?: number
  /** Least milliseconds between progress calls (default 125). */
  readonly progressIntervalMs?: number
}

export interface TrainStats {
  documents: number
  totalWords: number
  uniqueWords: number
  alphabetSize: number
  droppedCharacters: number
  merges: number
  stoppedBy: 'vocabSize' | 'minFrequency' | 'noPairs'
}

export interface TrainResult {
  vocab: string[]
  stats: TrainStats
}

const YIELD_MS = 50
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Streaming word counter: only the word → count map grows. */
export class WordCounter {
  readonly counts = new Map<string, number>()
  documents = 0
  totalWords = 0
  chars = 0

  constructor(private readonly normalizer: NormalizerOptions) {}

  add(document: string): void {
    this.documents++
    this.chars += document.length
    const words = bertWords(document, this.normalizer)
    this.totalWords += words.length
    const counts = this.counts
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1)
  }
}

function throwIfAborted(signal: AbortSignal | undefined, phase: string): void {
  if (signal?.aborted) throw cancelled(`Tokenizer training cancelled while ${phase}`)
}

function checkOptions(options: WordPieceTrainerOptions) {
  const vocabSize = options.vocabSize ?? trainerDefaults.vocabSize
  const minFrequency = options.minFrequency ?? trainerDefaults.minFrequency
  const limitAlphabet = options.limitAlphabet === undefined ? trainerDefaults.limitAlphabet : options.limitAlphabet
  const specialTokens = options.specialTokens ?? SPECIAL_TOKENS
  if (!Number.isInteger(vocabSize) || vocabSize < specialTokens.length) {
    throw badInput(`vocabSize is ${vocabSize}, expected an integer ≥ ${specialTokens.length} (the special tokens)`)
  }
  if (!Number.isFinite(minFrequency) || minFrequency < 0) throw badInput(`minFrequency is ${minFrequency}, expected a number ≥ 0`)
  if (limitAlphabet !== null && (!Number.isInteger(limitAlphabet) || limitAlphabet < 1)) {
    throw badInput(`limitAlphabet is ${limitAlphabet}, expected a positive integer or null`)
  }
  if (new Set(specialTokens).size !== specialTokens.length) throw badInput(`specialTokens has duplicates: ${specialTokens.join(' ')}`)
  return { vocabSize, minFrequency, limitAlphabet, specialTokens }
}

/** Counts words over a stream of documents, then trains. Resolves to the ordered vocabulary. */
export async function trainWordPiece(documents: AsyncIterable<string> | Iterable<string>, options: WordPieceTrainerOptions, control: TrainControl = {}): Promise<string[]> {
  const counter = await countWords(documents, options, control)
  return (await trainFromCounts(counter, options, control)).vocab
}

export async function countWords(documents: AsyncIterable<string> | Iterable<string>, options: WordPieceTrainerOptions, control: TrainControl = {}): Promise<WordCounter> {
  checkOptions(options)
  const { signal, onProgress, totalChars } = control
  const interval = control.progressIntervalMs ?? 125
  const counter = new WordCounter({ lowercase: options.lowercase, stripAccents: options.stripAccents ?? null })
  let lastYield = performance.now()
  let lastProgress = -Infinity
  const report = () =>
    onProgress?.({
      phase: 'counting',
      fraction: totalChars ? Math.min(1, counter.chars / totalChars) : null,
      documents: counter.documents,
      uniqueWords: counter.counts.size,
      vocabSize: 0,
    })
  throwIfAborted(signal, 'counting words')
  for await (const document of documents) {
    counter.add(document)
    const now = performance.now()
    if (now - lastYield > YIELD_MS) {
      // A source that resolves at once never lets an abort event run; give it a turn.
      await yieldToEventLoop()
      throwIfAborted(signal, 'counting words')
      lastYield = performance.now()
    }
    if (now - lastProgress >= interval) {
      lastProgress = now
      report()
    }
  }
  throwIfAborted(signal, 'counting words')
  report()
  return counter
}

/** A growable typed array. */
class Grow<T extends Int32Array | Float64Array> {
  constructor(
    public data: T,
    private readonly make: (size: number) => T,
  ) {}
  ensure(size: number): T {
    if (size > this.data.length) {
      const next = this.make(Math.max(size, this.data.length * 2))
      next.set(this.data as never)
      this.data = next
    }
    return this.data
  }
}

// Pair (left, right) as one number; ids stay below 2^21 (checked), so keys stay exact.
const KEY_SHIFT = 2 ** 21

export async function trainFromCounts(counter: WordCounter, options: WordPieceTrainerOptions, control: TrainControl = {}): Promise<TrainResult> {
  const { vocabSize, minFrequency, limitAlphabet, specialTokens } = checkOptions(options)
  const { signal, onProgress } = control
  const interval = control.progressIntervalMs ?? 125
  const counts = counter.counts

  const vocab: string[] = []
  const ids = new Map<string, number>()
  const addToken = (token: string): number => {
    let id = ids.get(token)
    if (id === undefined) {
      id = vocab.length
      vocab.push(token)
      ids.set(token, id)
    }
    return id
  }
  for (const token of specialTokens) addToken(token)

  // Alphabet: characters weighted by word counts, the most frequent `limitAlphabet` kept,
  // added in code point order.
  const charCounts = new Map<string, number>()
  for (const [word, count] of counts) for (const char of word) charCounts.set(char, (charCounts.get(char) ?? 0) + count)
  let alphabet = [...charCounts.entries()]
  const codePoint = (char: string) => char.codePointAt(0)!
  let droppedCharacters = 0
  if (limitAlphabet !== null && alphabet.length > limitAlphabet) {
    alphabet.sort((a, b) => b[1] - a[1] || codePoint(a[0]) - codePoint(b[0]))
    droppedCharacters = alphabet.length - limitAlphabet
    alphabet = alphabet.slice(0, limitAlphabet)
  }
  alphabet.sort((a, b) => codePoint(a[0]) - codePoint(b[0]))
  const kept = new Set<string>()
  for (const [char] of alphabet) {
    addToken(char)
    kept.add(char)
  }

  // Words as symbol ids, in one buffer: word w is symbols[start[w] .. start[w] + length[w]).
  const wordTotal = counts.size
  let symbolTotal = 0
  for (const word of counts.keys()) symbolTotal += word.length
  const symbols = new Int32Array(symbolTotal)
  const start = new Int32Array(wordTotal)
  const length = new Int32Array(wordTotal)
  const wordCount = new Float64Array(wordTotal)
  {
    let w = 0
    let offset = 0
    for (const [word, count] of counts) {
      start[w] = offset
      wordCount[w] = count
      let first = true
      for (const char of word) {
        // Characters cut from the alphabet vanish from the word, as in Hugging Face.
        if (kept.has(char)) symbols[offset++] = addToken(first ? char : CONTINUING_PREFIX + char)
        first = false
      }
      length[w] = offset - start[w]!
      w++
    }
  }
  const initialVocab = vocab.length

  // Pairs: index by key; left/right ids, live count, and the words that (may) hold them.
  const pairIndex = new Map<number, number>()
  const pairLeft = new Grow(new Int32Array(1 << 16), (n) => new Int32Array(n))
  const pairRight = new Grow(new Int32Array(1 << 16), (n) => new Int32Array(n))
  const pairCount = new Grow(new Float64Array(1 << 16), (n) => new Float64Array(n))
  const pairTouched = new Grow(new Int32Array(1 << 16), (n) => new Int32Array(n))
  const pairWords: number[][] = []
  let pairTotal = 0
  const pairOf = (left: number, right: number): number => {
    const key = left * KEY_SHIFT + right
    let p = pairIndex.get(key)
    if (p === undefined) {
      p = pairTotal++
      pairIndex.set(key, p)
      pairLeft.ensure(pairTotal)[p] = left
      pairRight.ensure(pairTotal)[p] = right
      pairCount.ensure(pairTotal)
      pairTouched.ensure(pairTotal)
      pairWords.push([])
    }
    return p
  }

  for (let w = 0; w < wordTotal; w++) {
    const base = start[w]!
    const end = base + length[w]! - 1
    const count = wordCount[w]!
    for (let i = base; i < end; i++) {
      const p = pairOf(symbols[i]!, symbols[i + 1]!)
      pairCount.data[p]! += count
      const where = pairWords[p]!
      if (where[where.length - 1] !== w) where.push(w)
    }
  }

  // Max-heap of (count, pair): higher count first, then smaller (left, right).
  const heapPair = new Grow(new Int32Array(Math.max(16, pairTotal)), (n) => new Int32Array(n))
  const heapCount = new Grow(new Float64Array(Math.max(16, pairTotal)), (n) => new Float64Array(n))
  let heapSize = 0
  const above = (i: number, j: number): boolean => {
    const ci = heapCount.data[i]!
    const cj = heapCount.data[j]!
    if (ci !== cj) return ci > cj
    const pi = heapPair.data[i]!
    const pj = heapPair.data[j]!
    const li = pairLeft.data[pi]!
    const lj = pairLeft.data[pj]!
    return li !== lj ? li < lj : pairRight.data[pi]! < pairRight.data[pj]!
  }
  const swap = (i: number, j: number) => {
    const hp = heapPair.data
    const hc = heapCount.data
    const p = hp[i]!
    hp[i] = hp[j]!
    hp[j] = p
    const c = hc[i]!
    hc[i] = hc[j]!
    hc[j] = c
  }
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1
      if (l >= heapSize) return
      const r = l + 1
      const best = r < heapSize && above(r, l) ? r : l
      if (!above(best, i)) return
      swap(best, i)
      i = best
    }
  }
  const push = (p: number, count: number) => {
    heapPair.ensure(heapSize + 1)[heapSize] = p
    heapCount.ensure(heapSize + 1)[heapSize] = count
    let i = heapSize++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!above(i, parent)) break
      swap(i, parent)
      i = parent
    }
  }
  for (let p = 0; p < pairTotal; p++) {
    const count = pairCount.data[p]!
    if (count > 0) {
      heapPair.data[heapSize] = p
      heapCount.data[heapSize++] = count
    }
  }
  for (let i = (heapSize >> 1) - 1; i >= 0; i--) siftDown(i)

  const wordStamp = new Int32Array(wordTotal)
  let stamp = 0
  const touched: number[] = []
  const change = (p: number, delta: number, w: number) => {
    pairCount.data[p]! += delta
    if (delta > 0) {
      const where = pairWords[p]!
      if (where[where.length - 1] !== w) where.push(w)
      if (pairTouched.data[p] !== stamp) {
        pairTouched.data[p] = stamp
        touched.push(p)
      }
    }
  }

  let merges = 0
  let stoppedBy: TrainStats['stoppedBy'] = 'noPairs'
  let lastYield = performance.now()
  let lastProgress = -Infinity
  const report = () =>
    onProgress?.({
      phase: 'merging',
      fraction: vocabSize > initialVocab ? Math.min(1, (vocab.length - initialVocab) / (vocabSize - initialVocab)) : 1,
      documents: counter.documents,
      uniqueWords: wordTotal,
      vocabSize: vocab.length,
    })
  report()
  for (;;) {
    if (vocab.length >= vocabSize) {
      stoppedBy = 'vocabSize'
      break
    }
    if (heapSize === 0) break
    const p = heapPair.data[0]!
    const stored = heapCount.data[0]!
    heapSize--
    if (heapSize > 0) {
      heapPair.data[0] = heapPair.data[heapSize]!
      heapCount.data[0] = heapCount.data[heapSize]!
      siftDown(0)
    }
    const live = pairCount.data[p]!
    if (stored !== live) {
      if (live > 0) push(p, live)
      continue
    }
    if (live < 1 || minFrequency > live) {
      stoppedBy = 'minFrequency'
      break
    }

    const a = pairLeft.data[p]!
    const b = pairRight.data[p]!
    const right = vocab[b]!
    const merged = addToken(vocab[a]! + (right.startsWith(CONTINUING_PREFIX) ? right.slice(CONTINUING_PREFIX.length) : right))
    if (merged >= KEY_SHIFT) throw badInput(`vocabulary grew past ${KEY_SHIFT} tokens; lower vocabSize or limitAlphabet`)
    merges++
    stamp++
    touched.length = 0
    const where = pairWords[p]!
    pairWords[p] = []
    for (const w of where) {
      if (wordStamp[w] === stamp) continue
      wordStamp[w] = stamp
      const base = start[w]!
      const count = wordCount[w]!
      let n = length[w]!
      for (let i = 0; i < n; i++) {
        if (symbols[base + i] !== a || i + 1 >= n || symbols[base + i + 1] !== b) continue
        if (i > 0) {
          const previous = symbols[base + i - 1]!
          change(pairOf(previous, a), -count, w)
          change(pairOf(previous, merged), count, w)
        }
        symbols[base + i] = merged
        symbols.copyWithin(base + i + 1, base + i + 2, base + n)
        n--
        if (i < n - 1) {
          const next = symbols[base + i + 1]!
          change(pairOf(b, next), -count, w)
          change(pairOf(merged, next), count, w)
        }
      }
      length[w] = n
    }
    for (const q of touched) {
      const count = pairCount.data[q]!
      if (count > 0) push(q, count)
    }

    if ((merges & 63) === 0) {
      const now = performance.now()
      if (now - lastProgress >= interval) {
        lastProgress = now
        report()
      }
      if (now - lastYield > YIELD_MS) {
        await yieldToEventLoop()
        throwIfAborted(signal, 'merging pairs')
        lastYield = performance.now()
      }
    }
  }
  throwIfAborted(signal, 'merging pairs')
  report()
  return {
    vocab,
    stats: {
      documents: counter.documents,
      totalWords: counter.totalWords,
      uniqueWords: wordTotal,
      alphabetSize: kept.size,
      droppedCharacters,
      merges,
      stoppedBy,
    },
  }
}
