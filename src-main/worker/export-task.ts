/**
 * Model export and import in the worker (tfjs work stays off the main process).
 *
 * Export: a run's checkpoint → a Hugging Face or TensorFlow.js folder, then a parity check: the
 * folder is read back with the studio's own readers, the in-app model (checkpoint weights) and the
 * reloaded one run on held-out examples, and the largest logit difference is reported. What is
 * exported is the run's architecture: a pre-training run exports BertForPreTraining; a fine-tuning
 * run the head its task trained (BertForSequenceClassification single- or multi-label,
 * BertForTokenClassification for tags and summaries, BertForQuestionAnswering); an imported
 * fine-tuned folder its own head again. Every export also carries studio-examples.json (a few
 * held-out inputs with the in-app model's logits), which the parity check reruns through the
 * folder's own tokenizer; a TensorFlow.js export adds the standalone ES module built from the
 * studio's inference code, tfjs itself and an example page.
 *
 * Import: a Hugging Face BERT folder → a finished pre-training run (its weights as the run's one
 * checkpoint, a fine-tuned head kept beside the encoder) and a tokenizer, written in one
 * transaction, so it is offered as a model to fine-tune from.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import Database from 'better-sqlite3'
import * as tf from '@tensorflow/tfjs'
import type { ExportFormat, ParityCheck, TaskKind } from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import type { SnapshotExample } from '../core/data/examples.ts'
import { PretrainDataGenerator, TokenCache, type PretrainDataConfig } from '../core/data/index.ts'
import { checkExamples, STUDIO_EXAMPLES_FILE, STUDIO_EXAMPLES_FORMAT, type StudioExamples } from '../core/inference/examples.ts'
import { storeOutputs, StudioModel, type ClassificationProblem, type EncodedInput, type ModelSpec } from '../core/inference/model.ts'
import { examplePageHtml, PAGE_FILES, tfjsReadme } from '../core/inference/page.ts'
import { PageTokenizer } from '../core/inference/tokenizer.ts'
import {
  BERT_ARCHITECTURES,
  exportHuggingFace,
  exportTfjs,
  importHuggingFace,
  readTfjsModel,
  type BertArchitecture,
  type ExtraFile,
  type ModelCard,
  type ProblemType,
  type WeightArray,
} from '../core/io/index.ts'
import { BertForPreTraining, parameterShapes, type FillMaskInput } from '../core/model/bert.ts'
import { bertConfigFromJson, bertConfigToJson } from '../core/model/config.ts'
import { BertTokenizer, MASK, readTokenizerJson } from '../core/tokenizer/index.ts'
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

/** Questions about the fixed sentences, for a question-answering model without examples of its own (question, passage). */
const QA_SENTENCES: readonly (readonly [string, string])[] = PARITY_SENTENCES.map(([first, second], i) => [
  ['Where did the cat sit?', 'What did she open?', 'What fell on the town?', 'Who did he write to?', 'What rose last year?', 'Where did the children play?', 'What crossed the lake?', 'How did the meeting end?'][i]!,
  `${first} ${second}`,
])

const PARITY_SEQ_LENGTH = 64
const PARITY_BATCH = 8
const PARITY_VALIDATION_BATCHES = 2
/** Inputs written to studio-examples.json, and their longest encoding. */
const REFERENCE_EXAMPLES = 8
const REFERENCE_MAX_LENGTH = 128

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
    /**
     * Weights a pre-training model has no place for (a classifier, QA outputs). They are kept in
     * the checkpoint all the same, so the run exports as the fine-tuned model it came from.
     */
    ignoredWeights: string[]
  }
  /** Kept so the run reads like any pre-training run (fill-mask and fine-tuning read `train`). */
  train: ReturnType<typeof parseTrainConfig>
  data: Partial<PretrainDataConfig>
  totalSteps: number
}

// ---------------------------------------------------------------------------------------------
// What a run exports

