import type { Tokenizer } from '@huggingface/tokenizers'
import type {
  Corpus,
  EncodedText,
  JobProgress,
  PickedFile,
  TokenizerComparison,
  TokenizerDiagnostics,
  TokenizerFiles,
  TokenizerInfo,
  TokenizerTrainOptions,
} from '../../../../src-main/contract/index.ts'
import { api, StudioApiError, type UploadProgress } from '../api.ts'
import { messageOf, nameFromFile, newJobId } from '../format.ts'

/** BERT's own vocabulary size; the contract's default too. */
export const DEFAULT_VOCAB_SIZE = 30_522
export const VOCAB_PRESETS = [8_000, 16_000, DEFAULT_VOCAB_SIZE] as const
export const VOCAB_LIMITS = { min: 50, max: 250_000 } as const

/** `30522` → `30k`, `400` → `400`: short enough for a default name (BERT's size reads as 30k). */
export function shortSize(size: number): string {
  return size >= 1_000 ? `${Math.floor(size / 1_000)}k` : String(size)
}

const isCancel = (error: unknown) => error instanceof StudioApiError && error.code === 'CANCELLED'

/**
 * A project's tokenizers, the one being viewed, and the project's corpora (to train on or compare
 * over). The four files of a tokenizer are fetched once and kept: the live box and downloads share
 * them.
 */
export class TokenizersState {
  projectId = $state<number | null>(null)
  list = $state.raw<TokenizerInfo[]>([])
  corpora = $state.raw<Corpus[]>([])
  selectedId = $state<number | null>(null)
  loaded = $state(false)
  error = $state<string | null>(null)

  selected = $derived(this.list.find((tokenizer) => tokenizer.id === this.selectedId) ?? null)

  private files = new Map<number, Promise<TokenizerFiles>>()

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.error = null
    try {
      const [list] = await Promise.all([api['tokenizers.list']({ projectId }), this.loadCorpora()])
      if (this.projectId !== projectId) return
      this.list = list
      this.selectedId = list.at(-1)?.id ?? null
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loaded = true
    }
  }

  /** Corpora change on the Import step; asked again each time this step is shown. */
  async loadCorpora(): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    try {
      const corpora = await api['corpora.list']({ projectId })
      if (this.projectId === projectId) this.corpora = corpora
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  corpusName(corpusId: number | null): string | null {
    return this.corpora.find((corpus) => corpus.id === corpusId)?.name ?? null
  }

  /** `corpusId` if it still exists, else the newest corpus. */
  defaultCorpus(corpusId: number | null): number | null {
    return this.corpora.some((corpus) => corpus.id === corpusId) ? corpusId : (this.corpora.at(-1)?.id ?? null)
  }

  select(tokenizerId: number | null): void {
    this.selectedId = tokenizerId
  }

  add(tokenizer: TokenizerInfo): void {
    this.list = [...this.list.filter((item) => item.id !== tokenizer.id), tokenizer]
    this.selectedId = tokenizer.id
  }

  async rename(tokenizerId: number, name: string): Promise<void> {
    const renamed = await api['tokenizers.rename']({ tokenizerId, name })
    this.list = this.list.map((tokenizer) => (tokenizer.id === tokenizerId ? renamed : tokenizer))
  }

  async remove(tokenizerId: number): Promise<void> {
    await api['tokenizers.delete']({ tokenizerId })
    this.files.delete(tokenizerId)
    this.list = this.list.filter((tokenizer) => tokenizer.id !== tokenizerId)
    if (this.selectedId === tokenizerId) this.selectedId = this.list.at(-1)?.id ?? null
  }

  /** The four files, fetched once per tokenizer (a failed fetch is forgotten so it can be retried). */
  filesOf(tokenizerId: number): Promise<TokenizerFiles> {
    let files = this.files.get(tokenizerId)
    if (!files) {
      files = api['tokenizers.files']({ tokenizerId })
      files.catch(() => this.files.delete(tokenizerId))
      this.files.set(tokenizerId, files)
    }
    return files
  }
}

