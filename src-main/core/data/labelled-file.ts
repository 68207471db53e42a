/**
 * Labelled files (CSV, TSV, JSONL) → LabelledExample, for every task, streamed. Files are read
 * with the corpus importer's strict decoding and CSV reader; every row becomes a record (CSV:
 * header → cell; JSONL: the object) and a converter per task reads its fields. A bad row stops the
 * read with BAD_INPUT naming the file and line.
 *
 *   classify    CSV/TSV text + label columns; JSONL text + label fields
 *   multilabel  the label a JSON array, or a cell of names separated by `|` or `;`
 *   tag         {text, spans: [{start, end, label}]} (also [start, end, label] triples), or
 *               {tokens: [...], tags: [BIO...]} turned into spans over the tokens joined by spaces
 *   qa          {context, question, answers: {text: [...], answer_start: [...]}} or
 *               {context, question, answer, answer_start}; one example per distinct context
 *   summarize   {sentences: [...], labels: [0|1...]} (text: the sentences joined by spaces), or
 *               {text, summary_sentences: [index...]} (indices into splitSentences(text))
 */
import { statSync } from 'node:fs'
import type { LabelledFileOptions, TaskKind } from '../../contract/index.ts'
import { badInput } from '../errors.ts'
import { readCsv } from '../import/csv.ts'
import { decodeText, fileChunks, newCounter, type ByteCounter } from '../import/decode.ts'
import { detectFormat } from '../import/index.ts'
import { isBlank, splitLines } from '../import/lines.ts'
import type { LabelledExample } from './examples.ts'
import { splitSentences } from './sentences.ts'

export interface LabelledInput {
  path: string
  /** The file's name as the user knows it: messages and sources name it. */
  displayName: string
}

export type LabelledFormat = 'csv' | 'tsv' | 'jsonl'

/** Field names tried, in order and ignoring case, when none is given. */
export const TEXT_FIELDS = ['text', 'sentence', 'review', 'content'] as const
export const LABEL_FIELDS = ['label', 'labels', 'class', 'category', 'sentiment'] as const
const SPAN_FIELDS = ['spans', 'entities', 'label', 'labels'] as const
const TOKEN_FIELDS = ['tokens', 'words'] as const
const TAG_FIELDS = ['tags', 'ner_tags', 'labels'] as const
const CONTEXT_FIELDS = ['context', 'passage', 'text'] as const
const SUMMARY_INDEX_FIELDS = ['summary_sentences', 'summary', 'labels', 'label'] as const

export interface LabelledStream {
  format: LabelledFormat
  /** Batches of examples in file order (qa: one batch at the end, contexts grouped). */
  batches: AsyncGenerator<LabelledExample[]>
  counter: ByteCounter
  totalBytes: number
}

/** One row of the file: its fields and the line it starts on. */
interface FileRecord {
  fields: Record<string, unknown>
  line: number
}

interface RecordStream {
  format: LabelledFormat
  batches: AsyncGenerator<FileRecord[]>
  counter: ByteCounter
  totalBytes: number
}

function formatOf(input: LabelledInput, options: LabelledFileOptions, allowText: true): LabelledFormat | 'txt'
function formatOf(input: LabelledInput, options: LabelledFileOptions, allowText: false): LabelledFormat
function formatOf(input: LabelledInput, options: LabelledFileOptions, allowText: boolean): LabelledFormat | 'txt' {
  const format = detectFormat({ ...input, kind: 'file' }, options)
  if (format === 'csv' || format === 'tsv' || format === 'jsonl') return format
  if (allowText && format === 'txt') return 'txt'
  throw badInput(`${input.displayName}: a labelled file must be CSV, TSV or JSONL (.csv, .tsv, .jsonl), or name its format`)
}

