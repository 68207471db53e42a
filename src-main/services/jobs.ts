import type { JobKind, JobProgress } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'
import type { EventBus } from './events.ts'

/** Progress leaves a job at most this often (tfjs-layers' callbacks yield every ~125 ms). */
export const PROGRESS_INTERVAL_MS = 125

export interface JobHandle {
  readonly jobId: string
  readonly signal: AbortSignal
  /** Report progress (with what it is doing now, if that says more); coalesced to one event per PROGRESS_INTERVAL_MS. */
  progress(done: number, total: number | null, items: number, message?: string): void
  /** Final event: done, failed (with the error's message) or cancelled. */
  finish(state: 'done' | 'failed' | 'cancelled', message?: string): void
}

/** Long-running, cancellable work with throttled progress events and an ETA. */
export class Jobs {
  private readonly running = new Map<string, { controller: AbortController; handle: JobHandle }>()

  constructor(
    private readonly bus: EventBus,
    private readonly now: () => number = () => Date.now(),
  ) {}

  start(jobId: string, kind: JobKind, label: string): JobHandle {
    if (this.running.has(jobId)) throw new StudioError('CONFLICT', `A job with id ${jobId} is already running`)
    const controller = new AbortController()
    const startedAt = this.now()
    let lastEmit = 0
    let last: JobProgress = { jobId, kind, label, state: 'running', done: 0, total: null, items: 0, etaSeconds: null }
    const emit = (progress: JobProgress) => {
      last = progress
      lastEmit = this.now()
      this.bus.emit('job.progress', progress)
    }
    emit(last)
    const handle: JobHandle = {
      jobId,
      signal: controller.signal,
      progress: (done, total, items, message) => {
        const now = this.now()
        const text = message === undefined ? {} : { message }
        if (now - lastEmit < PROGRESS_INTERVAL_MS) {
          last = { ...last, done, total, items, ...text }
          return
        }
        const elapsed = (now - startedAt) / 1000
        const etaSeconds =
          total !== null && done > 0 && elapsed > 0.5 ? Math.max(0, ((total - done) * elapsed) / done) : null
        emit({ ...last, done, total, items, etaSeconds, ...text })
      },
      finish: (state, message) => {
        this.running.delete(jobId)
        // A running phase message does not describe the end.
        const { message: _phase, ...rest } = last
        emit({ ...rest, state, etaSeconds: 0, ...(message === undefined ? {} : { message }) })
      },
    }
    this.running.set(jobId, { controller, handle })
    return handle
  }

  /** The running job with this id, or a new one (background work that spans many steps). */
  ensure(jobId: string, kind: JobKind, label: string): JobHandle {
    return this.running.get(jobId)?.handle ?? this.start(jobId, kind, label)
  }

  cancel(jobId: string): boolean {
    const job = this.running.get(jobId)
    if (!job) return false
    job.controller.abort()
    return true
  }
}
