/**
 * Data parallelism from the training worker: `ReplicaGroup` is rank 0's DataParallel. `start`
 * launches `world − 1` peer threads (./peer.ts, built as peer.js beside worker.js), each holding a
 * replica loaded from this trainer's state; every step hands them all the micro-batches, and the
 * gradients meet in shared memory (core/train/parallel.ts). Used on the wasm and cpu backends,
 * which compute on one core each; `STUDIO_TRAIN_WORKERS` sets the count (1 turns it off).
 */
import { MessageChannel, Worker } from 'node:worker_threads'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { availableParallelism } from 'node:os'
import { captureCheckpoint } from '../core/train/checkpoint.ts'
import { accumulationSteps, type TrainConfig } from '../core/train/config.ts'
import { createSharedGradientBuffers, SharedGradientExchange, type SharedGradientBuffers } from '../core/train/parallel.ts'
import type { DataParallel, LocalGradients, ReducedGradients, Trainer } from '../core/train/trainer.ts'
import type { BertConfig, PretrainBatch } from '../core/train/types.ts'
import type { BackendChoice } from '../core/model/backend.ts'
import type { Checkpoint } from '../core/train/checkpoint-format.ts'

/** Main → peer. */
export type ToPeer =
  | {
      type: 'init'
      backend: BackendChoice
      rank: number
      modelConfig: BertConfig
      trainConfig: TrainConfig
      totalSteps: number
      buffers: SharedGradientBuffers
      state: Checkpoint
      /** To every other replica, in rank order without this one (world 2: rank 0's). */
      ports: MessagePort[]
    }
  | { type: 'step'; scheduleStep: number; microBatches: PretrainBatch[] }
  | { type: 'close' }

/** Peer → main. */
export type FromPeer = { type: 'ready' } | { type: 'stepped'; scheduleStep: number } | { type: 'error'; message: string }

/**
 * How many replicas to train with: STUDIO_TRAIN_WORKERS when set, else 2 on the single-threaded
 * backends (wasm, cpu) when the machine has 2 or more cores, else 1.
 */
export function trainWorkers(backend: BackendChoice, env: Record<string, string | undefined> = process.env): number {
  const forced = env.STUDIO_TRAIN_WORKERS
  if (forced !== undefined && forced !== '') {
    const n = Number(forced)
    if (!Number.isInteger(n) || n < 1) throw new Error(`STUDIO_TRAIN_WORKERS is "${forced}", expected an integer ≥ 1`)
    return n
  }
  return (backend === 'wasm' || backend === 'cpu') && availableParallelism() >= 2 ? 2 : 1
}

/**
 * The train config replicas run: a step of fewer micro-batches than replicas is cut into `world`
 * micro-batches (batchSize / world each) when that divides — gradient accumulation over the halves,
 * exactly what STUDIO_TRAIN_WORKERS=1 with that microBatchSize computes.
 */
export function parallelTrainConfig(config: TrainConfig, world: number): TrainConfig {
  if (world <= 1 || accumulationSteps(config) >= world || config.batchSize % world !== 0) return config
  return { ...config, microBatchSize: config.batchSize / world }
}

/** out/main/peer.js: beside this code, or one folder up when the bundler put this in out/main/chunks. */
function defaultPeerScript(): string {
  const here = typeof __dirname === 'string' ? __dirname : process.cwd()
  const candidates = [join(here, 'peer.js'), join(here, '..', 'peer.js')]
  return candidates.find((path) => existsSync(path)) ?? candidates[0]!
}

export class ReplicaGroup implements DataParallel<PretrainBatch> {
  readonly rank = 0
  private exchange: SharedGradientExchange<PretrainBatch> | null = null
  private readonly peers: Worker[] = []
  private failure: Error | null = null

  constructor(readonly world: number) {}

  /** Starts the peers from the trainer's current state (call after any checkpoint restore, before the first step). */
  async start(trainer: Trainer<PretrainBatch>, options: { backend: BackendChoice; modelConfig: BertConfig; peerScript?: string }): Promise<void> {
    const buffers = createSharedGradientBuffers(trainer.model.variables, this.world, accumulationSteps(trainer.config))
    const state = await captureCheckpoint(trainer, { epoch: 0, dataPosition: null, datasetHash: null, tokenizerHash: null, modelConfig: options.modelConfig, versions: { studio: '', tfjs: '', backend: '' } as never })
    const myPorts: MessagePort[] = []
    const ready: Promise<void>[] = []
    for (let rank = 1; rank < this.world; rank++) {
      // world 2 only needs one channel; more replicas would need a channel per pair.
      if (this.world > 2) throw new Error('More than 2 training workers is not supported yet')
      const channel = new MessageChannel()
      myPorts.push(channel.port1 as unknown as MessagePort)
      const worker = new Worker(options.peerScript ?? defaultPeerScript())
      this.peers.push(worker)
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (message: FromPeer) => {
            if (message.type === 'ready') resolve()
            else if (message.type === 'error') {
              const error = new Error(`Training worker ${rank}: ${message.message}`)
              this.fail(error)
              reject(error)
            }
          })
          worker.on('error', (error) => {
            this.fail(error)
            reject(error)
          })
          worker.on('exit', (code) => {
            const error = new Error(`Training worker ${rank} exited (code ${code})`)
            this.fail(error)
            reject(error)
          })
        }),
      )
      const init: ToPeer = {
        type: 'init',
        backend: options.backend,
        rank,
        modelConfig: options.modelConfig,
        trainConfig: trainer.config,
        totalSteps: trainer.totalSteps,
        buffers,
        state,
        ports: [channel.port2 as unknown as MessagePort],
      }
      worker.postMessage(init, [channel.port2 as never])
    }
    this.exchange = new SharedGradientExchange<PretrainBatch>(0, buffers, myPorts as never, (microBatches, scheduleStep) => {
      const message: ToPeer = { type: 'step', scheduleStep, microBatches: [...microBatches] }
      for (const peer of this.peers) peer.postMessage(message)
    })
    await Promise.all(ready)
  }

  private fail(error: Error): void {
    this.failure ??= error
    this.exchange?.fail(error)
  }

  beginStep(microBatches: readonly PretrainBatch[], scheduleStep: number): void {
    if (this.failure) throw this.failure
    if (!this.exchange) throw new Error('The replica group was not started')
    this.exchange.beginStep(microBatches, scheduleStep)
  }

  reduce(local: LocalGradients): Promise<ReducedGradients> {
    if (!this.exchange) return Promise.reject(new Error('The replica group was not started'))
    return this.exchange.reduce(local)
  }

  /** Stops the peers. */
  async close(): Promise<void> {
    this.exchange?.close()
    for (const peer of this.peers) peer.removeAllListeners('exit')
    await Promise.all(this.peers.map((peer) => peer.terminate()))
    this.peers.length = 0
  }
}
