import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ADAM_M_PREFIX,
  assertResumable,
  captureCheckpoint,
  chunkTensorBytes,
  deserializeCheckpoint,
  engineVersions,
  restoreCheckpoint,
  serializeCheckpoint,
  type Checkpoint,
  type CheckpointContext,
} from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig } from '../../../src-main/core/train/config.ts'
import { Trainer } from '../../../src-main/core/train/trainer.ts'
import { ToyModel, toyBatch, weightBytes } from './stand-in.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const context = (): CheckpointContext => ({
  epoch: 1,
  dataPosition: { epoch: 1, documentCursor: 17, instanceInDocument: 2 },
  datasetHash: 'sha256:data',
  tokenizerHash: 'sha256:tok',
  modelConfig: { hidden_size: 8 },
  versions: engineVersions('0.1.0'),
  validationLoss: 1.25,
})

async function trained(seed: number, steps: number) {
  const model = new ToyModel(seed)
  const trainer = new Trainer(model, parseTrainConfig({ batchSize: 4, steps: 20, seed: 3 }), { totalSteps: 20 })
  for (let step = 0; step < steps; step++) await trainer.step([toyBatch(step, 0, 4)])
  return { model, trainer }
}

describe('checkpoint format', () => {
  it('carries weights, Adam moments, counters, data position, hashes, configs and versions', async () => {
    const { model, trainer } = await trained(1, 3)
    const { manifest, tensors } = await captureCheckpoint(trainer, context())
    expect(manifest).toMatchObject({
      format: 'bert-studio-checkpoint',
      step: 3,
      optimizerStep: 3,
      scheduleStep: 3,
      epoch: 1,
      dataPosition: { epoch: 1, documentCursor: 17, instanceInDocument: 2 },
      rng: { seed: 3 },
      datasetHash: 'sha256:data',
      tokenizerHash: 'sha256:tok',
      modelConfig: { hidden_size: 8 },
      versions: { studio: '0.1.0', tfjs: tf.version.tfjs, backend: 'cpu' },
      validationLoss: 1.25,
      byteOrder: 'little',
    })
    expect(manifest.trainConfig).toEqual(trainer.config)
    expect(tensors.map((t) => t.name)).toEqual([
      ...model.variables.keys(),
      ...[...model.variables.keys()].map((n) => `optimizer/m/${n}`),
      ...[...model.variables.keys()].map((n) => `optimizer/v/${n}`),
    ])
    expect(manifest.totalBytes).toBe(tensors.reduce((n, t) => n + t.data.byteLength, 0))
    trainer.dispose()
    model.dispose()
  })

  it('chunks tensor bytes across boundaries and reads them back bit-identical, odd floats included', async () => {
    const { model, trainer } = await trained(2, 2)
    // -0, a subnormal, a NaN payload and infinities must survive byte for byte.
    const odd = new Float32Array(new Uint32Array([0x80000000, 0x00000001, 0x7fc12345, 0x7f800000, 0xff800000, 0x3f800001, 0, 0]).buffer)
    model.variables.get('bert.LayerNorm.weight')!.assign(tf.tensor1d(odd))
    const checkpoint = await captureCheckpoint(trainer, context())
    const serialized = serializeCheckpoint(checkpoint, 7)
    const chunks = [...serialized.chunks]
    expect(chunks.every((c) => c.byteLength <= 7)).toBe(true)
    expect(chunks.reduce((n, c) => n + c.byteLength, 0)).toBe(serialized.bytes)
    const back = deserializeCheckpoint(serialized.manifestJson, chunks)
    expect(back.manifest).toEqual(JSON.parse(serialized.manifestJson))
    expect(back.tensors.map((t) => [t.name, t.shape, Buffer.from(t.data).toString('hex')])).toEqual(
      checkpoint.tensors.map((t) => [t.name, t.shape, Buffer.from(t.data).toString('hex')]),
    )
    // …and into a fresh model and optimizer, bit for bit.
    const fresh = new ToyModel(99)
    const freshTrainer = new Trainer(fresh, parseTrainConfig(back.manifest.trainConfig), { totalSteps: 20 })
    restoreCheckpoint(freshTrainer, back)
    expect(await weightBytes(fresh.variables)).toEqual(await weightBytes(model.variables))
    expect(await weightBytes(freshTrainer.optimizer.state().v)).toEqual(await weightBytes(trainer.optimizer.state().v))
    expect(freshTrainer.counters()).toEqual({ optimizerStep: 2, scheduleStep: 2 })
    for (const t of [trainer, freshTrainer]) t.dispose()
    for (const m of [model, fresh]) m.dispose()
  })

  it('cuts 4 MiB chunks by default', () => {
    const big = { name: 'big', dtype: 'float32' as const, shape: [1_100_000], data: new Uint8Array(4_400_000) }
    expect([...chunkTensorBytes([big])].map((c) => c.byteLength)).toEqual([4 * 1024 * 1024, 4_400_000 - 4 * 1024 * 1024])
  })

  it('refuses a checkpoint that does not fit the model, saying what it found', async () => {
    const { model, trainer } = await trained(4, 1)
    const checkpoint = await captureCheckpoint(trainer, context())
    const without = (name: string): Checkpoint => ({ ...checkpoint, tensors: checkpoint.tensors.filter((t) => t.name !== name) })
    expect(() => restoreCheckpoint(trainer, without(`${ADAM_M_PREFIX}cls.bias`))).toThrow('The checkpoint has no Adam m optimizer/m/cls.bias')
    const reshaped: Checkpoint = {
      ...checkpoint,
      tensors: checkpoint.tensors.map((t) => (t.name === 'cls.weight' ? { ...t, shape: [3, 8] } : t)),
    }
    expect(() => restoreCheckpoint(trainer, reshaped)).toThrow('weight cls.weight has shape [3, 8] in the checkpoint, expected [8, 3]')
    const extra: Checkpoint = { ...checkpoint, tensors: [...checkpoint.tensors, { name: 'pooler.dense.weight', dtype: 'float32', shape: [1], data: new Uint8Array(4) }] }
    expect(() => restoreCheckpoint(trainer, extra)).toThrow('The checkpoint has a tensor pooler.dense.weight, which the model does not have')
    const serialized = serializeCheckpoint(checkpoint)
    expect(() => deserializeCheckpoint(serialized.manifestJson, [])).toThrow(/chunks hold 0 bytes, expected \d+/)
    expect(() => deserializeCheckpoint('{"format":"other"}', [])).toThrow(`format is "other", expected "bert-studio-checkpoint"`)
    expect(() => assertResumable(checkpoint.manifest, { datasetHash: 'sha256:data', tokenizerHash: 'sha256:tok' })).not.toThrow()
    expect(() => assertResumable(checkpoint.manifest, { datasetHash: 'sha256:data', tokenizerHash: 'sha256:new' })).toThrow(
      'The checkpoint of step 1 was written with tokenizer hash sha256:tok, but the run now has sha256:new; resume needs the same tokenizer',
    )
    // A checkpoint an earlier build wrote carries that build's hash of the same data.
    expect(() => assertResumable(checkpoint.manifest, { datasetHash: 'sha256:moved', tokenizerHash: 'sha256:tok', formerDatasetHash: 'sha256:data' })).not.toThrow()
    expect(() => assertResumable(checkpoint.manifest, { datasetHash: 'sha256:moved', tokenizerHash: 'sha256:tok', formerDatasetHash: 'sha256:other' })).toThrow(
      'The checkpoint of step 1 was written with dataset hash sha256:data, but the run now has sha256:moved; resume needs the same dataset',
    )
    trainer.dispose()
    model.dispose()
  })
})
