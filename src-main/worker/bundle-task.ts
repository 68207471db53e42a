/**
 * Training bundles (issue #9), in the worker: a pre-training run's remaining job written out for
 * PyTorch's distributed training (resources/bundle/train.py), and a bundle's output folder brought
 * back as a run.
 *
 * The bundle holds the studio's own training instances, drawn from the run's data generator from
 * its checkpoint's position, step by step and micro-batch by micro-batch, exactly as the run loop
 * would have drawn them; so train.py needs no tokenizer, no masking code and no data order of its
 * own, and its curve is the studio's. Each instance carries its share of the studio's objective
 * (the MLM loss is normalised per micro-batch, then averaged over the step's micro-batches), so any
 * split of a step over processes sums to the same loss.
 */
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type Database from 'better-sqlite3'
import { notFound, StudioError } from '../core/errors.ts'
import { PretrainDataGenerator, type DataPosition } from '../core/data/index.ts'
import { exportHuggingFace, importHuggingFace, writeSafetensors, type WeightArray } from '../core/io/index.ts'
import { assertLittleEndian, fsyncPath, transpose2d } from '../core/io/files.ts'
import { BertForPreTraining, isDenseKernel } from '../core/model/bert.ts'
import { bertConfigToJson } from '../core/model/config.ts'
import { BertTokenizer } from '../core/tokenizer/index.ts'
import { ADAM_M_PREFIX, ADAM_V_PREFIX, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, engineVersions, layout, serializeCheckpoint, toFloat32, type TensorRecord } from '../core/train/checkpoint.ts'
import type { BertConfig, PretrainBatch } from '../core/train/types.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import { checkpointWeights } from './export-task.ts'
import { ensureBackend, ensureTokenCache, loadRunInputs, openDatabase, parentCheckpoint, pretrainDatasetHash, type DatabaseInput, type StoredPretrainConfig } from './pretrain-task.ts'
import type { TaskContext } from './tasks.ts'

export const BUNDLE_FORMAT = 'bert-studio-bundle'
export const BUNDLE_VERSION = 1
/** Target size of a data shard: big enough to read in one go, small enough to hold in memory. */
const SHARD_BYTES = 64 * 1024 * 1024

/** The instance columns of a shard, one after another, each [instances, width] little-endian. */
export const SHARD_FIELDS = [
  { name: 'input_ids', dtype: 'int32', width: 'seq' },
  { name: 'masked_lm_positions', dtype: 'int32', width: 'predictions' },
  { name: 'masked_lm_ids', dtype: 'int32', width: 'predictions' },
  { name: 'masked_lm_weights', dtype: 'float32', width: 'predictions' },
  { name: 'mlm_scale', dtype: 'float32', width: 'one' },
  { name: 'nsp_scale', dtype: 'float32', width: 'one' },
  { name: 'token_type_ids', dtype: 'uint8', width: 'seq' },
  { name: 'attention_mask', dtype: 'uint8', width: 'seq' },
  { name: 'next_sentence_labels', dtype: 'uint8', width: 'one' },
] as const

/** bundle.json: what train.py runs and what import-results needs to make a run of its output. */
export interface BundleJson {
  format: typeof BUNDLE_FORMAT
  version: typeof BUNDLE_VERSION
  created_at: string
  studio_version: string
  kind: 'pretrain'
  source: {
    project_id: number
    run_id: number
    run_name: string
    corpus_id: number
    tokenizer_id: number | null
    tokenizer_hash: string
    dataset_hash: string
  }
  train: {
    learning_rate: number
    warmup_fraction: number
    beta1: number
    beta2: number
    epsilon: number
    weight_decay: number
    max_grad_norm: number
    batch_size: number
    /** The studio's micro-batch: the unit its MLM loss is normalised over. */
    micro_batch_size: number
    seed: number
    total_steps: number
    from_step: number
    optimizer_step: number
    validate_every: number
    checkpoint_every: number
    keep_last: number
  }
  /** The run's stored config as the studio keeps it (request, train, data), for the imported run. */
  studio: StoredPretrainConfig
}

export interface BundleTaskInput extends DatabaseInput {
  runId: number
  dir: string
  cacheDir: string
  studioVersion: string
}

