import { Worker } from 'node:worker_threads'
import { StudioError } from '../core/errors.ts'
import type { FromWorker, TaskProgress, ToWorker } from '../worker/protocol.ts'

interface Pending {
  taskId: string
  task: string
  input: unknown
  onProgress: (progress: TaskProgress) => void
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  signal: AbortSignal | undefined
  started: boolean
  onStart?: () => void
}

/**
 * The main process' side of the one long-lived worker. Tasks queue and run one at a time (the
 * worker owns the training backend, which a second worker cannot load). A crash fails the task
 * in flight with a clear error; the next task starts a fresh worker.
 */
export class TrainingWorker {
  private worker: Worker | null = null
  private readonly queue: Pending[] = []
  private current: Pending | null = null
  private nextId = 1

  constructor(private readonly workerPath: string) {}

  run<T>(
    task: string,
    input: unknown,
    options: { signal?: AbortSignal; pauseSignal?: AbortSignal; onProgress?: (p: TaskProgress) => void; onStart?: () => void } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new StudioError('CANCELLED', 'Cancelled'))
      const pending: Pending = {
        taskId: `t${this.nextId++}`,
        task,
        input,
        onProgress: options.onProgress ?? (() => {}),
        resolve: resolve as (value: unknown) => void,
        reject,
        signal: options.signal,
        started: false,
      }
      options.signal?.addEventListener('abort', () => this.cancel(pending), { once: true })
      options.pauseSignal?.addEventListener(
        'abort',
        () => {
          if (this.current === pending) this.post({ type: 'pause', taskId: pending.taskId })
        },
        { once: true },
      )
      pending.onStart = options.onStart ?? (() => {})
      this.queue.push(pending)
      this.pump()
    })
  }

  /** Stops the worker; queued and running tasks fail. */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    for (const pending of this.queue.splice(0)) pending.reject(new StudioError('CANCELLED', 'The studio is closing'))
    if (worker) await worker.terminate()
  }

  private cancel(pending: Pending): void {
    const queued = this.queue.indexOf(pending)
    if (queued >= 0) {
      this.queue.splice(queued, 1)
      pending.reject(new StudioError('CANCELLED', 'Cancelled'))
    } else if (this.current === pending && this.worker) {
      this.post({ type: 'cancel', taskId: pending.taskId })
    }
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return
    const pending = this.queue.shift()!
    this.current = pending
    pending.started = true
    // A running task keeps the process alive; an idle worker must not (a CLI would never exit).
    this.ensureWorker().ref()
    this.post({ type: 'run', taskId: pending.taskId, task: pending.task, input: pending.input })
    pending.onStart?.()
  }

  private post(message: ToWorker): void {
    this.ensureWorker().postMessage(message)
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(this.workerPath)
    worker.on('message', (message: FromWorker) => this.onMessage(message))
    worker.on('error', (error) => this.onExit(worker, `it threw ${error.message}`))
    worker.on('exit', (code) => this.onExit(worker, `it exited with code ${code}`))
    this.worker = worker
    return worker
  }

  private onMessage(message: FromWorker): void {
    const current = this.current
    if (message.type === 'ready' || !current || message.taskId !== current.taskId) return
    if (message.type === 'progress') {
      current.onProgress(message.progress)
      return
    }
    this.current = null
    if (message.type === 'result') current.resolve(message.value)
    else current.reject(new StudioError(message.code, message.message))
    if (this.queue.length === 0) this.worker?.unref()
    this.pump()
  }

  private onExit(worker: Worker, why: string): void {
    if (this.worker !== worker) return
    this.worker = null
    const current = this.current
    this.current = null
    current?.reject(new StudioError('INTERNAL', `The training worker stopped while running ${current.task}: ${why}`))
    this.pump()
  }
}
