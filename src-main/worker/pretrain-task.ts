/**
 * Pre-training in the worker: the run's stored config → token cache → data generator, model,
 * trainer → the run loop, writing metrics and checkpoints through the worker's own connection, each
 * checkpoint in one transaction with its step. Also the fill-mask probe and the compute plan.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import * as tf from '@tensorflow/tfjs'
import type { FillMaskResult, PretrainRequest, TrainingPlan } from '../contract/index.ts'
import { asDiskFull, notFound, StudioError } from '../core/errors.ts'
import { buildTokenCache, PretrainDataGenerator, TokenCache, type DataPosition, type PretrainDataConfig } from '../core/data/index.ts'
import { BertForPreTraining } from '../core/model/bert.ts'
import { bertConfigFromJson, estimateTrainingMemory, parameterCount, presetConfig } from '../core/model/config.ts'
import { initBackend, type BackendSelection } from '../core/model/backend.ts'
import { BertTokenizer, MASK } from '../core/tokenizer/index.ts'
import { assertResumable, engineVersions, restoreCheckpoint } from '../core/train/checkpoint.ts'
import { parseTrainConfig, trainConfigFromJson, type TrainConfig } from '../core/train/config.ts'
import { runTrainingLoop } from '../core/train/loop.ts'
import { Trainer } from '../core/train/trainer.ts'
import type { BertConfig, PretrainBatch } from '../core/train/types.ts'
import * as runStore from '../store/runs.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type { TaskContext } from './tasks.ts'
import { parallelTrainConfig, ReplicaGroup, trainWorkers } from './replicas.ts'

/** What a pre-training run stores as its config: the request and what it resolved to. */
export interface StoredPretrainConfig {
  request: PretrainRequest
  train: TrainConfig
  data: Partial<PretrainDataConfig>
  /** Known once the token cache exists (an epoch-length run). */
  totalSteps: number | null
  /** Continued pre-training: the parent checkpoint whose weights the run starts from (not its optimizer). */
  init?: PretrainInit
}

export interface PretrainInit {
  runId: number
  checkpointId: number
  step: number
  /** The parent's preset (the model is the parent's, whatever the request names); null for an imported model. */
  preset: string | null
}

export interface DatabaseInput {
  databasePath: string
  nativeBinding?: string
}

export interface PretrainTaskInput extends DatabaseInput {
  runId: number
  /** Where token caches live (the studio's home/cache). */
  cacheDir: string
  studioVersion: string
}

export interface PretrainTaskOutput {
  status: 'done' | 'diverged' | 'paused' | 'cancelled'
  step: number
  backend: string
}

/** Tests set STUDIO_FAULT_EXIT_AT_STEP to make the worker die after that step. */
const faultExitAtStep = process.env.STUDIO_FAULT_EXIT_AT_STEP ? Number(process.env.STUDIO_FAULT_EXIT_AT_STEP) : null

let backendSelection: Promise<BackendSelection> | null = null
/** One backend per worker, chosen once (STUDIO_BACKEND forces one). */
export function ensureBackend(): Promise<BackendSelection> {
  backendSelection ??= initBackend()
  return backendSelection
}

