/**
 * Data parallelism between replicas of one model in threads of one process (the wasm backend runs
 * on one core; a second replica uses the second). Each replica computes the gradients of its share
 * of a step's micro-batches (trainer.ts `ownerOfMicroBatch`), writes its partial sums into its own
 * region of shared memory, and reads every other replica's: all replicas add the partial sums in
 * rank order with the same ops, so they compute the identical update and stay bit-identical.
 *
 * Compared with one trainer accumulating the same micro-batches, only the order of the gradient
 * additions differs: ((g0+g1)+g2)+g3 becomes (g0+g1)+(g2+g3) with 4 micro-batches on 2 replicas
 * (float32 rounding, ~1e-7 relative); with one micro-batch per replica the result is bit-identical.
 *
 * Synchronisation is by messages on ports (a MessagePort per peer); data goes through
 * SharedArrayBuffers. Per step: wait until every peer has read this replica's previous partial,
 * write, announce 'written', wait for every peer's 'written', combine, announce 'read'.
 * Pure: tfjs and Node built-ins only.
 */
import * as tf from '@tensorflow/tfjs'
import type { DataParallel, LocalGradients, ReducedGradients } from './trainer.ts'

/** Values per micro-batch scalar row (trainer.ts: loss, mlm, nsp, mlm correct, mlm count, nsp correct). */
export const SCALARS_PER_MICRO = 6

/** The shared memory of a replica group; created once by the coordinator and posted to every replica. */
export interface SharedGradientBuffers {
  /** Variable names and shapes, in the order the regions are laid out. */
  readonly layout: readonly (readonly [string, readonly number[]])[]
  readonly world: number
  readonly maxMicroBatches: number
  /** One per rank: that rank's partial sums, every variable back to back (float32). */
  readonly gradients: readonly SharedArrayBuffer[]
  /** Int32 [world × variables]: 1 where that rank has a gradient for that variable this step. */
  readonly present: SharedArrayBuffer
  /** Float32 [maxMicroBatches × SCALARS_PER_MICRO]: each micro-batch's scalars, written by its owner. */
  readonly scalars: SharedArrayBuffer
}

const sizeOf = (shape: readonly number[]) => shape.reduce((product, n) => product * n, 1)

/** Buffers for `variables` (by name, in their order), `world` replicas, up to `maxMicroBatches` micro-batches a step. */
export function createSharedGradientBuffers(variables: ReadonlyMap<string, tf.Variable>, world: number, maxMicroBatches: number): SharedGradientBuffers {
  const layout: [string, number[]][] = [...variables].map(([name, variable]) => [name, [...variable.shape]])
  const total = layout.reduce((sum, [, shape]) => sum + sizeOf(shape), 0)
  return {
    layout,
    world,
    maxMicroBatches,
    gradients: Array.from({ length: world }, () => new SharedArrayBuffer(total * 4)),
    present: new SharedArrayBuffer(world * layout.length * 4),
    scalars: new SharedArrayBuffer(maxMicroBatches * SCALARS_PER_MICRO * 4),
  }
}

/** What the exchange needs of a MessagePort (node:worker_threads' fits). */
export interface ExchangePort {
  postMessage(message: unknown): void
  on(event: 'message', listener: (message: unknown) => void): unknown
  off(event: 'message', listener: (message: unknown) => void): unknown
}

interface Signal {
  readonly kind: 'gradex.written' | 'gradex.read'
  readonly step: number
}

const isSignal = (message: unknown): message is Signal =>
  typeof message === 'object' && message !== null && ((message as Signal).kind === 'gradex.written' || (message as Signal).kind === 'gradex.read')

