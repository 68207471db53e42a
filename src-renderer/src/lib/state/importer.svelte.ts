import type {
  Corpus,
  CorpusFormat,
  ImportOptions,
  ImportPreview,
  JobProgress,
  PickedFile,
  TextSplit,
} from '../../../../src-main/contract/index.ts'
import { api, StudioApiError, type UploadProgress } from '../api.ts'
import { messageOf, nameFromFile, newJobId } from '../format.ts'

export type FormatChoice = 'auto' | CorpusFormat

/**
 * One import in the making: the picked (or uploaded) source, the options, the server's preview of
 * what they produce, and the running job. Each user change asks for a fresh preview explicitly,
 * rather than an effect watching the options.
 */
export class ImportState {
  source = $state.raw<PickedFile | null>(null)
  upload = $state.raw<UploadProgress | null>(null)
  format = $state<FormatChoice>('auto')
  split = $state<TextSplit>('line')
  /** What happens to documents over the length limit (DEFAULT_MAX_DOCUMENT_CHARS). */
  longDocuments = $state<'split' | 'truncate'>('split')
  /** Chosen columns; null until the user picks one (the preview's defaults are shown until then). */
  textColumn = $state<string | null>(null)
  labelColumn = $state<string | null>(null)
  preview = $state.raw<ImportPreview | null>(null)
  previewing = $state(false)
  name = $state('')
  progress = $state.raw<JobProgress | null>(null)
  importing = $state(false)
  cancelling = $state(false)
  error = $state<string | null>(null)

  private jobId: string | null = null
  private previewRequest = 0
  private uploadAbort: AbortController | null = null

  /** Formats with a header or fields to choose from. */
  tabular = $derived(this.preview !== null && this.preview.format !== 'txt' && this.preview.format !== 'folder')
  showsSplit = $derived(this.preview?.format === 'txt' || this.preview?.format === 'folder')
  canImport = $derived(
    this.source !== null && this.preview !== null && !this.importing && !this.previewing && this.name.trim() !== '',
  )

  private unsubscribe: () => void

  constructor() {
    this.unsubscribe = api.on('job.progress', (progress) => {
      if (progress.jobId === this.jobId) this.progress = progress
    })
  }

  dispose(): void {
    this.uploadAbort?.abort()
    this.unsubscribe()
  }

  reset(): void {
    this.uploadAbort?.abort()
    this.source = null
    this.upload = null
    this.format = 'auto'
    this.split = 'line'
    this.longDocuments = 'split'
    this.textColumn = null
    this.labelColumn = null
    this.preview = null
    this.name = ''
    this.progress = null
    this.error = null
    this.jobId = null
  }

  /** Electron: a native dialog. */
  async pick(kind: 'file' | 'folder'): Promise<void> {
    this.error = null
    try {
      const picked = await api['files.pick']({ kind })
      if (picked) await this.use(picked)
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  /** Web mode: send the chosen file, or a folder's `.txt` files, to the studio. */
  async uploadFiles(files: File[], kind: 'file' | 'folder'): Promise<void> {
    this.error = null
    const chosen = kind === 'folder' ? files.filter((file) => file.name.toLowerCase().endsWith('.txt')) : files.slice(0, 1)
    if (chosen.length === 0) {
      this.error = kind === 'folder' ? 'That folder holds no .txt files to import' : 'No file was chosen'
      return
    }
    this.uploadAbort = new AbortController()
    this.upload = { done: 0, total: chosen.reduce((sum, file) => sum + file.size, 0) }
    try {
      const picked = await api.upload(kind === 'folder' ? chosen : chosen[0]!, {
        signal: this.uploadAbort.signal,
        onProgress: (progress) => (this.upload = progress),
      })
      this.upload = null
      await this.use(picked)
    } catch (error) {
      this.upload = null
      if (!(error instanceof StudioApiError && error.code === 'CANCELLED')) this.error = messageOf(error)
    } finally {
      this.uploadAbort = null
    }
  }

  cancelUpload(): void {
    this.uploadAbort?.abort()
  }

  private async use(picked: PickedFile): Promise<void> {
    this.source = picked
    this.name = nameFromFile(picked.name)
    this.format = picked.kind === 'folder' ? 'folder' : 'auto'
    this.textColumn = null
    this.labelColumn = null
    this.preview = null
    await this.refreshPreview()
  }

  setFormat(format: FormatChoice): void {
    this.format = format
    // Columns of one format mean nothing in another.
    this.textColumn = null
    this.labelColumn = null
    void this.refreshPreview()
  }

  setSplit(split: TextSplit): void {
    this.split = split
    void this.refreshPreview()
  }

  setLongDocuments(action: 'split' | 'truncate'): void {
    this.longDocuments = action
    void this.refreshPreview()
  }

  setColumns(textColumn: string, labelColumn: string | null): void {
    this.textColumn = textColumn
    this.labelColumn = labelColumn
    void this.refreshPreview()
  }

  options(): ImportOptions {
    const options: ImportOptions = {}
    if (this.format !== 'auto') options.format = this.format
    if (this.showsSplit || this.format === 'txt' || this.format === 'folder') options.split = this.split
    // Unnamed, the studio picks the text column and takes no label.
    if (this.textColumn !== null) options.textColumn = this.textColumn
    if (this.labelColumn !== null) options.labelColumn = this.labelColumn
    if (this.longDocuments !== 'split') options.longDocuments = this.longDocuments
    return $state.snapshot(options) as ImportOptions
  }

  async refreshPreview(): Promise<void> {
    const source = this.source
    if (!source) return
    const request = ++this.previewRequest
    this.previewing = true
    this.error = null
    try {
      const preview = await api['corpora.preview']({ fileId: source.fileId, options: this.options() })
      if (request !== this.previewRequest) return
      this.preview = preview
      if (preview.format === 'txt' || preview.format === 'folder') this.split = preview.split
    } catch (error) {
      if (request !== this.previewRequest) return
      this.preview = null
      this.error = messageOf(error)
    } finally {
      if (request === this.previewRequest) this.previewing = false
    }
  }

  /** Runs the import; resolves to the new corpus, or null if it failed or was cancelled. */
  async start(projectId: number): Promise<Corpus | null> {
    const source = this.source
    if (!source || !this.canImport) return null
    const jobId = newJobId()
    this.jobId = jobId
    this.importing = true
    this.cancelling = false
    this.error = null
    this.progress = null
    try {
      const result = await api['corpora.import']({
        projectId,
        fileId: source.fileId,
        name: this.name.trim(),
        jobId,
        options: this.options(),
      })
      return result.corpus
    } catch (error) {
      if (error instanceof StudioApiError && error.code === 'CANCELLED') this.error = null
      else this.error = messageOf(error)
      return null
    } finally {
      this.importing = false
      this.cancelling = false
    }
  }

  async cancel(): Promise<void> {
    if (!this.jobId || !this.importing) return
    this.cancelling = true
    try {
      await api['jobs.cancel']({ jobId: this.jobId })
    } catch (error) {
      this.error = messageOf(error)
      this.cancelling = false
    }
  }
}
