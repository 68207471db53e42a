/**
 * Pure helpers behind LineChart: decimation for display, smoothing, and aligning several series on
 * one x axis (uPlot draws columns that share their x values). Stored series are never changed.
 */

/** What a chart is given: one line. */
export interface ChartSeries {
  label: string
  steps: readonly number[]
  values: readonly (number | null)[]
  /** Drawn dashed with point markers: sparse series such as validation. */
  sparse?: boolean
}

export const DISPLAY_POINTS = 2_000

/**
 * At most ~`limit` points: each bucket of consecutive points keeps its minimum and maximum (in x
 * order), so spikes survive; the first and last points are always kept.
 */
export function decimate(
  steps: readonly number[],
  values: readonly (number | null)[],
  limit = DISPLAY_POINTS,
): { steps: number[]; values: (number | null)[] } {
  const length = Math.min(steps.length, values.length)
  if (length <= limit) return { steps: steps.slice(0, length), values: values.slice(0, length) }
  const buckets = Math.max(1, Math.floor((limit - 2) / 2))
  const size = (length - 2) / buckets
  const outSteps: number[] = [steps[0]!]
  const outValues: (number | null)[] = [values[0] ?? null]
  for (let bucket = 0; bucket < buckets; bucket++) {
    const start = 1 + Math.floor(bucket * size)
    const end = Math.min(length - 1, 1 + Math.floor((bucket + 1) * size))
    let low = -1
    let high = -1
    for (let index = start; index < end; index++) {
      const value = values[index]
      if (value === null || value === undefined || !Number.isFinite(value)) continue
      if (low < 0 || value < values[low]!) low = index
      if (high < 0 || value > values[high]!) high = index
    }
    if (low < 0) continue
    for (const index of low === high ? [low] : [Math.min(low, high), Math.max(low, high)]) {
      outSteps.push(steps[index]!)
      outValues.push(values[index]!)
    }
  }
  outSteps.push(steps[length - 1]!)
  outValues.push(values[length - 1] ?? null)
  return { steps: outSteps, values: outValues }
}

/** TensorBoard's debiased exponential moving average; `weight` 0 returns the values unchanged. */
export function smooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice()
  let last = 0
  let count = 0
  return values.map((value) => {
    if (value === null || !Number.isFinite(value)) return value
    last = last * weight + (1 - weight) * value
    count++
    return last / (1 - weight ** count)
  })
}

/** Joins series on the union of their x values: `[xs, ...columns]`, a gap (null) where one has no point. */
export function align(series: readonly { steps: readonly number[]; values: readonly (number | null)[] }[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(series.flatMap((line) => line.steps))].sort((a, b) => a - b)
  const position = new Map(xs.map((x, index) => [x, index]))
  const columns = series.map((line) => {
    const column: (number | null)[] = new Array(xs.length).fill(null)
    line.steps.forEach((step, index) => (column[position.get(step)!] = line.values[index] ?? null))
    return column
  })
  return [xs, ...columns]
}

/** A log axis cannot show zero or negative values: they become gaps. */
export const positiveOnly = (values: readonly (number | null)[]) => values.map((value) => (value !== null && value > 0 ? value : null))

const compact = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 })

/** 0.000123 → 1.23e-4; 2.3456 → 2.346; 12345 → 12,345. */
export function formatMetric(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  const size = Math.abs(value)
  if (size !== 0 && (size < 1e-3 || size >= 1e7)) return value.toExponential(2)
  return compact.format(value)
}
