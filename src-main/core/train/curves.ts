/**
 * Decimation for display, run before a curve crosses the bridge. A chart N pixel columns wide
 * needs at most a minimum and a maximum per column to draw every spike the full series would;
 * stored points are never dropped, only not sent (a zoomed window is fetched again at full detail).
 */

export interface DecimatedColumns {
  /** Points stored in the range. */
  count: number
  steps: number[]
  values: (number | null)[]
  wallTimes: number[]
}

/**
 * The state of a one-pass, order-free min/max decimation over (split, step, value, wall time)
 * rows: every point while there are few, else per bucket of the step range its minimum, maximum
 * and first non-finite point, plus the range's first and last points. Feeding it from inside
 * SQLite (an aggregate) spares building an object per stored point, which is most of the cost
 * of reading a long curve.
 */
export class DecimationState {
  private readonly splits = new Map<string, SplitState>()

  constructor(
    private readonly low: number,
    private readonly span: number,
    private readonly buckets: number,
  ) {}

  add(split: string, step: number, value: number | null, wallTime: number): void {
    let state = this.splits.get(split)
    if (!state) this.splits.set(split, (state = new SplitState(this.buckets)))
    const bucket = this.span > 0 ? Math.min(this.buckets - 1, Math.floor(((step - this.low) / this.span) * this.buckets)) : 0
    state.add(bucket, step, value, wallTime)
  }

  result(): Record<string, DecimatedColumns> {
    const out: Record<string, DecimatedColumns> = {}
    for (const [split, state] of this.splits) out[split] = state.result()
    return out
  }
}

interface Point {
  step: number
  value: number | null
  wallTime: number
}

/** Per bucket, its minimum, maximum and first gap as (step, value, wall time) columns; NaN step: none yet. */
class SplitState {
  count = 0
  /** Every point until there are more than the buckets can show; then null. */
  private all: Point[] | null = []
  private readonly minimum: Float64Array
  private readonly maximum: Float64Array
  private readonly gap: Float64Array
  private first: Point | null = null
  private last: Point | null = null

  constructor(private readonly buckets: number) {
    // 3 numbers per bucket: step, value, wall time.
    this.minimum = new Float64Array(3 * buckets).fill(Number.NaN)
    this.maximum = new Float64Array(3 * buckets).fill(Number.NaN)
    this.gap = new Float64Array(3 * buckets).fill(Number.NaN)
  }

  add(bucket: number, step: number, value: number | null, wallTime: number): void {
    this.count++
    const finite = value !== null && Number.isFinite(value) ? value : null
    if (this.all) {
      this.all.push({ step, value: finite, wallTime })
      if (this.all.length > 2 * this.buckets + 2) this.all = null
    }
    if (!this.first || step < this.first.step) this.first = { step, value: finite, wallTime }
    if (!this.last || step > this.last.step) this.last = { step, value: finite, wallTime }
    const at = 3 * bucket
    if (finite === null) {
      if (!(this.gap[at]! <= step)) this.set(this.gap, at, step, Number.NaN, wallTime)
      return
    }
    const low = this.minimum
    if (Number.isNaN(low[at]!) || finite < low[at + 1]! || (finite === low[at + 1]! && step < low[at]!)) this.set(low, at, step, finite, wallTime)
    const high = this.maximum
    if (Number.isNaN(high[at]!) || finite > high[at + 1]! || (finite === high[at + 1]! && step < high[at]!)) this.set(high, at, step, finite, wallTime)
  }

  result(): DecimatedColumns {
    let chosen: Point[]
    if (this.all) chosen = this.all
    else {
      const byStep = new Map<number, Point>()
      for (const point of [this.first, this.last]) if (point) byStep.set(point.step, point)
      for (const column of [this.minimum, this.maximum, this.gap]) {
        for (let at = 0; at < column.length; at += 3) {
          if (Number.isNaN(column[at]!)) continue
          const value = column[at + 1]!
          byStep.set(column[at]!, { step: column[at]!, value: Number.isNaN(value) ? null : value, wallTime: column[at + 2]! })
        }
      }
      chosen = [...byStep.values()]
    }
    chosen.sort((a, b) => a.step - b.step)
    return { count: this.count, steps: chosen.map((p) => p.step), values: chosen.map((p) => p.value), wallTimes: chosen.map((p) => p.wallTime) }
  }

  private set(column: Float64Array, at: number, step: number, value: number, wallTime: number): void {
    column[at] = step
    column[at + 1] = value
    column[at + 2] = wallTime
  }
}
