/**
 * "Run elsewhere" and "Import results" without the studio: what a run can send, how a bundle's
 * results read, which of a chosen folder's files an import needs. Pure, so unit tests reach it.
 */
import type { RunSummary, TrainingBundle } from '../../../src-main/contract/index.ts'
import { formatCount } from './format.ts'

/** The steps a bundle of this run would train: from its last checkpoint (step 0 without one) to the end. */
export function stepsLeft(run: RunSummary): number | null {
  if (run.totalSteps === null) return null
  return Math.max(0, run.totalSteps - (run.checkpointStep ?? 0))
}

/** Whether "Run elsewhere" has anything to write for this run. */
export function canRunElsewhere(run: RunSummary): boolean {
  // An imported model has no corpus to draw the bundle's data from.
  if (run.kind !== 'pretrain' || run.corpusId === null) return false
  const left = stepsLeft(run)
  return left === null || left > 0
}

/** Long lists of checkpoints keep their first and last few: the steps people look for. */
export function formatSteps(steps: readonly number[], keep = 6): string {
  if (steps.length <= keep) return steps.map(formatCount).join(', ')
  const head = steps.slice(0, keep - 2).map(formatCount)
  const tail = steps.slice(-2).map(formatCount)
  return `${head.join(', ')}, …, ${tail.join(', ')} (${formatCount(steps.length)})`
}

/** "output: step 120, checkpoints 50, 100, 120", or what is missing. */
export function describeResults(bundle: TrainingBundle): string {
  const results = bundle.results
  if (results === null) return 'no results yet'
  const checkpoints = results.checkpoints.length === 0 ? 'no checkpoint yet' : `checkpoint${results.checkpoints.length === 1 ? '' : 's'} ${formatSteps(results.checkpoints)}`
  return `output: step ${formatCount(results.step)}, ${checkpoints}`
}

/** Why "Import results" cannot run yet, or null when it can: an import needs a complete checkpoint. */
export function importBlocker(bundle: TrainingBundle): string | null {
  if (bundle.importedRunId !== null) return 'Already imported'
  if (bundle.results === null) return `Nothing in ${bundle.dir}/output yet: run train.py, or copy its output folder back there`
  if (bundle.results.checkpoints.length === 0) return 'No complete checkpoint yet: let train.py reach its first checkpoint'
  return null
}

/**
 * Of a chosen folder's files (paths are `webkitRelativePath`s: the folder's name first), the ones an
 * import reads: an output folder whole, or a bundle folder's output/ and manifest.json (not its
 * data shards). A killed job's half-written .tmp-checkpoint-* folders are left out.
 */
export function outputFiles<T>(files: readonly T[], pathOf: (file: T) => string): { files: T[]; problem: string | null } {
  const parts = (file: T) => pathOf(file).split('/').slice(1)
  const hidden = (file: T) => parts(file).some((part) => part.startsWith('.'))
  const isOutput = (inside: string[]) => inside.length === 1 && (inside[0] === 'metrics.jsonl' || inside[0] === 'bundle.json')
  if (files.some((file) => isOutput(parts(file)))) return { files: files.filter((file) => !hidden(file)), problem: null }
  const bundleFolder = files.some((file) => parts(file).join('/') === 'manifest.json') && files.some((file) => isOutput(parts(file).slice(1)) && parts(file)[0] === 'output')
  if (bundleFolder) {
    const kept = files.filter((file) => !hidden(file) && (parts(file)[0] === 'output' || parts(file).join('/') === 'manifest.json'))
    return { files: kept, problem: null }
  }
  return { files: [], problem: 'That folder is not a bundle’s output: it needs the metrics.jsonl and checkpoint-N folders that train.py writes into output/' }
}
