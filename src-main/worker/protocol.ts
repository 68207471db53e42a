import type { ErrorCode } from '../contract/index.ts'

/** Main → worker. */
export type ToWorker =
  | { type: 'run'; taskId: string; task: string; input: unknown }
  | { type: 'cancel'; taskId: string }
  /** Finish the current step, checkpoint, and stop (training tasks). */
  | { type: 'pause'; taskId: string }

/** Progress as it leaves the worker: coalesced, at most every PROGRESS_INTERVAL_MS. */
export interface TaskProgress {
  phase: string
  done: number
  total: number | null
  items: number
  /** The latest metrics (training tasks). */
  metrics?: Record<string, number>
}

/** Worker → main. */
export type FromWorker =
  | { type: 'ready'; backend: string | null }
  | { type: 'progress'; taskId: string; progress: TaskProgress }
  | { type: 'result'; taskId: string; value: unknown }
  | { type: 'error'; taskId: string; code: ErrorCode; message: string }
