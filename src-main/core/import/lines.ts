/** One line of text and its 1-based line number in its file. */
export interface Line {
  text: string
  line: number
}

/**
 * Splits decoded text into lines, one batch per chunk (yielding per line would cost more than the
 * work). `\r\n` and `\n` end lines. When `dropLastPartial()` says the input was cut short (a
 * preview), an unterminated last line is dropped rather than passed on half.
 */
export async function* splitLines(
  chunks: AsyncIterable<string>,
  dropLastPartial: () => boolean = () => false,
): AsyncGenerator<Line[]> {
  let pending = ''
  let line = 0
  for await (const chunk of chunks) {
    const data = pending.length > 0 ? pending + chunk : chunk
    const batch: Line[] = []
    let start = 0
    let end = data.indexOf('\n')
    while (end >= 0) {
      line++
      const stop = end > start && data.charCodeAt(end - 1) === 13 ? end - 1 : end
      batch.push({ text: data.slice(start, stop), line })
      start = end + 1
      end = data.indexOf('\n', start)
    }
    // Slice a copy: a substring of a 1 MiB chunk would keep the whole chunk alive.
    pending = start === 0 ? data : (' ' + data.slice(start)).slice(1)
    if (batch.length > 0) yield batch
  }
  if (pending.length > 0 && !dropLastPartial()) {
    line++
    yield [{ text: pending.endsWith('\r') ? pending.slice(0, -1) : pending, line }]
  }
}

export const isBlank = (text: string) => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (!(c === 32 || c === 9 || c === 13 || c === 0xa0 || c === 0xfeff || c === 0x3000 || c === 11 || c === 12)) return false
  }
  return true
}
