/**
 * A tiny stand-in for BertForPreTraining: a two-layer classifier over float features with
 * Hugging Face-style names (so weight decay exclusion applies), seeded dropout, and a mean
 * cross-entropy loss reported as the MLM loss. Enough for the trainer, which knows only a loss.
 */
import * as tf from '@tensorflow/tfjs'
import type { PretrainOutputs, TrainableModel } from '../../../src-main/core/train/types.ts'

export interface ToyBatch {
  batchSize: number
  /** [B*D] features. */
  x: Float32Array
  /** [B] class ids. */
  y: Int32Array
}

export interface ToyOptions {
  inputs?: number
  hidden?: number
  classes?: number
  dropout?: number
}

export class ToyModel implements TrainableModel<ToyBatch> {
  readonly variables: Map<string, tf.Variable>
  readonly inputs: number
  readonly classes: number
  private readonly dropout: number

  constructor(seed: number, options: ToyOptions = {}) {
    const inputs = (this.inputs = options.inputs ?? 4)
    const hidden = options.hidden ?? 8
    const classes = (this.classes = options.classes ?? 3)
    this.dropout = options.dropout ?? 0.1
    const init = (shape: number[], offset: number) => tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', seed * 100 + offset), true)
    this.variables = new Map([
      ['bert.dense.weight', init([inputs, hidden], 1)],
      ['bert.dense.bias', init([hidden], 2)],
      ['bert.LayerNorm.weight', tf.variable(tf.ones([hidden]), true)],
      ['cls.weight', init([hidden, classes], 3)],
      ['cls.bias', tf.variable(tf.zeros([classes]), true)],
    ])
  }

  forward(batch: ToyBatch, options: { training: boolean; dropoutSeed?: number }): PretrainOutputs {
    const v = (name: string) => this.variables.get(name)!
    const x = tf.tensor2d(batch.x, [batch.batchSize, this.inputs]) // (B, D)
    let h = tf.mul(tf.tanh(tf.add(tf.matMul(x, v('bert.dense.weight')), v('bert.dense.bias'))), v('bert.LayerNorm.weight')) // (B, H)
    if (options.training && this.dropout > 0) h = tf.dropout(h, this.dropout, undefined, options.dropoutSeed)
    const logits = tf.add(tf.matMul(h, v('cls.weight')), v('cls.bias')) // (B, C)
    const labels = tf.oneHot(tf.tensor1d(batch.y, 'int32'), this.classes)
    const loss = tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(batch.y, 'int32')), 'float32')) as tf.Scalar
    return {
      loss,
      mlmLoss: loss,
      nspLoss: tf.scalar(0),
      mlmCorrect: correct,
      mlmCount: tf.scalar(batch.batchSize),
      nspCorrect: tf.scalar(0),
    }
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose()
  }
}

/** A deterministic batch: the same (step, index, size) always gives the same examples. */
export function toyBatch(step: number, index: number, size: number, inputs = 4, classes = 3): ToyBatch {
  let state = (step * 7919 + index * 104729 + 1) >>> 0
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
  const x = new Float32Array(size * inputs)
  const y = new Int32Array(size)
  for (let b = 0; b < size; b++) {
    for (let d = 0; d < inputs; d++) x[b * inputs + d] = next() * 2 - 1
    // A learnable rule: the class is which third the first feature falls in.
    y[b] = Math.min(classes - 1, Math.floor(((x[b * inputs]! + 1) / 2) * classes))
  }
  return { batchSize: size, x, y }
}

/** Concatenates batches into one (the big batch that accumulation must match). */
export function joinBatches(batches: readonly ToyBatch[], inputs = 4): ToyBatch {
  const size = batches.reduce((n, b) => n + b.batchSize, 0)
  const x = new Float32Array(size * inputs)
  const y = new Int32Array(size)
  let at = 0
  for (const batch of batches) {
    x.set(batch.x, at * inputs)
    y.set(batch.y, at)
    at += batch.batchSize
  }
  return { batchSize: size, x, y }
}

/** Every variable's float32 bytes, by name (for bit-exact comparisons). */
export async function weightBytes(variables: ReadonlyMap<string, tf.Variable>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>()
  for (const [name, variable] of variables) {
    const values = (await variable.data()) as Float32Array
    out.set(name, new Uint8Array(values.slice().buffer))
  }
  return out
}
