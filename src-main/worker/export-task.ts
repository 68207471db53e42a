/**
 * Model export and import in the worker (tfjs work stays off the main process).
 *
 * Export: a run's checkpoint → a Hugging Face or TensorFlow.js folder, then a parity check: the
 * folder is read back with the studio's own readers, the in-app model (checkpoint weights) and the
 * reloaded one run on held-out examples, and the largest logit difference is reported. What is
 * exported is the run's architecture's: a pre-training run exports BertForPreTraining; a run whose
 * config names another architecture exports that one once an adapter below knows how to build it.
 *
 * Import: a Hugging Face BERT folder → a finished pre-training run (its weights as the run's one
 * checkpoint) and a tokenizer, written in one transaction, so it is offered as a model to
 * fine-tune from.
 */
import { createHash } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import Database from 'better-sqlite3'
import * as tf from '@tensorflow/tfjs'
import type { ExportFormat, ParityCheck } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import { PretrainDataGenerator, TokenCache, type PretrainDataConfig } from '../core/data/index.ts'
import {
  assignWeights,
  BERT_ARCHITECTURES,
  exportHuggingFace,
  exportTfjs,
  importHuggingFace,
  readTfjsModel,
  type BertArchitecture,
  type ModelCard,
  type ProblemType,
  type WeightArray,
} from '../core/io/index.ts'
import { BertForPreTraining, parameterShapes, type FillMaskInput, type ForwardOptions } from '../core/model/bert.ts'
import { bertConfigFromJson, bertConfigToJson } from '../core/model/config.ts'
import { BertTokenizer, readTokenizerJson } from '../core/tokenizer/index.ts'
import { ADAM_M_PREFIX, ADAM_V_PREFIX, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, engineVersions, layout, serializeCheckpoint, toFloat32, type TensorRecord } from '../core/train/checkpoint.ts'
import { parseTrainConfig } from '../core/train/config.ts'
import type { BertConfig } from '../core/train/types.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import { ensureBackend, type DatabaseInput } from './pretrain-task.ts'
import type { TaskContext } from './tasks.ts'

/** Largest |Δlogit| an export may show against the in-app model (float32 written and read back exactly, so ~0). */
export const PARITY_TOLERANCE = 1e-4

/** Held-out examples the parity check runs when the run has no validation data to hand. */
export const PARITY_SENTENCES: readonly (readonly [string, string])[] = [
  ['The cat sat on the mat.', 'It was warm there in the afternoon sun.'],
  ['She opened the door slowly.', 'Nobody was waiting outside.'],
  ['Rain fell on the old town all night.', 'By morning the river had risen.'],
  ['He wrote a letter to his brother.', 'The reply came three weeks later.'],
  ['Prices rose sharply last year.', 'Many families changed how they shop.'],
  ['The children played in the garden.', 'Their mother called them in for dinner.'],
  ['A small boat crossed the lake.', 'Two birds followed it to the shore.'],
  ['The meeting ended without an agreement.', 'Both sides promised to talk again soon.'],
]

const PARITY_SEQ_LENGTH = 64
const PARITY_BATCH = 8
const PARITY_VALIDATION_BATCHES = 2

export interface ExportTaskInput extends DatabaseInput {
  runId: number
  checkpointId: number
  format: ExportFormat
  /** The folder to create (it must not exist). */
  dir: string
  /** Where the run's token cache lives (its validation data feeds the parity check). */
  cacheDir: string
}

export interface ExportTaskOutput {
  dir: string
  architecture: BertArchitecture
  step: number
  files: { name: string; bytes: number }[]
  ignoredWeights: string[]
  parity: ParityCheck
}

export interface ImportTaskInput extends DatabaseInput {
  projectId: number
  folder: string
  runName: string
  tokenizerName: string
  /** The folder's name as the analyst knows it. */
  sourceName: string
  studioVersion: string
}

