import { parse } from 'csv-parse'
import { Readable, pipeline } from 'node:stream'
import { badInput, StudioError } from '../errors.ts'

/** A data row of a CSV or TSV file: its cells and the line it starts on. */
export interface CsvRow {
  cells: string[]
  line: number
}

export interface CsvTable {
  header: string[]
  /** Batches of data rows (the header excluded). */
  rows: AsyncGenerator<CsvRow[]>
}

const BATCH = 512

/**
 * Streams an RFC 4180 file (quoted fields may hold delimiters, doubled quotes and newlines) with
 * csv-parse. The first record is the header; every row must have as many cells as it. Errors name
 * the file and the line.
 */
export async function readCsv(
  chunks: AsyncIterable<string>,
  fileName: string,
  delimiter: ',' | '\t',
  cutShort: () => boolean = () => false,
  /** Characters one record may hold before it is refused (bounds memory on a runaway quote or line). */
  maxRecordChars?: number,
): Promise<CsvTable> {
  const parser = parse({
    delimiter,
    info: true,
    ...(maxRecordChars !== undefined ? { max_record_size: maxRecordChars } : {}),
    // A quote inside an unquoted field (`5" screen`) is kept as text rather than refused.
    relax_quotes: true,
    skip_empty_lines: true,
  })
  pipeline(Readable.from(chunks), parser, () => {})
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: { lines: number } }>
  let lastLine = 0
  let header: string[] | null = null

  const next = async () => {
    try {
      const item = await records.next()
      if (item.done) return null
      const startLine = lastLine + 1
      lastLine = item.value.info.lines
      return { cells: item.value.record, line: startLine }
    } catch (error) {
      throw describe(error, fileName, lastLine + 1, header?.length ?? 0, cutShort(), maxRecordChars)
    }
  }

  const first = await next()
  if (first === null) {
    parser.destroy()
    throw badInput(`${fileName} is empty: expected a header row naming the columns, then one row per document`)
  }
  header = checkHeader(first.cells, fileName)

  async function* rows(): AsyncGenerator<CsvRow[]> {
    try {
      let batch: CsvRow[] = []
      for (;;) {
        const row = await next()
        if (row === null) break
        batch.push(row)
        if (batch.length >= BATCH) {
          yield batch
          batch = []
        }
      }
      if (batch.length > 0) yield batch
    } catch (error) {
      // A preview that stopped reading mid-record: the cut, not the file, is unfinished.
      if (error instanceof TruncatedRecord) return
      throw error
    } finally {
      parser.destroy()
    }
  }
  return { header, rows: rows() }
}

class TruncatedRecord extends Error {}

/**
 * Column names, trimmed. An empty name (pandas writes one for its index column) becomes
 * `column N`; a name used twice is refused, since picking it would be ambiguous.
 */
function checkHeader(cells: string[], fileName: string): string[] {
  const header = cells.map((name, index) => name.trim() || `column ${index + 1}`)
  const seen = new Map<string, number>()
  header.forEach((name, index) => {
    const key = name.toLowerCase()
    const earlier = seen.get(key)
    if (earlier !== undefined) {
      throw badInput(`${fileName} line 1: the header names the column "${name}" twice (columns ${earlier + 1} and ${index + 1}); give each column its own name`)
    }
    seen.set(key, index)
  })
  return header
}

function describe(error: unknown, fileName: string, startLine: number, columns: number, cutShort: boolean, maxRecordChars?: number): Error {
  if (error instanceof StudioError) return error
  const e = error as { code?: string; message?: string; lines?: number; record?: unknown[] }
  switch (e.code) {
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      // csv-parse may report this before our reader has seen the header: take counts from it.
      const counts = /expect (\d+), got (\d+)/.exec(e.message ?? '')
      const expected = counts?.[1] ?? String(columns)
      const got = counts?.[2] ?? (Array.isArray(e.record) ? String(e.record.length) : 'a different number')
      return badInput(
        `${fileName} line ${e.lines ?? startLine}: expected ${expected} columns like the header, found ${got}` +
          ' (a stray delimiter, a missing one, or a quote that is not closed where it should be?)',
      )
    }
    case 'CSV_QUOTE_NOT_CLOSED':
      if (cutShort) return new TruncatedRecord()
      return badInput(
        `${fileName} line ${startLine}: a quoted field opened here is never closed (it runs to the end of the file at line ${e.lines ?? '?'})`,
      )
    case 'CSV_MAX_RECORD_SIZE':
      return badInput(
        `${fileName} line ${startLine}: a record longer than ${maxRecordChars?.toLocaleString('en-US') ?? 'the'} characters` +
          ' allowed (a quote that is never closed, or a file that is not CSV?)',
      )
    case 'CSV_INVALID_CLOSING_QUOTE':
      return badInput(`${fileName} line ${e.lines ?? startLine}: a closing quote is followed by other text instead of a delimiter`)
    case undefined:
      return error as Error
    default:
      return badInput(`${fileName} line ${e.lines ?? startLine}: ${e.message ?? 'cannot be parsed'}`)
  }
}

const TEXT_NAMES = ['text', 'review', 'sentence', 'content', 'body']

/** The text column: the one named, else the first named like text, else the first. */
export function pickTextColumn(columns: string[], requested: string | undefined, fileName: string): number {
  if (requested !== undefined) return findColumn(columns, requested, fileName)
  for (const name of TEXT_NAMES) {
    const at = columns.findIndex((column) => column.toLowerCase() === name)
    if (at >= 0) return at
  }
  return 0
}

export function findColumn(columns: string[], requested: string, fileName: string): number {
  let at = columns.indexOf(requested)
  if (at < 0) at = columns.findIndex((column) => column.toLowerCase() === requested.trim().toLowerCase())
  if (at < 0) {
    throw badInput(`${fileName} line 1: no column named "${requested}" (columns: ${columns.map((c) => `"${c}"`).join(', ')})`)
  }
  return at
}
