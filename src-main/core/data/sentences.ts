/**
 * The one sentence segmentation of the studio. Summary labels name sentences by their index in
 * `splitSentences(text)`, so the labelling workspace, the file parser, fine-tuning and evaluation
 * must all cut a text the same way: they all call this. No imports: the renderer bundles it too.
 */

export interface SentenceSpan {
  /** [start, end) UTF-16 offsets into the original text; text === original.slice(start, end). */
  start: number
  end: number
  text: string
}

// One segmenter for the process: building it loads ICU data, and it holds no state between calls.
let segmenter: Intl.Segmenter | null = null

/**
 * Sentences by Unicode's rules (ICU, locale "en"), each trimmed of surrounding white space, with
 * exact offsets; sentences that are only white space are dropped.
 */
export function splitSentences(text: string): SentenceSpan[] {
  segmenter ??= new Intl.Segmenter('en', { granularity: 'sentence' })
  const spans: SentenceSpan[] = []
  for (const { segment, index } of segmenter.segment(text)) {
    let start = 0
    let end = segment.length
    while (start < end && isSpace(segment.charCodeAt(start))) start++
    while (end > start && isSpace(segment.charCodeAt(end - 1))) end--
    if (end > start) spans.push({ start: index + start, end: index + end, text: segment.slice(start, end) })
  }
  return spans
}

/** What String.prototype.trim removes (ECMAScript WhiteSpace and LineTerminator), without a regex per character. */
function isSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  )
}
