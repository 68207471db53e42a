import { readdirSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { DEFAULT_MAX_DOCUMENT_CHARS, type CorpusFormat, type ImportOptions, type TextSplit } from '../../contract/index.ts'
import { badInput } from '../errors.ts'
import { findColumn, pickTextColumn, readCsv } from './csv.ts'
import { decodeText, fileChunks, newCounter, PREVIEW_CHUNK_BYTES, type ByteCounter } from './decode.ts'
import { cutText, isBlank, pieceEnd, splitLines, type Line, type LineLimit } from './lines.ts'

export { StatsAccumulator, countText, HISTOGRAM_EDGES } from './stats.ts'
export { firstInvalidUtf8 } from './decode.ts'

/** What a file or folder to import is. `displayName` appears in messages and sources. */
export interface ImportInput {
  path: string
  kind: 'file' | 'folder'
  displayName: string
}

export interface ImportedDocument {
  text: string
  label: string | null
  /** File and first line, e.g. `reviews.csv:42`. */
  source: string
}

/** The options with every default decided, as stored with the corpus. */
export interface ResolvedOptions {
  format: CorpusFormat
  split: TextSplit
  textColumn: string | null
  labelColumn: string | null
}

export function detectFormat(input: ImportInput, options: ImportOptions): CorpusFormat {
  if (input.kind === 'folder') {
    if (options.format !== undefined && options.format !== 'folder') {
      throw badInput(`${input.displayName} is a folder: it can only be imported as a folder of .txt files, not as ${options.format}`)
    }
    return 'folder'
  }
  if (options.format !== undefined) {
    if (options.format === 'folder') throw badInput(`${input.displayName} is a file, not a folder`)
    return options.format
  }
  switch (extname(input.displayName || input.path).toLowerCase()) {
    case '.csv':
      return 'csv'
    case '.tsv':
    case '.tab':
      return 'tsv'
    case '.jsonl':
    case '.ndjson':
      return 'jsonl'
    default:
      return 'txt'
  }
}

/** The `.txt` files under a folder, recursively, sorted by their path relative to it. */
export function listTextFiles(folder: string): { path: string; relative: string; size: number }[] {
  const files: { path: string; relative: string; size: number }[] = []
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.toLowerCase().endsWith('.txt')) continue
    const path = join(entry.parentPath, entry.name)
    files.push({ path, relative: relative(folder, path).split(sep).join('/'), size: statSync(path).size })
  }
  return files.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0))
}

/** Bytes an import will read: the file's size or the folder's `.txt` files together. */
export function inputBytes(input: ImportInput): number {
  if (input.kind === 'folder') return listTextFiles(input.path).reduce((sum, file) => sum + file.size, 0)
  return statSync(input.path).size
}

// ---------------------------------------------------------------- plain text

/** What happens to documents over the length limit, and how many there were. */
export interface LongDocuments {
  maxCharacters: number
  action: 'split' | 'truncate'
  count: number
}

async function* textDocuments(lines: AsyncIterable<Line[]>, fileName: string, split: TextSplit, long: LongDocuments): AsyncGenerator<ImportedDocument[]> {
  if (split === 'line') {
    // splitLines has cut (and counted) long lines already.
    for await (const batch of lines) {
      const documents: ImportedDocument[] = []
      for (const { text, line } of batch) {
        if (!isBlank(text)) documents.push({ text, label: null, source: `${fileName}:${line}` })
      }
      if (documents.length > 0) yield documents
    }
    return
  }
  // Paragraphs: lines arrive split (never truncated) at the limit, so that a paragraph, not a line,
  // is what gets cut and counted; the parts of one long line join without a newline.
  let parts: string[] = []
  let length = 0
  let firstLine = 0
  let lastLine = -1
  let counted = false
  let dropping = false
  const flush = (documents: ImportedDocument[]) => {
    if (parts.length > 0) documents.push({ text: parts.join(''), label: null, source: `${fileName}:${firstLine}` })
    parts = []
    length = 0
    counted = false
    dropping = false
  }
  for await (const batch of lines) {
    const documents: ImportedDocument[] = []
    for (const { text, line, cut } of batch) {
      if (isBlank(text) && cut === undefined) {
        flush(documents)
        continue
      }
      if (dropping) continue
      if (parts.length === 0) firstLine = line
      const piece = parts.length === 0 || (cut === 'split' && line === lastLine) ? text : `\n${text}`
      parts.push(piece)
      length += piece.length
      lastLine = line
      if (length <= long.maxCharacters) continue
      if (!counted) long.count++
      counted = true
      const joined = parts.join('')
      if (long.action === 'truncate') {
        documents.push({ text: joined.slice(0, pieceEnd(joined, long.maxCharacters)), label: null, source: `${fileName}:${firstLine}` })
        parts = []
        length = 0
        dropping = true
      } else {
        const pieces = cutText(joined, long.maxCharacters, 'split')
        for (const part of pieces.slice(0, -1)) documents.push({ text: part, label: null, source: `${fileName}:${firstLine}` })
        parts = [pieces.at(-1)!]
        length = parts[0]!.length
      }
    }
    if (documents.length > 0) yield documents
  }
  const last: ImportedDocument[] = []
  flush(last)
  if (last.length > 0) yield last
}