export function openDatabase(input: DatabaseInput, readonly = false): Database.Database {
  const db = new Database(input.databasePath, { readonly, ...(input.nativeBinding ? { nativeBinding: input.nativeBinding } : {}) })
  if (!readonly) {
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
  }
  db.pragma('busy_timeout = 10000')
  return db
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * What a pre-training checkpoint records of its data: the token cache's content and the tokenizer,
 * not the corpus id, so a project exported and imported elsewhere (new ids) resumes its runs.
 */
export const pretrainDatasetHash = (cache: TokenCache, tokenizerHash: string): string => sha256(`${cache.contentHash()}:${tokenizerHash}`)

export interface RunInputs {
  run: runStore.RunInfo
  stored: StoredPretrainConfig
  tokenizer: BertTokenizer
  tokenizerHash: string
  modelConfig: BertConfig
}

export function loadRunInputs(db: Database.Database, runId: number): RunInputs {
  const run = runStore.getRun(db, runId)
  if (!run) throw notFound(`No run with id ${runId}`)
  if (run.tokenizerId === null) {
    throw new StudioError('CONFLICT', `Run ${runId} has lost its tokenizer (deleted since): it cannot be used`)
  }
  const tokenizerJson = tokenizerStore.tokenizerJson(db, run.tokenizerId)
  if (tokenizerJson === undefined) throw notFound(`Run ${runId}'s tokenizer ${run.tokenizerId} no longer exists`)
  const stored = run.config as StoredPretrainConfig
  return {
    run,
    stored: { ...stored, train: trainConfigFromJson(JSON.stringify(stored.train)) },
    tokenizer: BertTokenizer.fromTokenizerJson(tokenizerJson, `tokenizer ${run.tokenizerId}`),
    tokenizerHash: sha256(tokenizerJson),
    modelConfig: bertConfigFromJson(run.modelConfig as object),
  }
}

/** The corpus as token ids, built once per (corpus, tokenizer) and reused by every run. */
export async function ensureTokenCache(
  db: Database.Database,
  database: DatabaseInput,
  inputs: RunInputs,
  cacheDir: string,
  context: TaskContext,
): Promise<TokenCache> {
  const corpusId = inputs.run.corpusId!
  mkdirSync(cacheDir, { recursive: true })
  const path = join(cacheDir, `corpus-${corpusId}-${inputs.tokenizerHash.slice(0, 16)}.tokens`)
  if (!existsSync(path)) {
    const stats = db.prepare('SELECT stats_json FROM corpora WHERE id = ?').pluck().get(corpusId) as string | undefined
    if (stats === undefined) throw notFound(`Corpus ${corpusId} no longer exists`)
    const characters = (JSON.parse(stats) as { characters: number }).characters
    // A second, read-only connection streams the documents (the native build the caller names: Electron's under Electron).
    const reader = openDatabase(database, true)
    try {
      const documents = reader
        .prepare('SELECT ordinal AS id, text FROM documents WHERE corpus_id = ? ORDER BY ordinal')
        .iterate(corpusId) as IterableIterator<{ id: number; text: string }>
      await buildTokenCache(documents, inputs.tokenizer, path, {
        tokenizerHash: inputs.tokenizerHash,
        signal: context.signal,
        onProgress: (p) =>
          context.progress({ phase: 'Tokenizing the corpus', done: p.characters, total: characters, items: p.documents }),
      })
    } finally {
      reader.close()
    }
  }
  return TokenCache.open(path, { tokenizerHash: inputs.tokenizerHash, vocabSize: inputs.tokenizer.size })
}

export async function pretrainTask(input: PretrainTaskInput, context: TaskContext): Promise<PretrainTaskOutput> {
  const backend = await ensureBackend()
  const db = openDatabase(input)
  let cache: TokenCache | null = null
  let model: BertForPreTraining | null = null
  let trainer: Trainer<PretrainBatch> | null = null
  let replicas: ReplicaGroup | null = null
  try {
    const inputs = loadRunInputs(db, input.runId)
    if (inputs.run.corpusId === null) {
      throw new StudioError('CONFLICT', `Run ${input.runId} has no corpus (deleted since, or an imported model): it cannot train`)
    }
    runStore.setRunStatus(db, input.runId, 'running', { backend: backend.backend })
    cache = await ensureTokenCache(db, input, inputs, input.cacheDir, context)
    const { stored, modelConfig, tokenizerHash } = inputs
    const latest = runStore.loadLatestCheckpoint(db, input.runId)
    const position = (latest?.checkpoint.manifest.dataPosition as DataPosition | undefined) ?? undefined
    const data = new PretrainDataGenerator(cache, inputs.tokenizer, stored.data, position)
    const totalSteps = stored.totalSteps ?? Math.max(1, Math.ceil((stored.train.epochs ?? 1) * data.stepsPerEpoch(stored.train.batchSize)))
    if (stored.totalSteps === null) {
      db.prepare('UPDATE runs SET config_json = ? WHERE id = ?').run(JSON.stringify({ ...stored, totalSteps }), input.runId)
    }
    const probes = probeSentences(db, inputs.run.corpusId!, cache, data.split.validation, inputs.tokenizer)
    const datasetHash = pretrainDatasetHash(cache, tokenizerHash)
    model = new BertForPreTraining(modelConfig, { seed: stored.train.seed })
    if (!latest && stored.init) loadWeights(model, parentCheckpoint(db, stored.init).tensors)
    let lastReport = { step: 0, metrics: {} as Record<string, number> }
    // Data parallelism on the single-threaded backends: a peer thread per extra core.
    const workers = trainWorkers(backend.backend)
    if (workers > 1) replicas = new ReplicaGroup(workers)
    trainer = new Trainer<PretrainBatch>(model, replicas ? parallelTrainConfig(stored.train, workers) : stored.train, {
      totalSteps,
      ...(replicas ? { parallel: replicas } : {}),
      onProgress: (p) => {
        lastReport = { step: p.step, metrics: { ...p.metrics } }
        context.progress({ phase: 'Training', done: p.step, total: totalSteps, items: p.step, metrics: lastReport.metrics })
      },
    })
    if (latest) {
      assertResumable(latest.checkpoint.manifest, { datasetHash, tokenizerHash, formerDatasetHash: sha256(`${inputs.run.corpusId}:${JSON.stringify(cache.header.counts)}:${tokenizerHash}`) })
      restoreCheckpoint(trainer, latest.checkpoint)
      // Steps after the checkpoint were lost with the crash or pause; they will be run again.
      runStore.discardMetricsAfter(db, input.runId, latest.info.step)
    }
    await replicas?.start(trainer, { backend: backend.backend, modelConfig })
    const versions = engineVersions(input.studioVersion)
    const result = await runTrainingLoop({
      trainer,
      data,
      position: data.position,
      context: { datasetHash, tokenizerHash, modelConfig, versions },
      bestValidationLoss: runStore.bestValidationLoss(db, input.runId),
      saveCheckpoint: async (write) => {
        runStore.saveCheckpoint(db, input.runId, write.step, write.metricRows, write.checkpoint, {
          kind: write.kind,
          status: 'running',
          epoch: (write.checkpoint.manifest as { epoch?: number }).epoch ?? 0,
          keepLast: stored.train.checkpoint.keepLast,
          keepBest: stored.train.checkpoint.keepBest,
        })
        // What the model guesses now, on held-out sentences: the analyst sees in words that it learns.
        const results = await Promise.all(probes.map((text) => fillMask(model!, inputs.tokenizer, text, 5)))
        db.prepare('INSERT OR REPLACE INTO probes (run_id, step, results_json) VALUES (?, ?, ?)').run(
          input.runId,
          write.step,
          JSON.stringify(results),
        )
      },
      stopRequested: () => (context.signal.aborted ? 'cancel' : context.pauseRequested() ? 'pause' : null),
      onStep: (step) => {
        // Fault injection for the crash tests: the worker thread dies mid-run, as on an out-of-memory kill.
        if (faultExitAtStep !== null && step.step >= faultExitAtStep) process.exit(70)
      },
      onValidation: (step, metrics) =>
        context.progress({
          phase: 'Validating',
          done: step,
          total: totalSteps,
          items: step,
          metrics: { ...lastReport.metrics, ...Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`validation_${k}`, v as number])) },
        }),
    })
    if (result.pendingMetrics.length > 0) runStore.appendMetrics(db, input.runId, result.pendingMetrics)
    runStore.setRunStatus(db, input.runId, result.status, {
      ...(result.status === 'diverged' ? { error: `The loss became NaN or infinite at step ${result.step + 1}; the last good checkpoint is kept` } : {}),
    })
    return { status: result.status, step: result.step, backend: backend.backend }
  } catch (thrown) {
    // The run's stored error is what the user reads: a full disk says so in words.
    const error = asDiskFull(thrown, 'saving training progress')
    const cancelledBeforeTraining = error instanceof StudioError && error.code === 'CANCELLED'
    runStore.setRunStatus(db, input.runId, cancelledBeforeTraining ? 'cancelled' : 'crashed', {
      error: (error as Error).message,
    })
    throw error
  } finally {
    await replicas?.close()
    trainer?.dispose()
    model?.dispose()
    cache?.close()
    db.close()
  }
}

