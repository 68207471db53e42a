import { badInput } from '../errors.ts'

/** One line of text and its 1-based line number in its file. */
export interface Line {
  text: string
  line: number
  /** Set when the line was longer than the limit: one of its parts, or its truncated start. */
  cut?: 'split' | 'truncate'
}

/**
 * How long one line may grow before it is cut. `split` and `truncate` bound a document (and the
 * memory a single 200 MB line would take); `error` refuses the line, for formats where a cut line
 * means nothing (a JSON record). `onLong` hears of each line over the limit once.
 */
export interface LineLimit {
  maxChars: number
  action: 'split' | 'truncate' | 'error'
  fileName: string
  onLong?: () => void
}

/**
 * Where to end a piece of at most `max` characters of `text`: after the last whitespace in its
 * final tenth when there is one (parts end between words), never between the two halves of a
 * surrogate pair.
 */
export function pieceEnd(text: string, max: number): number {
  if (text.length <= max) return text.length
  const floor = Math.floor(max * 0.9)
  for (let at = max; at > floor; at--) {
    const c = text.charCodeAt(at - 1)
    if (c === 32 || c === 9 || c === 10 || c === 13) return at
  }
  const c = text.charCodeAt(max - 1)
  return c >= 0xd800 && c <= 0xdbff ? max - 1 : max
}

/** `text` cut to the limit: its parts (split) or its start (truncate). */
export function cutText(text: string, max: number, action: 'split' | 'truncate'): string[] {
  if (text.length <= max) return [text]
  if (action === 'truncate') return [text.slice(0, pieceEnd(text, max))]
  const parts: string[] = []
  let rest = text
  while (rest.length > max) {
    const end = pieceEnd(rest, max)
    parts.push(rest.slice(0, end))
    rest = rest.slice(end)
  }
  if (rest.length > 0) parts.push(rest)
  return parts
}

/**
 * Splits decoded text into lines, one batch per chunk (yielding per line would cost more than the
 * work). `\r\n`, `\n` and a lone `\r` (old Mac files) end lines. When `dropLastPartial()` says the input was cut short (a
 * preview), an unterminated last line is dropped rather than passed on half.
 *
 * With a limit, no line held in memory grows past it plus one chunk: the overflow of a long line
 * is passed on as parts (split), dropped until the line ends (truncate), or refused (error).
 */
export async function* splitLines(
  chunks: AsyncIterable<string>,
  dropLastPartial: () => boolean = () => false,
  limit?: LineLimit,
): AsyncGenerator<Line[]> {
  let pending = ''
  let line = 0
  /** The current line was already cut: its parts so far were passed on, or the rest is dropped. */
  let cutting: 'split' | 'truncate' | null = null

  const tooLong = (lineNumber: number) =>
    badInput(`${limit!.fileName} line ${lineNumber}: longer than ${limit!.maxChars.toLocaleString('en-US')} characters (a record this long is refused; is it a text file with one line per record?)`)

  /** Handles a line (`complete`: its end was seen) that may be over the limit. */
  const emit = (batch: Line[], text: string, complete: boolean): string => {
    if (limit === undefined || (cutting === null && text.length <= limit.maxChars)) {
      if (complete) batch.push({ text, line })
      return complete ? '' : text
    }
    if (limit.action === 'error') throw tooLong(line)
    if (cutting === null) limit.onLong?.()
    if (limit.action === 'truncate') {
      if (cutting === null) batch.push({ text: text.slice(0, pieceEnd(text, limit.maxChars)), line, cut: 'truncate' })
      cutting = 'truncate'
      return ''
    }
    cutting = 'split'
    let rest = text
    while (rest.length > limit.maxChars) {
      const end = pieceEnd(rest, limit.maxChars)
      batch.push({ text: rest.slice(0, end), line, cut: 'split' })
      rest = rest.slice(end)
    }
    if (complete) {
      if (rest.length > 0) batch.push({ text: rest, line, cut: 'split' })
      return ''
    }
    return rest
  }

  const breaks = /\r\n|\r|\n/g
  for await (const chunk of chunks) {
    const data = pending.length > 0 ? pending + chunk : chunk
    const batch: Line[] = []
    // Most text has no \r at all: then a plain indexOf finds the line ends, much faster than a regex.
    const anyCr = data.indexOf('\r') >= 0
    let start = 0
    for (;;) {
      let end: number
      let next: number
      if (!anyCr) {
        end = data.indexOf('\n', start)
        if (end < 0) break
        next = end + 1
      } else {
        breaks.lastIndex = start
        const found = breaks.exec(data)
        // A \r that ends the chunk may be the first half of a \r\n: wait for the next chunk.
        if (found === null || (found[0] === '\r' && found.index === data.length - 1)) break
        end = found.index
        next = end + found[0].length
      }
      if (cutting === null) line++
      // The rest of a truncated line is dropped.
      if (cutting !== 'truncate') emit(batch, data.slice(start, end), true)
      cutting = null
      start = next
    }
    let rest = start === 0 ? data : data.slice(start)
    if (limit !== undefined && cutting === 'truncate') rest = ''
    else if (limit !== undefined) {
      // A trailing \r may be half of a \r\n split across chunks: it stays with the rest.
      const cr = rest.endsWith('\r') ? '\r' : ''
      const body = cr ? rest.slice(0, -1) : rest
      if (body.length > limit.maxChars) {
        // This unfinished line is counted now; the newline that ends it will not count it again.
        if (cutting === null) line++
        const carried = emit(batch, body, false)
        rest = cutting === 'truncate' ? '' : carried + cr
      }
    }
    // Slice a copy: a substring of a 1 MiB chunk would keep the whole chunk alive.
    pending = rest.length === 0 ? '' : rest === data ? data : (' ' + rest).slice(1)
    if (batch.length > 0) yield batch
  }
  if (pending.length > 0 && !dropLastPartial()) {
    if (cutting === null) line++
    const batch: Line[] = []
    emit(batch, pending.endsWith('\r') ? pending.slice(0, -1) : pending, true)
    if (batch.length > 0) yield batch
  }
}

export const isBlank = (text: string) => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (!(c === 32 || c === 9 || c === 13 || c === 0xa0 || c === 0xfeff || c === 0x3000 || c === 11 || c === 12)) return false
  }
  return true
}
