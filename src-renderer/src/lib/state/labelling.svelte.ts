import type {
  Corpus,
  DatasetInfo,
  Example,
  ExampleFilter,
  ImportPreview,
  JobProgress,
  LabelledFileOptions,
  LabelValue,
  PickedFile,
  RunSummary,
  TaskKind,
} from '../../../../src-main/contract/index.ts'
import { api, StudioApiError, type UploadProgress } from '../api.ts'
import { messageOf, nameFromFile, newJobId } from '../format.ts'
import { filterOf, labelBy, stillMatches, type FilterChoice } from '../labelling.ts'
import { storage } from './storage.ts'

const ANNOTATOR_KEY = 'bert-studio.annotator'

/** Who is labelling: remembered on this machine, "me" until changed. */
export function rememberedAnnotator(): string {
  return storage.get(ANNOTATOR_KEY)?.trim() || 'me'
}

export function rememberAnnotator(name: string): void {
  storage.set(ANNOTATOR_KEY, name.trim() || null)
}

/** The task a fine-tuned run learned, from its stored config, or null when it does not say. */
export function runTask(run: RunSummary): TaskKind | null {
  const visit = (value: unknown, depth: number): TaskKind | null => {
    if (value === null || typeof value !== 'object' || depth > 4) return null
    const record = value as Record<string, unknown>
    const task = record.task
    if (task === 'classify' || task === 'multilabel' || task === 'tag' || task === 'qa' || task === 'summarize') return task
    for (const child of Object.values(record)) {
      const found = visit(child, depth + 1)
      if (found) return found
    }
    return null
  }
  return visit(run.config, 0)
}

/** The dataset a fine-tuned run trained on, from its stored config. */
export function runDatasetId(run: RunSummary): number | null {
  const visit = (value: unknown, depth: number): number | null => {
    if (value === null || typeof value !== 'object' || depth > 4) return null
    const record = value as Record<string, unknown>
    if (typeof record.datasetId === 'number') return record.datasetId
    for (const child of Object.values(record)) {
      const found = visit(child, depth + 1)
      if (found !== null) return found
    }
    return null
  }
  return visit(run.config, 0)
}

/** A fine-tuned run that has weights to predict with. */
export const canPredict = (run: RunSummary) => run.kind === 'finetune' && run.checkpointStep !== null

const COUNTS_DELAY_MS = 400

/**
 * A project's datasets, the corpora they can be made from, and the fine-tuned runs that can
 * predict them. Counts (labelled per class, agreement) are fetched again shortly after labels change.
 */
export class DatasetsState {
  projectId = $state<number | null>(null)
  list = $state.raw<DatasetInfo[]>([])
  corpora = $state.raw<Corpus[]>([])
  runs = $state.raw<RunSummary[]>([])
  selectedId = $state<number | null>(null)
  loaded = $state(false)
  error = $state<string | null>(null)

  selected = $derived(this.list.find((dataset) => dataset.id === this.selectedId) ?? null)