/** The DataParallel of one replica: gradients through shared memory, signals through `ports` (one per peer). */
export class SharedGradientExchange<Batch> implements DataParallel<Batch> {
  readonly world: number
  private readonly offsets: number[] = []
  private readonly counts = new Map<string, number>()
  private readonly waiters = new Map<string, () => void>()
  private failure: Error | null = null
  private rejecters = new Set<(error: Error) => void>()
  private lastWritten: number | null = null
  private readonly listener = (message: unknown) => {
    if (!isSignal(message)) return
    const key = `${message.kind}:${message.step}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    this.waiters.get(key)?.()
  }

  constructor(
    readonly rank: number,
    private readonly buffers: SharedGradientBuffers,
    private readonly ports: readonly ExchangePort[],
    private readonly onBeginStep?: (microBatches: readonly Batch[], scheduleStep: number) => void,
  ) {
    this.world = buffers.world
    if (ports.length !== this.world - 1) throw new Error(`A replica of ${this.world} needs ${this.world - 1} peer ports, got ${ports.length}`)
    let offset = 0
    for (const [, shape] of buffers.layout) {
      this.offsets.push(offset)
      offset += sizeOf(shape)
    }
    for (const port of ports) port.on('message', this.listener)
  }

  beginStep(microBatches: readonly Batch[], scheduleStep: number): void {
    if (microBatches.length > this.buffers.maxMicroBatches) {
      throw new Error(`A step of ${microBatches.length} micro-batches, but the shared buffers hold ${this.buffers.maxMicroBatches}`)
    }
    this.onBeginStep?.(microBatches, scheduleStep)
  }

  /** Makes every pending and later reduce fail (a peer died). */
  fail(error: Error): void {
    this.failure ??= error
    for (const reject of this.rejecters) reject(error)
    this.rejecters.clear()
  }

  /** Stops listening on the ports. */
  close(): void {
    for (const port of this.ports) port.off('message', this.listener)
  }

  private waitFor(kind: Signal['kind'], step: number): Promise<void> {
    const key = `${kind}:${step}`
    const needed = this.world - 1
    if ((this.counts.get(key) ?? 0) >= needed) {
      this.counts.delete(key)
      return Promise.resolve()
    }
    if (this.failure) return Promise.reject(this.failure)
    return new Promise<void>((resolve, reject) => {
      const rejecter = (error: Error) => {
        this.waiters.delete(key)
        reject(error)
      }
      this.rejecters.add(rejecter)
      this.waiters.set(key, () => {
        if ((this.counts.get(key) ?? 0) < needed) return
        this.counts.delete(key)
        this.waiters.delete(key)
        this.rejecters.delete(rejecter)
        resolve()
      })
    })
  }

  private signal(kind: Signal['kind'], step: number): void {
    for (const port of this.ports) port.postMessage({ kind, step } satisfies Signal)
  }

  async reduce(local: LocalGradients): Promise<ReducedGradients> {
    const { layout } = this.buffers
    const step = local.scheduleStep
    // Peers must be done reading what this replica wrote last time before it is overwritten.
    if (this.lastWritten !== null) await this.waitFor('gradex.read', this.lastWritten)
    const present = new Int32Array(this.buffers.present)
    const mine = new Float32Array(this.buffers.gradients[this.rank]!)
    for (const [index, [name, shape]] of layout.entries()) {
      const size = sizeOf(shape)
      const grad = local.sums.get(name)
      present[this.rank * layout.length + index] = grad ? 1 : 0
      if (!grad) continue
      if (grad.size !== size) throw new Error(`The gradient of ${name} has ${grad.size} values, expected ${size}`)
      mine.set((await grad.data()) as Float32Array, this.offsets[index]!)
    }
    const scalars = new Float32Array(this.buffers.scalars)
    for (const [micro, row] of local.scalars) scalars.set(row, micro * SCALARS_PER_MICRO)
    this.lastWritten = step
    this.signal('gradex.written', step)
    await this.waitFor('gradex.written', step)

    const sums = new Map<string, tf.Tensor>()
    for (const [index, [name, shape]] of layout.entries()) {
      const size = sizeOf(shape)
      let total: tf.Tensor | null = null
      for (let rank = 0; rank < this.world; rank++) {
        if (present[rank * layout.length + index] !== 1) continue
        const part = rank === this.rank ? local.sums.get(name)! : tf.tensor(new Float32Array(this.buffers.gradients[rank]!, this.offsets[index]! * 4, size).slice(), [...shape], 'float32')
        if (total === null) total = rank === this.rank ? tf.clone(part) : part
        else {
          const next: tf.Tensor = tf.add(total, part)
          total.dispose()
          if (rank !== this.rank) part.dispose()
          total = next
        }
      }
      if (total !== null) sums.set(name, total) // a copy: the shared region is overwritten next step
    }
    const rows = Array.from({ length: local.microBatches }, (_, micro) => scalars.slice(micro * SCALARS_PER_MICRO, (micro + 1) * SCALARS_PER_MICRO))
    this.signal('gradex.read', step)
    return { sums, scalars: rows }
  }
}
