/**
 * The one API contract shared by main, preload and renderer (GitHub Desktop's ipc-shared.ts).
 * Every channel is declared here once: its name, the schema of its single argument object and
 * the TypeScript type of its value. Events are declared beside them. Nothing else in the app
 * names a channel by string.
 *
 * This module must stay importable from the sandboxed preload and the renderer: it imports zod and
 * nothing from Node.
 */
import { z } from 'zod'

/** Bounded strings: a renderer cannot make the main process hold megabytes by mistake or malice. */
const name = z.string().trim().min(1, 'must not be empty').max(200)
const id = z.number().int().positive()
const jobId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/, 'must be 6–64 letters, digits, _ or -')
const fileId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/)

export const CorpusFormat = z.enum(['txt', 'folder', 'csv', 'tsv', 'jsonl'])
export type CorpusFormat = z.infer<typeof CorpusFormat>
export const TextSplit = z.enum(['line', 'paragraph'])
export type TextSplit = z.infer<typeof TextSplit>

/** Options that decide how a file becomes documents. Shared by preview, import and the CLI. */
export const ImportOptions = z
  .object({
    format: CorpusFormat.optional(),
    split: TextSplit.optional(),
    textColumn: z.string().max(200).optional(),
    labelColumn: z.string().max(200).optional(),
  })
  .strict()
export type ImportOptions = z.infer<typeof ImportOptions>

// ---------------------------------------------------------------- value types

export interface AppInfo {
  version: string
  home: string
  databasePath: string
  mode: 'electron' | 'web'
  platform: string
  /** Whether `files.pick` opens a native dialog (Electron) or the renderer must upload (web). */
  nativeFileDialog: boolean
}

export interface Project {
  id: number
  name: string
  createdAt: string
  corpora: number
}

export interface PickedFile {
  fileId: string
  name: string
  /** Bytes; for a folder, the sum of its `.txt` files. */
  size: number
  kind: 'file' | 'folder'
}

export interface ImportPreview {
  fileId: string
  fileName: string
  format: CorpusFormat
  /** Column names (CSV/TSV header) or field names seen in the first JSONL records. */
  columns: string[]
  /** The first rows as cells, in `columns` order (CSV/TSV/JSONL), for the preview table. */
  rows: string[][]
  /** The documents the first rows would become with the options given. */
  documents: { text: string; label: string | null }[]
  textColumn: string | null
  labelColumn: string | null
  split: TextSplit
  /** For a folder: how many `.txt` files it holds. */
  files: number
  bytes: number
}

export interface LengthHistogram {
  /** Upper bounds (in words) of each bin; the last bin is open-ended. */
  edges: number[]
  counts: number[]
}

export interface CorpusStats {
  documents: number
  characters: number
  words: number
  bytes: number
  minWords: number
  maxWords: number
  meanWords: number
  medianWords: number
  histogram: LengthHistogram
  labels: { label: string; count: number }[]
}

export interface Corpus {
  id: number
  projectId: number
  name: string
  sourceName: string
  format: CorpusFormat
  options: ImportOptions
  createdAt: string
  stats: CorpusStats
  /** Whether the word index is complete; until then search scans the text (slower at scale). */
  searchReady: boolean
}

export interface DocumentRow {
  id: number
  ordinal: number
  text: string
  label: string | null
  /** Where it came from, e.g. `reviews.csv:42` (file and first line). */
  source: string
}

export interface DocumentPage {
  total: number
  offset: number
  documents: DocumentRow[]
  /** Set when a search stopped counting at a cap: `total` is then a lower bound. */
  totalIsEstimate?: boolean
}

export interface ImportResult {
  corpus: Corpus
  seconds: number
}

export type JobKind = 'import' | 'index'
export interface JobProgress {
  jobId: string
  kind: JobKind
  label: string
  state: 'running' | 'done' | 'failed' | 'cancelled'
  /** Units done and, where known, in total (bytes for an import). */
  done: number
  total: number | null
  /** Documents (rows) so far. */
  items: number
  etaSeconds: number | null
  message?: string
}

// ---------------------------------------------------------------- channels

/** A channel: the schema of its one argument object and, as a phantom, the type of its value. */
export interface Channel<A extends z.ZodType, V> {
  args: A
  /** Never read at run time; carries the value type. */
  value?: V
}
const channel = <V>() => <A extends z.ZodType>(args: A): Channel<A, V> => ({ args })
const none = z.object({}).strict()

export const channels = {
  'app.info': channel<AppInfo>()(none),

  'projects.list': channel<Project[]>()(none),
  'projects.create': channel<Project>()(z.object({ name }).strict()),
  'projects.delete': channel<void>()(z.object({ projectId: id }).strict()),

  /** Native file or folder dialog (Electron). Web mode answers UNSUPPORTED: the page uploads. */
  'files.pick': channel<PickedFile | null>()(z.object({ kind: z.enum(['file', 'folder']) }).strict()),

  'corpora.preview': channel<ImportPreview>()(
    z.object({ fileId, options: ImportOptions.default({}) }).strict(),
  ),
  'corpora.import': channel<ImportResult>()(
    z.object({ projectId: id, fileId, name, jobId, options: ImportOptions.default({}) }).strict(),
  ),
  'corpora.list': channel<Corpus[]>()(z.object({ projectId: id }).strict()),
  'corpora.get': channel<Corpus>()(z.object({ corpusId: id }).strict()),
  'corpora.documents': channel<DocumentPage>()(
    z
      .object({
        corpusId: id,
        query: z.string().max(500).default(''),
        offset: z.number().int().min(0).max(1e9).default(0),
        limit: z.number().int().min(1).max(500).default(50),
      })
      .strict(),
  ),
  'corpora.rename': channel<Corpus>()(z.object({ corpusId: id, name }).strict()),
  'corpora.delete': channel<void>()(z.object({ corpusId: id }).strict()),

  'jobs.cancel': channel<boolean>()(z.object({ jobId }).strict()),
} as const

export type Channels = typeof channels
export type ChannelName = keyof Channels
export type ArgsOf<C extends ChannelName> = z.input<Channels[C]['args']>
export type ParsedArgsOf<C extends ChannelName> = z.output<Channels[C]['args']>
export type ValueOf<C extends ChannelName> = Exclude<Channels[C]['value'], undefined>
export const channelNames = Object.keys(channels) as ChannelName[]

// ---------------------------------------------------------------- events

export const events = {
  'job.progress': {} as JobProgress,
} as const
export type EventName = keyof typeof events
export type EventPayload<E extends EventName> = (typeof events)[E]
export const eventNames = Object.keys(events) as EventName[]

// ---------------------------------------------------------------- results

export type ErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'BAD_INPUT'
  | 'CANCELLED'
  | 'UNSUPPORTED'
  | 'FORBIDDEN'
  | 'DATABASE'
  | 'INTERNAL'

export type Result<V> = { ok: true; value: V } | { ok: false; code: ErrorCode; message: string }

/**
 * The API every renderer sees: one method per channel taking the channel's argument object,
 * resolving to its value (errors are thrown as StudioApiError), and one `on` per event.
 */
export type StudioApi = {
  [C in ChannelName]: (args: ArgsOf<C>) => Promise<ValueOf<C>>
}
export interface StudioBridge {
  invoke<C extends ChannelName>(channel: C, args: ArgsOf<C>): Promise<Result<ValueOf<C>>>
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void
}

/** The IPC channel names as they travel (Electron's and the web transport's). */
export const ipcName = (c: ChannelName) => `studio:${c}`
export const ipcEventName = (e: EventName) => `studio-event:${e}`