/** The Train form and its running job. */
export class TrainState {
  private readonly tokenizers: TokenizersState
  corpusId = $state<number | null>(null)
  vocabSize = $state<number>(DEFAULT_VOCAB_SIZE)
  minFrequency = $state<number>(2)
  lowercase = $state(true)
  limitAlphabet = $state<number>(1_000)
  /** What the user typed; null keeps the suggested name following the choices. */
  customName = $state<string | null>(null)
  progress = $state.raw<JobProgress | null>(null)
  training = $state(false)
  cancelling = $state(false)
  error = $state<string | null>(null)

  private jobId: string | null = null
  private unsubscribe: () => void

  constructor(tokenizers: TokenizersState) {
    this.tokenizers = tokenizers
    this.unsubscribe = api.on('job.progress', (progress) => {
      if (progress.jobId === this.jobId) this.progress = progress
    })
  }

  corpus = $derived(this.corpusById(this.corpusId))
  suggestedName = $derived(`wordpiece-${shortSize(this.vocabSize || 0)}-${this.corpus?.name ?? 'corpus'}`.slice(0, 200))
  name = $derived(this.customName ?? this.suggestedName)

  /** Field → what is wrong with it; empty when the form can be sent. */
  problems = $derived.by(() => {
    const problems: Partial<Record<'corpus' | 'vocabSize' | 'minFrequency' | 'limitAlphabet' | 'name', string>> = {}
    if (this.corpus === null) problems.corpus = 'Choose a corpus to train on'
    if (!Number.isInteger(this.vocabSize) || this.vocabSize < VOCAB_LIMITS.min || this.vocabSize > VOCAB_LIMITS.max) {
      problems.vocabSize = `Vocabulary size must be a whole number from ${VOCAB_LIMITS.min} to ${VOCAB_LIMITS.max.toLocaleString()}`
    }
    if (!Number.isInteger(this.minFrequency) || this.minFrequency < 1) problems.minFrequency = 'Minimum frequency must be a whole number, 1 or more'
    if (!Number.isInteger(this.limitAlphabet) || this.limitAlphabet < 10) problems.limitAlphabet = 'Alphabet limit must be a whole number, 10 or more'
    if (this.name.trim() === '') problems.name = 'Give the tokenizer a name'
    return problems
  })
  canTrain = $derived(Object.keys(this.problems).length === 0 && !this.training)

  dispose(): void {
    this.unsubscribe()
  }

  private corpusById(corpusId: number | null) {
    return this.tokenizers.corpora.find((corpus) => corpus.id === corpusId) ?? null
  }

  /** Picks the newest corpus when none (or a deleted one) is chosen. */
  chooseDefaultCorpus(): void {
    if (this.corpus === null) this.corpusId = this.tokenizers.corpora.at(-1)?.id ?? null
  }

  options(): TokenizerTrainOptions {
    return {
      vocabSize: this.vocabSize,
      minFrequency: this.minFrequency,
      lowercase: this.lowercase,
      limitAlphabet: this.limitAlphabet,
    }
  }

  /** Trains; resolves to the new tokenizer, or null if it failed or was cancelled. */
  async start(): Promise<TokenizerInfo | null> {
    const projectId = this.tokenizers.projectId
    const corpus = this.corpus
    if (projectId === null || corpus === null || !this.canTrain) return null
    const jobId = newJobId()
    this.jobId = jobId
    this.training = true
    this.cancelling = false
    this.error = null
    this.progress = null
    try {
      return await api['tokenizers.train']({ projectId, corpusId: corpus.id, name: this.name.trim(), jobId, options: this.options() })
    } catch (error) {
      this.error = isCancel(error) ? null : messageOf(error)
      return null
    } finally {
      this.training = false
      this.cancelling = false
    }
  }

  async cancel(): Promise<void> {
    if (!this.jobId || !this.training) return
    this.cancelling = true
    try {
      await api['jobs.cancel']({ jobId: this.jobId })
    } catch (error) {
      this.error = messageOf(error)
      this.cancelling = false
    }
  }

  /** After a finished run: keep the choices, forget the job and the typed name. */
  finish(): void {
    this.progress = null
    this.customName = null
    this.jobId = null
  }
}

/** Importing a `vocab.txt` or `tokenizer.json`. */
export class TokenizerImportState {
  source = $state.raw<PickedFile | null>(null)
  upload = $state.raw<UploadProgress | null>(null)
  lowercase = $state(true)
  name = $state('')
  importing = $state(false)
  error = $state<string | null>(null)

