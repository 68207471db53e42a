/**
 * Fine-tuned runs built by hand: a heads.ts model of a tiny config (random weights), written as a
 * finished 'finetune' run through the same store functions training uses (its checkpoint, its
 * frozen examples, a test evaluation), with the config fields a fine-tuning run stores
 * (task, architecture, id2label, problemType). The export tests run on these without training.
 */
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import type { TaskKind } from '../../../src-main/contract/index.ts'
import type { SnapshotExample } from '../../../src-main/core/data/examples.ts'
import * as tf from '@tensorflow/tfjs'
import type { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { makeBertConfig } from '../../../src-main/core/model/config.ts'
import { BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification } from '../../../src-main/core/model/heads.ts'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'
import { CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, engineVersions, layout, serializeCheckpoint, type TensorRecord } from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig } from '../../../src-main/core/train/config.ts'
import type { BertConfig } from '../../../src-main/core/train/types.ts'
import type { Db } from '../../../src-main/store/index.ts'
import * as runStore from '../../../src-main/store/runs.ts'
import { tokenizerStore } from '../../../src-main/store/tokenizers.ts'

export const TEXTS = [
  'the film was great and we loved it',
  'an awful movie , we hated every minute',
  'john smith lives in paris , the capital of france',
  'mary went to london with her dog',
  'the cat sat on the mat in the red house',
  'what a good game , the team won the cup',
  'it was a bad day at the park',
  'the blue boat crossed the small lake',
  'she wrote a long letter to her brother',
  'the children played in the green garden',
]

export const QUESTIONS = ['who lives in paris ?', 'where did mary go ?', 'where did the cat sit ?', 'what did the team win ?']

const words = [...new Set([...TEXTS, ...QUESTIONS].flatMap((text) => text.split(' ')))].sort()
export const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words, '##s', '##ed', '##ing']

export const tokenizer = BertTokenizer.fromVocab(VOCAB, { lowercase: true })

/** Hidden 32, 2 layers: enough for every code path, fast on the cpu backend. */
export const tinyConfig = (overrides: Partial<BertConfig> = {}): BertConfig =>
  makeBertConfig({
    vocab_size: VOCAB.length + 3,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    intermediate_size: 48,
    max_position_embeddings: 128,
    // Larger than BERT's 0.02, so logits differ visibly between inputs.
    initializer_range: 0.3,
    ...overrides,
  })

export type FinetuneModel = BertForSequenceClassification | BertForTokenClassification | BertForQuestionAnswering

export interface FinetunedRunOptions {
  projectId: number
  tokenizerId: number
  name: string
  task: TaskKind
  /** Class names (classify, multilabel), entity types (tag); empty for qa and summarize. */
  labels: string[]
  examples: SnapshotExample[]
  datasetId?: number | null
  parentRunId?: number | null
  seed?: number
  config?: BertConfig
  /** Metrics of a stored test evaluation (none when absent). */
  testMetrics?: Record<string, number>
  step?: number
}

export const architectureOf = (task: TaskKind) =>
  task === 'classify' || task === 'multilabel' ? 'BertForSequenceClassification' : task === 'qa' ? 'BertForQuestionAnswering' : 'BertForTokenClassification'

export function id2labelOf(task: TaskKind, labels: readonly string[]): string[] {
  if (task === 'tag') return ['O', ...labels.flatMap((label) => [`B-${label}`, `I-${label}`])]
  if (task === 'summarize') return ['out', 'in']
  if (task === 'qa') return []
  return [...labels]
}