/** A cell or field's text as documents: itself, or its parts or start when over the limit. */
function cutDocument(text: string, long: LongDocuments): string[] {
  if (text.length <= long.maxCharacters) return [text]
  long.count++
  return cutText(text, long.maxCharacters, long.action)
}

// ---------------------------------------------------------------- JSONL

interface JsonRecord {
  value: Record<string, unknown>
  line: number
}

async function* jsonRecords(lines: AsyncIterable<Line[]>, fileName: string): AsyncGenerator<JsonRecord[]> {
  for await (const batch of lines) {
    const records: JsonRecord[] = []
    for (const { text, line } of batch) {
      if (isBlank(text)) continue
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (error) {
        throw badInput(`${fileName} line ${line}: not valid JSON (${(error as Error).message})`)
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw badInput(`${fileName} line ${line}: expected a JSON object like {"text": "…"}, found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`)
      }
      records.push({ value: value as Record<string, unknown>, line })
    }
    if (records.length > 0) yield records
  }
}

const cell = (value: unknown): string | null =>
  value === null || value === undefined ? null : typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value)

const TEXT_FIELDS = ['text', 'review', 'sentence', 'content', 'body']

function pickTextField(fields: string[], requested: string | undefined): string {
  if (requested !== undefined) return requested
  return TEXT_FIELDS.find((name) => fields.includes(name)) ?? 'text'
}

function jsonDocuments(record: JsonRecord, fileName: string, textField: string, labelField: string | null, long: LongDocuments): ImportedDocument[] {
  // Own fields only: a record without "text" must not find one on Object.prototype.
  const text = Object.hasOwn(record.value, textField) ? cell(record.value[textField]) : null
  if (text === null) {
    if (!Object.hasOwn(record.value, textField)) {
      throw badInput(
        `${fileName} line ${record.line}: no "${textField}" field (fields: ${Object.keys(record.value).map((k) => `"${k}"`).join(', ') || 'none'})`,
      )
    }
    return []
  }
  if (isBlank(text)) return []
  const label = labelField === null || !Object.hasOwn(record.value, labelField) ? null : cell(record.value[labelField])
  return cutDocument(text, long).map((part) => ({ text: part, label, source: `${fileName}:${record.line}` }))
}

// ---------------------------------------------------------------- the one entry point

export interface DocumentStream {
  options: ResolvedOptions
  /** Batches of documents, in order. */
  batches: AsyncGenerator<ImportedDocument[]>
  counter: ByteCounter
  totalBytes: number
  /** For a folder, how many `.txt` files it holds. */
  files: number
  /** Header or the fields seen so far, and the raw rows seen (CSV/TSV/JSONL), for previews. */
  columns: () => string[]
  rows: string[][] | null
  /** Documents over the length limit, counted as batches are read. */
  longDocuments: LongDocuments
}

interface OpenOptions {
  /** Stop reading after this many bytes (a preview). */
  maxBytes?: number
  /** Keep raw rows for a preview, up to this many. */
  keepRows?: number
  /** Refuse inputs larger than this (file size, or a folder's .txt files together). */
  maxImportBytes?: number
}

/** One import may read at most this much unless the studio is told otherwise (16 GiB). */
export const DEFAULT_MAX_IMPORT_BYTES = 16 * 1024 ** 3

