import { createReadStream } from 'node:fs'
import { badInput } from '../errors.ts'

/** Bytes read so far, shared between the file reader and whoever reports progress. */
export interface ByteCounter {
  bytes: number
  /** Set when a preview stopped reading before the end of the file. */
  truncated: boolean
}

export const newCounter = (): ByteCounter => ({ bytes: 0, truncated: false })

/** Import reads 1 MiB at a time: big enough to amortise per-chunk work, small enough to bound memory. */
export const IMPORT_CHUNK_BYTES = 1 << 20
export const PREVIEW_CHUNK_BYTES = 64 * 1024

/**
 * The raw bytes of a file, chunk by chunk. With `maxBytes` it stops once that much has been read
 * (a preview) and marks the counter truncated when the file went on.
 */
export async function* fileChunks(
  path: string,
  counter: ByteCounter,
  options: { chunkBytes?: number; maxBytes?: number } = {},
): AsyncGenerator<Buffer> {
  const stream = createReadStream(path, { highWaterMark: options.chunkBytes ?? IMPORT_CHUNK_BYTES })
  try {
    let read = 0
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      read += chunk.length
      counter.bytes += chunk.length
      yield chunk
      if (options.maxBytes !== undefined && read >= options.maxBytes) {
        counter.truncated = true
        return
      }
    }
  } finally {
    stream.destroy()
  }
}

/**
 * Decodes a byte stream to text, strictly. UTF-8 (with or without BOM) and UTF-16 LE/BE with a
 * BOM are accepted; anything else that is not valid UTF-8 is refused with the line and offset of
 * the first bad byte, never silently replaced by U+FFFD. A NUL byte in the first chunk of a file
 * without a UTF-16 BOM means a binary file.
 */
export async function* decodeText(chunks: AsyncIterable<Buffer>, fileName: string): AsyncGenerator<string> {
  let decoder: TextDecoder | null = null
  let utf8 = true
  let head: Buffer | null = null
  /** Bytes and newlines fully decoded before the current chunk, for error positions. */
  let bytesBefore = 0
  let newlinesBefore = 0
  /** The bytes of an incomplete UTF-8 sequence at the end of the previous chunk. */
  let carry: Buffer = Buffer.alloc(0)

  const decodeUtf8 = (chunk: Buffer): string => {
    try {
      const text = decoder!.decode(chunk, { stream: true })
      newlinesBefore += countNewlines(chunk)
      bytesBefore += chunk.length
      carry = incompleteTail(chunk.length >= 4 ? chunk : Buffer.concat([carry, chunk]))
      return text
    } catch {
      const joined = Buffer.concat([carry, chunk])
      const at = firstInvalidUtf8(joined)
      // The decoder can only fail inside `joined`; fall back to its start if our scan disagrees.
      const offset = at < 0 ? 0 : at
      throw notUtf8(fileName, joined, offset, newlinesBefore - countNewlines(carry), bytesBefore - carry.length)
    }
  }

  const start = (first: Buffer): Buffer => {
    if (first[0] === 0xef && first[1] === 0xbb && first[2] === 0xbf) {
      decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
      bytesBefore = 3
      return first.subarray(3)
    }
    if (first[0] === 0xff && first[1] === 0xfe) {
      decoder = new TextDecoder('utf-16le', { fatal: true, ignoreBOM: true })
      utf8 = false
      return first.subarray(2)
    }
    if (first[0] === 0xfe && first[1] === 0xff) {
      decoder = new TextDecoder('utf-16be', { fatal: true, ignoreBOM: true })
      utf8 = false
      return first.subarray(2)
    }
    const nul = first.indexOf(0)
    if (nul >= 0) {
      throw badInput(
        `${fileName} looks like a binary file (a NUL byte at offset ${nul}), not text. ` +
          'Import plain text, CSV, TSV or JSONL saved as UTF-8 (or UTF-16 with a byte-order mark).',
      )
    }
    decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
    return first
  }

  const decodeUtf16 = (chunk: Buffer, flush: boolean): string => {
    try {
      return flush ? decoder!.decode() : decoder!.decode(chunk, { stream: true })
    } catch {
      throw badInput(`${fileName} line ${newlinesBefore + 1}: not valid UTF-16 (an unpaired surrogate or an odd number of bytes)`)
    }
  }

  for await (const raw of chunks) {
    let chunk = raw
    if (decoder === null) {
      head = head ? Buffer.concat([head, chunk]) : chunk
      if (head.length < 4) continue
      chunk = start(head)
      head = null
    }
    if (chunk.length === 0) continue
    if (utf8) {
      const text = decodeUtf8(chunk)
      if (text.length > 0) yield text
    } else {
      const text = decodeUtf16(chunk, false)
      newlinesBefore += countChar(text, 10)
      if (text.length > 0) yield text
    }
  }
  if (decoder === null) {
    if (head === null || head.length === 0) return
    const chunk = start(head)
    if (chunk.length > 0) {
      const text = utf8 ? decodeUtf8(chunk) : decodeUtf16(chunk, false)
      if (text.length > 0) yield text
    }
  }
  if (decoder === null) return
  if (utf8) {
    try {
      const rest = (decoder as TextDecoder).decode()
      if (rest.length > 0) yield rest
    } catch {
      throw notUtf8(fileName, carry, 0, newlinesBefore - countNewlines(carry), bytesBefore - carry.length, true)
    }
  } else {
    const rest = decodeUtf16(Buffer.alloc(0), true)
    if (rest.length > 0) yield rest
  }
}