async function openRecords(input: LabelledInput, format: LabelledFormat): Promise<RecordStream> {
  const fileName = input.displayName
  let totalBytes: number
  try {
    totalBytes = statSync(input.path).size
  } catch {
    throw badInput(`${fileName}: no such file`)
  }
  if (totalBytes === 0) throw badInput(`${fileName} is empty`)
  const counter = newCounter()
  const text = decodeText(fileChunks(input.path, counter), fileName)
  if (format === 'jsonl') return { format, batches: jsonRecords(text, fileName), counter, totalBytes }
  const table = await readCsv(text, fileName, format === 'csv' ? ',' : '\t')
  const header = table.header
  async function* batches(): AsyncGenerator<FileRecord[]> {
    for await (const rows of table.rows) {
      yield rows.map((row) => {
        const fields: Record<string, unknown> = {}
        header.forEach((name, i) => {
          fields[name] = row.cells[i]
        })
        return { fields, line: row.line }
      })
    }
  }
  return { format, batches: batches(), counter, totalBytes }
}

async function* jsonRecords(text: AsyncIterable<string>, fileName: string): AsyncGenerator<FileRecord[]> {
  for await (const lines of splitLines(text)) {
    const records: FileRecord[] = []
    for (const { text: raw, line } of lines) {
      if (isBlank(raw)) continue
      let value: unknown
      try {
        value = JSON.parse(raw)
      } catch (error) {
        throw badInput(`${fileName} line ${line}: not valid JSON (${(error as Error).message})`)
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw badInput(`${fileName} line ${line}: expected a JSON object, found ${describeValue(value)}`)
      }
      records.push({ fields: value as Record<string, unknown>, line })
    }
    if (records.length > 0) yield records
  }
}

// ---------------------------------------------------------------- field access

/** Errors about one record: `reviews.csv line 12: …`. */
class At {
  constructor(
    readonly fileName: string,
    readonly record: FileRecord,
    readonly format: LabelledFormat,
  ) {}

  error(message: string): Error {
    return badInput(`${this.fileName} line ${this.record.line}: ${message}`)
  }

  /** The key holding a field: the one requested (exact, else ignoring case), else the first default present. */
  key(requested: string | undefined, defaults: readonly string[], what: string): string {
    const keys = Object.keys(this.record.fields)
    const find = (name: string) => (Object.hasOwn(this.record.fields, name) ? name : keys.find((k) => k.toLowerCase() === name.toLowerCase()))
    if (requested !== undefined) {
      const found = find(requested)
      if (found === undefined) throw this.error(`no ${this.noun} named "${requested}" (${this.noun}s: ${this.list(keys)})`)
      return found
    }
    for (const name of defaults) {
      const found = find(name)
      if (found !== undefined) return found
    }
    throw this.error(`no ${what} ${this.noun} (looked for ${defaults.map((d) => `"${d}"`).join(', ')}; ${this.noun}s: ${this.list(keys)})`)
  }

  has(defaults: readonly string[]): boolean {
    const keys = Object.keys(this.record.fields).map((k) => k.toLowerCase())
    return defaults.some((name) => keys.includes(name.toLowerCase()))
  }

  get noun(): string {
    return this.format === 'jsonl' ? 'field' : 'column'
  }

  /** A non-blank string (numbers and booleans as written). */
  text(key: string, what = `the ${this.noun} "${key}"`): string {
    const value = this.record.fields[key]
    if (value === null || value === undefined || (typeof value === 'string' && isBlank(value))) throw this.error(`${what} is empty`)
    if (typeof value === 'string') return value
    if (typeof value === 'number' || typeof value === 'boolean') return String(value)
    throw this.error(`${what} should be text, found ${describeValue(value)}`)
  }

