/**
 * The token cache: a corpus tokenised once into one binary file, so pre-training reads token ids
 * at random offsets instead of re-tokenising text every epoch (google-research/bert writes
 * TFRecords of finished instances; we keep sentences, because masks and pairs are redrawn each
 * epoch).
 *
 * Layout (all little-endian):
 *
 *   [0, 64)            preamble: "BSTOKCAC" magic, float64 header offset, uint32 header length
 *   [64, …)            tokens: uint16 when the vocabulary has ≤ 65,536 ids, else int32
 *   (8-aligned)        sentenceOffsets: uint32 [sentences + 1], token offset of each sentence start
 *   (8-aligned)        documentSentences: uint32 [documents + 1], first sentence of each document
 *   (8-aligned)        documentIds: float64 [documents], the caller's ids, in input order
 *   (end)              JSON header (version, vocab size, tokenizer hash, counts, section offsets)
 *
 * Sentences of a document, and documents, are contiguous in the token section, so a run of
 * sentences is one read. The preamble is written last, so a file is only valid when complete; it
 * is written to a temporary name and renamed into place.
 *
 * Size: tokens dominate, 2 bytes each; the index costs 4 bytes a sentence and 12 a document.
 * Measured on 1.47 MB of markdown (READMEs) with a 16k WordPiece vocabulary: 3.4 bytes of text a
 * token, 14 tokens a sentence → 0.67 MB of cache per MB of text, of which 0.08 MB is the index
 * (held in memory by the reader). English prose with a 30k vocabulary runs ~4.5 bytes a token and
 * longer sentences, so for 1 GB of text expect ~0.45–0.6 GB on disk and a 40–85 MB index in memory.
 * Uint32 offsets limit a cache to 2^32 − 1 tokens (~18 GB of text).
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, fstatSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { badInput, cancelled } from '../errors.ts'

export const TOKEN_CACHE_VERSION = 1
const MAGIC = 'BSTOKCAC'
const PREAMBLE_BYTES = 64
const MAX_TOKENS = 0xffffffff

/** What the cache needs from a tokenizer (BertTokenizer has it). */
export interface CacheTokenizer {
  readonly size: number
  encodeIdsBatch(texts: readonly string[]): Promise<number[][]>
}

export interface TokenCacheHeader {
  readonly format: 'bert-studio-token-cache'
  readonly version: number
  readonly vocabSize: number
  /** Whatever identifies the tokenizer (the caller's hash of its tokenizer.json). */
  readonly tokenizerHash: string
  readonly tokenBytes: 2 | 4
  readonly maxSentenceTokens: number
  readonly counts: { readonly documents: number; readonly emptyDocuments: number; readonly sentences: number; readonly tokens: number; readonly characters: number }
  readonly sections: {
    readonly tokens: number
    readonly sentenceOffsets: number
    readonly documentSentences: number
    readonly documentIds: number
  }
}

export interface TokenCacheProgress {
  readonly documents: number
  readonly sentences: number
  readonly tokens: number
  readonly characters: number
}

export interface BuildTokenCacheOptions {
  readonly tokenizerHash?: string
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: TokenCacheProgress) => void
  /** Least milliseconds between progress calls (default 125). */
  readonly progressIntervalMs?: number
  /**
   * A sentence longer than this (text without sentence punctuation, tables, code) is cut into
   * pieces of this many tokens, so one "sentence" never dwarfs a sequence. Default 512.
   */
  readonly maxSentenceTokens?: number
  /** Sentences per `encodeIdsBatch` call (default 1,024). */
  readonly encodeBatchSentences?: number
}

/** A growable typed array of one kind. */
class Growable<T extends Uint32Array | Float64Array> {
  length = 0
  constructor(
    public data: T,
    private readonly make: (size: number) => T,
  ) {}
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = value
  }
  view(): T {
    return this.data.subarray(0, this.length) as T
  }
}

const align8 = (offset: number) => Math.ceil(offset / 8) * 8

/**
 * Tokenises `documents` sentence by sentence into a cache file at `path` (atomically). Documents
 * are streamed: only one encode batch of sentences and the index are held in memory. A document
 * with no tokens is kept (zero sentences) so document indices match the input order.
 */