export interface FillMaskTaskInput extends DatabaseInput {
  runId: number
  text: string
  topK: number
}

/** The model at the run's latest checkpoint, guessing each [MASK] of `text`. */
export async function fillMaskTask(input: FillMaskTaskInput): Promise<FillMaskResult> {
  await ensureBackend()
  const db = openDatabase(input, true)
  let model: BertForPreTraining | null = null
  try {
    const inputs = loadRunInputs(db, input.runId)
    const latest = runStore.loadLatestCheckpoint(db, input.runId)
    if (!latest) throw new StudioError('CONFLICT', `Run ${input.runId} has no checkpoint yet: ask again after its first one`)
    model = new BertForPreTraining(inputs.modelConfig, { seed: 0 })
    loadWeights(model, latest.checkpoint.tensors)
    return await fillMask(model, inputs.tokenizer, input.text, input.topK)
  } finally {
    model?.dispose()
    db.close()
  }
}

/** The top-k guesses of `model` at each [MASK] of `text`. */
async function fillMask(model: BertForPreTraining, tokenizer: BertTokenizer, text: string, topK: number): Promise<FillMaskResult> {
  const seqLength = Math.min(model.config.max_position_embeddings, 512)
  const encoded = await tokenizer.encode(text, null, { maxLength: seqLength })
  const maskId = tokenizer.tokenToId(MASK)
  const positions = encoded.inputIds.flatMap((token, position) => (token === maskId ? [position] : []))
  if (positions.length === 0) throw new StudioError('VALIDATION', `The text has no ${MASK} to fill: put ${MASK} where a word should be guessed`)
  const predictions = await model.fillMask(
    {
      batchSize: 1,
      seqLength: encoded.inputIds.length,
      maxPredictions: positions.length,
      inputIds: Int32Array.from(encoded.inputIds),
      tokenTypeIds: Int32Array.from(encoded.tokenTypeIds),
      attentionMask: Int32Array.from(encoded.attentionMask),
      maskedPositions: Int32Array.from(positions),
    },
    topK,
  )
  return {
    text,
    masks: predictions.map((p) => ({
      position: p.position,
      candidates: p.candidates.map((c) => ({ token: tokenizer.vocab[c.tokenId] ?? '[UNK]', probability: c.probability })),
    })),
  }
}