export function buildModel(task: TaskKind, labels: readonly string[], config: BertConfig, seed: number): FinetuneModel {
  const numLabels = id2labelOf(task, labels).length
  if (task === 'classify') return new BertForSequenceClassification(config, { numLabels, seed })
  if (task === 'multilabel') return new BertForSequenceClassification(config, { numLabels, seed, problemType: 'multi_label_classification' })
  if (task === 'qa') return new BertForQuestionAnswering(config, { seed })
  return new BertForTokenClassification(config, { numLabels, seed })
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

export function addTokenizer(db: Db, projectId: number, name = 'tiny words'): number {
  const json = JSON.stringify(tokenizer.json)
  return tokenizerStore.insert(db, {
    projectId,
    name,
    origin: 'imported',
    corpusId: null,
    sourceName: 'vocab.txt',
    options: null,
    tokenizerJson: json,
    vocabSize: VOCAB.length,
    lowercase: true,
    hash: sha256(json),
    train: null,
    diagnostics: null,
  })
}

/** Examples split train/validation/test in turn (test first in the list for QA questions). */
export function snapshotExamples(task: TaskKind, labels: readonly string[]): SnapshotExample[] {
  const splits = ['test', 'validation', 'train'] as const
  return TEXTS.map((text, i): SnapshotExample => {
    const split = splits[i % 3]!
    const base = { text, source: `document ${i + 1}`, documentId: null, split }
    switch (task) {
      case 'classify':
        return { ...base, value: { kind: 'classes', labels: [labels[i % labels.length]!] } }
      case 'multilabel':
        return { ...base, value: { kind: 'classes', labels: labels.filter((_, c) => (i + c) % 2 === 0) } }
      case 'tag':
        return { ...base, value: { kind: 'spans', spans: [{ start: 0, end: text.indexOf(' '), label: labels[0]! }] } }
      case 'summarize':
        return { ...base, value: { kind: 'summary', sentences: [0] } }
      case 'qa': {
        const question = QUESTIONS[i % QUESTIONS.length]!
        return { ...base, value: { kind: 'qa', items: [{ question, start: 0, end: 4 }] } }
      }
    }
  })
}

/** A finished pre-training run holding `model`'s weights (a BertForPreTraining) as its final checkpoint. */
export function savePretrainedRun(db: Db, model: BertForPreTraining, options: { projectId: number; tokenizerId: number; name: string }): number {
  const run = runStore.createRun(db, { projectId: options.projectId, kind: 'pretrain', name: options.name, config: {}, modelConfig: JSON.parse(JSON.stringify(model.config)), tokenizerId: options.tokenizerId })
  runStore.saveCheckpoint(db, run.id, 4, [], checkpointOf(model.variables, model.config, 4), { kind: 'final', status: 'done' })
  return run.id
}

function checkpointOf(variables: ReadonlyMap<string, tf.Variable>, config: BertConfig, step: number) {
  const tensors: TensorRecord[] = [...variables].map(([name, variable]) => {
    const values = variable.dataSync() as Float32Array
    return { name, dtype: 'float32', shape: [...variable.shape], data: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) }
  })
  const train = parseTrainConfig({ steps: step })
  return serializeCheckpoint({
    manifest: {
      format: CHECKPOINT_FORMAT,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      step,
      optimizerStep: step,
      scheduleStep: step,
      epoch: 1,
      dataPosition: null,
      rng: { seed: 0, dropout: 'murmur3(seed, step, micro-batch)' },
      datasetHash: null,
      tokenizerHash: null,
      trainConfig: train,
      modelConfig: JSON.parse(JSON.stringify(config)) as unknown,
      versions: engineVersions('test'),
      validationLoss: 0.5,
      byteOrder: 'little',
      ...layout(tensors),
    },
    tensors,
  })
}

/** Writes a finished fine-tuning run holding `model`'s weights as its best checkpoint. */
export function saveFinetunedRun(db: Db, model: FinetuneModel, options: FinetunedRunOptions): { runId: number; checkpointId: number } {
  const config = model.config
  const step = options.step ?? 12
  const id2label = id2labelOf(options.task, options.labels)
  const architecture = architectureOf(options.task)
  const train = parseTrainConfig({ steps: step })
  const modelConfig = JSON.parse(JSON.stringify(config)) as unknown
  const checkpoint = checkpointOf(model.variables, config, step)
  return db.transaction(() => {
    const run = runStore.createRun(db, {
      projectId: options.projectId,
      kind: 'finetune',
      name: options.name,
      // The fields of a fine-tuning run's stored config that export reads.
      config: { task: options.task, architecture, id2label, problemType: options.task === 'multilabel' ? 'multi_label_classification' : options.task === 'classify' ? 'single_label_classification' : null, train },
      modelConfig,
      corpusId: null,
      tokenizerId: options.tokenizerId,
      parentRunId: options.parentRunId ?? null,
    })
    const metrics: runStore.MetricRow[] = [
      { step, split: 'validation', name: 'loss', value: 0.5, wallTime: 1 },
      { step, split: 'validation', name: 'accuracy', value: 0.75, wallTime: 1 },
    ]
    const info = runStore.saveCheckpoint(db, run.id, step, metrics, checkpoint, { kind: 'best', status: 'done' })
    db.prepare('INSERT INTO run_datasets (run_id, dataset_id, task, labels_json, examples) VALUES (?, ?, ?, ?, ?)').run(
      run.id,
      options.datasetId ?? null,
      options.task,
      JSON.stringify(options.labels),
      gzipJson(options.examples),
    )
    if (options.testMetrics) {
      db.prepare("INSERT INTO evaluations (run_id, checkpoint_step, split, metrics_json, predictions) VALUES (?, ?, 'test', ?, ?)").run(
        run.id,
        step,
        JSON.stringify({ task: options.task, examples: 4, metrics: options.testMetrics, labels: options.labels, perClass: [], confusion: null, calibration: [] }),
        gzipJson([]),
      )
    }
    return { runId: run.id, checkpointId: info.id }
  })()
}

const gzipJson = (value: unknown) => gzipSync(Buffer.from(JSON.stringify(value), 'utf8'))
