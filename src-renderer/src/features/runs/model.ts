/**
 * The Runs view's pure parts: status, filtering, sorting, progress, config differences, colours,
 * smoothing and x axes. No Svelte, no API: the unit tests import this file directly.
 */
import type { ExperimentRun, RunProgress, RunStatus } from '../../../../src-main/contract/index.ts'

export type DisplayStatus = RunStatus | 'crashed-resumable'

export const STATUS_LABEL: Record<DisplayStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  paused: 'Paused',
  done: 'Done',
  diverged: 'Diverged',
  crashed: 'Crashed',
  'crashed-resumable': 'Crashed · resumable',
  cancelled: 'Cancelled',
}

/** A crashed run with a checkpoint is a different thing to the analyst: it can continue. */
export function displayStatus(run: Pick<ExperimentRun, 'status' | 'resumable'>): DisplayStatus {
  return run.status === 'crashed' && run.resumable ? 'crashed-resumable' : run.status
}

export const ACTIVE_STATUSES: readonly RunStatus[] = ['queued', 'running', 'paused']

export interface RunFilter {
  query: string
  status: DisplayStatus | 'all' | 'active'
  kind: 'all' | 'pretrain' | 'finetune'
  tag: string | null
  showArchived: boolean
}

export const NO_FILTER: RunFilter = { query: '', status: 'all', kind: 'all', tag: null, showArchived: false }

/** Runs matching every part of the filter; the query matches names, tags, notes, data and #id. */
export function filterRuns(runs: readonly ExperimentRun[], filter: RunFilter): ExperimentRun[] {
  const words = filter.query.toLowerCase().split(/\s+/).filter(Boolean)
  return runs.filter((run) => {
    if (!filter.showArchived && run.archived) return false
    if (filter.kind !== 'all' && run.kind !== filter.kind) return false
    if (filter.tag !== null && !run.tags.includes(filter.tag)) return false
    const status = displayStatus(run)
    if (filter.status === 'active' ? !ACTIVE_STATUSES.includes(run.status) : filter.status !== 'all' && status !== filter.status && run.status !== filter.status) return false
    if (words.length === 0) return true
    const haystack = [`#${run.id}`, run.name, run.notes, run.dataName, run.tokenizerName, run.parentName, run.kind, run.hyper.task, run.backend, STATUS_LABEL[status], ...run.tags]
      .filter((part): part is string => typeof part === 'string')
      .join('\n')
      .toLowerCase()
    return words.every((word) => haystack.includes(word))
  })
}

export type SortKey =
  | 'name'
  | 'status'
  | 'kind'
  | 'data'
  | 'tokenizer'
  | 'parent'
  | 'learningRate'
  | 'batchSize'
  | 'seqLength'
  | 'length'
  | 'seed'
  | 'test'
  | 'best'
  | 'last'
  | 'duration'
  | 'backend'
  | 'created'
  | 'disk'

const STATUS_ORDER: DisplayStatus[] = ['running', 'queued', 'paused', 'crashed-resumable', 'crashed', 'diverged', 'cancelled', 'done']

function sortValue(run: ExperimentRun, key: SortKey): string | number | null {
  switch (key) {
    case 'name':
      return run.name.toLowerCase()
    case 'status':
      return STATUS_ORDER.indexOf(displayStatus(run))
    case 'kind':
      return run.kind
    case 'data':
      return run.dataName?.toLowerCase() ?? null
    case 'tokenizer':
      return run.tokenizerName?.toLowerCase() ?? null
    case 'parent':
      return run.parentName?.toLowerCase() ?? null
    case 'learningRate':
      return run.hyper.learningRate
    case 'batchSize':
      return run.hyper.batchSize
    case 'seqLength':
      return run.hyper.seqLength
    case 'length':
      return run.totalSteps ?? run.hyper.steps
    case 'seed':
      return run.hyper.seed
    case 'test':
      return run.test?.value ?? null
    case 'best':
      return run.best?.value ?? null
    case 'last':
      return run.last?.value ?? null
    case 'duration':
      return run.durationSeconds
    case 'backend':
      return run.backend
    case 'created':
      return run.createdAt
    case 'disk':
      return run.checkpointBytes
  }
}