export interface BundleTaskOutput {
  dir: string
  fromStep: number
  totalSteps: number
  instances: number
  validationInstances: number
  bytes: number
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')
const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url))

/** resources/bundle/ (train.py), found by walking up from this file (source, out/main or out/main/chunks). */
export function bundleResources(): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'resources', 'bundle')
    if (existsSync(join(candidate, 'train.py'))) return candidate
    if (dirname(dir) === dir) break
  }
  throw new StudioError('INTERNAL', `resources/bundle/train.py is missing (looked above ${here})`)
}

/** Accumulates instances column by column and writes them as one shard file. */
class ShardWriter {
  private readonly columns: { name: string; data: Int32Array | Float32Array | Uint8Array; width: number }[]
  count = 0

  constructor(
    readonly capacity: number,
    readonly seq: number,
    readonly predictions: number,
  ) {
    this.columns = SHARD_FIELDS.map((field) => {
      const width = field.width === 'seq' ? seq : field.width === 'predictions' ? predictions : 1
      const size = capacity * width
      const data = field.dtype === 'int32' ? new Int32Array(size) : field.dtype === 'float32' ? new Float32Array(size) : new Uint8Array(size)
      return { name: field.name, data, width }
    })
  }

  private column(name: string) {
    return this.columns.find((c) => c.name === name)!
  }

  /** Row `row` of `batch`, with its shares of the objective. */
  add(batch: PretrainBatch, row: number, mlmScale: number, nspScale: number): void {
    const T = batch.seqLength
    const P = batch.maxPredictions
    if (T !== this.seq || P !== this.predictions) throw new StudioError('INTERNAL', `A batch of shape ${T}/${P}, expected ${this.seq}/${this.predictions}`)
    const i = this.count++
    const put = (name: string, source: ArrayLike<number>, from: number, width: number) => {
      const target = this.column(name).data
      for (let k = 0; k < width; k++) target[i * width + k] = source[from + k]!
    }
    put('input_ids', batch.inputIds, row * T, T)
    put('token_type_ids', batch.tokenTypeIds, row * T, T)
    put('attention_mask', batch.attentionMask, row * T, T)
    put('masked_lm_positions', batch.maskedPositions, row * P, P)
    put('masked_lm_ids', batch.maskedIds, row * P, P)
    put('masked_lm_weights', batch.maskedWeights, row * P, P)
    this.column('next_sentence_labels').data[i] = batch.nextSentenceLabels[row]!
    this.column('mlm_scale').data[i] = mlmScale
    this.column('nsp_scale').data[i] = nspScale
  }