/** What a run exports: its architecture and labels (ModelSpec less the config) and its task. */
export interface RunArchitecture extends Omit<ModelSpec, 'bertConfig'> {
  readonly architecture: BertArchitecture
  /** The fine-tuning task, when the run has one. */
  readonly task: TaskKind | null
}

type RunModel = RunArchitecture & ModelSpec

const HEAD_ARCHITECTURES: readonly BertArchitecture[] = ['BertForSequenceClassification', 'BertForTokenClassification', 'BertForQuestionAnswering']
const isLabelList = (value: unknown): value is string[] => Array.isArray(value) && value.every((label) => typeof label === 'string')

/**
 * The architecture a run exports and its labels: what a fine-tuning run's config names (its
 * architecture, id2label, problemType); for a pre-training run BertForPreTraining, unless it was
 * imported from a fine-tuned folder whose head its checkpoint still holds (`weights`).
 */
export function runArchitecture(run: Pick<runStore.RunInfo, 'id' | 'kind' | 'config'>, weights?: ReadonlyMap<string, WeightArray>): RunArchitecture {
  const config = (run.config ?? {}) as { architecture?: unknown; id2label?: unknown; problemType?: unknown; task?: unknown; imported?: ImportedRunConfig['imported'] }
  if (run.kind === 'pretrain') {
    const imported = config.imported
    const head = imported && HEAD_ARCHITECTURES.includes(imported.architecture as BertArchitecture) ? (imported.architecture as BertArchitecture) : null
    const headWeight = head === 'BertForQuestionAnswering' ? 'qa_outputs.bias' : 'classifier.bias'
    const problem = imported?.problemType ?? null
    if (head && weights?.has(headWeight) && problem !== 'regression') {
      const count = weights.get(headWeight)!.shape[0] ?? 0
      const id2label = head === 'BertForQuestionAnswering' ? null : (imported!.id2label ?? Array.from({ length: count }, (_, id) => `LABEL_${id}`))
      return { architecture: head, id2label, problemType: head === 'BertForSequenceClassification' ? problem : null, task: null }
    }
    return { architecture: 'BertForPreTraining', id2label: null, problemType: null, task: null }
  }
  const named = typeof config.architecture === 'string' ? config.architecture : null
  if (named === null) throw new StudioError('UNSUPPORTED', `Run ${run.id} is a ${run.kind} run that names no architecture in its config`)
  if (!BERT_ARCHITECTURES.includes(named as BertArchitecture)) {
    throw new StudioError('UNSUPPORTED', `Run ${run.id}'s architecture is ${JSON.stringify(named)}, expected one of ${BERT_ARCHITECTURES.join(', ')}`)
  }
  const architecture = named as BertArchitecture
  const problemType = config.problemType === 'multi_label_classification' || config.problemType === 'single_label_classification' ? (config.problemType as ClassificationProblem) : null
  const id2label = architecture === 'BertForQuestionAnswering' || architecture === 'BertForPreTraining' ? null : isLabelList(config.id2label) ? config.id2label : null
  if ((architecture === 'BertForSequenceClassification' || architecture === 'BertForTokenClassification') && (id2label === null || id2label.length === 0)) {
    throw new StudioError('CONFLICT', `Run ${run.id} is a ${architecture} whose config lists no labels (id2label)`)
  }
  const task = typeof config.task === 'string' ? (config.task as TaskKind) : null
  return { architecture, id2label, problemType: architecture === 'BertForSequenceClassification' ? (problemType ?? 'single_label_classification') : null, task }
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

// The worker runs as a CommonJS bundle (out/main/worker.js or a chunk beside it); tests run this file as ESM.
const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url))
const nodeRequire: NodeJS.Require = typeof require === 'function' ? require : createRequire(import.meta.url)