/** Sorted by one column; runs without a value for it come last in either direction. */
export function sortRuns(runs: readonly ExperimentRun[], key: SortKey, direction: 'ascending' | 'descending'): ExperimentRun[] {
  const sign = direction === 'ascending' ? 1 : -1
  return [...runs].sort((a, b) => {
    const x = sortValue(a, key)
    const y = sortValue(b, key)
    if (x === null && y === null) return b.id - a.id
    if (x === null) return 1
    if (y === null) return -1
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))
    return order !== 0 ? sign * order : b.id - a.id
  })
}

export interface Progress {
  step: number
  total: number | null
  /** 0–1, null when the length is not known yet. */
  fraction: number | null
  etaSeconds: number | null
  phase: string | null
}

/** Where a run stands: the latest progress event while it runs, its stored step otherwise. */
export function progressOf(run: Pick<ExperimentRun, 'status' | 'step' | 'totalSteps'>, event?: RunProgress): Progress {
  const live = event && run.status === 'running' && event.status === 'running'
  const step = live ? event.step : run.step
  const total = (live ? event.totalSteps : null) ?? run.totalSteps
  return {
    step,
    total,
    fraction: total ? Math.min(1, step / total) : null,
    etaSeconds: live ? event.etaSeconds : null,
    phase: live ? event.phase : null,
  }
}

// ---------------------------------------------------------------- comparison

/** Leaves of a config as dotted paths and display strings (arrays whole, as JSON). */
export function flattenConfig(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    if (prefix) out.set(prefix, value === undefined ? '—' : typeof value === 'string' ? value : typeof value === 'number' ? formatSetting(value) : JSON.stringify(value))
    return out
  }
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) flattenConfig(inner, prefix ? `${prefix}.${key}` : key, out)
  return out
}

/** 0.0006000000000000001 (a float's sum) reads 0.0006; whole numbers and exact values unchanged. */
export const formatSetting = (value: number) => String(Number.isFinite(value) ? Number(value.toPrecision(12)) : value)

/** Paths that say nothing about how the run was trained. */
const IGNORED = [/^request\.name$/, /^request\.projectId$/, /^totalSteps$/, /^splits\./]

export interface ConfigDifference {
  key: string
  /** One per run, in the runs' order; null where the run has no such setting. */
  values: (string | null)[]
}

/** The settings whose values are not the same in every run (config, model and backend). */
export function configDifferences(runs: readonly Pick<ExperimentRun, 'config' | 'modelConfig' | 'backend' | 'kind'>[]): ConfigDifference[] {
  const flat = runs.map((run) => {
    const map = flattenConfig(run.config)
    for (const [key, value] of flattenConfig(run.modelConfig)) map.set(`model.${key}`, value)
    map.set('kind', run.kind)
    if (run.backend) map.set('backend', run.backend)
    return map
  })
  const keys = [...new Set(flat.flatMap((map) => [...map.keys()]))].filter((key) => !IGNORED.some((pattern) => pattern.test(key)))
  return keys
    .map((key) => ({ key, values: flat.map((map) => map.get(key) ?? null) }))
    .filter(({ values }) => new Set(values).size > 1)
    .sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key))
}

/** The settings an analyst looks at first come first. */
function rank(key: string): number {
  if (key.startsWith('request.')) return 0
  if (key === 'kind' || key === 'backend') return 1
  if (key.startsWith('train.')) return 2
  if (key.startsWith('model.')) return 4
  return 3
}

/** Distinct on both themes and told apart by most colour-blind readers (Tableau 10, extended). */
export const RUN_COLORS_LIGHT = [
  '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22',
  '#0b3c8c', '#a50f15', '#006d5b', '#6a3d9a', '#b15928', '#e7298a', '#666600', '#1b9e77', '#525252', '#c51b7d',
]
export const RUN_COLORS_DARK = [
  '#6cb4ee', '#ff7b7b', '#6fd36f', '#c5a3ff', '#ffae5c', '#4fd9e6', '#d4a58e', '#f5a3d6', '#c4c4c4', '#e0e05a',
  '#8fa8ff', '#ff9e9e', '#5fd3bd', '#b59bff', '#f0a070', '#ff85c0', '#c8c86a', '#66e0b0', '#e0e0e0', '#ff6fb5',
]

export const colorAt = (index: number, dark: boolean) => (dark ? RUN_COLORS_DARK : RUN_COLORS_LIGHT)[index % RUN_COLORS_LIGHT.length]!

// ---------------------------------------------------------------- curves

