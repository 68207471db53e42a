import { cancelled } from '../core/errors.ts'
import type { TaskProgress } from './protocol.ts'
import { fillMaskTask, planTask, pretrainTask, type FillMaskTaskInput, type PlanTaskInput, type PretrainTaskInput } from './pretrain-task.ts'
import { trainTokenizerTask, type TrainTokenizerInput } from './tokenizer-task.ts'
import { exportTask, importTask, type ExportTaskInput, type ImportTaskInput } from './export-task.ts'
import { bundleTask, importResultsTask, type BundleTaskInput, type ImportResultsTaskInput } from './bundle-task.ts'
import {
  evaluateTask,
  finetuneTask,
  predictDatasetTask,
  predictTask,
  type EvaluateTaskInput,
  type FinetuneTaskInput,
  type PredictDatasetTaskInput,
  type PredictTaskInput,
} from './finetune-task.ts'

export interface TaskContext {
  signal: AbortSignal
  /** Whether main asked to pause (training stops at the next step boundary, after a checkpoint). */
  pauseRequested(): boolean
  progress(progress: TaskProgress): void
}
export type Task = (input: unknown, context: TaskContext) => Promise<unknown>

/** Tasks the worker runs, by name. Inputs arrive by structured clone from the main process. */
export const tasks: Record<string, Task> = {
  'tokenizer.train': (input, context) => trainTokenizerTask(input as TrainTokenizerInput, context),
  'train.pretrain': (input, context) => pretrainTask(input as PretrainTaskInput, context),
  'train.fillMask': (input) => fillMaskTask(input as FillMaskTaskInput),
  'train.plan': (input, context) => planTask(input as PlanTaskInput, context),
  'models.export': (input, context) => exportTask(input as ExportTaskInput, context),
  'models.import': (input, context) => importTask(input as ImportTaskInput, context),
  'runs.bundle': (input, context) => bundleTask(input as BundleTaskInput, context),
  'runs.importResults': (input, context) => importResultsTask(input as ImportResultsTaskInput, context),
  'finetune.train': (input, context) => finetuneTask(input as FinetuneTaskInput, context),
  'finetune.evaluate': (input, context) => evaluateTask(input as EvaluateTaskInput, context),
  'finetune.predict': (input, context) => predictTask(input as PredictTaskInput, context),
  'finetune.predictDataset': (input, context) => predictDatasetTask(input as PredictDatasetTaskInput, context),

  /** Answers its input after `ms`, reporting progress; used to test the worker's plumbing. */
  'diagnostics.echo': async (input, { signal, progress }) => {
    const { value, ms = 0, crash = false } = input as { value: unknown; ms?: number; crash?: boolean }
    if (crash) process.exit(70)
    const started = Date.now()
    while (Date.now() - started < ms) {
      if (signal.aborted) throw cancelled()
      progress({ phase: 'waiting', done: Date.now() - started, total: ms, items: 0 })
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return value
  },
}
