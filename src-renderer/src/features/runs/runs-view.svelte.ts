import type {
  DiskUsage,
  ExperimentRun,
  ProjectFile,
  QueueState,
  RunLineage,
  RunProgress,
  SweepInfo,
  SweepRequest,
} from '../../../../src-main/contract/index.ts'
import { api } from '../../lib/api.ts'
import { formatBytes, messageOf } from '../../lib/format.ts'
import { ACTIVE_STATUSES, filterRuns, NO_FILTER, sortRuns, type RunFilter, type SortKey } from './model.ts'

/** The list is fetched again at most this often while progress events arrive. */
const REFRESH_MS = 2_500

/**
 * The Runs step's state: every run of the project (all kinds), the queue, what the table shows,
 * which runs are picked for comparison, and the actions on runs. One run.progress subscription
 * keeps it live; the list is re-read when a run changes status and now and then while one trains.
 */
export class RunsView {
  projectId = $state<number | null>(null)
  list = $state.raw<ExperimentRun[]>([])
  progress = $state.raw<Record<number, RunProgress>>({})
  queue = $state.raw<QueueState>({ running: null, queued: [] })
  sweeps = $state.raw<SweepInfo[]>([])
  loaded = $state(false)
  error = $state<string | null>(null)
  notice = $state<string | null>(null)

  filter = $state<RunFilter>({ ...NO_FILTER })
  sortKey = $state<SortKey>('created')
  sortDirection = $state<'ascending' | 'descending'>('descending')
  /** Runs ticked for comparison, in the order they were ticked. */
  checked = $state<number[]>([])
  selectedId = $state<number | null>(null)
  panel = $state<'run' | 'compare' | 'sweep' | 'disk' | 'bundles'>('run')

  lineage = $state.raw<RunLineage | null>(null)
  disk = $state.raw<DiskUsage | null>(null)
  working = $state<string | null>(null)

  visible = $derived(sortRuns(filterRuns(this.list, this.filter), this.sortKey, this.sortDirection))
  tags = $derived([...new Set(this.list.flatMap((run) => run.tags))].sort((a, b) => a.localeCompare(b)))
  selected = $derived(this.list.find((run) => run.id === this.selectedId) ?? null)
  compared = $derived(this.checked.map((id) => this.list.find((run) => run.id === id)).filter((run): run is ExperimentRun => run !== undefined))
  archivedCount = $derived(this.list.filter((run) => run.archived).length)

  private unsubscribe: () => void
  private refreshTimer: ReturnType<typeof setTimeout> | null = null
  private refreshedAt = 0

  constructor() {
    this.unsubscribe = api.on('run.progress', (event) => this.onProgress(event))
  }