/** Function words a probe never masks: guessing "the" says little about what the model learnt. */
const PROBE_STOPWORDS = new Set(
  'the and for that this with from are was were been has have had not but can will would should could may might must its their there these those than then when which while what where who whom into onto over under about also such only other some each more most very just does did done being'.split(
    ' ',
  ),
)

/**
 * Up to five held-out sentences with one word masked, chosen deterministically: the first
 * sentence of 6–30 words of each of the first validation documents, with its longest content
 * word that is one whole token of the vocabulary (3+ letters, not a function word) replaced by
 * [MASK], so the right answer is a token the model can actually name.
 */
function probeSentences(
  db: Database.Database,
  corpusId: number,
  cache: TokenCache,
  validation: ArrayLike<number>,
  tokenizer: BertTokenizer,
): string[] {
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' })
  const text = db.prepare('SELECT text FROM documents WHERE corpus_id = ? AND ordinal = ?').pluck()
  const lowercase = tokenizer.settings.lowercase
  const isWholeToken = (word: string) =>
    /^[A-Za-z]{3,}$/.test(word) && !PROBE_STOPWORDS.has(word.toLowerCase()) && tokenizer.tokenToId(lowercase ? word.toLowerCase() : word) !== undefined
  const sentences: string[] = []
  for (let i = 0; i < validation.length && sentences.length < 5; i++) {
    const ordinal = cache.documentIds[validation[i]!]
    const document = ordinal === undefined ? undefined : (text.get(corpusId, ordinal) as string | undefined)
    if (!document) continue
    for (const { segment } of segmenter.segment(document.slice(0, 20_000))) {
      const words = segment.trim().split(/\s+/)
      if (words.length < 6 || words.length > 30) continue
      const target = words.reduce((best, word) => (isWholeToken(word) && word.length > best.length ? word : best), '')
      if (target === '') continue
      const at = words.indexOf(target)
      sentences.push(words.map((word, index) => (index === at ? MASK : word)).join(' '))
      break
    }
  }
  return sentences
}

