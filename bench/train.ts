/**
 * `npm run bench -- train [--preset tiny|mini|small] [--seq 128] [--batch 32] [--micro-batch N]
 *  [--steps 5] [--warmup 1] [--workers 1|2] [--vocab 30522] [--backend wasm|cpu|…] [--profile]`
 *
 * Times pre-training steps (MLM on round(0.15·seq) gathered positions + NSP, AdamW, clipping) of
 * BertForPreTraining on synthetic batches with real batch shapes: full-length sequences, two
 * segments, 15% of positions masked (distinct, never [CLS]), NSP labels alternating. With
 * `--workers 2` a peer thread (out/main/peer.js) trains a replica on half the micro-batches.
 * `--profile` adds the kernels of one step by total time (tf.profile).
 */
import * as tf from '@tensorflow/tfjs'
import { initBackend, type BackendChoice } from '../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../src-main/core/model/bert.ts'
import { presetConfig, type BertPresetName } from '../src-main/core/model/config.ts'
import { parseTrainConfig } from '../src-main/core/train/config.ts'
import { Trainer } from '../src-main/core/train/trainer.ts'
import type { PretrainBatch } from '../src-main/core/train/types.ts'
import { parallelTrainConfig, ReplicaGroup } from '../src-main/worker/replicas.ts'

export interface TrainBenchOptions {
  preset: BertPresetName
  seqLength: number
  batchSize: number
  microBatchSize?: number
  steps: number
  warmup: number
  workers: number
  vocab: number
  backend: BackendChoice
  profile: boolean
  seed: number
}

/** A batch shaped like the pipeline's: P = round(0.15·T) distinct masked positions per example. */
export function syntheticPretrainBatch(batchSize: number, seqLength: number, vocab: number, seed: number): PretrainBatch {
  let state = (seed * 2654435761) >>> 0 || 1
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
  const P = Math.max(1, Math.round(seqLength * 0.15))
  const N = batchSize * seqLength
  const maskedPositions = new Int32Array(batchSize * P)
  for (let b = 0; b < batchSize; b++) {
    const chosen = new Set<number>()
    while (chosen.size < Math.min(P, seqLength - 1)) chosen.add(1 + Math.floor(next() * (seqLength - 1)))
    const sorted = [...chosen].sort((x, y) => x - y)
    for (let p = 0; p < P; p++) maskedPositions[b * P + p] = sorted[p] ?? 0
  }
  return {
    batchSize,
    seqLength,
    maxPredictions: P,
    inputIds: Int32Array.from({ length: N }, () => 5 + Math.floor(next() * (vocab - 5))),
    tokenTypeIds: Int32Array.from({ length: N }, (_, i) => (i % seqLength < seqLength / 2 ? 0 : 1)),
    attentionMask: new Int32Array(N).fill(1),
    maskedPositions,
    maskedIds: Int32Array.from({ length: batchSize * P }, () => 5 + Math.floor(next() * (vocab - 5))),
    maskedWeights: new Float32Array(batchSize * P).fill(1),
    nextSentenceLabels: Int32Array.from({ length: batchSize }, (_, i) => i % 2),
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export async function trainBench(options: TrainBenchOptions): Promise<object> {
  const selection = await initBackend(options.backend, { STUDIO_BACKEND: options.backend })
  const modelConfig = presetConfig(options.preset, options.vocab, { max_position_embeddings: Math.max(512, options.seqLength) })
  const micro = options.microBatchSize ?? options.batchSize
  const requested = parseTrainConfig({ batchSize: options.batchSize, microBatchSize: micro, steps: 1_000_000, seed: options.seed })
  const train = options.workers > 1 ? parallelTrainConfig(requested, options.workers) : requested
  const model = new BertForPreTraining(modelConfig, { seed: options.seed })
  const replicas = options.workers > 1 ? new ReplicaGroup(options.workers) : null
  const trainer = new Trainer<PretrainBatch>(model, train, { totalSteps: 1_000_000, ...(replicas ? { parallel: replicas } : {}) })
  await replicas?.start(trainer, { backend: options.backend, modelConfig })
  const k = train.batchSize / train.microBatchSize
  const batchesFor = (step: number) => Array.from({ length: k }, (_, i) => syntheticPretrainBatch(train.microBatchSize, options.seqLength, options.vocab, step * 1000 + i + 1))
  const times: number[] = []
  const losses: number[] = []
  let profile: object | undefined
  try {
    for (let step = 0; step < options.warmup + options.steps; step++) {
      const batches = batchesFor(step)
      const started = performance.now()
      const result = await trainer.step(batches)
      const elapsed = performance.now() - started
      losses.push(result.metrics.loss)
      if (step >= options.warmup) times.push(elapsed)
    }
    if (options.profile && !replicas) {
      const batches = batchesFor(999)
      const info = await tf.profile(async () => {
        await trainer.step(batches)
      })
      const byKernel = new Map<string, { ms: number; count: number }>()
      let total = 0
      for (const kernel of info.kernels) {
        const ms = Number(await kernel.kernelTimeMs)
        const shapeKey = kernel.name === 'BatchMatMul' || kernel.name === '_FusedMatMul' ? `${kernel.name} ${JSON.stringify(kernel.inputShapes)}` : kernel.name
        const entry = byKernel.get(shapeKey) ?? { ms: 0, count: 0 }
        entry.ms += ms
        entry.count += 1
        byKernel.set(shapeKey, entry)
        total += ms
      }
      profile = {
        kernel_ms_total: Math.round(total),
        top: [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25).map(([name, e]) => ({ name, ms: Math.round(e.ms), count: e.count })),
      }
    }
  } finally {
    await replicas?.close()
  }
  const stepMs = median(times)
  const memory = tf.memory() as tf.MemoryInfo & { unreliable?: boolean }
  trainer.dispose()
  model.dispose()
  return {
    bench: 'train',
    backend: selection.backend,
    preset: options.preset,
    layers: modelConfig.num_hidden_layers,
    hidden: modelConfig.hidden_size,
    heads: modelConfig.num_attention_heads,
    vocab: options.vocab,
    seq: options.seqLength,
    batch: options.batchSize,
    micro_batch: train.microBatchSize,
    workers: options.workers,
    steps: options.steps,
    step_ms: Math.round(stepMs),
    step_ms_all: times.map((t) => Math.round(t)),
    tokens_per_s: Math.round((options.batchSize * options.seqLength * 1000) / stepMs),
    losses: losses.map((l) => Number(l.toFixed(5))),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    tf_memory: { numTensors: memory.numTensors, numBytes: memory.numBytes },
    ...(profile ? { profile } : {}),
  }
}