  /** A vocab.txt says nothing of casing, so the user does; a tokenizer.json carries it. */
  isVocabTxt = $derived(this.source !== null && !this.source.name.toLowerCase().endsWith('.json'))
  canImport = $derived(this.source !== null && this.name.trim() !== '' && !this.importing && this.upload === null)

  private uploadAbort: AbortController | null = null

  reset(): void {
    this.uploadAbort?.abort()
    this.source = null
    this.upload = null
    this.lowercase = true
    this.name = ''
    this.error = null
  }

  async pick(): Promise<void> {
    this.error = null
    try {
      const picked = await api['files.pick']({ kind: 'file' })
      if (picked) this.use(picked)
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  async uploadFile(file: File): Promise<void> {
    this.error = null
    this.uploadAbort = new AbortController()
    this.upload = { done: 0, total: file.size }
    try {
      const picked = await api.upload(file, { signal: this.uploadAbort.signal, onProgress: (progress) => (this.upload = progress) })
      this.use(picked)
    } catch (error) {
      if (!isCancel(error)) this.error = messageOf(error)
    } finally {
      this.upload = null
      this.uploadAbort = null
    }
  }

  cancelUpload(): void {
    this.uploadAbort?.abort()
  }

  private use(picked: PickedFile): void {
    this.source = picked
    const base = nameFromFile(picked.name)
    // "vocab" or "tokenizer" alone says nothing; keep it but mark it as imported.
    this.name = /^(vocab|tokenizer)$/i.test(base) ? `imported-${base}` : base
  }

  async start(projectId: number): Promise<TokenizerInfo | null> {
    const source = this.source
    if (!source || !this.canImport) return null
    this.importing = true
    this.error = null
    try {
      return await api['tokenizers.import']({ projectId, fileId: source.fileId, name: this.name.trim(), lowercase: this.lowercase })
    } catch (error) {
      this.error = messageOf(error)
      return null
    } finally {
      this.importing = false
    }
  }
}

export interface LivePiece {
  token: string
  id: number | null
  /** A `##` piece: drawn attached to the one before. */
  continuation: boolean
  unknown: boolean
}
export interface LiveWord {
  word: string
  pieces: LivePiece[]
}

const SERVER_DELAY_MS = 200

/**
 * "Type a sentence, see its pieces": the tokenizer's own tokenizer.json run in the page, so each
 * keystroke costs no round trip. The server's encoding can be shown beside it, as a check.
 */
export class LiveEncoderState {
  tokenizer = $state.raw<Tokenizer | null>(null)
  loading = $state(false)
  error = $state<string | null>(null)
  text = $state('')
  showServer = $state(false)
  server = $state.raw<EncodedText | null>(null)
  serverError = $state<string | null>(null)

  private tokenizerId: number | null = null
  private prefix = '##'
  private unknownToken = '[UNK]'
  private serverRequest = 0
  private serverTimer: ReturnType<typeof setTimeout> | null = null

  /** Words and their pieces, without [CLS]/[SEP]; recomputed as `text` changes. */
  words = $derived.by((): LiveWord[] => {
    const tokenizer = this.tokenizer
    if (!tokenizer || this.text.trim() === '') return []
    const tokens = tokenizer.tokenize(this.text)
    const words: LiveWord[] = []
    for (const token of tokens) {
      const continuation = token.startsWith(this.prefix) && token.length > this.prefix.length && words.length > 0
      const piece: LivePiece = { token, id: tokenizer.token_to_id(token) ?? null, continuation, unknown: token === this.unknownToken }
      if (continuation) {
        const word = words.at(-1)!
        word.pieces.push(piece)
        word.word += token.slice(this.prefix.length)
      } else {
        words.push({ word: token, pieces: [piece] })
      }
    }
    // Name each group by the word it came from (an [UNK] shows what it replaced); added tokens
    // such as a typed [CLS] make the two lists differ, and then the pieces name themselves.
    const normalized = tokenizer.normalizer ? tokenizer.normalizer(this.text) : this.text
    const source = tokenizer.pre_tokenizer ? tokenizer.pre_tokenizer(normalized) : normalized.split(/\s+/).filter(Boolean)
    if (source.length === words.length) words.forEach((word, index) => (word.word = source[index]!))
    return words
  })
  pieceCount = $derived(this.words.reduce((sum, word) => sum + word.pieces.length, 0))
  unknownCount = $derived(this.words.reduce((sum, word) => sum + word.pieces.filter((piece) => piece.unknown).length, 0))
  /** The whole encoding the model sees, special tokens included: compared with the server's. */
  tokens = $derived(this.tokenizer && this.text.trim() !== '' ? this.tokenizer.encode(this.text).tokens : [])
  agrees = $derived(this.server === null ? null : this.server.tokens.join('\u0000') === this.tokens.join('\u0000'))

  async load(tokenizerId: number, files: Promise<TokenizerFiles>): Promise<void> {
    this.tokenizerId = tokenizerId
    this.tokenizer = null
    this.server = null
    this.loading = true
    this.error = null
    try {
      const [{ Tokenizer }, loaded] = await Promise.all([import('@huggingface/tokenizers'), files])
      if (this.tokenizerId !== tokenizerId) return
      const json = JSON.parse(loaded['tokenizer.json']) as { model?: { continuing_subword_prefix?: string; unk_token?: string } }
      const config = JSON.parse(loaded['tokenizer_config.json']) as object
      this.prefix = json.model?.continuing_subword_prefix ?? '##'
      this.unknownToken = json.model?.unk_token ?? '[UNK]'
      this.tokenizer = new Tokenizer(json, config)
      if (this.showServer) this.askServer()
    } catch (error) {
      if (this.tokenizerId === tokenizerId) this.error = `Cannot run this tokenizer in the page: ${messageOf(error)}`
    } finally {
      if (this.tokenizerId === tokenizerId) this.loading = false
    }
  }

  setText(text: string): void {
    this.text = text
    if (this.showServer) this.scheduleServer()
  }

  setShowServer(show: boolean): void {
    this.showServer = show
    this.server = null
    this.serverError = null
    if (show) this.askServer()
  }

  dispose(): void {
    if (this.serverTimer) clearTimeout(this.serverTimer)
    this.tokenizerId = null
  }

  private scheduleServer(): void {
    if (this.serverTimer) clearTimeout(this.serverTimer)
    this.serverTimer = setTimeout(() => this.askServer(), SERVER_DELAY_MS)
  }

  private askServer(): void {
    this.serverTimer = null
    const tokenizerId = this.tokenizerId
    if (tokenizerId === null) return
    const request = ++this.serverRequest
    const text = this.text
    if (text.trim() === '') {
      this.server = null
      return
    }
    api['tokenizers.encode']({ tokenizerId, text })
      .then((encoded) => {
        if (request !== this.serverRequest || text !== this.text) return
        this.server = encoded
        this.serverError = null
      })
      .catch((error: unknown) => {
        if (request === this.serverRequest) this.serverError = messageOf(error)
      })
  }
}

/** Diagnostics on another corpus, for a tokenizer without them (imported) or to check a second corpus. */
export class DiagnoseState {
  corpusId = $state<number | null>(null)
  result = $state.raw<TokenizerDiagnostics | null>(null)
  running = $state(false)
  error = $state<string | null>(null)

  async run(tokenizerId: number): Promise<void> {
    const corpusId = this.corpusId
    if (corpusId === null) return
    this.running = true
    this.error = null
    try {
      this.result = await api['tokenizers.diagnose']({ tokenizerId, corpusId })
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.running = false
    }
  }
}

/** Two tokenizers over one corpus, side by side. */
export class CompareState {
  secondId = $state<number | null>(null)
  corpusId = $state<number | null>(null)
  result = $state.raw<TokenizerComparison | null>(null)
  running = $state(false)
  error = $state<string | null>(null)

  async run(firstId: number): Promise<void> {
    const { secondId, corpusId } = this
    if (secondId === null || corpusId === null) return
    this.running = true
    this.error = null
    this.result = null
    try {
      this.result = await api['tokenizers.compare']({ firstId, secondId, corpusId })
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.running = false
    }
  }
}

/** Starts a browser download of `text` as `fileName`, without leaving the page. */
export function downloadText(fileName: string, text: string, type = 'text/plain'): void {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }))
  const anchor = document.createElement('a')
  anchor.href = url
  anchor.download = fileName
  anchor.style.display = 'none'
  document.body.append(anchor)
  anchor.click()
  anchor.remove()
  // The click has handed the blob to the download by the next task; free it after.
  setTimeout(() => URL.revokeObjectURL(url), 1_000)
}
