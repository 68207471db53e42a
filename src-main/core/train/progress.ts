/**
 * Coalesces a stream of values into at most one emission per interval (tfjs-layers' callbacks
 * yield every ~125 ms): each push replaces the pending value; `flush` emits it now.
 */
export class Throttle<T> {
  private pending: { value: T } | undefined
  private last = Number.NEGATIVE_INFINITY

  constructor(
    private readonly emit: (value: T) => void,
    private readonly intervalMs = 125,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(value: T): void {
    this.pending = { value }
    if (this.now() - this.last >= this.intervalMs) this.flush()
  }

  flush(): void {
    if (!this.pending) return
    const { value } = this.pending
    this.pending = undefined
    this.last = this.now()
    this.emit(value)
  }
}