  /** An array field; a CSV cell (or a JSON string) holding JSON is parsed. */
  array(key: string): unknown[] {
    let value = this.record.fields[key]
    if (typeof value === 'string' && /^\s*\[/.test(value)) {
      try {
        value = JSON.parse(value)
      } catch (error) {
        throw this.error(`the ${this.noun} "${key}" is not valid JSON (${(error as Error).message})`)
      }
    }
    if (!Array.isArray(value)) throw this.error(`the ${this.noun} "${key}" should be a JSON array, found ${describeValue(value)}`)
    return value
  }

  private list(keys: string[]): string {
    return keys.map((k) => `"${k}"`).join(', ') || 'none'
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  return `${typeof value} ${String(value)}`
}

function whole(value: unknown): number | null {
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  return typeof number === 'number' && Number.isInteger(number) && number >= 0 ? number : null
}

/** A multilabel cell: names separated by `|` or `;`, trimmed, empty ones dropped, duplicates once. */
export function splitLabelNames(cell: string): string[] {
  const names = cell
    .split(/[|;]/)
    .map((name) => name.trim())
    .filter((name) => name !== '')
  return [...new Set(names)]
}

// ---------------------------------------------------------------- converters

type Converter = (at: At) => LabelledExample

function source(at: At): string {
  return `${at.fileName}:${at.record.line}`
}

function classify(options: LabelledFileOptions): Converter {
  return (at) => {
    const text = at.text(at.key(options.textColumn, TEXT_FIELDS, 'text'))
    const labelKey = at.key(options.labelColumn, LABEL_FIELDS, 'label')
    const raw = at.record.fields[labelKey]
    if (Array.isArray(raw)) {
      if (raw.length === 1 && (typeof raw[0] === 'string' || typeof raw[0] === 'number')) {
        return { text, value: { kind: 'classes', labels: [String(raw[0]).trim()] }, source: source(at) }
      }
      throw at.error(`the ${at.noun} "${labelKey}" holds ${raw.length} labels; a single-label task needs exactly one (use the multilabel task for several)`)
    }
    const label = at.text(labelKey, `the label ${at.noun} "${labelKey}"`).trim()
    return { text, value: { kind: 'classes', labels: [label] }, source: source(at) }
  }
}

function multilabel(options: LabelledFileOptions): Converter {
  return (at) => {
    const text = at.text(at.key(options.textColumn, TEXT_FIELDS, 'text'))
    const labelKey = at.key(options.labelColumn, LABEL_FIELDS, 'label')
    const raw = at.record.fields[labelKey]
    let labels: string[]
    if (Array.isArray(raw)) {
      labels = []
      for (const item of raw) {
        if (typeof item !== 'string' && typeof item !== 'number') {
          throw at.error(`the ${at.noun} "${labelKey}" should list class names, found ${describeValue(item)} in it`)
        }
        const name = String(item).trim()
        if (name === '') throw at.error(`the ${at.noun} "${labelKey}" lists an empty class name`)
        if (!labels.includes(name)) labels.push(name)
      }
    } else if (raw === null || raw === undefined || raw === '') {
      // No class applies: a legitimate multi-label answer.
      labels = []
    } else if (typeof raw === 'string' || typeof raw === 'number') {
      labels = splitLabelNames(String(raw))
    } else {
      throw at.error(`the ${at.noun} "${labelKey}" should be a list of class names, found ${describeValue(raw)}`)
    }
    return { text, value: { kind: 'classes', labels }, source: source(at) }
  }
}

function tag(options: LabelledFileOptions): Converter {
  return (at) => {
    if (options.textColumn === undefined && !at.has(TEXT_FIELDS) && at.has(TOKEN_FIELDS)) return tagFromTokens(at, options)
    const text = at.text(at.key(options.textColumn, TEXT_FIELDS, 'text'))
    const spansKey = at.key(options.labelColumn, SPAN_FIELDS, 'spans')
    const spans: { start: number; end: number; label: string }[] = []
    for (const [i, item] of at.array(spansKey).entries()) {
      let start: unknown
      let end: unknown
      let label: unknown
      if (Array.isArray(item)) [start, end, label] = item
      else if (item !== null && typeof item === 'object') {
        const span = item as Record<string, unknown>
        start = span.start ?? span.start_offset
        end = span.end ?? span.end_offset
        label = span.label ?? span.type ?? span.entity
      } else throw at.error(`span ${i + 1} of "${spansKey}" should be {"start", "end", "label"}, found ${describeValue(item)}`)
      const s = whole(start)
      const e = whole(end)
      if (s === null || e === null) throw at.error(`span ${i + 1} of "${spansKey}" needs whole-number start and end, found ${describeValue(start)} and ${describeValue(end)}`)
      if (!(s < e && e <= text.length)) {
        throw at.error(`span ${i + 1} of "${spansKey}" is [${s}, ${e}), expected 0 ≤ start < end ≤ ${text.length} (the text's length)`)
      }
      if ((typeof label !== 'string' && typeof label !== 'number') || String(label).trim() === '') {
        throw at.error(`span ${i + 1} of "${spansKey}" has no label (found ${describeValue(label)})`)
      }
      spans.push({ start: s, end: e, label: String(label).trim() })
    }
    spans.sort((a, b) => a.start - b.start || a.end - b.end)
    return { text, value: { kind: 'spans', spans }, source: source(at) }
  }
}

/** CoNLL-style tokens and BIO (also BIOES/BILOU) tags → character spans over the tokens joined by spaces. */
function tagFromTokens(at: At, options: LabelledFileOptions): LabelledExample {
  const tokensKey = at.key(undefined, TOKEN_FIELDS, 'tokens')
  const tagsKey = at.key(options.labelColumn, TAG_FIELDS, 'tags')
  const tokens = at.array(tokensKey)
  const tags = at.array(tagsKey)
  if (tokens.length !== tags.length) throw at.error(`"${tokensKey}" has ${tokens.length} tokens but "${tagsKey}" has ${tags.length} tags`)
  const spans: { start: number; end: number; label: string }[] = []
  let open: { start: number; end: number; label: string } | null = null
  let text = ''
  for (const [i, token] of tokens.entries()) {
    if (typeof token !== 'string' || token === '') throw at.error(`token ${i + 1} of "${tokensKey}" should be non-empty text, found ${describeValue(token)}`)
    if (i > 0) text += ' '
    const start = text.length
    text += token
    const end = text.length
    const raw = tags[i]
    if (typeof raw !== 'string') throw at.error(`tag ${i + 1} of "${tagsKey}" should be text like "B-PER" or "O", found ${describeValue(raw)}`)
    const tagText = raw.trim()
    if (tagText === 'O' || tagText === '') {
      if (open) spans.push(open)
      open = null
      continue
    }
    const match = /^([BIESLU])[-_](.+)$/.exec(tagText)
    if (!match) throw at.error(`tag ${i + 1} of "${tagsKey}" is "${raw}", expected "O" or a prefix B-, I-, E-, S- followed by the entity type`)
    const prefix = match[1]!
    const label = match[2]!
    // An I- after O or after another type starts an entity (seqeval's default reading).
    if ((prefix === 'I' || prefix === 'E' || prefix === 'L') && open !== null && open.label === label) open.end = end
    else {
      if (open) spans.push(open)
      open = { start, end, label }
    }
    if (prefix === 'E' || prefix === 'L' || prefix === 'S' || prefix === 'U') {
      spans.push(open)
      open = null
    }
  }
  if (open) spans.push(open)
  if (text.trim() === '') throw at.error(`"${tokensKey}" holds no tokens`)
  return { text, value: { kind: 'spans', spans }, source: source(at) }
}

function qa(options: LabelledFileOptions): Converter {
  return (at) => {
    const context = at.text(at.key(options.textColumn, CONTEXT_FIELDS, 'context'))
    const question = at.text(at.key(undefined, ['question'], 'question')).trim()
    const answers: { text: string; start: number }[] = []
    if (at.has(['answers'])) {
      const key = at.key(undefined, ['answers'], 'answers')
      let raw = at.record.fields[key]
      if (typeof raw === 'string') raw = at.array(key)
      if (Array.isArray(raw)) {
        for (const item of raw) {
          const answer = (item ?? {}) as Record<string, unknown>
          answers.push({ text: answerText(at, answer.text), start: answerStart(at, answer.answer_start ?? answer.start) })
        }
      } else if (raw !== null && typeof raw === 'object') {
        const { text, answer_start: starts } = raw as { text?: unknown; answer_start?: unknown }
        if (!Array.isArray(text) || !Array.isArray(starts) || text.length !== starts.length) {
          throw at.error(`"${key}" should be {"text": [...], "answer_start": [...]} with one start per answer`)
        }
        text.forEach((t, i) => answers.push({ text: answerText(at, t), start: answerStart(at, starts[i]) }))
      } else throw at.error(`"${key}" should be {"text": [...], "answer_start": [...]}, found ${describeValue(raw)}`)
    } else {
      const answerKey = at.key(options.labelColumn, ['answer', 'answer_text'], 'answer')
      const startKey = at.key(undefined, ['answer_start', 'start'], 'answer_start')
      answers.push({ text: answerText(at, at.record.fields[answerKey]), start: answerStart(at, at.record.fields[startKey]) })
    }
    if (answers.length === 0) throw at.error(`the question "${question}" has no answer (questions without an answer in the passage cannot be learned from)`)
    for (const answer of answers) {
      const found = context.slice(answer.start, answer.start + answer.text.length)
      if (found !== answer.text) {
        throw at.error(
          `the answer ${JSON.stringify(answer.text)} is not at answer_start ${answer.start} of the context (found ${JSON.stringify(found)} there)`,
        )
      }
    }
    // Several reference answers (SQuAD's dev set): the first is the one to learn.
    const first = answers[0]!
    return { text: context, value: { kind: 'qa', items: [{ question, start: first.start, end: first.start + first.text.length }] }, source: source(at) }
  }
}

function answerText(at: At, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw at.error(`an answer should be non-empty text, found ${describeValue(value)}`)
  return value
}

function answerStart(at: At, value: unknown): number {
  const start = whole(value)
  if (start === null) throw at.error(`answer_start should be a whole number ≥ 0, found ${describeValue(value)}`)
  return start
}

function summarize(options: LabelledFileOptions): Converter {
  return (at) => {
    if (options.textColumn === undefined && at.has(['sentences'])) {
      const key = at.key(undefined, ['sentences'], 'sentences')
      const sentences = at.array(key).map((s, i) => {
        if (typeof s !== 'string' || isBlank(s)) throw at.error(`sentence ${i + 1} of "${key}" should be non-empty text, found ${describeValue(s)}`)
        return s.trim()
      })
      if (sentences.length === 0) throw at.error(`"${key}" holds no sentences`)
      const labelsKey = at.key(options.labelColumn, ['labels', 'label'], 'labels')
      const labels = at.array(labelsKey)
      if (labels.length !== sentences.length) throw at.error(`"${key}" has ${sentences.length} sentences but "${labelsKey}" has ${labels.length} labels`)
      const text = sentences.join(' ')
      const split = splitSentences(text).map((s) => s.text)
      const differs = split.findIndex((s, i) => s !== sentences[i])
      if (split.length !== sentences.length || differs >= 0) {
        const index = differs >= 0 ? differs : Math.min(split.length, sentences.length)
        throw at.error(
          `the sentences do not re-split as given: the studio's sentence splitter reads ${split.length} sentences in their joined text ` +
            `(sentence ${index + 1}: ${JSON.stringify(split[index] ?? '')} against ${JSON.stringify(sentences[index] ?? '')}). ` +
            'Give {"text", "summary_sentences"} instead, or join the sentences that belong together',
        )
      }
      const chosen: number[] = []
      labels.forEach((label, i) => {
        if (label === 1 || label === true || label === '1') chosen.push(i)
        else if (!(label === 0 || label === false || label === '0')) throw at.error(`label ${i + 1} of "${labelsKey}" should be 0 or 1, found ${describeValue(label)}`)
      })
      return { text, value: { kind: 'summary', sentences: chosen }, source: source(at) }
    }
    const text = at.text(at.key(options.textColumn, TEXT_FIELDS, 'text'))
    const key = at.key(options.labelColumn, SUMMARY_INDEX_FIELDS, 'summary_sentences')
    const count = splitSentences(text).length
    const indices = new Set<number>()
    for (const item of at.array(key)) {
      const index = whole(item)
      if (index === null || index >= count) throw at.error(`"${key}" names sentence ${describeValue(item)}, expected an index from 0 to ${count - 1} (the text has ${count} sentences)`)
      indices.add(index)
    }
    return { text, value: { kind: 'summary', sentences: [...indices].sort((a, b) => a - b) }, source: source(at) }
  }
}

const converters: Record<TaskKind, (options: LabelledFileOptions) => Converter> = { classify, multilabel, tag, qa, summarize }

// ---------------------------------------------------------------- entry points

/**
 * Opens a labelled file as a stream of example batches. Reading is lazy; closing the generator
 * early closes the file. A bad record throws BAD_INPUT from the batch that holds it.
 */
export async function openLabelledFile(input: LabelledInput, task: TaskKind, options: LabelledFileOptions = {}): Promise<LabelledStream> {
  const format = formatOf(input, options, false)
  const stream = await openRecords(input, format)
  const convert = converters[task](options)
  async function* batches(): AsyncGenerator<LabelledExample[]> {
    try {
      if (task === 'qa') {
        // Questions about one passage become one example, in the order the passages first appear.
        const byContext = new Map<string, LabelledExample>()
        for await (const records of stream.batches) {
          for (const record of records) {
            const example = convert(new At(input.displayName, record, format))
            const seen = byContext.get(example.text)
            if (seen && seen.value.kind === 'qa' && example.value.kind === 'qa') seen.value.items.push(...example.value.items)
            else byContext.set(example.text, example)
          }
        }
        if (byContext.size > 0) yield [...byContext.values()]
        return
      }
      for await (const records of stream.batches) {
        const examples = records.map((record) => convert(new At(input.displayName, record, format)))
        if (examples.length > 0) yield examples
      }
    } finally {
      await stream.batches.return(undefined)
    }
  }
  return { format, batches: batches(), counter: stream.counter, totalBytes: stream.totalBytes }
}

export interface LabelledFile {
  format: LabelledFormat
  examples: LabelledExample[]
  /** Class or entity-type names in the order they first appear; empty for qa and summarize. */
  labels: string[]
  /** Tagging: whether any example has overlapping spans. */
  overlapping: boolean
}

/** The whole file in memory (the CLI, evaluation files). At least one example, or BAD_INPUT. */
export async function readLabelledFile(input: LabelledInput, task: TaskKind, options: LabelledFileOptions = {}): Promise<LabelledFile> {
  const stream = await openLabelledFile(input, task, options)
  const examples: LabelledExample[] = []
  for await (const batch of stream.batches) examples.push(...batch)
  if (examples.length === 0) throw badInput(`${input.displayName} holds no labelled examples`)
  return { format: stream.format, examples, labels: labelNames(examples), overlapping: examples.some(hasOverlap) }
}

/** Class or entity-type names of examples in order of first appearance. */
export function labelNames(examples: readonly LabelledExample[]): string[] {
  const names = new Set<string>()
  for (const { value } of examples) {
    if (value.kind === 'classes') for (const label of value.labels) names.add(label)
    else if (value.kind === 'spans') for (const span of value.spans) names.add(span.label)
  }
  return [...names]
}

/** Whether an example's spans (sorted by start) overlap. */
export function hasOverlap(example: LabelledExample): boolean {
  if (example.value.kind !== 'spans') return false
  let end = -1
  for (const span of example.value.spans) {
    if (span.start < end) return true
    end = Math.max(end, span.end)
  }
  return false
}

// ---------------------------------------------------------------- texts only (prediction input)

export interface TextRecord {
  text: string
  /** `file.csv:12` */
  source: string
  line: number
  /** The row's cells or the record's fields as text (CSV header order), for output beside the predictions. */
  fields: Record<string, string>
}

export interface TextStream {
  format: LabelledFormat | 'txt'
  /** The column or field the text came from; null for plain text. */
  textField: string | null
  batches: AsyncGenerator<TextRecord[]>
  counter: ByteCounter
  totalBytes: number
}

/** Fields tried for the text of a prediction input, when none is named. */
export const PREDICT_TEXT_FIELDS = [...TEXT_FIELDS, 'body', 'context'] as const

/**
 * Texts to predict, without labels: one per non-blank line of a plain-text file, or the text
 * column or field of CSV/TSV/JSONL (named, else the first of PREDICT_TEXT_FIELDS present).
 * Blank texts are skipped; each record keeps its line.
 */
export async function openTextFile(input: LabelledInput, options: LabelledFileOptions = {}): Promise<TextStream> {
  const format = formatOf(input, options, true)
  if (format === 'txt') {
    let totalBytes: number
    try {
      totalBytes = statSync(input.path).size
    } catch {
      throw badInput(`${input.displayName}: no such file`)
    }
    const counter = newCounter()
    const lines = splitLines(decodeText(fileChunks(input.path, counter), input.displayName))
    async function* batches(): AsyncGenerator<TextRecord[]> {
      for await (const batch of lines) {
        const records = batch
          .filter(({ text }) => !isBlank(text))
          .map(({ text, line }) => ({ text, line, source: `${input.displayName}:${line}`, fields: { text } }))
        if (records.length > 0) yield records
      }
    }
    return { format, textField: null, batches: batches(), counter, totalBytes }
  }
  const recordFormat: LabelledFormat = format
  const stream = await openRecords(input, recordFormat)
  let textField: string | null = null
  async function* batches(): AsyncGenerator<TextRecord[]> {
    try {
      for await (const records of stream.batches) {
        const out: TextRecord[] = []
        for (const record of records) {
          const at = new At(input.displayName, record, recordFormat)
          const key = at.key(options.textColumn, PREDICT_TEXT_FIELDS, 'text')
          textField ??= key
          const value = record.fields[key]
          if (value === null || value === undefined || (typeof value === 'string' && isBlank(value))) continue
          const fields: Record<string, string> = {}
          for (const [name, cell] of Object.entries(record.fields)) {
            fields[name] = cell === null || cell === undefined ? '' : typeof cell === 'string' ? cell : JSON.stringify(cell)
          }
          out.push({ text: at.text(key), line: record.line, source: `${input.displayName}:${record.line}`, fields })
        }
        if (out.length > 0) yield out
      }
    } finally {
      await stream.batches.return(undefined)
    }
  }
  return {
    format,
    get textField() {
      return textField
    },
    batches: batches(),
    counter: stream.counter,
    totalBytes: stream.totalBytes,
  }
}

/** Every text of a prediction input, in order; at least one, or BAD_INPUT. */
export async function readTextFile(input: LabelledInput, options: LabelledFileOptions = {}): Promise<{ format: LabelledFormat | 'txt'; textField: string | null; records: TextRecord[] }> {
  const stream = await openTextFile(input, options)
  const records: TextRecord[] = []
  for await (const batch of stream.batches) records.push(...batch)
  if (records.length === 0) throw badInput(`${input.displayName} holds no texts`)
  return { format: stream.format, textField: stream.textField, records }
}