export interface ImportTaskOutput {
  runId: number
  tokenizerId: number
  architecture: string
  initializedHeads: string[]
  ignoredWeights: string[]
}

/** What an imported run stores as its config (a pre-training run that never trained here). */
export interface ImportedRunConfig {
  imported: {
    source: string
    architecture: string
    id2label: string[] | null
    problemType: ProblemType | null
    initializedHeads: string[]
    ignoredWeights: string[]
  }
  /** Kept so the run reads like any pre-training run (fill-mask and fine-tuning read `train`). */
  train: ReturnType<typeof parseTrainConfig>
  data: Partial<PretrainDataConfig>
  totalSteps: number
}

// ---------------------------------------------------------------------------------------------
// Architectures

/**
 * The model a run's architecture builds (from its config and labels), and its logits on a batch,
 * flattened in a fixed order. Fine-tuning architectures join here with their heads' `logits`.
 */
interface ArchitectureAdapter {
  build(config: BertConfig, run: RunModel): { readonly variables: ReadonlyMap<string, tf.Variable>; dispose(): void }
  /** [N] every logit the architecture's heads produce for the batch. */
  logits(model: unknown, batch: FillMaskInput): tf.Tensor1D
}

/** BertForPreTraining's head outputs (its `heads` is not public; the parity check must run exactly the in-app forward). */
type PretrainingHeads = { heads(batch: FillMaskInput, options: ForwardOptions): { mlmLogits: tf.Tensor2D; nspLogits: tf.Tensor2D } }

const ADAPTERS: Partial<Record<BertArchitecture, ArchitectureAdapter>> = {
  BertForPreTraining: {
    build: (config) => new BertForPreTraining(config, { seed: 0 }),
    logits: (model, batch) =>
      tf.tidy(() => {
        const { mlmLogits, nspLogits } = (model as PretrainingHeads).heads(batch, { training: false })
        return tf.concat([tf.reshape(mlmLogits, [-1]), tf.reshape(nspLogits, [-1])]) as tf.Tensor1D
      }),
  },
}

interface RunModel {
  architecture: BertArchitecture
  id2label: string[] | null
  problemType: ProblemType | null
}

/** The architecture a run exports: what its config names (fine-tuning runs), else BertForPreTraining for pre-training. */
export function runArchitecture(run: Pick<runStore.RunInfo, 'id' | 'kind' | 'config'>): RunModel {
  const config = (run.config ?? {}) as { architecture?: unknown; id2label?: unknown; problemType?: unknown }
  const named = typeof config.architecture === 'string' ? config.architecture : null
  if (named !== null && !BERT_ARCHITECTURES.includes(named as BertArchitecture)) {
    throw new StudioError('UNSUPPORTED', `Run ${run.id}'s architecture is ${JSON.stringify(named)}, expected one of ${BERT_ARCHITECTURES.join(', ')}`)
  }
  if (named === null && run.kind !== 'pretrain') throw new StudioError('UNSUPPORTED', `Run ${run.id} is a ${run.kind} run that names no architecture in its config`)
  const id2label = Array.isArray(config.id2label) && config.id2label.every((label) => typeof label === 'string') ? (config.id2label as string[]) : null
  const problemType = typeof config.problemType === 'string' ? (config.problemType as ProblemType) : null
  return { architecture: (named ?? 'BertForPreTraining') as BertArchitecture, id2label, problemType }
}

function adapterFor(architecture: BertArchitecture): ArchitectureAdapter {
  const adapter = ADAPTERS[architecture]
  if (!adapter) throw new StudioError('UNSUPPORTED', `Exporting ${architecture} is not supported yet: the studio cannot run its heads for the parity check`)
  return adapter
}

// ---------------------------------------------------------------------------------------------
// Export

