/**
 * The long-lived worker thread: it runs the studio's heavy tasks (tokenizer training now, model
 * training later) one at a time, off the main process' event loop. It adapts core to messages;
 * the tasks it knows are in ./tasks.ts.
 */
import { parentPort } from 'node:worker_threads'
import { asDiskFull, StudioError } from '../core/errors.ts'
import { PROGRESS_INTERVAL_MS } from '../services/jobs.ts'
import type { FromWorker, TaskProgress, ToWorker } from './protocol.ts'
import { tasks } from './tasks.ts'

if (!parentPort) throw new Error('worker/index.js must run as a worker thread')
const port = parentPort
const send = (message: FromWorker) => port.postMessage(message)
const running = new Map<string, { controller: AbortController; paused: boolean }>()

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    running.get(message.taskId)?.controller.abort()
    return
  }
  if (message.type === 'pause') {
    const task = running.get(message.taskId)
    if (task) task.paused = true
    return
  }
  void run(message.taskId, message.task, message.input)
})

/** What a task was doing, in the user's words, for errors such as "Disk full: writing the exported model failed". */
const TASK_WORDS: Record<string, string> = {
  'models.export': 'writing the exported model',
  'models.import': 'importing the model',
  'train.pretrain': 'saving training progress',
  'finetune.train': 'saving training progress',
  'tokenizer.train': 'saving the tokenizer',
}

async function run(taskId: string, name: string, input: unknown): Promise<void> {
  const task = tasks[name]
  if (!task) {
    send({ type: 'error', taskId, code: 'NOT_FOUND', message: `The worker has no task "${name}"` })
    return
  }
  const controller = new AbortController()
  const state = { controller, paused: false }
  running.set(taskId, state)
  let lastSent = 0
  let pending: TaskProgress | null = null
  const flush = () => {
    if (pending) send({ type: 'progress', taskId, progress: pending })
    pending = null
    lastSent = Date.now()
  }
  try {
    const value = await task(input, {
      signal: controller.signal,
      pauseRequested: () => state.paused,
      progress: (progress) => {
        pending = progress
        if (Date.now() - lastSent >= PROGRESS_INTERVAL_MS) flush()
      },
    })
    flush()
    send({ type: 'result', taskId, value })
  } catch (thrown) {
    const error = asDiskFull(thrown, TASK_WORDS[name] ?? `the ${name} task`)
    const code = error instanceof StudioError ? error.code : 'INTERNAL'
    send({ type: 'error', taskId, code, message: error instanceof Error ? error.message : String(error) })
  } finally {
    running.delete(taskId)
  }
}

send({ type: 'ready', backend: null })
