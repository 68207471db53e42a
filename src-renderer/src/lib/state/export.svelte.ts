import type { ExportFormat, ModelCheckpoint, ModelExport, ModelImport, PickedFile, RunSummary } from '../../../../src-main/contract/index.ts'
import { api, StudioApiError, type UploadProgress } from '../api.ts'
import { messageOf } from '../format.ts'

/** The files of a Hugging Face folder that import reads; anything else (pytorch_model.bin, …) is not uploaded. */
export const MODEL_FOLDER_FILES = ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const

export type CheckpointPick = 'best' | 'last' | 'step'

export const FORMATS: readonly { id: ExportFormat; title: string; detail: string }[] = [
  { id: 'hf', title: 'Hugging Face', detail: 'model.safetensors, config.json and the tokenizer files: loads with transformers’ from_pretrained.' },
  { id: 'tfjs', title: 'TensorFlow.js', detail: 'model.json and weight shards of 4 MB, plus the tokenizer files: loads in a browser or Node.' },
]

const isCancel = (error: unknown) => error instanceof StudioApiError && error.code === 'CANCELLED'

/**
 * The Export step: the project's runs that have a checkpoint, the chosen run's checkpoints, the
 * format, and the last export's result (files, parity, folder).
 */
export class ExportState {
  projectId = $state<number | null>(null)
  runs = $state.raw<RunSummary[]>([])
  runId = $state<number | null>(null)
  checkpoints = $state.raw<ModelCheckpoint[]>([])
  pick = $state<CheckpointPick>('best')
  step = $state<number | null>(null)
  format = $state<ExportFormat>('hf')
  /** A subfolder name the user typed; empty: named after the run. */
  folder = $state('')
  loaded = $state(false)
  exporting = $state(false)
  result = $state.raw<ModelExport | null>(null)
  error = $state<string | null>(null)

  /** Runs with something to export. */
  exportable = $derived(this.runs.filter((run) => run.checkpointStep !== null))
  run = $derived(this.runs.find((run) => run.id === this.runId) ?? null)
  steps = $derived([...new Set(this.checkpoints.map((checkpoint) => checkpoint.step))])
  bestCheckpoint = $derived(this.checkpoints.find((checkpoint) => checkpoint.best) ?? null)
  lastCheckpoint = $derived(this.checkpoints.find((checkpoint) => checkpoint.last) ?? null)
  folderProblem = $derived(/[\\/:*?"<>|]/.test(this.folder) || this.folder.trim() === '.' || this.folder.trim() === '..' ? 'A folder name, not a path: no / \\ : * ? " < > |' : null)
  canExport = $derived(
    this.run !== null && this.checkpoints.length > 0 && !this.exporting && this.folderProblem === null && (this.pick !== 'step' || this.step !== null),
  )

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.error = null
    try {
      const runs = await api['runs.list']({ projectId })
      if (this.projectId !== projectId) return
      this.runs = runs
      if (!this.exportable.some((run) => run.id === this.runId)) await this.selectRun(this.exportable[0]?.id ?? null)
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loaded = true
    }
  }

  async selectRun(runId: number | null): Promise<void> {
    this.runId = runId
    this.checkpoints = []
    this.step = null
    if (runId === null) return
    try {
      const checkpoints = await api['models.checkpoints']({ runId })
      if (this.runId !== runId) return
      this.checkpoints = checkpoints
      this.step = checkpoints.at(-1)?.step ?? null
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  async export(): Promise<ModelExport | null> {
    const run = this.run
    if (!run || !this.canExport) return null
    this.exporting = true
    this.error = null
    try {
      const folder = this.folder.trim()
      const result = await api['models.export']({
        runId: run.id,
        checkpoint: this.pick === 'step' ? this.step! : this.pick,
        format: this.format,
        ...(folder === '' ? {} : { folder }),
      })
      // null: the folder dialog was dismissed.
      if (result) this.result = result
      return result
    } catch (error) {
      this.error = messageOf(error)
      return null
    } finally {
      this.exporting = false
    }
  }

  /** A model imported on this step is a run like the others. */
  add(run: RunSummary): void {
    this.runs = [run, ...this.runs.filter((item) => item.id !== run.id)]
  }
}

/** Importing a Hugging Face folder: picked (Electron) or uploaded (web), then stored as a run. */
export class ModelImportState {
  source = $state.raw<PickedFile | null>(null)
  /** Bytes uploaded (web mode), shown beside the folder's name. */
  uploadedBytes = $state(0)
  upload = $state.raw<UploadProgress | null>(null)
  name = $state('')
  importing = $state(false)
  result = $state.raw<ModelImport | null>(null)
  error = $state<string | null>(null)

  canImport = $derived(this.source !== null && !this.importing && this.upload === null)

  private uploadAbort: AbortController | null = null

  reset(): void {
    this.uploadAbort?.abort()
    this.source = null
    this.upload = null
    this.uploadedBytes = 0
    this.name = ''
    this.error = null
  }

  async pick(): Promise<void> {
    this.error = null
    try {
      const picked = await api['files.pick']({ kind: 'folder' })
      if (picked) this.use(picked, 0)
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  /** Uploads the folder's model files (each keeps its `webkitRelativePath`). */
  async uploadFolder(files: File[]): Promise<void> {
    this.error = null
    // Only the folder's own files: a nested folder's config.json is not this model's.
    const chosen = files.filter((file) => {
      const parts = (file.webkitRelativePath || file.name).split('/')
      return parts.length <= 2 && (MODEL_FOLDER_FILES as readonly string[]).includes(file.name)
    })
    if (!chosen.some((file) => file.name === 'config.json') || !chosen.some((file) => file.name === 'model.safetensors')) {
      this.error = 'That folder is not a Hugging Face model: it needs config.json and model.safetensors (and vocab.txt or tokenizer.json)'
      return
    }
    const total = chosen.reduce((sum, file) => sum + file.size, 0)
    this.uploadAbort = new AbortController()
    this.upload = { done: 0, total }
    try {
      const picked = await api.upload(chosen, { signal: this.uploadAbort.signal, onProgress: (progress) => (this.upload = progress) })
      this.use(picked, total)
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

  private use(picked: PickedFile, bytes: number): void {
    this.source = picked
    this.uploadedBytes = bytes
    this.name = picked.name.slice(0, 200)
    this.result = null
  }

  async start(projectId: number): Promise<ModelImport | null> {
    const source = this.source
    if (!source || !this.canImport) return null
    this.importing = true
    this.error = null
    try {
      const name = this.name.trim()
      const result = await api['models.import']({ projectId, fileId: source.fileId, ...(name === '' ? {} : { name }) })
      this.result = result
      this.source = null
      this.name = ''
      return result
    } catch (error) {
      this.error = messageOf(error)
      return null
    } finally {
      this.importing = false
    }
  }
}