  /** Writes the shard (only its filled rows) and returns its size and checksum. */
  write(path: string): { bytes: number; sha256: string } {
    const hash = createHash('sha256')
    const fd = openSync(path, 'w')
    let bytes = 0
    try {
      for (const column of this.columns) {
        const used = column.data.subarray(0, this.count * column.width)
        const view = new Uint8Array(used.buffer, used.byteOffset, used.byteLength)
        hash.update(view)
        for (let at = 0; at < view.byteLength; ) at += writeSync(fd, view, at, view.byteLength - at)
        bytes += view.byteLength
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.count = 0
    return { bytes, sha256: hash.digest('hex') }
  }
}

const bytesPerInstance = (seq: number, predictions: number) => 4 * seq + 12 * predictions + 8 + 2 * seq + 1

/** Sums the micro-batch's MLM weights: its instances' MLM share is 1 / (micro-batches × (Σw + 1e-5)). */
function weightSum(batch: PretrainBatch): number {
  let sum = 0
  for (const w of batch.maskedWeights) sum += w
  return sum
}

const tick = () => new Promise<void>((resolveTick) => setImmediate(resolveTick))

/** Writes the bundle for run `runId` into `dir` (which must not exist), all or nothing. */
export async function bundleTask(input: BundleTaskInput, context: TaskContext): Promise<BundleTaskOutput> {
  assertLittleEndian()
  await ensureBackend()
  const target = resolve(input.dir)
  if (existsSync(target)) throw new StudioError('CONFLICT', `${target} already exists; a bundle never overwrites a folder`)
  const db = openDatabase(input, true)
  let cache = null as Awaited<ReturnType<typeof ensureTokenCache>> | null
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const inputs = loadRunInputs(db, input.runId)
    const { run, stored, tokenizer, tokenizerHash, modelConfig } = inputs
    if (run.kind !== 'pretrain') throw new StudioError('UNSUPPORTED', `Run ${run.id} is a ${run.kind} run: only pre-training runs can be sent elsewhere for now`)
    if (run.corpusId === null) throw new StudioError('CONFLICT', `Run ${run.id} has no corpus (an imported model, or its corpus was deleted): there is nothing to train on`)
    cache = await ensureTokenCache(db, input, inputs, input.cacheDir, context)
    const latest = runStore.loadLatestCheckpoint(db, run.id)
    const position = (latest?.checkpoint.manifest.dataPosition as DataPosition | undefined) ?? undefined
    const data = new PretrainDataGenerator(cache, tokenizer, stored.data, position)
    const train = stored.train
    const totalSteps = stored.totalSteps ?? Math.max(1, Math.ceil((train.epochs ?? 1) * data.stepsPerEpoch(train.batchSize)))
    const fromStep = latest?.checkpoint.manifest.step ?? 0
    if (fromStep >= totalSteps) throw new StudioError('CONFLICT', `Run ${run.id} has done all of its ${totalSteps} steps: there is nothing left to train`)
    const datasetHash = pretrainDatasetHash(cache, tokenizerHash)

    mkdirSync(dirname(target), { recursive: true })
    mkdirSync(join(temp, 'data'), { recursive: true })

    // The starting weights: the checkpoint's, a continued pre-training's parent's (with a fresh
    // optimizer), or the studio's own seeded initialisation.
    context.progress({ phase: 'Writing the model', done: 0, total: 1, items: 0 })
    let weights: Map<string, WeightArray>
    let moments: { m: Map<string, WeightArray>; v: Map<string, WeightArray> } | null = null
    if (latest) {
      weights = checkpointWeights(latest.checkpoint.tensors)
      moments = adamMoments(latest.checkpoint.tensors)
    } else {
      const fresh = new BertForPreTraining(modelConfig, { seed: train.seed })
      try {
        if (stored.init) {
          weights = checkpointWeights(parentCheckpoint(db, stored.init).tensors)
          const missing = [...fresh.variables.keys()].filter((name) => !weights.has(name))
          if (missing.length > 0) throw new StudioError('CONFLICT', `Run ${stored.init.runId}'s checkpoint lacks ${missing.join(', ')}`)
        } else {
          weights = new Map([...fresh.variables].map(([name, variable]) => [name, { shape: [...variable.shape], data: variable.dataSync() as Float32Array }]))
        }
      } finally {
        fresh.dispose()
      }
    }
    exportHuggingFace(join(temp, 'model'), { weights, bertConfig: modelConfig, architecture: 'BertForPreTraining', tokenizerSpec: tokenizer.spec })
    if (moments) writeMoments(join(temp, 'model', 'optimizer.safetensors'), moments)

    // The training instances, step by step, as the run loop draws them.
    const micro = train.microBatchSize
    const micros = train.batchSize / micro
    const first = data.nextBatch(micro).batch
    const P = first.maxPredictions
    const perShard = Math.max(train.batchSize, Math.floor(SHARD_BYTES / bytesPerInstance(first.seqLength, P) / train.batchSize) * train.batchSize)
    const writer = new ShardWriter(perShard, first.seqLength, P)
    const trainShards: { file: string; first_step: number; steps: number; instances: number; bytes: number; sha256: string }[] = []
    let shardFirstStep = fromStep
    let pending: PretrainBatch | null = first
    let instances = 0
    const flush = (upTo: number) => {
      const file = `data/train-${String(trainShards.length).padStart(5, '0')}.bin`
      const count = writer.count
      const written = writer.write(join(temp, file))
      trainShards.push({ file, first_step: shardFirstStep, steps: upTo - shardFirstStep, instances: count, ...written })
      shardFirstStep = upTo
    }
    for (let step = fromStep; step < totalSteps; step++) {
      for (let m = 0; m < micros; m++) {
        const batch: PretrainBatch = pending ?? data.nextBatch(micro).batch
        pending = null
        const mlmScale = 1 / (micros * (weightSum(batch) + 1e-5))
        const nspScale = 1 / (micros * batch.batchSize)
        for (let row = 0; row < batch.batchSize; row++) writer.add(batch, row, mlmScale, nspScale)
        instances += batch.batchSize
      }
      if (writer.count + train.batchSize > perShard) flush(step + 1)
      if ((step - fromStep) % 50 === 49) {
        context.progress({ phase: 'Writing the training data', done: step + 1 - fromStep, total: totalSteps - fromStep, items: instances })
        await tick()
        if (context.signal.aborted) throw new StudioError('CANCELLED', 'Cancelled')
      }
    }
    if (writer.count > 0) flush(totalSteps)

    // The held-out instances the studio validates on, each with its share of the mean over batches.
    const validationBatches = [...data.validationBatches(micro, train.validation.maxBatches ?? undefined)]
    const validationWriter = new ShardWriter(Math.max(1, validationBatches.reduce((n, b) => n + b.batchSize, 0)), first.seqLength, P)
    for (const batch of validationBatches) {
      const mlmScale = 1 / (validationBatches.length * (weightSum(batch) + 1e-5))
      const nspScale = 1 / (validationBatches.length * batch.batchSize)
      for (let row = 0; row < batch.batchSize; row++) validationWriter.add(batch, row, mlmScale, nspScale)
    }
    const validationInstances = validationWriter.count
    const validationShards = validationInstances > 0 ? [{ file: 'data/validation-00000.bin', instances: validationInstances, ...validationWriter.write(join(temp, 'data/validation-00000.bin')) }] : []

    const manifest = {
      format: 'bert-studio-bundle-shards',
      version: 1,
      byte_order: 'little',
      seq_length: first.seqLength,
      max_predictions: P,
      batch_size: train.batchSize,
      fields: SHARD_FIELDS,
      train: { instances, steps: totalSteps - fromStep, shards: trainShards },
      validation: { instances: validationInstances, batches: validationBatches.length, shards: validationShards },
    }
    writeFileSync(join(temp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
    const bundle: BundleJson = {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      created_at: new Date().toISOString(),
      studio_version: input.studioVersion,
      kind: 'pretrain',
      source: { project_id: run.projectId, run_id: run.id, run_name: run.name, corpus_id: run.corpusId, tokenizer_id: run.tokenizerId, tokenizer_hash: tokenizerHash, dataset_hash: datasetHash },
      train: {
        learning_rate: train.optimizer.learningRate,
        warmup_fraction: train.schedule.warmupFraction,
        beta1: train.optimizer.beta1,
        beta2: train.optimizer.beta2,
        epsilon: train.optimizer.epsilon,
        weight_decay: train.optimizer.weightDecay,
        max_grad_norm: train.maxGradNorm,
        batch_size: train.batchSize,
        micro_batch_size: micro,
        seed: train.seed,
        total_steps: totalSteps,
        from_step: fromStep,
        optimizer_step: latest?.checkpoint.manifest.optimizerStep ?? 0,
        validate_every: train.validation.intervalSteps,
        checkpoint_every: train.checkpoint.intervalSteps,
        keep_last: Math.max(train.checkpoint.keepLast, 3),
      },
      studio: { ...stored, totalSteps },
    }
    writeFileSync(join(temp, 'bundle.json'), JSON.stringify(bundle, null, 2) + '\n')
    copyFileSync(join(bundleResources(), 'train.py'), join(temp, 'train.py'))
    writeFileSync(join(temp, 'README.md'), bundleReadme(bundle, basename(target), first.seqLength, modelConfig.hidden_dropout_prob))
    for (const name of ['manifest.json', 'bundle.json', 'train.py', 'README.md']) fsyncPath(join(temp, name))
    fsyncPath(join(temp, 'data'))
    fsyncPath(temp)
    if (existsSync(target)) throw new StudioError('CONFLICT', `${target} already exists; a bundle never overwrites a folder`)
    renameSync(temp, target)
    fsyncPath(dirname(target))
    return { dir: target, fromStep, totalSteps, instances, validationInstances, bytes: folderBytes(target) }
  } catch (error) {
    rmSync(temp, { recursive: true, force: true })
    throw error
  } finally {
    cache?.close()
    db.close()
  }
}

function adamMoments(tensors: readonly TensorRecord[]): { m: Map<string, WeightArray>; v: Map<string, WeightArray> } | null {
  const m = new Map<string, WeightArray>()
  const v = new Map<string, WeightArray>()
  for (const tensor of tensors) {
    if (tensor.name.startsWith(ADAM_M_PREFIX)) m.set(tensor.name.slice(ADAM_M_PREFIX.length), { shape: [...tensor.shape], data: toFloat32(tensor.data) })
    else if (tensor.name.startsWith(ADAM_V_PREFIX)) v.set(tensor.name.slice(ADAM_V_PREFIX.length), { shape: [...tensor.shape], data: toFloat32(tensor.data) })
  }
  return m.size > 0 ? { m, v } : null
}

/** Adam's moments by Hugging Face name and orientation (dense kernels [out, in], like the weights). */
function writeMoments(path: string, moments: { m: Map<string, WeightArray>; v: Map<string, WeightArray> }): void {
  const entries = (prefix: string, source: Map<string, WeightArray>) =>
    [...source].map(([name, value]) => {
      const dense = isDenseKernel(name) && value.shape.length === 2
      return {
        name: `${prefix}.${name}`,
        shape: dense ? [value.shape[1]!, value.shape[0]!] : [...value.shape],
        data: () => (dense ? transpose2d(value.data, value.shape[0]!, value.shape[1]!) : value.data),
      }
    })
  writeSafetensors(path, [...entries('exp_avg', moments.m), ...entries('exp_avg_sq', moments.v)], { format: 'pt' })
}

/** Bytes under `dir`, leaving out the entry named `skip` (a bundle's output/). */
export function folderBytes(dir: string, skip?: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === skip) continue
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size
  }
  return total
}

/** The divisors of the batch up to 64: the process counts a bundle can run on. */
function processCounts(batch: number): number[] {
  return Array.from({ length: Math.min(64, batch) }, (_, i) => i + 1).filter((n) => batch % n === 0)
}

export function bundleCommand(name: string): string {
  return `cd ${JSON.stringify(name)} && torchrun --standalone --nproc_per_node gpu train.py`
}

function bundleReadme(bundle: BundleJson, name: string, seq: number, dropout: number): string {
  const t = bundle.train
  return `# ${bundle.source.run_name}: a BERT Studio training bundle

Pre-training of the studio's run **${bundle.source.run_name}** (run ${bundle.source.run_id}), steps ${t.from_step + 1}–${t.total_steps}
of ${t.total_steps}, for PyTorch's distributed training. Made by BERT Studio ${bundle.studio_version} on ${bundle.created_at}.

## Run it

Needs Python 3 and PyTorch (any version from 1.13; nothing else). Copy this whole folder to the
machine, then from inside it:

| where | command |
|---|---|
| one machine, every GPU | \`torchrun --standalone --nproc_per_node gpu train.py\` |
| one machine, N GPUs | \`torchrun --standalone --nproc_per_node N train.py\` |
| M machines, N GPUs each (on machine R = 0…M-1) | \`torchrun --nnodes M --node_rank R --nproc_per_node N --master_addr HOST0 --master_port 29500 train.py\` |
| one process, CPU or one GPU | \`python3 train.py\` |
| CPU processes (gloo), e.g. 2 | \`torchrun --standalone --nproc_per_node 2 train.py --device cpu\` |

The global batch is the studio's (${t.batch_size} sequences of ${seq} tokens), cut evenly across the
processes, so the number of processes must divide it: ${processCounts(t.batch_size).join(', ')}. A process
that cannot hold its share at once takes it in pieces: \`--micro-batch K\` (the update stays the same).
GPUs use NCCL, CPUs gloo. \`--bf16\` runs the GPU's matrix work in bfloat16 (faster; the results then
differ from the studio's in the last digits). \`--max-steps N\` stops after step N (the learning-rate
schedule stays the one for ${t.total_steps} steps).

It writes into \`output/\`: \`metrics.jsonl\` (one JSON line per value: run_id, step, split, name, value,
time — the format of \`npx bert-studio metrics\`) and \`checkpoint-N/\` every ${t.checkpoint_every} steps and at the
end (the last ${t.keep_last} are kept), each a Hugging Face folder (model.safetensors, config.json, the tokenizer,
optimizer.pt, trainer_state.json) written aside and renamed into place. **Stopped or killed, run the
same command again: it resumes from the latest checkpoint.** At the end each process writes
\`final-weights-rankR.sha256\`; they are all the same when the processes agree.

## Bring the results back

Copy \`output/\` back to the studio's machine (or leave it here when the studio runs here), then:

- in the studio: Runs → **Bundles…** → **Import results** (or "Import an output folder…");
- or: \`npx bert-studio import-results ${name}/output\` (prints \`{"run_id": …}\`).

The run appears with its curves beside the local runs and its checkpoints, ready to fine-tune,
evaluate or export.

## What is in here

- \`bundle.json\` — the training configuration (learning rate ${t.learning_rate}, ${Math.round(t.warmup_fraction * 100)}% warm-up then linear decay,
  AdamW β ${t.beta1}/${t.beta2}, ε ${t.epsilon}, weight decay ${t.weight_decay} off biases and LayerNorm, clipping at ${t.max_grad_norm},
  seed ${t.seed}) and where it came from.
- \`manifest.json\` — the data shards with their SHA-256 (checked as they are read).
- \`data/\` — the studio's own training instances, already tokenised and masked, in the order the
  studio would have used them (input ids, segment ids, attention masks, masked positions, labels and
  weights, next-sentence labels), and the held-out instances it validates on.
- \`model/\` — config.json, the starting weights (model.safetensors)${t.from_step > 0 ? ', the optimizer state at step ' + t.from_step + ' (optimizer.safetensors)' : ''} and the tokenizer.
- \`train.py\` — the trainer (plain PyTorch; the same model, objective, optimizer and schedule as the studio).

${
    dropout > 0
      ? `The model trains with dropout ${dropout}: each process draws its own dropout masks, so runs with different
process counts agree in distribution, not digit for digit (with dropout 0 they give the same loss at every step).`
      : 'Dropout is 0: runs with any process count give the same loss at every step, up to float rounding.'
  }
`
}

// ---------------------------------------------------------------------------------------------
// Bringing results back

export interface ImportResultsTaskInput extends DatabaseInput {
  projectId: number
  output: string
  name: string | null
  studioVersion: string
}

export interface ImportResultsTaskOutput {
  runId: number
  steps: number
  checkpoints: number[]
  metricRows: number
}

interface MetricLine {
  step: number
  split: 'train' | 'validation'
  name: string
  value: number | null
  time: number
}

/** metrics.jsonl, checked line by line (a last line cut by a kill is dropped, as train.py does). */
export function readMetricsJsonl(path: string): MetricLine[] {
  if (!existsSync(path)) return []
  const lines = readFileSync(path, 'utf8').split('\n')
  const rows: MetricLine[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      if (i >= lines.length - 2) break // the cut last line of a killed job
      throw new StudioError('BAD_INPUT', `${path}:${i + 1}: not a JSON object`)
    }
    const row = value as Record<string, unknown>
    const ok =
      typeof row === 'object' &&
      row !== null &&
      Number.isInteger(row.step) &&
      (row.step as number) >= 0 &&
      (row.split === 'train' || row.split === 'validation') &&
      typeof row.name === 'string' &&
      /^[A-Za-z0-9_.-]{1,64}$/.test(row.name) &&
      (row.value === null || typeof row.value === 'number') &&
      typeof row.time === 'number'
    if (!ok) throw new StudioError('BAD_INPUT', `${path}:${i + 1}: expected {"step": integer, "split": "train"|"validation", "name": text, "value": number|null, "time": seconds}`)
    rows.push({ step: row.step as number, split: row.split as 'train' | 'validation', name: row.name as string, value: row.value as number | null, time: row.time as number })
  }
  return rows
}