function openDatabase(input: DatabaseInput, readonly: boolean): Database.Database {
  const db = new Database(input.databasePath, { readonly, ...(input.nativeBinding ? { nativeBinding: input.nativeBinding } : {}) })
  if (!readonly) {
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
  }
  db.pragma('busy_timeout = 10000')
  return db
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** A checkpoint's model weights (optimizer slots left out), by Hugging Face name. */
export function checkpointWeights(tensors: readonly TensorRecord[]): Map<string, WeightArray> {
  const weights = new Map<string, WeightArray>()
  for (const tensor of tensors) {
    if (tensor.name.startsWith(ADAM_M_PREFIX) || tensor.name.startsWith(ADAM_V_PREFIX)) continue
    weights.set(tensor.name, { shape: [...tensor.shape], data: toFloat32(tensor.data) })
  }
  return weights
}

export async function exportTask(input: ExportTaskInput, context: TaskContext): Promise<ExportTaskOutput> {
  await ensureBackend()
  const db = openDatabase(input, true)
  try {
    const run = runStore.getRun(db, input.runId)
    if (!run) throw notFound(`No run with id ${input.runId}`)
    if (run.tokenizerId === null) throw new StudioError('CONFLICT', `Run ${run.id}'s tokenizer was deleted: an export needs it (vocab.txt, tokenizer.json)`)
    const tokenizerJson = tokenizerStore.tokenizerJson(db, run.tokenizerId)
    if (tokenizerJson === undefined) throw notFound(`Run ${run.id}'s tokenizer ${run.tokenizerId} no longer exists`)
    const tokenizer = BertTokenizer.fromTokenizerJson(tokenizerJson, `tokenizer ${run.tokenizerId}`)
    const { info, checkpoint } = runStore.loadCheckpoint(db, input.checkpointId)
    if (info.runId !== run.id) throw new StudioError('VALIDATION', `Checkpoint ${info.id} belongs to run ${info.runId}, not run ${run.id}`)
    const bertConfig = bertConfigFromJson(run.modelConfig as object)
    const { architecture, id2label, problemType } = runArchitecture(run)
    const adapter = adapterFor(architecture)
    const all = checkpointWeights(checkpoint.tensors)

    context.progress({ phase: 'Loading the checkpoint', done: 0, total: 3, items: 0 })
    const inApp = adapter.build(bertConfig, { architecture, id2label, problemType })
    let reloaded: { dispose(): void; variables: ReadonlyMap<string, tf.Variable> } | null = null
    try {
      assignWeights(inApp.variables, all)
      // The model's own variables: what it runs on, so what the files must hold.
      const weights = new Map([...inApp.variables.keys()].map((name) => [name, all.get(name)!]))

      context.progress({ phase: 'Writing the files', done: 1, total: 3, items: 0 })
      let written: { dir: string; files: string[] }
      let ignoredWeights: string[] = []
      if (input.format === 'hf') {
        const result = exportHuggingFace(input.dir, {
          weights,
          bertConfig,
          architecture,
          ...(id2label ? { id2label } : {}),
          ...(problemType ? { problemType } : {}),
          tokenizerSpec: tokenizer.spec,
          modelCard: modelCard(db, run, info),
        })
        written = result
        ignoredWeights = result.ignoredWeights
      } else {
        written = exportTfjs(input.dir, { weights, bertConfig, architecture, ...(id2label ? { id2label } : {}), tokenizerSpec: tokenizer.spec })
      }

      context.progress({ phase: 'Checking the export', done: 2, total: 3, items: 0 })
      const back = input.format === 'hf' ? importHuggingFace(written.dir) : readTfjsModel(written.dir)
      if (back.architecture !== architecture) {
        throw new StudioError('INTERNAL', `${written.dir} reads back as ${back.architecture}, expected ${architecture}`)
      }
      reloaded = adapter.build(bertFrom(back.bertConfig, bertConfig, written.dir), { architecture, id2label: back.id2label, problemType })
      assignWeights(reloaded.variables, back.weights)
      const folderTokenizer = BertTokenizer.fromSpec(readTokenizerJson(join(written.dir, 'tokenizer.json')))
      const examples = await parityExamples(db, run, tokenizer, input.cacheDir, bertConfig)
      const parity = await compare(adapter, inApp, reloaded, examples, tokenizer, folderTokenizer)
      context.progress({ phase: 'Checking the export', done: 3, total: 3, items: examples.batches.length })
      return {
        dir: written.dir,
        architecture,
        step: info.step,
        files: written.files.map((file) => ({ name: relative(written.dir, file), bytes: statSync(file).size })),
        ignoredWeights,
        parity,
      }
    } finally {
      inApp.dispose()
      reloaded?.dispose()
    }
  } finally {
    db.close()
  }
}

/** The read-back config must be the run's, every field. */
function bertFrom(read: BertConfig, expected: BertConfig, dir: string): BertConfig {
  for (const key of Object.keys(expected) as (keyof BertConfig)[]) {
    if (read[key] !== expected[key]) throw new StudioError('INTERNAL', `${dir}: ${key} reads back as ${JSON.stringify(read[key])}, expected ${JSON.stringify(expected[key])}`)
  }
  return read
}

function modelCard(db: Database.Database, run: runStore.RunInfo, checkpoint: runStore.CheckpointInfo): ModelCard {
  const corpus =
    run.corpusId === null
      ? undefined
      : (db.prepare('SELECT name, stats_json FROM corpora WHERE id = ?').get(run.corpusId) as { name: string; stats_json: string } | undefined)
  const documents = corpus ? (JSON.parse(corpus.stats_json) as { documents?: number }).documents : undefined
  const metrics: Record<string, number> = { step: checkpoint.step }
  if (checkpoint.validationLoss !== null) metrics.validation_loss = checkpoint.validationLoss
  const rows = db.prepare("SELECT name, value FROM metrics WHERE run_id = ? AND step = ? AND split = 'validation'").all(run.id, checkpoint.step) as { name: string; value: number | null }[]
  for (const row of rows) if (row.value !== null) metrics[`validation_${row.name}`] = row.value
  return {
    title: run.name,
    description: `Exported from BERT Studio: run "${run.name}", checkpoint of step ${checkpoint.step} (${checkpoint.kind}).`,
    ...(corpus ? { data: [{ name: corpus.name, ...(documents !== undefined ? { size: `${documents.toLocaleString('en-US')} documents` } : {}) }] } : {}),
    metrics,
    trainingConfig: run.config,
    tags: [run.kind === 'pretrain' ? 'pre-training' : 'fine-tuning'],
  }
}

interface ParityExamples {
  source: ParityCheck['source']
  batches: FillMaskInput[]
  /** The texts (for the tokenizer check); empty for validation batches. */
  texts: readonly (readonly [string, string])[]
}

/** The run's held-out batches when its token cache is at hand, else fixed sentence pairs. */
async function parityExamples(db: Database.Database, run: runStore.RunInfo, tokenizer: BertTokenizer, cacheDir: string, config: BertConfig): Promise<ParityExamples> {
  const validation = validationBatches(db, run, tokenizer, cacheDir)
  if (validation.length > 0) return { source: 'validation', batches: validation, texts: PARITY_SENTENCES }
  const seqLength = Math.min(PARITY_SEQ_LENGTH, config.max_position_embeddings)
  const encoded = await tokenizer.encodeBatch(PARITY_SENTENCES, { maxLength: seqLength, padToMaxLength: true })
  const B = encoded.length
  const flat = (key: 'inputIds' | 'tokenTypeIds' | 'attentionMask') => Int32Array.from(encoded.flatMap((e) => e[key]))
  // Every position is "masked": the MLM head's logits at every token are compared.
  const maskedPositions = Int32Array.from({ length: B * seqLength }, (_, i) => i % seqLength)
  return {
    source: 'sentences',
    batches: [{ batchSize: B, seqLength, maxPredictions: seqLength, inputIds: flat('inputIds'), tokenTypeIds: flat('tokenTypeIds'), attentionMask: flat('attentionMask'), maskedPositions }],
    texts: PARITY_SENTENCES,
  }
}

function validationBatches(db: Database.Database, run: runStore.RunInfo, tokenizer: BertTokenizer, cacheDir: string): FillMaskInput[] {
  const stored = run.config as { data?: Partial<PretrainDataConfig> } | null
  if (run.kind !== 'pretrain' || run.corpusId === null || run.tokenizerId === null || !stored?.data) return []
  const tokenizerJson = tokenizerStore.tokenizerJson(db, run.tokenizerId)!
  const tokenizerHash = sha256(tokenizerJson)
  // The pre-training task's cache name: one per (corpus, tokenizer).
  const path = join(cacheDir, `corpus-${run.corpusId}-${tokenizerHash.slice(0, 16)}.tokens`)
  if (!existsSync(path)) return []
  let cache: TokenCache | null = null
  try {
    cache = TokenCache.open(path, { tokenizerHash, vocabSize: tokenizer.size })
    const data = new PretrainDataGenerator(cache, tokenizer, stored.data)
    return [...data.validationBatches(PARITY_BATCH, PARITY_VALIDATION_BATCHES)]
  } catch {
    // A cache that no longer fits (or a corpus without held-out documents): fixed sentences will do.
    return []
  } finally {
    cache?.close()
  }
}

async function compare(
  adapter: ArchitectureAdapter,
  inApp: unknown,
  reloaded: unknown,
  examples: ParityExamples,
  tokenizer: BertTokenizer,
  folderTokenizer: BertTokenizer,
): Promise<ParityCheck> {
  let maxAbsDiff = 0
  let values = 0
  let examplesRun = 0
  for (const batch of examples.batches) {
    const difference = tf.tidy(() => {
      const expected = adapter.logits(inApp, batch)
      const actual = adapter.logits(reloaded, batch)
      values += expected.size
      return tf.max(tf.abs(tf.sub(expected, actual)))
    })
    const [diff] = await difference.data()
    difference.dispose()
    examplesRun += batch.batchSize
    // NaN must fail the check, so it is kept rather than lost in Math.max.
    maxAbsDiff = Number.isNaN(diff!) || Number.isNaN(maxAbsDiff) ? NaN : Math.max(maxAbsDiff, diff!)
  }
  const [ours, theirs] = await Promise.all([tokenizer.encodeBatch(examples.texts), folderTokenizer.encodeBatch(examples.texts)])
  const tokenizerMatches = ours.every((encoded, i) => encoded.inputIds.join(' ') === theirs[i]!.inputIds.join(' ') && encoded.tokenTypeIds.join(' ') === theirs[i]!.tokenTypeIds.join(' '))
  return {
    source: examples.source,
    examples: examplesRun,
    values,
    maxAbsDiff,
    tolerance: PARITY_TOLERANCE,
    tokenizerMatches,
    passed: maxAbsDiff <= PARITY_TOLERANCE && tokenizerMatches,
  }
}

// ---------------------------------------------------------------------------------------------
// Import

const HEAD_GROUPS: readonly { head: string; owns: (name: string) => boolean }[] = [
  { head: 'pooler', owns: (name) => name.startsWith('bert.pooler.') },
  { head: 'mlm', owns: (name) => name.startsWith('cls.predictions.') },
  { head: 'nsp', owns: (name) => name.startsWith('cls.seq_relationship.') },
]

export async function importTask(input: ImportTaskInput, context: TaskContext): Promise<ImportTaskOutput> {
  context.progress({ phase: 'Reading the folder', done: 0, total: 2, items: 0 })
  const imported = importHuggingFace(input.folder)
  const config = imported.bertConfig
  const tokenizer = BertTokenizer.fromSpec(imported.tokenizerSpec)
  const tokenizerJson = JSON.stringify(tokenizer.json)

  // The run is a BertForPreTraining: heads the folder lacks start from the model's initialisation.
  const shapes = parameterShapes(config)
  const missing = shapes.filter(([name]) => !imported.weights.has(name)).map(([name]) => name)
  const initializedHeads = HEAD_GROUPS.filter((group) => missing.some(group.owns)).map((group) => group.head)
  const unplaced = missing.filter((name) => !HEAD_GROUPS.some((group) => group.owns(name)))
  if (unplaced.length > 0) throw new StudioError('BAD_INPUT', `${input.folder}: the encoder lacks ${unplaced.slice(0, 5).join(', ')}`)
  const known = new Set(shapes.map(([name]) => name))
  const ignoredWeights = [...imported.weights.keys()].filter((name) => !known.has(name))
  let initial: Map<string, Float32Array> | null = null
  if (missing.length > 0) {
    await ensureBackend()
    const fresh = new BertForPreTraining(config, { seed: 0 })
    try {
      initial = new Map(missing.map((name) => [name, fresh.variables.get(name)!.dataSync() as Float32Array]))
    } finally {
      fresh.dispose()
    }
  }
  const tensors: TensorRecord[] = shapes.map(([name, shape]) => {
    const values = imported.weights.get(name)?.data ?? initial!.get(name)!
    const bytes = new Uint8Array(values.byteLength)
    bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    return { name, dtype: 'float32', shape, data: bytes }
  })

  context.progress({ phase: 'Storing the model', done: 1, total: 2, items: 0 })
  const train = parseTrainConfig({ steps: 1 })
  const modelConfig = JSON.parse(bertConfigToJson(config)) as unknown
  const runConfig: ImportedRunConfig = {
    imported: {
      source: input.sourceName,
      architecture: imported.architecture,
      id2label: imported.id2label,
      problemType: imported.problemType,
      initializedHeads,
      ignoredWeights,
    },
    train,
    data: {},
    totalSteps: 0,
  }
  const tokenizerHash = sha256(tokenizerJson)
  const checkpoint = serializeCheckpoint({
    manifest: {
      format: CHECKPOINT_FORMAT,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      step: 0,
      optimizerStep: 0,
      scheduleStep: 0,
      epoch: 0,
      dataPosition: null,
      rng: { seed: train.seed, dropout: 'murmur3(seed, step, micro-batch)' },
      datasetHash: null,
      tokenizerHash,
      trainConfig: train,
      modelConfig,
      versions: engineVersions(input.studioVersion),
      validationLoss: null,
      byteOrder: 'little',
      ...layout(tensors),
    },
    tensors,
  })

  const db = openDatabase(input, false)
  try {
    // Tokenizer, run and checkpoint together, or none of them.
    const ids = db.transaction(() => {
      const tokenizerId = tokenizerStore.insert(db, {
        projectId: input.projectId,
        name: input.tokenizerName,
        origin: 'imported',
        corpusId: null,
        sourceName: input.sourceName,
        options: null,
        tokenizerJson,
        vocabSize: tokenizer.spec.vocab.length,
        lowercase: tokenizer.spec.settings.lowercase,
        hash: tokenizerHash,
        train: null,
        diagnostics: null,
      })
      const run = runStore.createRun(db, { projectId: input.projectId, kind: 'pretrain', name: input.runName, config: runConfig, modelConfig, corpusId: null, tokenizerId })
      runStore.saveCheckpoint(db, run.id, 0, [], checkpoint, { kind: 'final', status: 'done', epoch: 0 })
      runStore.setRunStatus(db, run.id, 'done')
      return { runId: run.id, tokenizerId }
    })()
    context.progress({ phase: 'Storing the model', done: 2, total: 2, items: 0 })
    return { ...ids, architecture: imported.architecture, initializedHeads, ignoredWeights }
  } finally {
    db.close()
  }
}