/**
 * A CSV/TSV record or JSONL line must be parsed whole, so it cannot be cut at the document limit:
 * past this many characters it is refused, which bounds the memory one record can take.
 */
export const recordLimit = (maxDocumentChars: number) => Math.max(16 * 1024 * 1024, 2 * maxDocumentChars)

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

function checkSize(displayName: string, bytes: number, limit: number | undefined): void {
  if (limit !== undefined && bytes > limit) {
    throw badInput(
      `${displayName} is ${formatBytes(bytes)} (${bytes.toLocaleString('en-US')} bytes), more than the ${formatBytes(limit)} one import may hold. ` +
        'Split it into smaller files and import each as its own corpus.',
    )
  }
}

/**
 * Opens a file or folder as a stream of document batches. Reading is lazy: nothing past the first
 * chunk (CSV: past the header) is read until batches are pulled, and closing the generator early
 * (a preview has enough, an import is cancelled) closes the file.
 */
export async function openDocuments(input: ImportInput, options: ImportOptions, open: OpenOptions = {}): Promise<DocumentStream> {
  const format = detectFormat(input, options)
  const split = options.split ?? 'line'
  const counter = newCounter()
  const read = (path: string) => fileChunks(path, counter, open.maxBytes === undefined ? {} : { maxBytes: open.maxBytes, chunkBytes: PREVIEW_CHUNK_BYTES })
  const cutShort = () => counter.truncated
  const keep = open.keepRows ?? 0
  const long: LongDocuments = {
    maxCharacters: options.maxDocumentChars ?? DEFAULT_MAX_DOCUMENT_CHARS,
    action: options.longDocuments ?? 'split',
    count: 0,
  }
  /** Lines as text documents: cut at the limit (paragraphs: split here, cut as paragraphs later). */
  const textLimit = (fileName: string): LineLimit =>
    split === 'line'
      ? { maxChars: long.maxCharacters, action: long.action, fileName, onLong: () => long.count++ }
      : { maxChars: long.maxCharacters, action: 'split', fileName }

  if (format === 'folder') {
    const files = listTextFiles(input.path)
    if (files.length === 0) throw badInput(`${input.displayName} has no .txt files (folders are searched recursively for *.txt)`)
    checkSize(input.displayName, files.reduce((sum, file) => sum + file.size, 0), open.maxImportBytes)
    async function* batches(): AsyncGenerator<ImportedDocument[]> {
      for (const file of files) {
        if (open.maxBytes !== undefined && counter.bytes >= open.maxBytes) return
        const lines = splitLines(decodeText(read(file.path), file.relative), cutShort, textLimit(file.relative))
        yield* textDocuments(lines, file.relative, split, long)
      }
    }
    return {
      options: { format, split, textColumn: null, labelColumn: null },
      batches: batches(),
      counter,
      totalBytes: files.reduce((sum, file) => sum + file.size, 0),
      files: files.length,
      columns: () => [],
      rows: null,
      longDocuments: long,
    }
  }

  const totalBytes = statSync(input.path).size
  const fileName = input.displayName
  if (totalBytes === 0) throw badInput(`${fileName} is empty`)
  checkSize(fileName, totalBytes, open.maxImportBytes)
  const text = decodeText(read(input.path), fileName)

  if (format === 'txt') {
    return {
      options: { format, split, textColumn: null, labelColumn: null },
      batches: textDocuments(splitLines(text, cutShort, textLimit(fileName)), fileName, split, long),
      counter,
      totalBytes,
      files: 1,
      columns: () => [],
      rows: null,
      longDocuments: long,
    }
  }

  if (format === 'csv' || format === 'tsv') {
    const table = await readCsv(text, fileName, format === 'csv' ? ',' : '\t', cutShort, recordLimit(long.maxCharacters))
    const textIndex = pickTextColumn(table.header, options.textColumn, fileName)
    const labelIndex = options.labelColumn === undefined ? -1 : findColumn(table.header, options.labelColumn, fileName)
    const rows: string[][] = []
    async function* batches(): AsyncGenerator<ImportedDocument[]> {
      for await (const batch of table.rows) {
        const documents: ImportedDocument[] = []
        for (const row of batch) {
          if (rows.length < keep) rows.push(row.cells)
          const value = row.cells[textIndex]!
          if (isBlank(value)) continue
          const label = labelIndex < 0 ? null : row.cells[labelIndex]!
          for (const part of cutDocument(value, long)) {
            documents.push({ text: part, label: label === '' ? null : label, source: `${fileName}:${row.line}` })
          }
        }
        if (documents.length > 0) yield documents
      }
    }
    return {
      options: {
        format,
        split,
        textColumn: table.header[textIndex] ?? null,
        labelColumn: labelIndex < 0 ? null : table.header[labelIndex]!,
      },
      batches: batches(),
      counter,
      totalBytes,
      files: 1,
      columns: () => table.header,
      rows,
      longDocuments: long,
    }
  }

  // JSONL: the fields are those of the first record unless named.
  const records = jsonRecords(splitLines(text, cutShort, { maxChars: recordLimit(long.maxCharacters), action: 'error', fileName }), fileName)
  const first = await records.next()
  if (first.done) {
    await records.return(undefined)
    throw badInput(`${fileName} has no JSON records (one object per line, like {"text": "…", "label": "…"})`)
  }
  const fields = new Set<string>(Object.keys(first.value[0]!.value))
  const textField = pickTextField([...fields], options.textColumn)
  const labelField = options.labelColumn ?? null
  const rows: JsonRecord[] = []
  async function* batches(): AsyncGenerator<ImportedDocument[]> {
    const convert = (batch: JsonRecord[]) => {
      const documents: ImportedDocument[] = []
      for (const record of batch) {
        if (rows.length < keep) {
          rows.push(record)
          for (const key of Object.keys(record.value)) fields.add(key)
        }
        documents.push(...jsonDocuments(record, fileName, textField, labelField, long))
      }
      return documents
    }
    try {
      const firstDocuments = convert(first.value!)
      if (firstDocuments.length > 0) yield firstDocuments
      for await (const batch of records) {
        const documents = convert(batch)
        if (documents.length > 0) yield documents
      }
    } finally {
      await records.return(undefined)
    }
  }
  const rowCells: string[][] = []
  return {
    options: { format, split, textColumn: textField, labelColumn: labelField },
    batches: batches(),
    counter,
    totalBytes,
    files: 1,
    columns: () => [...fields],
    longDocuments: long,
    get rows() {
      const columns = [...fields]
      rowCells.length = 0
      for (const record of rows) rowCells.push(columns.map((column) => (Object.hasOwn(record.value, column) ? cell(record.value[column]) : null) ?? ''))
      return rowCells
    },
  }
}

