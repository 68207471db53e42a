/**
 * A peer training thread: one replica of the model for data parallelism (./replicas.ts). It loads
 * the coordinator's state, then runs every step the coordinator announces on its share of the
 * micro-batches; gradients are exchanged through shared memory, so its weights stay bit-identical
 * to the coordinator's. It writes nothing: checkpoints and metrics are the coordinator's.
 */
import { parentPort } from 'node:worker_threads'
import { initBackend } from '../core/model/backend.ts'
import { BertForPreTraining } from '../core/model/bert.ts'
import { restoreCheckpoint } from '../core/train/checkpoint.ts'
import { SharedGradientExchange } from '../core/train/parallel.ts'
import { Trainer } from '../core/train/trainer.ts'
import type { PretrainBatch } from '../core/train/types.ts'
import type { FromPeer, ToPeer } from './replicas.ts'

if (!parentPort) throw new Error('worker/peer.js must run as a worker thread')
const port = parentPort
const send = (message: FromPeer) => port.postMessage(message)

let trainer: Trainer<PretrainBatch> | null = null
let queue: Promise<void> = Promise.resolve()

port.on('message', (message: ToPeer) => {
  // One at a time, in order: init, then steps.
  queue = queue.then(() => handle(message)).catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  })
})

async function handle(message: ToPeer): Promise<void> {
  switch (message.type) {
    case 'init': {
      await initBackend(message.backend, { STUDIO_BACKEND: message.backend })
      const model = new BertForPreTraining(message.modelConfig, { seed: message.trainConfig.seed })
      const exchange = new SharedGradientExchange<PretrainBatch>(message.rank, message.buffers, message.ports as never)
      trainer = new Trainer<PretrainBatch>(model, message.trainConfig, { totalSteps: message.totalSteps, parallel: exchange })
      restoreCheckpoint(trainer, message.state)
      send({ type: 'ready' })
      return
    }
    case 'step': {
      if (!trainer) throw new Error('A step before init')
      if (trainer.scheduleStep !== message.scheduleStep) throw new Error(`Out of step: the coordinator is at ${message.scheduleStep}, this replica at ${trainer.scheduleStep}`)
      await trainer.step(message.microBatches)
      send({ type: 'stepped', scheduleStep: message.scheduleStep })
      return
    }
    case 'close':
      process.exit(0)
  }
}
