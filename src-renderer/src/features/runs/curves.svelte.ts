import type { ExperimentRun, RunCurve, RunProgress } from '../../../../src-main/contract/index.ts'
import { api } from '../../lib/api.ts'
import { messageOf } from '../../lib/format.ts'
import { colorAt, hasAxis, smoothByStep, xOf, type XAxis } from './model.ts'

/** One line as the chart draws it. */
export interface ChartLine {
  key: string
  runId: number
  label: string
  split: 'train' | 'validation'
  color: string
  xs: number[]
  ys: (number | null)[]
  /** Steps behind each point (the readout names them whatever the axis). */
  steps: number[]
  /** The raw curve under a smoothed one. */
  faint: boolean
}

interface Tail {
  steps: number[]
  values: number[]
  wallTimes: number[]
}

const keyOf = (runId: number, split: string) => `${runId}:${split}`

/** The metric a progress key names: `loss` (training) or `validation_loss`. */
function parseKey(key: string): { split: 'train' | 'validation'; name: string } {
  const validation = /^(?:validation|val|eval)[._/:-](.+)$/i.exec(key)
  return validation ? { split: 'validation', name: validation[1]! } : { split: 'train', name: key }
}

/**
 * One metric of some runs for a chart: the stored points (decimated by the studio to the chart's
 * width; a zoomed window fetched again at full detail) and, while a run trains, the points its
 * progress events carry since the last stored one.
 */
export class CurveSet {
  name = $state('loss')
  runIds = $state.raw<number[]>([])
  /** A zoomed window, in steps; null: the whole run. */
  range = $state.raw<{ from: number; to: number } | null>(null)
  maxPoints = $state(2_000)
  stored = $state.raw<RunCurve[]>([])
  tails = $state.raw<Record<string, Tail>>({})
  loading = $state(false)
  error = $state<string | null>(null)

  private request = 0

  async load(): Promise<void> {
    const runIds = this.runIds
    if (runIds.length === 0) {
      this.stored = []
      return
    }
    const request = ++this.request
    this.loading = true
    try {
      const curves = await api['runs.curves']({
        runIds: [...runIds],
        name: this.name,
        maxPoints: this.maxPoints,
        ...(this.range ? { from: Math.max(0, Math.floor(this.range.from)), to: Math.ceil(this.range.to) } : {}),
      })
      if (request !== this.request) return
      this.stored = curves
      // Live points the store now holds are dropped from the tails.
      const tails: Record<string, Tail> = {}
      for (const [key, tail] of Object.entries(this.tails)) {
        const last = curves.find((curve) => keyOf(curve.runId, curve.split) === key)?.steps.at(-1) ?? -1
        const keep = tail.steps.findIndex((step) => step > last)
        if (keep >= 0) tails[key] = { steps: tail.steps.slice(keep), values: tail.values.slice(keep), wallTimes: tail.wallTimes.slice(keep) }
      }
      this.tails = tails
      this.error = null
    } catch (error) {
      if (request === this.request) this.error = messageOf(error)
    } finally {
      if (request === this.request) this.loading = false
    }
  }

  /** A training run's latest values, as the chart's newest points. */
  onProgress(event: RunProgress): void {
    if (!this.runIds.includes(event.runId) || event.status !== 'running') return
    let tails = this.tails
    for (const [key, value] of Object.entries(event.metrics)) {
      const parsed = parseKey(key)
      if (parsed.name !== this.name || !Number.isFinite(value)) continue
      const id = keyOf(event.runId, parsed.split)
      const tail = tails[id]
      const last = Math.max(tail?.steps.at(-1) ?? -1, this.stored.find((curve) => keyOf(curve.runId, curve.split) === id)?.steps.at(-1) ?? -1)
      if (event.step <= last) continue
      const next: Tail = {
        steps: [...(tail?.steps ?? []), event.step],
        values: [...(tail?.values ?? []), value],
        wallTimes: [...(tail?.wallTimes ?? []), Date.now() / 1000],
      }
      tails = { ...tails, [id]: next }
    }
    if (tails !== this.tails) this.tails = tails
  }

  /** The lines to draw for these runs on `axis`, smoothed by `smoothing` (0: raw). */
  lines(runs: readonly ExperimentRun[], axis: XAxis, smoothing: number, log: boolean, dark: boolean, labelRuns: boolean): ChartLine[] {
    const lines: ChartLine[] = []
    const byRun = new Map(runs.map((run, index) => [run.id, { run, index }]))
    const splits = new Map<string, { runId: number; split: 'train' | 'validation'; steps: number[]; values: (number | null)[]; wallTimes: number[] }>()
    for (const curve of this.stored) splits.set(keyOf(curve.runId, curve.split), { ...curve })
    for (const [key, tail] of Object.entries(this.tails)) {
      const [runId, split] = key.split(':') as [string, 'train' | 'validation']
      const base = splits.get(key) ?? { runId: Number(runId), split, steps: [], values: [], wallTimes: [] }
      splits.set(key, { ...base, steps: [...base.steps, ...tail.steps], values: [...base.values, ...tail.values], wallTimes: [...base.wallTimes, ...tail.wallTimes] })
    }
    // A run's curves share one origin on the wall-time axis: its first point.
    const origins = new Map<number, number>()
    for (const series of splits.values()) {
      const first = series.wallTimes[0]
      if (first !== undefined) origins.set(series.runId, Math.min(origins.get(series.runId) ?? first, first))
    }
    const raw = smoothing > 0 && runs.length <= 4
    for (const run of runs) {
      for (const split of ['train', 'validation'] as const) {
        const series = splits.get(keyOf(run.id, split))
        const entry = byRun.get(run.id)
        if (!series || !entry || !hasAxis(run, axis) || series.steps.length === 0) continue
        const color = colorAt(entry.index, dark)
        const xs = xOf(run, axis, series.steps, series.wallTimes, origins.get(run.id) ?? null)
        const positive = (values: (number | null)[]) => (log ? values.map((value) => (value !== null && value > 0 ? value : null)) : values)
        const name = labelRuns ? `${run.name} · ${split}` : split === 'train' ? 'Train' : 'Validation'
        const smooth = smoothing > 0 && split === 'train'
        if (smooth && raw) lines.push({ key: `${run.id}:${split}:raw`, runId: run.id, label: `${name} (raw)`, split, color, xs, ys: positive(series.values), steps: series.steps, faint: true })
        lines.push({
          key: `${run.id}:${split}`,
          runId: run.id,
          label: name,
          split,
          color,
          xs,
          ys: positive(smooth ? smoothByStep(series.steps, series.values, smoothing) : series.values),
          steps: series.steps,
          faint: false,
        })
      }
    }
    return lines
  }
}

/** Every metric the runs report (training and validation share a name), loss first. */
export function metricNames(runs: readonly ExperimentRun[]): string[] {
  const names = new Set<string>()
  for (const run of runs) for (const key of Object.keys(run.lastMetrics)) names.add(parseKey(key).name)
  const list = [...names].sort((a, b) => a.localeCompare(b))
  return ['loss', ...list.filter((name) => name !== 'loss')]
}