  private countsTimer: ReturnType<typeof setTimeout> | null = null

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.error = null
    try {
      const [datasets] = await Promise.all([api['datasets.list']({ projectId }), this.loadInputs()])
      if (this.projectId !== projectId) return
      this.list = datasets
      if (!datasets.some((dataset) => dataset.id === this.selectedId)) this.selectedId = datasets.at(-1)?.id ?? null
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loaded = true
    }
  }

  /**
   * Corpora come from the Import step, runs from Fine-tune, and a run or a relabel on Evaluate
   * changes a dataset's split and counts: all asked again when this step is shown.
   */
  async loadInputs({ datasets = false } = {}): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    try {
      const [corpora, runs, list] = await Promise.all([
        api['corpora.list']({ projectId }),
        api['runs.list']({ projectId }),
        datasets ? api['datasets.list']({ projectId }) : Promise.resolve(null),
      ])
      if (this.projectId !== projectId) return
      this.corpora = corpora
      this.runs = runs
      if (list) this.list = list
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  put(dataset: DatasetInfo): void {
    const known = this.list.some((item) => item.id === dataset.id)
    this.list = known ? this.list.map((item) => (item.id === dataset.id ? dataset : item)) : [...this.list, dataset]
  }

  select(datasetId: number | null): void {
    this.selectedId = datasetId
  }

  async refresh(datasetId: number): Promise<void> {
    try {
      this.put(await api['datasets.get']({ datasetId }))
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  /** Counts change with every label: fetched once the analyst pauses, not per keystroke. */
  refreshSoon(datasetId: number): void {
    if (this.countsTimer) clearTimeout(this.countsTimer)
    this.countsTimer = setTimeout(() => {
      this.countsTimer = null
      void this.refresh(datasetId)
    }, COUNTS_DELAY_MS)
  }

  dispose(): void {
    if (this.countsTimer) clearTimeout(this.countsTimer)
  }

  /** Runs of this project that can predict a dataset of this task. */
  predictors(dataset: DatasetInfo): RunSummary[] {
    return this.runs.filter((run) => canPredict(run) && (runTask(run) ?? dataset.task) === dataset.task)
  }

  /** The dataset after a schema or split change: answered by the call, put in the list. */
  async change(action: () => Promise<DatasetInfo>): Promise<DatasetInfo | null> {
    this.error = null
    try {
      const dataset = await action()
      this.put(dataset)
      return dataset
    } catch (error) {
      this.error = messageOf(error)
      return null
    }
  }

  async rename(datasetId: number, name: string): Promise<void> {
    await this.change(() => api['datasets.rename']({ datasetId, name }))
  }

  async remove(datasetId: number): Promise<void> {
    this.error = null
    try {
      await api['datasets.delete']({ datasetId })
      this.list = this.list.filter((dataset) => dataset.id !== datasetId)
      if (this.selectedId === datasetId) this.selectedId = this.list.at(-1)?.id ?? null
    } catch (error) {
      this.error = messageOf(error)
    }
  }
}

/** The "new dataset" form: from a corpus of the project, or from a labelled file. */
export class NewDatasetForm {
  source = $state<'corpus' | 'file'>('corpus')
  corpusId = $state<number | null>(null)
  task = $state<TaskKind>('classify')
  /** Class names, one a line or separated by commas. */
  classesText = $state('')
  allowOverlap = $state(false)
  importLabels = $state(true)
  name = $state('')

  file = $state.raw<PickedFile | null>(null)
  preview = $state.raw<ImportPreview | null>(null)
  upload = $state.raw<UploadProgress | null>(null)
  textColumn = $state('')
  labelColumn = $state('')
  progress = $state.raw<JobProgress | null>(null)
  busy = $state(false)
  error = $state<string | null>(null)

  classes = $derived([...new Set(this.classesText.split(/[\n,]/).map((item) => item.trim()).filter(Boolean))])
  problem = $derived.by(() => {
    if (this.name.trim() === '') return 'Give the dataset a name'
    if (this.source === 'corpus' && this.corpusId === null) return 'Choose a corpus (import one on the Import step)'
    if (this.source === 'file' && this.file === null) return 'Choose a labelled file'
    return null
  })

  private jobId: string | null = null
  private unsubscribe = api.on('job.progress', (progress) => {
    if (progress.jobId === this.jobId) this.progress = progress
  })

  dispose(): void {
    this.unsubscribe()
  }

  /** Web mode: the file is sent to the studio first. */
  async chooseFile(file: File): Promise<void> {
    this.error = null
    this.preview = null
    this.upload = { done: 0, total: file.size }
    try {
      await this.use(await api.upload(file, { onProgress: (progress) => (this.upload = progress) }))
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.upload = null
    }
  }

  /** Electron: a native dialog. */
  async pick(): Promise<void> {
    this.error = null
    try {
      const picked = await api['files.pick']({ kind: 'file' })
      if (picked) await this.use(picked)
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  private async use(picked: PickedFile): Promise<void> {
    this.file = picked
    this.preview = null
    this.textColumn = ''
    this.labelColumn = ''
    if (this.name.trim() === '') this.name = nameFromFile(picked.name)
    // The corpus preview lists the columns or fields to choose from; none chosen, the reader picks.
    this.preview = await api['corpora.preview']({ fileId: picked.fileId, options: {} }).catch(() => null)
  }

  async create(projectId: number): Promise<DatasetInfo | null> {
    if (this.problem || this.busy) return null
    this.busy = true
    this.error = null
    this.progress = null
    try {
      if (this.source === 'corpus') {
        return await api['datasets.create']({
          projectId,
          corpusId: this.corpusId!,
          name: this.name.trim(),
          task: this.task,
          classes: this.classes,
          allowOverlap: this.task === 'tag' && this.allowOverlap,
          // Only a class label column becomes labels; spans, answers and summaries come from labelled files.
          importLabels: this.importLabels && (this.task === 'classify' || this.task === 'multilabel'),
        })
      }
      const options: LabelledFileOptions = {}
      if (this.textColumn) options.textColumn = this.textColumn
      if (this.labelColumn) options.labelColumn = this.labelColumn
      this.jobId = newJobId()
      return await api['datasets.importLabelled']({ projectId, fileId: this.file!.fileId, name: this.name.trim(), task: this.task, jobId: this.jobId, options })
    } catch (error) {
      if (!(error instanceof StudioApiError && error.code === 'CANCELLED')) this.error = messageOf(error)
      return null
    } finally {
      this.busy = false
    }
  }

  async cancel(): Promise<void> {
    if (this.jobId) await api['jobs.cancel']({ jobId: this.jobId }).catch(() => false)
  }

  reset(): void {
    this.name = ''
    this.classesText = ''
    this.file = null
    this.preview = null
    this.textColumn = ''
    this.labelColumn = ''
    this.progress = null
    this.error = null
  }
}

export type SaveState = { state: 'saving' } | { state: 'saved'; at: Date } | { state: 'failed'; message: string }

interface UndoEntry {
  documentId: number
  /** This annotator's label before the change; null: there was none. */
  before: LabelValue | null
}

const PAGE = 50

/**
 * The workspace over one dataset: the examples a filter lists (held as loaded, so the cursor stays
 * put while labels change them), the cursor, saves and undo. Every label is written at once, in
 * order (one queue), and shown as saved only once the studio has answered.
 */
export class LabelWorkspace {
  readonly datasetId: number
  annotator = $state(rememberedAnnotator())
  choice = $state<FilterChoice>('all')
  confidenceMin = $state(0)
  confidenceMax = $state(0.6)
  /** Judge "labelled"/"unlabelled"/a class by this annotator's labels only. */
  mineOnly = $state(false)
  query = $state('')
  view = $state<'single' | 'table'>('single')

  examples = $state.raw<Example[]>([])
  total = $state(0)
  index = $state(0)
  loading = $state(false)
  error = $state<string | null>(null)
  saves = $state.raw<Record<number, SaveState>>({})
  history = $state.raw<UndoEntry[]>([])
  /** Set when the cursor moved past the last example of the list. */
  finished = $state(false)

  current = $derived(this.examples[this.index] ?? null)
  filter = $derived<ExampleFilter>(filterOf(this.choice, { min: this.confidenceMin, max: this.confidenceMax }))
  mine = $derived(this.current ? labelBy(this.current, this.annotator.trim() || 'me') : null)
  currentSave = $derived(this.current ? (this.saves[this.current.documentId] ?? null) : null)
  /** More to fetch beyond what is loaded (an estimate for filters that shrink as labels are given). */
  hasMore = $derived(this.examples.length < this.total)

  private request = 0
  private queue: Promise<unknown> = Promise.resolve()
  /** Writes sent and not yet answered, by example. */
  private pending = new Map<number, number>()
  private readonly onchanged: () => void

  constructor(datasetId: number, onchanged: () => void) {
    this.datasetId = datasetId
    this.onchanged = onchanged
  }

  private who(): string {
    return this.annotator.trim() || 'me'
  }

  setAnnotator(name: string): void {
    this.annotator = name
    rememberAnnotator(name)
  }

  /** The list again from the start, for the filter and search as they are now. */
  async reload(): Promise<void> {
    const request = ++this.request
    this.loading = true
    this.error = null
    try {
      const page = await api['labels.examples']({
        datasetId: this.datasetId,
        filter: $state.snapshot(this.filter),
        ...(this.mineOnly ? { annotator: this.who() } : {}),
        query: this.query.trim(),
        offset: 0,
        limit: PAGE,
      })
      if (request !== this.request) return
      this.examples = page.examples
      this.total = page.total
      this.index = 0
      this.finished = false
    } catch (error) {
      if (request === this.request) this.error = messageOf(error)
    } finally {
      if (request === this.request) this.loading = false
    }
  }

  /** The next page. Examples labelled since they were listed may have left the filter: the offset skips only those still in it. */
  async loadMore(): Promise<boolean> {
    if (this.loading) return false
    const request = ++this.request
    this.loading = true
    try {
      const annotator = this.mineOnly ? this.who() : null
      const offset = this.examples.filter((example) => stillMatches(this.filter, example, annotator)).length
      const page = await api['labels.examples']({
        datasetId: this.datasetId,
        filter: $state.snapshot(this.filter),
        ...(annotator ? { annotator } : {}),
        query: this.query.trim(),
        offset,
        limit: PAGE,
      })
      if (request !== this.request) return false
      const known = new Set(this.examples.map((example) => example.documentId))
      const fresh = page.examples.filter((example) => !known.has(example.documentId))
      this.examples = [...this.examples, ...fresh]
      this.total = Math.max(page.total, this.examples.length)
      if (fresh.length === 0) this.total = this.examples.length
      return fresh.length > 0
    } catch (error) {
      if (request === this.request) this.error = messageOf(error)
      return false
    } finally {
      if (request === this.request) this.loading = false
    }
  }

  async move(delta: number): Promise<void> {
    const target = this.index + delta
    if (target < 0) {
      this.index = 0
      this.finished = false
      return
    }
    if (target >= this.examples.length) {
      if (this.hasMore && (await this.loadMore()) && target < this.examples.length) {
        this.index = target
        this.finished = false
        return
      }
      this.index = Math.max(0, this.examples.length - 1)
      this.finished = this.examples.length > 0
      return
    }
    this.index = target
    this.finished = false
  }

  goTo(index: number): void {
    if (index >= 0 && index < this.examples.length) {
      this.index = index
      this.finished = false
    }
  }

  /** Saves this annotator's label of an example (null clears it), remembering the one before for undo. */
  async save(documentId: number, value: LabelValue | null, { undoable = true } = {}): Promise<boolean> {
    const example = this.examples.find((item) => item.documentId === documentId)
    const annotator = this.who()
    const before = example ? labelBy(example, annotator) : null
    if (undoable) this.history = [...this.history, { documentId, before }].slice(-200)
    return this.write(documentId, value, before, annotator)
  }

  /** Puts back the label before the latest change, and shows that example. */
  async undo(): Promise<boolean> {
    const entry = this.history.at(-1)
    if (!entry) return false
    this.history = this.history.slice(0, -1)
    const position = this.examples.findIndex((example) => example.documentId === entry.documentId)
    if (position >= 0) this.goTo(position)
    const example = this.examples[position]
    return this.write(entry.documentId, entry.before, example ? labelBy(example, this.who()) : null, this.who())
  }

  /**
   * The label shows at once (so a second key on the same example builds on the first), is written
   * in order behind earlier ones (one queue: a label then its undo reach the studio in that order),
   * and is marked saved only when the studio has answered and nothing newer waits for that example.
   */
  private write(documentId: number, value: LabelValue | null, before: LabelValue | null, annotator: string): Promise<boolean> {
    const snapshot = value === null ? null : ($state.snapshot(value) as LabelValue)
    this.replaceLabel(documentId, annotator, snapshot)
    this.pending.set(documentId, (this.pending.get(documentId) ?? 0) + 1)
    this.saves = { ...this.saves, [documentId]: { state: 'saving' } }
    const done = this.queue.then(async () => {
      let stored: Example | null = null
      let failure: string | null = null
      try {
        stored =
          snapshot === null
            ? await api['labels.clear']({ datasetId: this.datasetId, documentId, annotator })
            : await api['labels.set']({ datasetId: this.datasetId, documentId, annotator, value: snapshot })
      } catch (error) {
        failure = messageOf(error)
      }
      const waiting = (this.pending.get(documentId) ?? 1) - 1
      if (waiting > 0) this.pending.set(documentId, waiting)
      else this.pending.delete(documentId)
      if (failure !== null) {
        // What the studio holds is the label before this one: show that again.
        if (waiting === 0) this.replaceLabel(documentId, annotator, before)
        this.saves = { ...this.saves, [documentId]: { state: 'failed', message: failure } }
        this.error = `The label was not saved: ${failure}`
        return false
      }
      if (waiting === 0) {
        this.examples = this.examples.map((example) => (example.documentId === documentId ? stored! : example))
        this.saves = { ...this.saves, [documentId]: { state: 'saved', at: new Date() } }
      }
      this.onchanged()
      return true
    })
    this.queue = done
    return done
  }

  private replaceLabel(documentId: number, annotator: string, value: LabelValue | null): void {
    this.examples = this.examples.map((example) => {
      if (example.documentId !== documentId) return example
      const others = example.labels.filter((label) => label.annotator !== annotator)
      const labels = value === null ? others : [...others, { annotator, value, updatedAt: new Date().toISOString() }]
      return { ...example, labels }
    })
  }

}

/** Model in the loop: a fine-tuned run predicts every example of a dataset. */
export class DatasetPrediction {
  runId = $state<number | null>(null)
  progress = $state.raw<JobProgress | null>(null)
  running = $state(false)
  predicted = $state<number | null>(null)
  error = $state<string | null>(null)

  private jobId: string | null = null
  private unsubscribe = api.on('job.progress', (progress) => {
    if (progress.jobId === this.jobId) this.progress = progress
  })

  dispose(): void {
    this.unsubscribe()
  }

  async run(datasetId: number): Promise<boolean> {
    if (this.runId === null || this.running) return false
    this.running = true
    this.error = null
    this.progress = null
    this.jobId = newJobId()
    try {
      const result = await api['datasets.predict']({ datasetId, runId: this.runId, jobId: this.jobId })
      this.predicted = result.predicted
      return true
    } catch (error) {
      if (!(error instanceof StudioApiError && error.code === 'CANCELLED')) this.error = messageOf(error)
      return false
    } finally {
      this.running = false
    }
  }

  async cancel(): Promise<void> {
    if (this.jobId) await api['jobs.cancel']({ jobId: this.jobId }).catch(() => false)
  }
}
