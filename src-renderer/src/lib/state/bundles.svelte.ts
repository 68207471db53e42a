import type { PickedFile, RunSummary, TrainingBundle } from '../../../../src-main/contract/index.ts'
import { api, StudioApiError, type UploadProgress } from '../api.ts'
import { outputFiles } from '../bundles.ts'
import { messageOf } from '../format.ts'

/** The "Run elsewhere" action of one run: write its bundle, then show where it is and what to run. */
export class RunElsewhereState {
  bundle = $state.raw<TrainingBundle | null>(null)
  writing = $state(false)
  /** The studio's refusal, in its words. */
  error = $state<string | null>(null)
  /** Why nothing was asked for yet (the run is training). */
  note = $state<string | null>(null)
  /** The command was copied, or selected to copy by hand where the clipboard refused. */
  copied = $state<'copied' | 'selected' | null>(null)

  async write(run: RunSummary): Promise<TrainingBundle | null> {
    if (this.writing) return null
    this.error = null
    this.note = null
    this.copied = null
    if (run.status === 'running' || run.status === 'queued') {
      this.note = `“${run.name}” is ${run.status === 'running' ? 'training' : 'queued'}: pause it first, then Run elsewhere. The bundle continues from its last checkpoint.`
      return null
    }
    this.writing = true
    try {
      const bundle = await api['runs.bundle']({ runId: run.id })
      this.bundle = bundle
      return bundle
    } catch (error) {
      this.error = messageOf(error)
      return null
    } finally {
      this.writing = false
    }
  }

  close(): void {
    this.bundle = null
    this.error = null
    this.note = null
    this.copied = null
  }
}

const isCancel = (error: unknown) => error instanceof StudioApiError && error.code === 'CANCELLED'

/** `BundlesState.importing` while an output folder (not a listed bundle) is imported; no bundle name has a slash. */
export const FOLDER = '/folder'

/**
 * A project's bundles and importing their results: by a bundle's name (its output folder is on
 * this machine) or from an output folder picked (Electron) or uploaded (web mode).
 */
export class BundlesState {
  projectId = $state<number | null>(null)
  list = $state.raw<TrainingBundle[]>([])
  loaded = $state(false)
  loading = $state(false)
  error = $state<string | null>(null)
  /** The bundle whose results are being imported, or FOLDER for a picked or uploaded output folder. */
  importing = $state<string | null>(null)
  upload = $state.raw<UploadProgress | null>(null)

  busy = $derived(this.importing !== null || this.upload !== null)

  private uploadAbort: AbortController | null = null

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.loading = true
    try {
      const list = await api['runs.bundles']({ projectId })
      if (this.projectId !== projectId) return
      this.list = list
      this.error = null
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loading = false
      this.loaded = true
    }
  }

  async importBundle(bundle: TrainingBundle): Promise<RunSummary | null> {
    const projectId = this.projectId
    if (projectId === null || this.busy) return null
    return this.runImport(bundle.name, () => api['runs.importResults']({ projectId, bundle: bundle.name }))
  }

  /** Electron: a native folder dialog, then the import. */
  async pickFolder(): Promise<RunSummary | null> {
    const projectId = this.projectId
    if (projectId === null || this.busy) return null
    this.error = null
    let picked: PickedFile | null
    try {
      picked = await api['files.pick']({ kind: 'folder' })
    } catch (error) {
      this.error = messageOf(error)
      return null
    }
    if (!picked) return null
    const fileId = picked.fileId
    return this.runImport(FOLDER, () => api['runs.importResults']({ projectId, fileId }))
  }

  /** Web mode: the chosen folder's files, each under its `webkitRelativePath`, uploaded, then the import. */
  async uploadFolder(files: File[]): Promise<RunSummary | null> {
    const projectId = this.projectId
    if (projectId === null || this.busy) return null
    this.error = null
    const chosen = outputFiles(files, (file) => file.webkitRelativePath || file.name)
    if (chosen.problem) {
      this.error = chosen.problem
      return null
    }
    files = chosen.files
    const total = files.reduce((sum, file) => sum + file.size, 0)
    this.uploadAbort = new AbortController()
    this.upload = { done: 0, total }
    let picked: PickedFile
    try {
      picked = await api.upload(files, { signal: this.uploadAbort.signal, onProgress: (progress) => (this.upload = progress) })
    } catch (error) {
      if (!isCancel(error)) this.error = messageOf(error)
      return null
    } finally {
      this.upload = null
      this.uploadAbort = null
    }
    return this.runImport(FOLDER, () => api['runs.importResults']({ projectId, fileId: picked.fileId }))
  }

  cancelUpload(): void {
    this.uploadAbort?.abort()
  }

  private async runImport(what: string, action: () => Promise<RunSummary>): Promise<RunSummary | null> {
    const projectId = this.projectId
    this.importing = what
    this.error = null
    try {
      const run = await action()
      // Its importedRunId changes: asked again so the list offers "Open run" instead.
      if (projectId !== null) await this.load(projectId)
      return run
    } catch (error) {
      this.error = messageOf(error)
      return null
    } finally {
      this.importing = null
    }
  }
}
