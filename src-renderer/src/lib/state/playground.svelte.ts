import type {
  BatchPrediction,
  DatasetInfo,
  JobProgress,
  PickedFile,
  Prediction,
  RunSummary,
} from '../../../../src-main/contract/index.ts'
import { api, StudioApiError, type UploadProgress } from '../api.ts'
import { messageOf, newJobId } from '../format.ts'
import { finishedModels } from './evaluate.svelte.ts'
import { runDatasetId, runTask } from './labelling.svelte.ts'

/**
 * The Playground: one fine-tuned run, a text (and a question for QA) and what the model says;
 * and batch prediction of a whole file, its CSV ready to download.
 */
export class PlaygroundState {
  projectId = $state<number | null>(null)
  runs = $state.raw<RunSummary[]>([])
  datasets = $state.raw<DatasetInfo[]>([])
  runId = $state<number | null>(null)
  text = $state('')
  question = $state('')
  prediction = $state.raw<Prediction | null>(null)
  /** The text and question the prediction answers (the boxes may have changed since). */
  asked = $state.raw<{ text: string; question: string } | null>(null)
  predicting = $state(false)
  loaded = $state(false)
  error = $state<string | null>(null)

  file = $state.raw<PickedFile | null>(null)
  upload = $state.raw<UploadProgress | null>(null)
  textColumn = $state('')
  batchProgress = $state.raw<JobProgress | null>(null)
  batch = $state.raw<BatchPrediction | null>(null)
  batchRunning = $state(false)
  batchError = $state<string | null>(null)

  models = $derived(finishedModels(this.runs))
  run = $derived(this.runs.find((run) => run.id === this.runId) ?? null)
  dataset = $derived(this.run ? (this.datasets.find((dataset) => dataset.id === runDatasetId(this.run!)) ?? null) : null)
  task = $derived(this.run ? (runTask(this.run) ?? this.dataset?.task ?? null) : null)
  canPredict = $derived(this.run !== null && this.text.trim() !== '' && !this.predicting && (this.task !== 'qa' || this.question.trim() !== ''))

  private jobId: string | null = null
  private unsubscribe = api.on('job.progress', (progress) => {
    if (progress.jobId === this.jobId) this.batchProgress = progress
  })

  dispose(): void {
    this.unsubscribe()
  }

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    try {
      const [runs, datasets] = await Promise.all([api['runs.list']({ projectId }), api['datasets.list']({ projectId })])
      if (this.projectId !== projectId) return
      this.runs = runs
      this.datasets = datasets
      if (!this.models.some((run) => run.id === this.runId)) this.select(this.models.at(-1)?.id ?? null)
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loaded = true
    }
  }

  select(runId: number | null): void {
    if (runId === this.runId) return
    this.runId = runId
    this.prediction = null
    this.asked = null
    this.batch = null
    this.error = null
  }

  async predict(): Promise<void> {
    const run = this.run
    if (!run || !this.canPredict) return
    const text = this.text
    const question = this.task === 'qa' ? this.question.trim() : ''
    this.predicting = true
    this.error = null
    try {
      const prediction = await api['runs.predict']({ runId: run.id, text, ...(question ? { question } : {}) })
      if (this.runId !== run.id) return
      this.prediction = prediction
      this.asked = { text, question }
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.predicting = false
    }
  }

  /** Web mode: the file is sent to the studio first. */
  async chooseFile(file: File): Promise<void> {
    this.batchError = null
    this.batch = null
    this.upload = { done: 0, total: file.size }
    try {
      this.file = await api.upload(file, { onProgress: (progress) => (this.upload = progress) })
    } catch (error) {
      this.batchError = messageOf(error)
    } finally {
      this.upload = null
    }
  }

  /** Electron: a native dialog. */
  async pickFile(): Promise<void> {
    this.batchError = null
    try {
      const picked = await api['files.pick']({ kind: 'file' })
      if (picked) {
        this.file = picked
        this.batch = null
      }
    } catch (error) {
      this.batchError = messageOf(error)
    }
  }

  async predictFile(): Promise<void> {
    const run = this.run
    if (!run || !this.file || this.batchRunning) return
    this.batchRunning = true
    this.batchError = null
    this.batch = null
    this.batchProgress = null
    this.jobId = newJobId()
    try {
      const batch = await api['runs.predictFile']({
        runId: run.id,
        fileId: this.file.fileId,
        jobId: this.jobId,
        options: this.textColumn.trim() ? { textColumn: this.textColumn.trim() } : {},
      })
      if (this.runId === run.id) this.batch = batch
    } catch (error) {
      if (!(error instanceof StudioApiError && error.code === 'CANCELLED')) this.batchError = messageOf(error)
    } finally {
      this.batchRunning = false
    }
  }

  async cancelBatch(): Promise<void> {
    if (this.jobId) await api['jobs.cancel']({ jobId: this.jobId }).catch(() => false)
  }
}