  dispose(): void {
    this.unsubscribe()
    if (this.refreshTimer) clearTimeout(this.refreshTimer)
  }

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    await this.refresh()
    this.loaded = true
  }

  async refresh(): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    this.refreshedAt = Date.now()
    try {
      const [list, queue, sweeps] = await Promise.all([api['runs.experiments']({ projectId }), api['runs.queue']({}), api['runs.sweeps']({ projectId })])
      if (this.projectId !== projectId) return
      this.list = list
      this.queue = queue
      this.sweeps = sweeps
      this.checked = this.checked.filter((id) => list.some((run) => run.id === id))
      if (this.selectedId !== null && !list.some((run) => run.id === this.selectedId)) this.selectedId = null
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  /** Soon, once: many progress events make one refresh. */
  private scheduleRefresh(delay: number): void {
    if (this.refreshTimer) return
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null
      void this.refresh()
    }, delay)
  }

  private onProgress(event: RunProgress): void {
    this.progress = { ...this.progress, [event.runId]: event }
    const run = this.list.find((item) => item.id === event.runId)
    if (!run || run.status !== event.status) {
      this.scheduleRefresh(150)
      return
    }
    this.list = this.list.map((item) =>
      item.id === event.runId ? { ...item, step: event.step, totalSteps: event.totalSteps ?? item.totalSteps, lastMetrics: { ...item.lastMetrics, ...event.metrics } } : item,
    )
    if (Date.now() - this.refreshedAt > REFRESH_MS) this.scheduleRefresh(0)
  }

  // ---------------------------------------------------------------- table

  sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDirection = this.sortDirection === 'ascending' ? 'descending' : 'ascending'
    else {
      this.sortKey = key
      // Losses and names read best ascending; dates and sizes newest/largest first.
      this.sortDirection = ['created', 'disk', 'duration'].includes(key) ? 'descending' : 'ascending'
    }
  }

  toggleChecked(runId: number): void {
    this.checked = this.checked.includes(runId) ? this.checked.filter((id) => id !== runId) : [...this.checked, runId]
  }

  select(runId: number | null): void {
    this.selectedId = runId
    this.panel = 'run'
    this.lineage = null
    if (runId !== null) void this.loadLineage(runId)
  }

  compare(runIds?: number[]): void {
    if (runIds) this.checked = runIds
    this.panel = 'compare'
  }

  async loadLineage(runId: number): Promise<void> {
    try {
      const lineage = await api['runs.lineage']({ runId })
      if (this.selectedId === runId) this.lineage = lineage
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  // ---------------------------------------------------------------- actions

  async pause(runId: number): Promise<void> {
    await this.act('Pausing', () => api['runs.pause']({ runId }))
  }

  async resume(runId: number): Promise<void> {
    await this.act('Resuming', () => api['runs.resume']({ runId }))
  }

  async cancel(runId: number): Promise<void> {
    await this.act('Cancelling', () => api['runs.cancel']({ runId }))
  }

  async again(runId: number): Promise<void> {
    await this.act('Queuing a copy', async () => {
      const run = await api['runs.again']({ runId })
      this.notice = `Queued "${run.name}" with the same settings and seed`
      this.selectedId = run.id
    })
  }

  async remove(runId: number): Promise<void> {
    await this.act('Deleting', async () => {
      const name = this.list.find((run) => run.id === runId)?.name ?? `run ${runId}`
      const removed = await api['runs.delete']({ runId })
      this.notice = `Deleted "${name}" and its ${removed.checkpoints} checkpoint${removed.checkpoints === 1 ? '' : 's'} (${formatBytes(removed.bytes)})`
      this.checked = this.checked.filter((id) => id !== runId)
      if (this.selectedId === runId) this.selectedId = null
    })
  }

  async update(runId: number, update: { tags?: string[]; notes?: string; archived?: boolean; name?: string }): Promise<void> {
    try {
      const run = await api['runs.update']({ runId, ...update })
      this.list = this.list.map((item) => (item.id === run.id ? run : item))
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  /** Moves a queued run: to the top, one place up or down. */
  async move(runId: number, where: 'top' | 'up' | 'down'): Promise<void> {
    const order = this.queue.queued.filter((item) => item.projectId === this.projectId).map((item) => item.runId)
    const index = order.indexOf(runId)
    if (index < 0) return
    order.splice(index, 1)
    order.splice(where === 'top' ? 0 : where === 'up' ? Math.max(0, index - 1) : Math.min(order.length, index + 1), 0, runId)
    await this.act('Reordering', async () => {
      this.queue = await api['runs.reorder']({ runIds: order })
    })
  }

  async sweep(request: SweepRequest): Promise<SweepInfo | null> {
    let made: SweepInfo | null = null
    await this.act('Queuing the sweep', async () => {
      made = await api['runs.sweep'](request)
      this.notice = `Queued ${made.runIds.length} run${made.runIds.length === 1 ? '' : 's'} of sweep "${made.name}"`
    })
    if (made) this.compare((made as SweepInfo).runIds)
    return made
  }

  async loadDisk(): Promise<void> {
    if (this.projectId === null) return
    try {
      this.disk = await api['runs.disk']({ projectId: this.projectId })
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  async prune(runId?: number): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    await this.act('Pruning checkpoints', async () => {
      const result = await api['runs.prune']({ projectId, ...(runId !== undefined ? { runId } : {}) })
      this.notice = result.removed === 0 ? 'Nothing to prune: every run keeps only its best and last checkpoints' : `Removed ${result.removed} checkpoints (${formatBytes(result.bytes)}); compact the database to give the space back`
    })
    await this.loadDisk()
  }

  async compact(): Promise<void> {
    await this.act('Compacting the database', async () => {
      const result = await api['projects.compact']({})
      this.notice = `Compacted the database: ${formatBytes(result.beforeBytes)} → ${formatBytes(result.afterBytes)}`
    })
    await this.loadDisk()
  }

  async exportProject(): Promise<ProjectFile | null> {
    const projectId = this.projectId
    if (projectId === null) return null
    let file: ProjectFile | null = null
    await this.act('Exporting the project', async () => {
      file = await api['projects.exportFile']({ projectId })
      if (file) this.notice = `Exported the project to ${file.path} (${formatBytes(file.bytes)})`
    })
    return file
  }

  async importProject(file: File | null): Promise<void> {
    await this.act('Importing the project', async () => {
      let fileId: string
      if (api.nativeFileDialog) {
        const picked = await api['files.pick']({ kind: 'file' })
        if (!picked) return
        fileId = picked.fileId
      } else {
        if (!file) return
        fileId = (await api.upload(file)).fileId
      }
      const project = await api['projects.importFile']({ fileId })
      this.notice = `Imported project "${project.name}": choose it in the project list`
    })
  }

  async configJson(runId: number): Promise<string | null> {
    try {
      return JSON.stringify(await api['runs.config']({ runId }), null, 2)
    } catch (error) {
      this.error = messageOf(error)
      return null
    }
  }

  isActive(run: ExperimentRun): boolean {
    return ACTIVE_STATUSES.includes(run.status)
  }

  private async act(what: string, action: () => Promise<unknown>): Promise<void> {
    this.error = null
    this.working = what
    try {
      await action()
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.working = null
      await this.refresh()
    }
  }
}
