/**
 * Checkpoints to and from a live trainer: `captureCheckpoint` snapshots the model's weights, the
 * optimizer's moments and the counters into the format of checkpoint-format.ts, and
 * `restoreCheckpoint` puts a fresh trainer back at one, bit-identically.
 */
import * as tf from '@tensorflow/tfjs'
import { StudioError } from '../errors.ts'
import {
  ADAM_M_PREFIX,
  ADAM_V_PREFIX,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  layout,
  toFloat32,
  type Checkpoint,
  type CheckpointContext,
  type CheckpointManifest,
  type CheckpointVersions,
  type TensorRecord,
} from './checkpoint-format.ts'
import type { Trainer } from './trainer.ts'

export * from './checkpoint-format.ts'

/** The tfjs version and active backend, with the studio's version the caller supplies. */
export function engineVersions(studio: string): CheckpointVersions {
  return { studio, tfjs: tf.version.tfjs, backend: tf.getBackend() }
}

async function record(name: string, tensor: tf.Tensor): Promise<TensorRecord> {
  if (tensor.dtype !== 'float32') throw new StudioError('INTERNAL', `${name} is ${tensor.dtype}, expected float32`)
  const values = (await tensor.data()) as Float32Array
  // A copy: some backends hand out their own storage.
  const bytes = new Uint8Array(values.byteLength)
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
  return { name, dtype: 'float32', shape: [...tensor.shape], data: bytes }
}

/** Snapshots the trainer's model weights, optimizer moments and counters, with `context`. */
export async function captureCheckpoint<Batch>(trainer: Trainer<Batch>, context: CheckpointContext): Promise<Checkpoint> {
  const tensors: TensorRecord[] = []
  for (const [name, variable] of trainer.model.variables) tensors.push(await record(name, variable))
  const { m, v } = trainer.optimizer.state()
  for (const [name, slot] of m) tensors.push(await record(ADAM_M_PREFIX + name, slot))
  for (const [name, slot] of v) tensors.push(await record(ADAM_V_PREFIX + name, slot))
  const counters = trainer.counters()
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    step: counters.optimizerStep,
    optimizerStep: counters.optimizerStep,
    scheduleStep: counters.scheduleStep,
    epoch: context.epoch,
    dataPosition: context.dataPosition,
    rng: { seed: trainer.config.seed, dropout: 'murmur3(seed, step, micro-batch)' },
    datasetHash: context.datasetHash,
    tokenizerHash: context.tokenizerHash,
    trainConfig: trainer.config,
    modelConfig: context.modelConfig,
    versions: context.versions,
    validationLoss: context.validationLoss ?? null,
    byteOrder: 'little',
    ...layout(tensors),
  }
  return { manifest, tensors }
}

/**
 * Puts the trainer (model weights, moments, counters) at the checkpoint. Every variable must be
 * there with its shape, and nothing else; the data position is the caller's to hand to the pipeline.
 */
export function restoreCheckpoint<Batch>(trainer: Trainer<Batch>, checkpoint: Checkpoint): void {
  const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]))
  const floats = (name: string, shape: readonly number[], what: string): Float32Array => {
    const found = byName.get(name)
    if (!found) throw new StudioError('VALIDATION', `The checkpoint has no ${what} ${name}`)
    if (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
      throw new StudioError('VALIDATION', `${what} ${name} has shape [${found.shape.join(', ')}] in the checkpoint, expected [${shape.join(', ')}]`)
    }
    return toFloat32(found.data)
  }
  const expectedNames = new Set<string>()
  const weights = new Map<string, Float32Array>()
  for (const [name, variable] of trainer.model.variables) {
    weights.set(name, floats(name, variable.shape, 'weight'))
    expectedNames.add(name).add(ADAM_M_PREFIX + name).add(ADAM_V_PREFIX + name)
  }
  for (const name of byName.keys()) {
    if (!expectedNames.has(name)) throw new StudioError('VALIDATION', `The checkpoint has a tensor ${name}, which the model does not have`)
  }
  const m = new Map<string, Float32Array>()
  const v = new Map<string, Float32Array>()
  for (const [name, variable] of trainer.model.variables) {
    m.set(name, floats(ADAM_M_PREFIX + name, variable.shape, 'Adam m'))
    v.set(name, floats(ADAM_V_PREFIX + name, variable.shape, 'Adam v'))
  }
  for (const [name, variable] of trainer.model.variables) {
    tf.tidy(() => variable.assign(tf.tensor(weights.get(name)!, variable.shape, 'float32')))
  }
  trainer.optimizer.load(checkpoint.manifest.optimizerStep, m, v)
  trainer.setCounters({ optimizerStep: checkpoint.manifest.optimizerStep, scheduleStep: checkpoint.manifest.scheduleStep })
}