function notUtf8(
  fileName: string,
  bytes: Buffer,
  offset: number,
  newlinesBeforeBytes: number,
  bytesBeforeBytes: number,
  atEnd = false,
) {
  const line = newlinesBeforeBytes + countNewlines(bytes.subarray(0, offset)) + 1
  const byte = bytes[offset] ?? 0
  const where = `byte 0x${byte.toString(16).padStart(2, '0').toUpperCase()} at offset ${bytesBeforeBytes + offset}`
  return badInput(
    `${fileName} line ${line}: not valid UTF-8 (${atEnd ? 'the file ends inside a character, ' : ''}${where}). ` +
      'It may be Latin-1 or Windows-1252: save it as UTF-8 and import it again.',
  )
}

function countNewlines(bytes: Buffer): number {
  let count = 0
  let at = bytes.indexOf(10)
  while (at >= 0) {
    count++
    at = bytes.indexOf(10, at + 1)
  }
  return count
}

function countChar(text: string, code: number): number {
  const char = String.fromCharCode(code)
  let count = 0
  let at = text.indexOf(char)
  while (at >= 0) {
    count++
    at = text.indexOf(char, at + 1)
  }
  return count
}

/** How many bytes a sequence starting with this lead byte needs, or 0 if it cannot lead one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1
  if (lead >= 0xc2 && lead <= 0xdf) return 2
  if (lead >= 0xe0 && lead <= 0xef) return 3
  if (lead >= 0xf0 && lead <= 0xf4) return 4
  return 0
}

/** The trailing bytes of valid UTF-8 that start a sequence the buffer does not finish. */
function incompleteTail(bytes: Buffer): Buffer {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!
    if ((byte & 0xc0) === 0x80) continue
    const need = sequenceLength(byte)
    return need > back ? Buffer.from(bytes.subarray(bytes.length - back)) : Buffer.alloc(0)
  }
  return Buffer.alloc(0)
}

/**
 * The offset of the first byte that starts an invalid UTF-8 sequence (overlongs, surrogates and
 * code points past U+10FFFF included), or -1 when every complete sequence is valid. A sequence cut
 * off by the end of the buffer counts as valid: the next chunk may finish it.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0
  const n = bytes.length
  while (i < n) {
    const lead = bytes[i]!
    if (lead < 0x80) {
      i++
      continue
    }
    const need = sequenceLength(lead)
    if (need === 0) return i
    for (let k = 1; k < need; k++) {
      if (i + k >= n) return -1
      const next = bytes[i + k]!
      let low = 0x80
      let high = 0xbf
      if (k === 1) {
        if (lead === 0xe0) low = 0xa0
        else if (lead === 0xed) high = 0x9f
        else if (lead === 0xf0) low = 0x90
        else if (lead === 0xf4) high = 0x8f
      }
      if (next < low || next > high) return i
    }
    i += need
  }
  return -1
}