export async function buildTokenCache(documents: AsyncIterable<{ id: number; text: string }> | Iterable<{ id: number; text: string }>, tokenizer: CacheTokenizer, path: string, options: BuildTokenCacheOptions = {}): Promise<TokenCacheHeader> {
  const maxSentenceTokens = options.maxSentenceTokens ?? 512
  const encodeBatchSentences = options.encodeBatchSentences ?? 1024
  if (!Number.isInteger(maxSentenceTokens) || maxSentenceTokens < 1) throw badInput(`maxSentenceTokens is ${maxSentenceTokens}, expected an integer ≥ 1`)
  const vocabSize = tokenizer.size
  const tokenBytes: 2 | 4 = vocabSize <= 65536 ? 2 : 4
  const progressIntervalMs = options.progressIntervalMs ?? 125
  const temp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`
  const handle = await open(temp, 'w')
  let ok = false
  let lastEncode: Promise<unknown> = Promise.resolve()
  try {
    const sentenceOffsets = new Growable(new Uint32Array(1024), (n) => new Uint32Array(n))
    const documentSentences = new Growable(new Uint32Array(256), (n) => new Uint32Array(n))
    const documentIds = new Growable(new Float64Array(256), (n) => new Float64Array(n))
    sentenceOffsets.push(0)
    let tokenCount = 0
    let characters = 0
    let emptyDocuments = 0
    let filePosition = PREAMBLE_BYTES
    // Tokens are written through a fixed buffer.
    const chunkTokens = 1 << 18
    const chunk = tokenBytes === 2 ? new Uint16Array(chunkTokens) : new Int32Array(chunkTokens)
    let chunkLength = 0
    const flushChunk = async () => {
      if (chunkLength === 0) return
      const bytes = new Uint8Array(chunk.buffer, 0, chunkLength * tokenBytes)
      await handle.write(bytes, 0, bytes.length, filePosition)
      filePosition += bytes.length
      chunkLength = 0
    }
    const appendSentence = async (ids: readonly number[], start: number, end: number) => {
      if (tokenCount + (end - start) > MAX_TOKENS) throw badInput(`the corpus has more than ${MAX_TOKENS} tokens, the most a token cache holds`)
      for (let i = start; i < end; i++) {
        const id = ids[i]!
        if (!(id >= 0 && id < vocabSize)) throw badInput(`the tokenizer returned id ${id}, expected 0..${vocabSize - 1}`)
        chunk[chunkLength++] = id
        if (chunkLength === chunkTokens) await flushChunk()
      }
      tokenCount += end - start
      sentenceOffsets.push(tokenCount)
    }

    // Pending work: sentence texts, and document starts between them (marked by -1 - documentOrdinal).
    let pendingTexts: string[] = []
    let pendingMarks: number[] = [] // ≥ 0: index into pendingTexts; < 0: a document starts here
    // Double-buffered: the native encoder works on one batch (off the main thread) while the
    // next is segmented; results are written in input order.
    let inFlight: { encoded: Promise<number[][]>; marks: number[] } | null = null
    const writeInFlight = async () => {
      if (inFlight === null) return
      const { encoded, marks } = inFlight
      inFlight = null
      const results = await encoded
      for (const mark of marks) {
        if (mark < 0) {
          documentSentences.push(sentenceOffsets.length - 1)
          continue
        }
        const ids = results[mark]!
        for (let start = 0; start < ids.length; start += maxSentenceTokens) await appendSentence(ids, start, Math.min(ids.length, start + maxSentenceTokens))
      }
    }
    const flushPending = async () => {
      await writeInFlight()
      const texts = pendingTexts
      inFlight = { encoded: texts.length > 0 ? tokenizer.encodeIdsBatch(texts) : Promise.resolve([]), marks: pendingMarks }
      lastEncode = inFlight.encoded.catch(() => undefined) // awaited in writeInFlight; no unhandled rejection meanwhile
      pendingTexts = []
      pendingMarks = []
    }

    const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' })
    let documentCount = 0
    let lastProgress = 0
    const report = (force: boolean) => {
      if (!options.onProgress) return
      const now = Date.now()
      if (!force && now - lastProgress < progressIntervalMs) return
      lastProgress = now
      options.onProgress({ documents: documentCount, sentences: sentenceOffsets.length - 1, tokens: tokenCount, characters })
    }
    for await (const document of documents) {
      if (options.signal?.aborted) throw cancelled('Building the token cache was cancelled')
      documentIds.push(document.id)
      pendingMarks.push(-1 - documentCount)
      documentCount++
      characters += document.text.length
      // Line by line: a line break always ends a sentence (UAX #29 SB4), and ICU segments many
      // short strings ~4× faster than one long one.
      for (const line of document.text.split('\n')) {
        if (line.trim().length === 0) continue
        for (const { segment } of segmenter.segment(line)) {
          const sentence = segment.trim()
          if (sentence.length === 0) continue
          pendingMarks.push(pendingTexts.length)
          pendingTexts.push(sentence)
          if (pendingTexts.length >= encodeBatchSentences) await flushPending()
        }
      }
      if (pendingTexts.length >= encodeBatchSentences) await flushPending()
      report(false)
    }
    await flushPending()
    await writeInFlight()
    documentSentences.push(sentenceOffsets.length - 1)
    const starts = documentSentences.view()
    for (let d = 0; d < documentCount; d++) if (starts[d + 1] === starts[d]) emptyDocuments++
    await flushChunk()
    if (options.signal?.aborted) throw cancelled('Building the token cache was cancelled')

    const sections = { tokens: PREAMBLE_BYTES, sentenceOffsets: 0, documentSentences: 0, documentIds: 0 }
    const writeSection = async (array: Uint32Array | Float64Array) => {
      const at = align8(filePosition)
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
      await handle.write(bytes, 0, bytes.length, at)
      filePosition = at + bytes.length
      return at
    }
    sections.sentenceOffsets = await writeSection(sentenceOffsets.view())
    sections.documentSentences = await writeSection(documentSentences.view())
    sections.documentIds = await writeSection(documentIds.view())
    const header: TokenCacheHeader = {
      format: 'bert-studio-token-cache',
      version: TOKEN_CACHE_VERSION,
      vocabSize,
      tokenizerHash: options.tokenizerHash ?? '',
      tokenBytes,
      maxSentenceTokens,
      counts: { documents: documentCount, emptyDocuments, sentences: sentenceOffsets.length - 1, tokens: tokenCount, characters },
      sections,
    }
    const headerBytes = Buffer.from(JSON.stringify(header), 'utf8')
    const headerOffset = align8(filePosition)
    await handle.write(headerBytes, 0, headerBytes.length, headerOffset)
    const preamble = Buffer.alloc(PREAMBLE_BYTES)
    preamble.write(MAGIC, 0, 'latin1')
    preamble.writeDoubleLE(headerOffset, 8)
    preamble.writeUInt32LE(headerBytes.length, 16)
    await handle.write(preamble, 0, PREAMBLE_BYTES, 0)
    await handle.sync()
    await handle.close()
    await rename(temp, path)
    ok = true
    report(true)
    return header
  } finally {
    if (!ok) {
      await lastEncode
      await handle.close().catch(() => undefined)
      await rm(temp, { force: true })
    }
  }
}

/** Random access to a token cache: the index in memory, tokens read at offsets on demand. */
export class TokenCache {
  readonly header: TokenCacheHeader
  /** [sentences + 1] token offset where each sentence starts (the last entry: total tokens). */
  readonly sentenceOffsets: Uint32Array
  /** [documents + 1] first sentence of each document (the last entry: total sentences). */
  readonly documentSentences: Uint32Array
  /** [documents] the ids given to `buildTokenCache`. */
  readonly documentIds: Float64Array
  private fd: number | null
  private scratch: Buffer = Buffer.alloc(0)

  private constructor(readonly path: string, fd: number, header: TokenCacheHeader, sentenceOffsets: Uint32Array, documentSentences: Uint32Array, documentIds: Float64Array) {
    this.fd = fd
    this.header = header
    this.sentenceOffsets = sentenceOffsets
    this.documentSentences = documentSentences
    this.documentIds = documentIds
  }

  static open(path: string, expected: { tokenizerHash?: string; vocabSize?: number } = {}): TokenCache {
    const fd = openSync(path, 'r')
    try {
      const size = fstatSync(fd).size
      const preamble = Buffer.alloc(PREAMBLE_BYTES)
      if (size < PREAMBLE_BYTES || readSync(fd, preamble, 0, PREAMBLE_BYTES, 0) !== PREAMBLE_BYTES || preamble.toString('latin1', 0, 8) !== MAGIC) {
        throw badInput(`${path} is not a token cache (no ${MAGIC} preamble)`)
      }
      const headerOffset = preamble.readDoubleLE(8)
      const headerLength = preamble.readUInt32LE(16)
      if (headerOffset + headerLength > size) throw badInput(`${path} is truncated: its header ends at byte ${headerOffset + headerLength}, the file has ${size}`)
      const headerBytes = Buffer.alloc(headerLength)
      readSync(fd, headerBytes, 0, headerLength, headerOffset)
      const header = JSON.parse(headerBytes.toString('utf8')) as TokenCacheHeader
      if (header.format !== 'bert-studio-token-cache' || header.version !== TOKEN_CACHE_VERSION) {
        throw badInput(`${path} is token cache version ${header.version}, expected ${TOKEN_CACHE_VERSION}`)
      }
      if (expected.tokenizerHash !== undefined && header.tokenizerHash !== expected.tokenizerHash) {
        throw badInput(`${path} was built with tokenizer ${header.tokenizerHash}, expected ${expected.tokenizerHash}`)
      }
      if (expected.vocabSize !== undefined && header.vocabSize !== expected.vocabSize) {
        throw badInput(`${path} has vocabulary size ${header.vocabSize}, expected ${expected.vocabSize}`)
      }
      const { counts, sections } = header
      const readArray = <T extends Uint32Array | Float64Array>(array: T, offset: number): T => {
        const bytes = new Uint8Array(array.buffer)
        if (readSync(fd, bytes, 0, bytes.length, offset) !== bytes.length) throw badInput(`${path} is truncated at byte ${offset}`)
        return array
      }
      const sentenceOffsets = readArray(new Uint32Array(counts.sentences + 1), sections.sentenceOffsets)
      const documentSentences = readArray(new Uint32Array(counts.documents + 1), sections.documentSentences)
      const documentIds = readArray(new Float64Array(counts.documents), sections.documentIds)
      return new TokenCache(path, fd, header, sentenceOffsets, documentSentences, documentIds)
    } catch (error) {
      closeSync(fd)
      throw error
    }
  }

  get documentCount(): number {
    return this.header.counts.documents
  }

  get sentenceCount(): number {
    return this.header.counts.sentences
  }

  get tokenCount(): number {
    return this.header.counts.tokens
  }

  /** Sentences [first, end) of document `index`, as global sentence indices. */
  sentenceRange(document: number): [number, number] {
    this.checkDocument(document)
    return [this.documentSentences[document]!, this.documentSentences[document + 1]!]
  }

  sentenceLength(sentence: number): number {
    return this.sentenceOffsets[sentence + 1]! - this.sentenceOffsets[sentence]!
  }

  /**
   * Copies tokens [start, end) (global token offsets) into `target` at `targetOffset`: one
   * positional read.
   */
  readTokens(start: number, end: number, target: Int32Array, targetOffset = 0): void {
    const fd = this.fd
    if (fd === null) throw badInput(`${this.path} is closed`)
    const count = end - start
    if (count <= 0) return
    if (start < 0 || end > this.tokenCount) throw badInput(`token range ${start}..${end} is outside 0..${this.tokenCount}`)
    const tokenBytes = this.header.tokenBytes
    const bytes = count * tokenBytes
    if (this.scratch.length < bytes) this.scratch = Buffer.alloc(Math.max(bytes, 4096))
    const position = this.header.sections.tokens + start * tokenBytes
    let read = 0
    while (read < bytes) {
      const n = readSync(fd, this.scratch, read, bytes - read, position + read)
      if (n === 0) throw badInput(`${this.path} is truncated at byte ${position + read}`)
      read += n
    }
    const scratch = this.scratch
    if (tokenBytes === 2) for (let i = 0; i < count; i++) target[targetOffset + i] = scratch[2 * i]! | (scratch[2 * i + 1]! << 8)
    else for (let i = 0; i < count; i++) target[targetOffset + i] = scratch.readInt32LE(4 * i)
  }

  /**
   * SHA-256 of what the cache holds (its tokens and how they split into sentences and documents),
   * not of the documents' ids: a corpus moved to another project or studio (new ids, same text)
   * hashes the same, so a run's checkpoints still match it. One pass over the token section.
   */
  contentHash(): string {
    const fd = this.fd
    if (fd === null) throw badInput(`${this.path} is closed`)
    const hash = createHash('sha256')
    hash.update(JSON.stringify({ tokenBytes: this.header.tokenBytes, counts: this.header.counts }))
    const chunk = Buffer.alloc(4 << 20)
    const start = this.header.sections.tokens
    const end = start + this.tokenCount * this.header.tokenBytes
    for (let position = start; position < end; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, end - position), position)
      if (n === 0) throw badInput(`${this.path} is truncated at byte ${position}`)
      hash.update(chunk.subarray(0, n))
      position += n
    }
    for (const array of [this.sentenceOffsets, this.documentSentences]) hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))
    return hash.digest('hex')
  }

  /** One sentence's token ids. */
  sentence(sentence: number): Int32Array {
    if (!(Number.isInteger(sentence) && sentence >= 0 && sentence < this.sentenceCount)) throw badInput(`sentence ${sentence} is outside 0..${this.sentenceCount - 1}`)
    const start = this.sentenceOffsets[sentence]!
    const out = new Int32Array(this.sentenceOffsets[sentence + 1]! - start)
    this.readTokens(start, start + out.length, out)
    return out
  }

  /** A document's sentences, each its token ids (one read for the whole document). */
  documentSentencesOf(document: number): Int32Array[] {
    const [first, end] = this.sentenceRange(document)
    const base = this.sentenceOffsets[first]!
    const all = new Int32Array(this.sentenceOffsets[end]! - base)
    this.readTokens(base, base + all.length, all)
    const out: Int32Array[] = []
    for (let s = first; s < end; s++) out.push(all.subarray(this.sentenceOffsets[s]! - base, this.sentenceOffsets[s + 1]! - base))
    return out
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd)
    this.fd = null
  }

  private checkDocument(document: number): void {
    if (!(Number.isInteger(document) && document >= 0 && document < this.documentCount)) throw badInput(`document ${document} is outside 0..${this.documentCount - 1}`)
  }
}