/** checkpoint-N folders that are complete (renamed into place with their trainer_state.json), by step. */
export function outputCheckpoints(output: string): { step: number; dir: string }[] {
  if (!existsSync(output)) return []
  return readdirSync(output)
    .map((name) => /^checkpoint-(\d+)$/.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ step: Number(match[1]), dir: join(output, match[0]) }))
    .filter(({ dir }) => existsSync(join(dir, 'trainer_state.json')) && existsSync(join(dir, 'model.safetensors')))
    .sort((a, b) => a.step - b.step)
}

export function readBundleJson(path: string): BundleJson {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new StudioError(code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', code === 'ENOENT' ? `${path} is missing: is this a bundle's output folder?` : `${path}: not valid JSON (${(error as Error).message})`)
  }
  const bundle = parsed as BundleJson
  if (bundle?.format !== BUNDLE_FORMAT || bundle.version !== BUNDLE_VERSION) {
    throw new StudioError('BAD_INPUT', `${path}: format ${JSON.stringify(bundle?.format)} version ${JSON.stringify(bundle?.version)}, expected ${BUNDLE_FORMAT} version ${BUNDLE_VERSION}`)
  }
  return bundle
}

const sameConfig = (a: BertConfig, b: BertConfig) => bertConfigToJson(a) === bertConfigToJson(b)

/** A bundle's output folder → a pre-training run with its curves and checkpoints, in one transaction. */
export async function importResultsTask(input: ImportResultsTaskInput, context: TaskContext): Promise<ImportResultsTaskOutput> {
  const output = resolve(input.output)
  if (!existsSync(output) || !statSync(output).isDirectory()) throw notFound(`${output} is not a folder: pick a bundle's output folder (it holds metrics.jsonl and checkpoint-N folders)`)
  const bundle = readBundleJson(join(output, 'bundle.json'))
  const checkpoints = outputCheckpoints(output)
  if (checkpoints.length === 0) throw new StudioError('CONFLICT', `${output} has no complete checkpoint yet (checkpoint-N folders): let train.py reach its first checkpoint`)
  const metrics = readMetricsJsonl(join(output, 'metrics.jsonl'))
  const lastStep = checkpoints[checkpoints.length - 1]!.step

  const db = openDatabase(input)
  try {
    const source = runStore.getRun(db, bundle.source.run_id)
    const fromSameProject = source !== undefined && source.projectId === input.projectId
    const tensorsByStep: { step: number; tensors: TensorRecord[]; validationLoss: number | null }[] = []
    let modelConfig: BertConfig | null = null
    let tokenizerJson: string | null = null
    for (const [index, checkpoint] of checkpoints.entries()) {
      context.progress({ phase: 'Reading the checkpoints', done: index, total: checkpoints.length, items: index })
      const imported = importHuggingFace(checkpoint.dir)
      if (modelConfig === null) modelConfig = imported.bertConfig
      else if (!sameConfig(modelConfig, imported.bertConfig)) throw new StudioError('BAD_INPUT', `${checkpoint.dir}/config.json differs from the other checkpoints'`)
      if (tokenizerJson === null) tokenizerJson = JSON.stringify(BertTokenizer.fromSpec(imported.tokenizerSpec).json)
      const state = JSON.parse(readFileSync(join(checkpoint.dir, 'trainer_state.json'), 'utf8')) as { validation?: { loss?: number } | null }
      const tensors: TensorRecord[] = [...imported.weights].map(([name, value]) => {
        const bytes = new Uint8Array(value.data.byteLength)
        bytes.set(new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength))
        return { name, dtype: 'float32', shape: [...value.shape], data: bytes }
      })
      tensorsByStep.push({ step: checkpoint.step, tensors, validationLoss: typeof state.validation?.loss === 'number' ? state.validation.loss : null })
      await tick()
      if (context.signal.aborted) throw new StudioError('CANCELLED', 'Cancelled')
    }
    const tokenizerHash = sha256(tokenizerJson!)
    const corpusExists = db.prepare('SELECT 1 FROM corpora WHERE id = ? AND project_id = ?').pluck().get(bundle.source.corpus_id, input.projectId) !== undefined
    const names = new Set(runStore.listRuns(db, input.projectId).map((run) => run.name))
    let name = input.name ?? `${bundle.source.run_name} (elsewhere)`
    if (input.name !== null && names.has(name)) throw new StudioError('CONFLICT', `A run named "${name}" already exists in this project`)
    for (let n = 2; names.has(name); n++) name = `${bundle.source.run_name} (elsewhere ${n})`
    const versions = engineVersions(input.studioVersion)
    const complete = lastStep >= bundle.train.total_steps
    const ids = db.transaction(() => {
      const existing = db.prepare('SELECT id FROM tokenizers WHERE project_id = ? AND hash = ? ORDER BY id LIMIT 1').pluck().get(input.projectId, tokenizerHash) as number | undefined
      const tokenizerId =
        existing ??
        tokenizerStore.insert(db, {
          projectId: input.projectId,
          name: uniqueTokenizerName(db, input.projectId, `${name} tokenizer`),
          origin: 'imported',
          corpusId: null,
          sourceName: bundle.source.run_name,
          options: null,
          tokenizerJson: tokenizerJson!,
          vocabSize: modelConfig!.vocab_size,
          lowercase: (JSON.parse(tokenizerJson!) as { normalizer?: { lowercase?: boolean } }).normalizer?.lowercase ?? true,
          hash: tokenizerHash,
          train: null,
          diagnostics: null,
        })
      const config = { ...bundle.studio, elsewhere: { bundleCreatedAt: bundle.created_at, sourceRunId: bundle.source.run_id, fromStep: bundle.train.from_step, lastStep, output } }
      const run = runStore.createRun(db, {
        projectId: input.projectId,
        kind: 'pretrain',
        name,
        config,
        modelConfig: JSON.parse(bertConfigToJson(modelConfig!)),
        corpusId: corpusExists ? bundle.source.corpus_id : null,
        tokenizerId,
        parentRunId: fromSameProject ? bundle.source.run_id : null,
        backend: 'pytorch',
      })
      runStore.appendMetrics(
        db,
        run.id,
        metrics.filter((row) => row.step <= lastStep).map((row) => ({ step: row.step, split: row.split, name: row.name, value: row.value ?? Number.NaN, wallTime: row.time })),
      )
      for (const checkpoint of tensorsByStep) {
        const serialized = serializeCheckpoint({
          manifest: {
            format: CHECKPOINT_FORMAT,
            formatVersion: CHECKPOINT_FORMAT_VERSION,
            step: checkpoint.step,
            optimizerStep: checkpoint.step,
            scheduleStep: checkpoint.step,
            epoch: 0,
            dataPosition: null,
            rng: { seed: bundle.train.seed, dropout: 'torch (train.py)' },
            datasetHash: bundle.source.dataset_hash,
            tokenizerHash,
            trainConfig: bundle.studio.train,
            modelConfig: JSON.parse(bertConfigToJson(modelConfig!)),
            versions,
            validationLoss: checkpoint.validationLoss,
            byteOrder: 'little',
            ...layout(checkpoint.tensors),
          },
          tensors: checkpoint.tensors,
        })
        const final = checkpoint.step === lastStep
        runStore.saveCheckpoint(db, run.id, checkpoint.step, [], serialized, { kind: final ? 'final' : 'interval', epoch: 0, keepLast: tensorsByStep.length, keepBest: true })
      }
      runStore.setRunStatus(db, run.id, complete ? 'done' : 'cancelled', complete ? {} : { error: `Trained elsewhere up to step ${lastStep} of ${bundle.train.total_steps}: run the bundle again to finish, then import again` })
      return { runId: run.id }
    })()
    return { runId: ids.runId, steps: lastStep, checkpoints: checkpoints.map((c) => c.step), metricRows: metrics.length }
  } finally {
    db.close()
  }
}

function uniqueTokenizerName(db: Database.Database, projectId: number, base: string): string {
  let name = base
  for (let n = 2; tokenizerStore.nameTaken(db, projectId, name); n++) name = `${base} ${n}`
  return name
}