/** The parent checkpoint of a continued pre-training (a clear error if it was deleted since). */
export function parentCheckpoint(db: Database.Database, init: PretrainInit): runStore.LoadedCheckpoint['checkpoint'] {
  try {
    return runStore.loadCheckpoint(db, init.checkpointId).checkpoint
  } catch (error) {
    if (error instanceof StudioError && error.code === 'NOT_FOUND') {
      throw new StudioError('CONFLICT', `Run ${init.runId}'s checkpoint of step ${init.step}, which this run starts from, was deleted (pruned?) before it started`)
    }
    throw error
  }
}

function loadWeights(model: BertForPreTraining, tensors: readonly { name: string; shape: number[]; data: Uint8Array }[]): void {
  const byName = new Map(tensors.map((t) => [t.name, t]))
  for (const [name, variable] of model.variables) {
    const record = byName.get(name)
    if (!record) throw new StudioError('CONFLICT', `The checkpoint lacks ${name}`)
    const values = new Float32Array(record.data.buffer.slice(record.data.byteOffset, record.data.byteOffset + record.data.byteLength))
    tf.tidy(() => variable.assign(tf.tensor(values, record.shape, 'float32')))
  }
}

export interface PlanTaskInput {
  request: PretrainRequest
  vocabSize: number
  totalSteps: number
  /** Continued pre-training: the parent's model (the preset is not used). */
  modelConfig?: BertConfig
}

/** A few timed steps of the chosen model on synthetic batches: what a run will cost here. */
export async function planTask(input: PlanTaskInput, context: TaskContext): Promise<TrainingPlan> {
  const backend = await ensureBackend()
  const { request } = input
  const modelConfig = input.modelConfig ?? presetConfig(request.preset, input.vocabSize, { max_position_embeddings: Math.max(512, request.seqLength) })
  const micro = request.microBatchSize ?? request.batchSize
  const train = parseTrainConfig({ batchSize: request.batchSize, microBatchSize: micro, steps: 1_000_000, seed: request.seed })
  const model = new BertForPreTraining(modelConfig, { seed: request.seed })
  const trainer = new Trainer<PretrainBatch>(model, train, { totalSteps: 1_000_000 })
  try {
    const batch = syntheticBatch(micro, request.seqLength, input.vocabSize, request.seed)
    const micros = request.batchSize / micro
    const times: number[] = []
    const runs = 3
    for (let i = 0; i <= runs; i++) {
      if (context.signal.aborted) throw new StudioError('CANCELLED', 'Cancelled')
      const started = performance.now()
      await trainer.step(Array.from({ length: micros }, () => batch))
      if (i > 0) times.push(performance.now() - started) // the first step compiles and warms up
      context.progress({ phase: 'Measuring a step', done: i + 1, total: runs + 1, items: i + 1 })
    }
    times.sort((a, b) => a - b)
    const stepMs = times[Math.floor(times.length / 2)]!
    return {
      backend: backend.backend,
      parameters: parameterCount(modelConfig),
      memoryBytes: estimateTrainingMemory(modelConfig, micro, request.seqLength).totalBytes,
      stepMs,
      totalSteps: input.totalSteps,
      estimatedSeconds: (stepMs * input.totalSteps) / 1000,
      tokensPerSecond: (request.batchSize * request.seqLength) / (stepMs / 1000),
    }
  } finally {
    trainer.dispose()
    model.dispose()
  }
}

/** Random ids with the shape of real batches (timing does not depend on the values). */
function syntheticBatch(batchSize: number, seqLength: number, vocabSize: number, seed: number): PretrainBatch {
  let state = seed || 1
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648
  const P = Math.max(1, Math.round(seqLength * 0.15))
  const N = batchSize * seqLength
  return {
    batchSize,
    seqLength,
    maxPredictions: P,
    inputIds: Int32Array.from({ length: N }, () => 5 + Math.floor(next() * (vocabSize - 5))),
    tokenTypeIds: Int32Array.from({ length: N }, (_, i) => (i % seqLength < seqLength / 2 ? 0 : 1)),
    attentionMask: new Int32Array(N).fill(1),
    maskedPositions: Int32Array.from({ length: batchSize * P }, (_, i) => 1 + (i % (seqLength - 2))),
    maskedIds: Int32Array.from({ length: batchSize * P }, () => 5 + Math.floor(next() * (vocabSize - 5))),
    maskedWeights: new Float32Array(batchSize * P).fill(1),
    nextSentenceLabels: Int32Array.from({ length: batchSize }, (_, i) => i % 2),
  }
}
