import type { CorpusStats } from '../../contract/index.ts'

/** Upper bounds (words) of the length histogram's bins; a last, open-ended bin follows. */
export const HISTOGRAM_EDGES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const
/** Documents up to this many words are counted exactly, so the median is exact below it. */
const EXACT_WORDS = 4096
/** Stats keep the most frequent labels only: a free-text column picked as label must not bloat them. */
const MAX_LABELS = 1000

/**
 * Words in a text: runs of non-space characters, except that each CJK ideograph, kana or other
 * unspaced-script character counts as a word by itself (Chinese and Japanese have no spaces, and
 * one character is the usual unit there). Also counts code points, for `characters`.
 */
export function countText(text: string): { words: number; characters: number } {
  let words = 0
  let surrogates = 0
  let inWord = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c <= 0x20 || c === 0xa0 || c === 0x3000 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || (c > 0x3000 && c <= 0x303f)) {
      // Spaces, and CJK punctuation, which separates words rather than being one.
      inWord = false
    } else if (c >= 0x2e80 && c <= 0x9fff) {
      // CJK radicals, punctuation, kana, ideographs: one word each.
      words++
      inWord = false
    } else if ((c >= 0xf900 && c <= 0xfaff) || (c >= 0xd840 && c <= 0xd87f)) {
      // Compatibility ideographs; high surrogates of the supplementary ideograph planes.
      if (c >= 0xd800) surrogates++
      words++
      inWord = false
      if (c >= 0xd800) i++
    } else {
      if (c >= 0xd800 && c <= 0xdbff) surrogates++
      if (!inWord) {
        words++
        inWord = true
      }
    }
  }
  return { words, characters: text.length - surrogates }
}

/** Corpus statistics gathered in one pass while documents stream by. */
export class StatsAccumulator {
  private documents = 0
  private characters = 0
  private words = 0
  private minWords = Number.POSITIVE_INFINITY
  private maxWords = 0
  private readonly bins = new Array<number>(HISTOGRAM_EDGES.length + 1).fill(0)
  private readonly exact = new Array<number>(EXACT_WORDS + 1).fill(0)
  private readonly labels = new Map<string, number>()

  add(text: string, label: string | null): void {
    const counted = countText(text)
    this.documents++
    this.characters += counted.characters
    this.words += counted.words
    if (counted.words < this.minWords) this.minWords = counted.words
    if (counted.words > this.maxWords) this.maxWords = counted.words
    let bin = 0
    while (bin < HISTOGRAM_EDGES.length && counted.words > HISTOGRAM_EDGES[bin]!) bin++
    this.bins[bin]!++
    this.exact[Math.min(counted.words, EXACT_WORDS)]!++
    if (label !== null) this.labels.set(label, (this.labels.get(label) ?? 0) + 1)
  }

  get count(): number {
    return this.documents
  }

  result(bytes: number): CorpusStats {
    const labels = [...this.labels]
      .map(([label, count]) => ({ label, count }))
      .sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : 1))
      .slice(0, MAX_LABELS)
    return {
      documents: this.documents,
      characters: this.characters,
      words: this.words,
      bytes,
      minWords: this.documents === 0 ? 0 : this.minWords,
      maxWords: this.maxWords,
      meanWords: this.documents === 0 ? 0 : this.words / this.documents,
      medianWords: this.median(),
      // The last bin is open-ended; its edge is the longest document, so every edge is a true bound.
      histogram: { edges: [...HISTOGRAM_EDGES, Math.max(this.maxWords, 2 * HISTOGRAM_EDGES.at(-1)!)], counts: [...this.bins] },
      labels,
    }
  }

  /**
   * Exact for documents up to EXACT_WORDS words (counted one by one); when the middle document is
   * longer than that, it is reported as EXACT_WORDS, an underestimate, to keep memory fixed.
   */
  private median(): number {
    if (this.documents === 0) return 0
    const lowerRank = Math.floor((this.documents - 1) / 2)
    const upperRank = Math.floor(this.documents / 2)
    let seen = 0
    let lower = -1
    for (let words = 0; words <= EXACT_WORDS; words++) {
      seen += this.exact[words]!
      if (lower < 0 && seen > lowerRank) lower = words
      if (seen > upperRank) return (lower + words) / 2
    }
    return EXACT_WORDS
  }
}