/**
 * TensorBoard's debiased exponential moving average, weighted by steps rather than points: a
 * point `Δ` steps after the previous one decays it by weight^Δ. On every stored point this is
 * TensorBoard's smoothing; on a decimated curve it smooths over the same span of steps.
 */
export function smoothByStep(steps: readonly number[], values: readonly (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice()
  let average = 0
  let decay = 1
  let previous: number | null = null
  return values.map((value, index) => {
    if (value === null || !Number.isFinite(value)) return value
    const step = steps[index]!
    const factor = weight ** Math.max(1, previous === null ? 1 : step - previous)
    previous = step
    average = average * factor + (1 - factor) * value
    decay *= factor
    return average / (1 - decay)
  })
}

export type XAxis = 'step' | 'epoch' | 'tokens' | 'time'

export const X_AXES: readonly { id: XAxis; label: string }[] = [
  { id: 'step', label: 'Step' },
  { id: 'epoch', label: 'Epoch' },
  { id: 'tokens', label: 'Tokens seen' },
  { id: 'time', label: 'Wall time' },
]

/** Whether a run can be drawn against the axis (epochs and tokens need its config). */
export function hasAxis(run: Pick<ExperimentRun, 'stepsPerEpoch' | 'tokensPerStep'>, axis: XAxis): boolean {
  if (axis === 'epoch') return run.stepsPerEpoch !== null && run.stepsPerEpoch > 0
  if (axis === 'tokens') return run.tokensPerStep !== null
  return true
}

/**
 * Each point's x on the axis: the step itself, epochs (step / steps per epoch), tokens (step ×
 * batch × sequence length) or seconds since the run's first point (runs overlay from their start).
 */
export function xOf(
  run: Pick<ExperimentRun, 'stepsPerEpoch' | 'tokensPerStep'>,
  axis: XAxis,
  steps: readonly number[],
  wallTimes: readonly number[],
  start: number | null,
): number[] {
  switch (axis) {
    case 'step':
      return steps.slice()
    case 'epoch':
      return steps.map((step) => step / run.stepsPerEpoch!)
    case 'tokens':
      return steps.map((step) => step * run.tokensPerStep!)
    case 'time': {
      const origin = start ?? wallTimes[0] ?? 0
      return wallTimes.map((time) => time - origin)
    }
  }
}

/** The step a position on the axis stands for (to fetch a zoomed window by steps). */
export function stepAt(run: Pick<ExperimentRun, 'stepsPerEpoch' | 'tokensPerStep'>, axis: XAxis, x: number): number | null {
  if (axis === 'step') return x
  if (axis === 'epoch') return run.stepsPerEpoch ? x * run.stepsPerEpoch : null
  if (axis === 'tokens') return run.tokensPerStep ? x / run.tokensPerStep : null
  return null
}

const compactNumber = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 })

/** 0.000123 → 1.23e-4; 2.3456 → 2.346; 12345 → 12,345; null → —. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  const size = Math.abs(value)
  if (size !== 0 && (size < 1e-3 || size >= 1e7)) return value.toExponential(2)
  return compactNumber.format(value)
}

/** An x value as the axis names it: 1.25 epochs, 1.2M tokens, 3 min 20 s. */
export function formatX(axis: XAxis, x: number): string {
  if (axis === 'tokens') return x >= 1e6 ? `${compactNumber.format(x / 1e6)}M` : x >= 1e3 ? `${compactNumber.format(x / 1e3)}k` : compactNumber.format(x)
  if (axis === 'time') return formatElapsed(x)
  if (axis === 'epoch') return compactNumber.format(Number(x.toFixed(2)))
  return compactNumber.format(Math.round(x))
}

export function formatElapsed(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—'
  const whole = Math.max(0, Math.round(seconds))
  if (whole < 60) return `${whole} s`
  const minutes = Math.floor(whole / 60)
  if (minutes < 60) return `${minutes}:${String(whole % 60).padStart(2, '0')} min`
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')} h`
}

/** About `count` round tick values (1, 2 or 5 × a power of ten apart) between `low` and `high`. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!(high > low) || !Number.isFinite(low) || !Number.isFinite(high)) return [low]
  const rough = (high - low) / Math.max(1, count)
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((base) => base * power).reduce((best, candidate) => (Math.abs(candidate - rough) < Math.abs(best - rough) ? candidate : best))
  const ticks: number[] = []
  for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) ticks.push(Number(tick.toPrecision(12)))
  return ticks
}