// ---------------------------------------------------------------- preview

export const PREVIEW_BYTES = 64 * 1024
export const PREVIEW_ROWS = 20

export interface Preview {
  fileName: string
  format: CorpusFormat
  columns: string[]
  rows: string[][]
  documents: { text: string; label: string | null }[]
  textColumn: string | null
  labelColumn: string | null
  split: TextSplit
  files: number
  bytes: number
}

/**
 * The first rows and the documents they would become, reading no more than about PREVIEW_BYTES.
 * A bad file fails here with the import's own message when the bad part is within that region.
 */
export async function previewInput(input: ImportInput, options: ImportOptions, limits: { maxImportBytes?: number } = {}): Promise<Preview> {
  const stream = await openDocuments(input, options, { maxBytes: PREVIEW_BYTES, keepRows: PREVIEW_ROWS, ...limits })
  const documents: { text: string; label: string | null }[] = []
  try {
    for await (const batch of stream.batches) {
      for (const document of batch) {
        if (documents.length < PREVIEW_ROWS) documents.push({ text: document.text, label: document.label })
      }
      if (documents.length >= PREVIEW_ROWS) break
    }
  } finally {
    await stream.batches.return(undefined)
  }
  if (documents.length === 0 && !stream.counter.truncated) {
    throw badInput(`${input.displayName} holds no documents (every line is empty)`)
  }
  return {
    fileName: input.displayName,
    format: stream.options.format,
    columns: stream.columns(),
    rows: stream.rows ?? [],
    documents,
    textColumn: stream.options.textColumn,
    labelColumn: stream.options.labelColumn,
    split: stream.options.split,
    files: stream.files,
    bytes: stream.totalBytes,
  }
}