/** The example page's two scripts: the studio's built inference module and tfjs' ES module build. */
export function pageScripts(): { module: string; tfjs: string } {
  let module: string | null = null
  for (let dir = here; ; dir = dirname(dir)) {
    module = [join(dir, 'out', 'inference', PAGE_FILES.module), join(dir, 'inference', PAGE_FILES.module)].find((candidate) => existsSync(candidate)) ?? null
    if (module !== null || dirname(dir) === dir) break
  }
  if (module === null) throw new StudioError('INTERNAL', `The page module ${PAGE_FILES.module} was not built (expected out/inference/${PAGE_FILES.module} near ${here}): run npm run build`)
  const tfjs = join(dirname(nodeRequire.resolve('@tensorflow/tfjs/package.json')), 'dist', PAGE_FILES.tfjs)
  if (!existsSync(tfjs)) throw new StudioError('INTERNAL', `${tfjs} is missing: reinstall @tensorflow/tfjs`)
  return { module, tfjs }
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
    const all = checkpointWeights(checkpoint.tensors)
    const spec: RunModel = { ...runArchitecture(run, all), bertConfig }
    const { architecture, id2label, problemType } = spec
    const scripts = input.format === 'tfjs' ? pageScripts() : null

    context.progress({ phase: 'Loading the checkpoint', done: 0, total: 4, items: 0 })
    const inApp = new StudioModel(spec, all)
    let reloaded: StudioModel | null = null
    try {
      // The model's own variables: what it runs on, so what the files must hold.
      const weights = new Map([...inApp.variables.keys()].map((name) => [name, all.get(name)!]))
      const dataset = spec.task === null ? null : frozenDataset(db, run.id)
      const examples = await parityExamples(db, run, spec, tokenizer, input.cacheDir, dataset)

      context.progress({ phase: 'Running the examples', done: 1, total: 4, items: 0 })
      const reference = await referenceExamples(inApp, spec, tokenizer, examples)
      const extraFiles: ExtraFile[] = [{ name: STUDIO_EXAMPLES_FILE, text: JSON.stringify(reference, null, 1) + '\n' }]

      context.progress({ phase: 'Writing the files', done: 2, total: 4, items: 0 })
      let written: { dir: string; files: string[] }
      let ignoredWeights: string[] = []
      const labels = { ...(id2label ? { id2label } : {}), ...(problemType ? { problemType } : {}) }
      if (input.format === 'hf') {
        const result = exportHuggingFace(input.dir, {
          weights,
          bertConfig,
          architecture,
          ...labels,
          tokenizerSpec: tokenizer.spec,
          modelCard: modelCard(db, run, info, spec, dataset),
          extraFiles,
        })
        written = result
        ignoredWeights = result.ignoredWeights
      } else {
        extraFiles.push(
          { name: PAGE_FILES.module, copyFrom: scripts!.module },
          { name: PAGE_FILES.tfjs, copyFrom: scripts!.tfjs },
          { name: PAGE_FILES.page, text: examplePageHtml({ title: run.name, architecture }) },
          { name: 'README.md', text: tfjsReadme({ title: run.name, architecture, labels: id2label, step: info.step }) },
        )
        written = exportTfjs(input.dir, { weights, bertConfig, architecture, ...labels, tokenizerSpec: tokenizer.spec, extraFiles })
      }

      context.progress({ phase: 'Checking the export', done: 3, total: 4, items: 0 })
      const back = input.format === 'hf' ? importHuggingFace(written.dir) : readTfjsModel(written.dir)
      if (back.architecture !== architecture) {
        throw new StudioError('INTERNAL', `${written.dir} reads back as ${back.architecture}, expected ${architecture}`)
      }
      const backProblem = back.problemType === 'regression' ? null : back.problemType
      reloaded = new StudioModel(
        { architecture, bertConfig: bertFrom(back.bertConfig, bertConfig, written.dir), id2label: back.id2label, problemType: architecture === 'BertForSequenceClassification' ? (backProblem ?? 'single_label_classification') : null },
        back.weights,
      )
      if (architecture === 'BertForSequenceClassification' && (backProblem ?? 'single_label_classification') !== (problemType ?? 'single_label_classification')) {
        throw new StudioError('INTERNAL', `${written.dir} reads back as ${backProblem}, expected ${problemType}`)
      }
      if ((back.id2label ?? []).join('\u0000') !== (id2label ?? []).join('\u0000')) {
        throw new StudioError('INTERNAL', `${written.dir} reads back with labels ${JSON.stringify(back.id2label)}, expected ${JSON.stringify(id2label)}`)
      }
      const folderJson = readTokenizerJson(join(written.dir, 'tokenizer.json'))
      const folderTokenizer = BertTokenizer.fromSpec(folderJson)
      // What a page runs: the pure-JS tokenizer on the folder's tokenizer.json; else the folder's tokenizer as transformers would.
      const encodeLikeFolder =
        input.format === 'tfjs'
          ? pageEncoder(new PageTokenizer(readJson(join(written.dir, 'tokenizer.json')), readJson(join(written.dir, 'tokenizer_config.json'))))
          : await nativeEncoder(folderTokenizer, reference)
      const parity = await compare(inApp, reloaded, examples, reference, tokenizer, folderTokenizer, encodeLikeFolder)
      context.progress({ phase: 'Checking the export', done: 4, total: 4, items: examples.batches.length })
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

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'))

/** The read-back config must be the run's, every field. */
function bertFrom(read: BertConfig, expected: BertConfig, dir: string): BertConfig {
  for (const key of Object.keys(expected) as (keyof BertConfig)[]) {
    if (read[key] !== expected[key]) throw new StudioError('INTERNAL', `${dir}: ${key} reads back as ${JSON.stringify(read[key])}, expected ${JSON.stringify(expected[key])}`)
  }
  return read
}

interface FrozenDataset {
  name: string | null
  task: TaskKind
  labels: string[]
  examples: SnapshotExample[]
}

/** A fine-tuning run's frozen examples (migration 8's run_datasets), or null when it has none or they cannot be read. */
function frozenDataset(db: Database.Database, runId: number): FrozenDataset | null {
  const row = db
    .prepare('SELECT r.task, r.labels_json, r.examples, d.name FROM run_datasets r LEFT JOIN datasets d ON d.id = r.dataset_id WHERE r.run_id = ?')
    .get(runId) as { task: TaskKind; labels_json: string; examples: Buffer; name: string | null } | undefined
  if (!row) return null
  try {
    const examples = JSON.parse(gunzipSync(row.examples).toString('utf8')) as unknown
    const labels = JSON.parse(row.labels_json) as unknown
    if (!Array.isArray(examples)) return null
    return { name: row.name, task: row.task, labels: isLabelList(labels) ? labels : [], examples: examples.filter((example): example is SnapshotExample => typeof example?.text === 'string') }
  } catch {
    // Examples that no longer decode: the fixed sentences stand in for them.
    return null
  }
}

const TASK_WORDS: Record<TaskKind, string> = {
  classify: 'text classification (one label per text)',
  multilabel: 'multi-label text classification (any number of labels per text)',
  tag: 'token classification (entity tags, BIO)',
  qa: 'extractive question answering',
  summarize: 'extractive summarisation (each sentence in or out of the summary)',
}

function modelCard(db: Database.Database, run: runStore.RunInfo, checkpoint: runStore.CheckpointInfo, spec: RunModel, dataset: FrozenDataset | null): ModelCard {
  const metrics: Record<string, number | string> = { step: checkpoint.step }
  if (checkpoint.validationLoss !== null) metrics.validation_loss = checkpoint.validationLoss
  const rows = db.prepare("SELECT name, value FROM metrics WHERE run_id = ? AND step = ? AND split = 'validation'").all(run.id, checkpoint.step) as { name: string; value: number | null }[]
  for (const row of rows) if (row.value !== null && row.name !== 'loss') metrics[`validation_${row.name}`] = row.value
  // The held-out test split's metrics: of this checkpoint when it was evaluated, else the latest evaluation.
  const evaluation = db
    .prepare("SELECT checkpoint_step, metrics_json FROM evaluations WHERE run_id = ? AND split = 'test' ORDER BY checkpoint_step = ? DESC, id DESC LIMIT 1")
    .get(run.id, checkpoint.step) as { checkpoint_step: number; metrics_json: string } | undefined
  if (evaluation) {
    const body = JSON.parse(evaluation.metrics_json) as { metrics?: Record<string, unknown>; examples?: unknown }
    for (const [name, value] of Object.entries(body.metrics ?? {})) if (typeof value === 'number' && Number.isFinite(value)) metrics[`test_${name}`] = value
    if (typeof body.examples === 'number') metrics.test_examples = body.examples
    if (evaluation.checkpoint_step !== checkpoint.step) metrics.test_evaluated_at_step = evaluation.checkpoint_step
  }

  const data: { name: string; size?: string; description?: string }[] = []
  const corpus =
    run.corpusId === null
      ? undefined
      : (db.prepare('SELECT name, stats_json FROM corpora WHERE id = ?').get(run.corpusId) as { name: string; stats_json: string } | undefined)
  if (dataset) {
    const counts = { train: 0, validation: 0, test: 0 }
    for (const example of dataset.examples) if (example.split in counts) counts[example.split]++
    data.push({
      name: dataset.name ?? 'labelled examples',
      size: `${counts.train.toLocaleString('en-US')} train, ${counts.validation.toLocaleString('en-US')} validation, ${counts.test.toLocaleString('en-US')} test examples`,
      description: `a ${dataset.task} dataset${dataset.labels.length > 0 ? ` with labels ${dataset.labels.join(', ')}` : ''}${corpus ? `, from the corpus "${corpus.name}"` : ''}`,
    })
  } else if (corpus) {
    const documents = (JSON.parse(corpus.stats_json) as { documents?: number }).documents
    data.push({ name: corpus.name, ...(documents !== undefined ? { size: `${documents.toLocaleString('en-US')} documents` } : {}) })
  }
  const parent = run.parentRunId === null ? undefined : runStore.getRun(db, run.parentRunId)
  const imported = (run.config as Partial<ImportedRunConfig> | null)?.imported
  const task = spec.task
  return {
    title: run.name,
    description:
      `Exported from BERT Studio: run "${run.name}", checkpoint of step ${checkpoint.step} (${checkpoint.kind}).` +
      (parent ? ` Fine-tuned from the run "${parent.name}".` : '') +
      (imported ? ` Imported from ${imported.source} (${imported.architecture}).` : ''),
    ...(task ? { task: TASK_WORDS[task] } : {}),
    ...(data.length > 0 ? { data } : {}),
    metrics,
    trainingConfig: run.config,
    ...(parent ? { baseModel: parent.name } : {}),
    date: new Date(),
    tags: [run.kind === 'pretrain' ? 'pre-training' : 'fine-tuning', ...(task ? [task] : [])],
  }
}

interface ParityExamples {
  source: ParityCheck['source']
  /** In words, for studio-examples.json. */
  description: string
  batches: FillMaskInput[]
  /** Inputs the tokenizers and the reference outputs run on: (text, pair). */
  texts: readonly (readonly [string, string | null])[]
}

/** Fixed sentences with a word masked, for the pre-training head's reference outputs. */
const MASKED_SENTENCES: readonly (readonly [string, string])[] = PARITY_SENTENCES.slice(0, 4).map(([first, second]) => {
  const words = first.split(' ')
  words[1] = MASK
  return [words.join(' '), second]
})

/**
 * The inputs of the parity check: a pre-training run's held-out batches when its token cache is
 * at hand; a fine-tuning run's frozen held-out examples (test split first); else fixed sentences.
 */
async function parityExamples(db: Database.Database, run: runStore.RunInfo, spec: RunModel, tokenizer: BertTokenizer, cacheDir: string, dataset: FrozenDataset | null): Promise<ParityExamples> {
  const config = spec.bertConfig
  if (spec.architecture === 'BertForPreTraining') {
    const validation = validationBatches(db, run, tokenizer, cacheDir)
    if (validation.length > 0) return { source: 'validation', description: 'fixed sentences (the parity check also ran the run’s validation batches)', batches: validation, texts: MASKED_SENTENCES }
    return { source: 'sentences', description: 'fixed sentences', batches: [await paddedBatch(tokenizer, PARITY_SENTENCES, config, true)], texts: MASKED_SENTENCES }
  }
  const qa = spec.architecture === 'BertForQuestionAnswering'
  const chosen = dataset ? heldOut(dataset.examples, qa) : []
  const texts = chosen.length > 0 ? chosen : qa ? QA_SENTENCES : PARITY_SENTENCES.map(([first, second]) => [`${first} ${second}`, null] as const)
  const source = chosen.length > 0 ? 'examples' : 'sentences'
  return {
    source,
    description: source === 'examples' ? `held-out examples of the run's dataset${dataset?.name ? ` "${dataset.name}"` : ''}` : 'fixed sentences',
    batches: [await paddedBatch(tokenizer, texts, config, false)],
    texts,
  }
}

/** Up to REFERENCE_EXAMPLES inputs, test split first, then validation, then the rest; QA as (question, passage). */
function heldOut(examples: readonly SnapshotExample[], qa: boolean): [string, string | null][] {
  const order = { test: 0, validation: 1, train: 2 } as const
  const sorted = [...examples].sort((a, b) => (order[a.split] ?? 3) - (order[b.split] ?? 3))
  const inputs: [string, string | null][] = []
  for (const example of sorted) {
    if (inputs.length >= REFERENCE_EXAMPLES) break
    if (qa) {
      const question = example.value?.kind === 'qa' ? example.value.items[0]?.question : undefined
      if (question !== undefined) inputs.push([question, example.text])
    } else if (example.text.trim() !== '') inputs.push([example.text, null])
  }
  return inputs
}

/** One batch of the inputs padded to a common length; with `everyPosition`, the MLM head is read at every token. */
async function paddedBatch(tokenizer: BertTokenizer, texts: readonly (readonly [string, string | null])[], config: BertConfig, everyPosition: boolean): Promise<FillMaskInput> {
  const seqLength = Math.min(PARITY_SEQ_LENGTH, config.max_position_embeddings)
  const encoded = await tokenizer.encodeBatch(
    texts.map(([text, pair]) => (pair === null ? text : [text, pair])),
    { maxLength: seqLength, padToMaxLength: true },
  )
  const B = encoded.length
  const flat = (key: 'inputIds' | 'tokenTypeIds' | 'attentionMask') => Int32Array.from(encoded.flatMap((e) => e[key]))
  const maxPredictions = everyPosition ? seqLength : 1
  const maskedPositions = Int32Array.from({ length: B * maxPredictions }, (_, i) => (everyPosition ? i % seqLength : 0))
  return { batchSize: B, seqLength, maxPredictions, inputIds: flat('inputIds'), tokenTypeIds: flat('tokenTypeIds'), attentionMask: flat('attentionMask'), maskedPositions }
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

/** studio-examples.json: the inputs, the run's token ids for them, and the in-app model's outputs on each alone. */
async function referenceExamples(model: StudioModel, spec: RunModel, tokenizer: BertTokenizer, examples: ParityExamples): Promise<StudioExamples> {
  const maxLength = Math.min(REFERENCE_MAX_LENGTH, spec.bertConfig.max_position_embeddings)
  const texts = examples.texts.slice(0, REFERENCE_EXAMPLES)
  const encoded = await Promise.all(texts.map(([text, pair]) => tokenizer.encode(text, pair, { maxLength })))
  const outputs = await model.run(encoded, { maskTokenId: tokenizer.tokenToId(MASK) })
  return {
    format: STUDIO_EXAMPLES_FORMAT,
    formatVersion: 1,
    architecture: spec.architecture,
    labels: spec.id2label,
    problemType: spec.problemType,
    source: examples.description,
    maxLength,
    tolerance: PARITY_TOLERANCE,
    examples: texts.map(([text, pair], i) => ({
      text,
      pair,
      inputIds: encoded[i]!.inputIds,
      tokenTypeIds: encoded[i]!.tokenTypeIds,
      outputs: storeOutputs(outputs[i]!),
    })),
  }
}

type FolderEncoder = (text: string, pair: string | null, maxLength: number) => EncodedInput

function pageEncoder(tokenizer: PageTokenizer): FolderEncoder {
  return (text, pair, maxLength) => tokenizer.encode(text, pair, { maxLength })
}

/** The native tokenizer is asynchronous; checkExamples wants a synchronous encoder, so the examples are encoded first. */
async function nativeEncoder(tokenizer: BertTokenizer, reference: StudioExamples): Promise<FolderEncoder> {
  const encoded = await Promise.all(reference.examples.map((example) => tokenizer.encode(example.text, example.pair, { maxLength: reference.maxLength })))
  const byInput = new Map(reference.examples.map((example, i) => [JSON.stringify([example.text, example.pair]), encoded[i]!]))
  return (text, pair) => {
    const found = byInput.get(JSON.stringify([text, pair]))
    if (!found) throw new StudioError('INTERNAL', `No encoding prepared for ${JSON.stringify(text)}`)
    return found
  }
}

async function compare(
  inApp: StudioModel,
  reloaded: StudioModel,
  examples: ParityExamples,
  reference: StudioExamples,
  tokenizer: BertTokenizer,
  folderTokenizer: BertTokenizer,
  encodeLikeFolder: FolderEncoder,
): Promise<ParityCheck> {
  let maxAbsDiff = 0
  let values = 0
  let examplesRun = 0
  const fold = (difference: number) => {
    // NaN must fail the check, so it is kept rather than lost in Math.max.
    maxAbsDiff = Number.isNaN(difference) || Number.isNaN(maxAbsDiff) ? NaN : Math.max(maxAbsDiff, difference)
  }
  for (const batch of examples.batches) {
    const difference = tf.tidy(() => {
      const expected = inApp.batchLogits(batch)
      const actual = reloaded.batchLogits(batch)
      values += expected.size
      return tf.max(tf.abs(tf.sub(expected, actual)))
    })
    const [diff] = await difference.data()
    difference.dispose()
    examplesRun += batch.batchSize
    fold(diff!)
  }
  // studio-examples.json as another runtime would use it: the folder's tokenizer, the files' weights.
  const maskTokenId = folderTokenizer.tokenToId(MASK)
  const fileCheck = await checkExamples(reference, encodeLikeFolder, async (input) => (await reloaded.run([input], maskTokenId === undefined ? {} : { maskTokenId }))[0]!)
  fold(fileCheck.maxAbsDiff)
  examplesRun += reference.examples.length
  for (const example of reference.examples) {
    const outputs = example.outputs
    values += outputs.kind === 'sequence' ? outputs.logits.length : outputs.kind === 'token' ? outputs.logits.flat().length : outputs.kind === 'span' ? 2 * outputs.start.length : outputs.nsp.length + outputs.masks.reduce((sum, mask) => sum + mask.top.length, 0)
  }
  const texts = examples.texts.map(([text, pair]) => (pair === null ? text : ([text, pair] as [string, string])))
  const [ours, theirs] = await Promise.all([tokenizer.encodeBatch(texts), folderTokenizer.encodeBatch(texts)])
  const tokenizerMatches =
    fileCheck.idsMatch && ours.every((encoded, i) => encoded.inputIds.join(' ') === theirs[i]!.inputIds.join(' ') && encoded.tokenTypeIds.join(' ') === theirs[i]!.tokenTypeIds.join(' '))
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
  // A fine-tuned head rides along after the pre-training variables: fine-tuning from the run may
  // start from it (when its labels fit), and the run exports as the model it was.
  const kept: [string, number[]][] = [...shapes, ...ignoredWeights.map((name): [string, number[]] => [name, [...imported.weights.get(name)!.shape]])]
  const tensors: TensorRecord[] = kept.map(([name, shape]) => {
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
