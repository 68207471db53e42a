/**
 * Export of fine-tuned runs through the studio (the worker's export task, as built): the Hugging
 * Face layout of each head exactly as transformers names and shapes it, config.json labels, the
 * model card, the parity check on the run's held-out examples, the TensorFlow.js folder with its
 * page files, and the round trip export → import → export.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskKind } from '../../../src-main/contract/index.ts'
import type { Prediction } from '../../../src-main/core/inference/browser.ts'
import { parseStudioExamples, type ExamplesCheck } from '../../../src-main/core/inference/examples.ts'
import { StudioModel, type ModelSpec } from '../../../src-main/core/inference/model.ts'
import { SafetensorsFile } from '../../../src-main/core/io/safetensors.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import * as runStore from '../../../src-main/store/runs.ts'
import { checkpointWeights } from '../../../src-main/worker/export-task.ts'
import { repoRoot, tempDir } from '../helpers.ts'
import { addTokenizer, buildModel, id2labelOf, saveFinetunedRun, snapshotExamples, tinyConfig, tokenizer, type FinetuneModel } from './fixtures.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
const run = promisify(execFile)
const config = tinyConfig()
const H = config.hidden_size
const I = config.intermediate_size

let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number
let tokenizerId: number
let parentRunId: number
const models: FinetuneModel[] = []

beforeAll(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  process.env.STUDIO_BACKEND = 'cpu'
  await initBackend('cpu', {})
  home = tempDir('studio-models-')
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('Fine-tuned exports').id
  tokenizerId = addTokenizer(studio.db, projectId)
  parentRunId = runStore.createRun(studio.db, { projectId, kind: 'pretrain', name: 'tiny base', config: {}, modelConfig: config, tokenizerId }).id
}, 60_000)

afterAll(() => {
  for (const model of models) model.dispose()
  studio?.close()
  home?.cleanup()
  delete process.env.STUDIO_BACKEND
})

function finetuned(task: TaskKind, labels: string[], name: string, extra: { testMetrics?: Record<string, number>; seed?: number } = {}) {
  const model = buildModel(task, labels, config, extra.seed ?? 3)
  models.push(model)
  const { runId } = saveFinetunedRun(studio.db, model, {
    projectId,
    tokenizerId,
    name,
    task,
    labels,
    examples: snapshotExamples(task, labels),
    parentRunId,
    ...(extra.testMetrics ? { testMetrics: extra.testMetrics } : {}),
  })
  return { runId, model }
}

/** Every tensor of a safetensors file with its shape. */
function tensorShapes(path: string): Record<string, number[]> {
  const file = SafetensorsFile.open(path)
  try {
    return Object.fromEntries(file.names().map((name) => [name, [...file.info(name).shape]]))
  } finally {
    file.close()
  }
}

/** The encoder's tensors as transformers names and shapes them (nn.Linear [out, in]). */
function encoderShapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = {
    'bert.embeddings.word_embeddings.weight': [config.vocab_size, H],
    'bert.embeddings.position_embeddings.weight': [config.max_position_embeddings, H],
    'bert.embeddings.token_type_embeddings.weight': [config.type_vocab_size, H],
    'bert.embeddings.LayerNorm.weight': [H],
    'bert.embeddings.LayerNorm.bias': [H],
  }
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const p = `bert.encoder.layer.${layer}`
    for (const part of ['query', 'key', 'value']) Object.assign(shapes, { [`${p}.attention.self.${part}.weight`]: [H, H], [`${p}.attention.self.${part}.bias`]: [H] })
    Object.assign(shapes, {
      [`${p}.attention.output.dense.weight`]: [H, H],
      [`${p}.attention.output.dense.bias`]: [H],
      [`${p}.attention.output.LayerNorm.weight`]: [H],
      [`${p}.attention.output.LayerNorm.bias`]: [H],
      [`${p}.intermediate.dense.weight`]: [I, H],
      [`${p}.intermediate.dense.bias`]: [I],
      [`${p}.output.dense.weight`]: [H, I],
      [`${p}.output.dense.bias`]: [H],
      [`${p}.output.LayerNorm.weight`]: [H],
      [`${p}.output.LayerNorm.bias`]: [H],
    })
  }
  return shapes
}

const pooler = { 'bert.pooler.dense.weight': [H, H], 'bert.pooler.dense.bias': [H] }
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'))

describe('Hugging Face export of fine-tuned runs', () => {
  it('BertForSequenceClassification: transformers names and shapes, labels, model card, parity on held-out examples', async () => {
    const labels = ['negative', 'neutral', 'positive']
    const { runId } = finetuned('classify', labels, 'sentiment', { testMetrics: { accuracy: 0.8125, macro_f1: 0.79 } })
    const dir = join(home.path, 'sentiment-hf')
    const exported = await studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir })
    expect(exported).toMatchObject({ architecture: 'BertForSequenceClassification', folder: dir, checkpoint: { step: 12, chosenAs: 'best' } })
    expect(exported.parity).toMatchObject({ source: 'examples', passed: true, tokenizerMatches: true, tolerance: 1e-4 })
    expect(exported.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(exported.files.map((file) => file.name).sort()).toEqual([
      'README.md', 'config.json', 'model.safetensors', 'special_tokens_map.json', 'studio-examples.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt',
    ])

    expect(tensorShapes(join(dir, 'model.safetensors'))).toEqual({ ...encoderShapes(), ...pooler, 'classifier.weight': [3, H], 'classifier.bias': [3] })
    const json = readJson(join(dir, 'config.json'))
    expect(json).toMatchObject({
      architectures: ['BertForSequenceClassification'],
      model_type: 'bert',
      hidden_size: H,
      id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' },
      label2id: { negative: 0, neutral: 1, positive: 2 },
      problem_type: 'single_label_classification',
    })

    const card = readFileSync(join(dir, 'README.md'), 'utf8')
    expect(card).toContain('pipeline_tag: text-classification')
    expect(card).toContain('base_model: "tiny base"')
    expect(card).toContain('text classification (one label per text)')
    expect(card).toMatch(/Labels: `negative`, `neutral`, `positive`/)
    expect(card).toMatch(/4 train, 3 validation, 3 test examples|3 train, 3 validation, 4 test examples/)
    expect(card).toContain('| test_accuracy | 0.8125 |')
    expect(card).toContain('| validation_accuracy | 0.75 |')
    expect(card).toContain('"task": "classify"')
    expect(card).toMatch(/exported \d{4}-\d{2}-\d{2}/)

    // The reference file holds the held-out (test split first) inputs with the studio's logits.
    const examples = parseStudioExamples(readJson(join(dir, 'studio-examples.json')))
    expect(examples).toMatchObject({ architecture: 'BertForSequenceClassification', labels, problemType: 'single_label_classification', tolerance: 1e-4 })
    const test = snapshotExamples('classify', labels).filter((example) => example.split === 'test').map((example) => example.text)
    expect(examples.examples.slice(0, test.length).map((example) => example.text)).toEqual(test)
    for (const example of examples.examples) {
      expect(example.outputs.kind).toBe('sequence')
      expect(example.inputIds).toEqual((await tokenizer.encode(example.text, null, { maxLength: examples.maxLength })).inputIds)
    }
  }, 60_000)

  it('multi-label classification writes problem_type multi_label_classification', async () => {
    const labels = ['sport', 'place', 'animal', 'feeling']
    const { runId } = finetuned('multilabel', labels, 'topics')
    const dir = join(home.path, 'topics-hf')
    const exported = await studio.models.export({ runId, checkpoint: 'last', format: 'hf', dir })
    expect(exported.parity).toMatchObject({ passed: true, source: 'examples' })
    expect(readJson(join(dir, 'config.json'))).toMatchObject({ architectures: ['BertForSequenceClassification'], problem_type: 'multi_label_classification', id2label: { 3: 'feeling' } })
    expect(tensorShapes(join(dir, 'model.safetensors'))['classifier.weight']).toEqual([4, H])
  }, 60_000)

  it('BertForTokenClassification (tags and summaries): BIO labels, no pooler', async () => {
    const tags = finetuned('tag', ['PER', 'LOC'], 'people and places')
    const dir = join(home.path, 'tagger-hf')
    const exported = await studio.models.export({ runId: tags.runId, checkpoint: 'best', format: 'hf', dir })
    expect(exported).toMatchObject({ architecture: 'BertForTokenClassification', parity: { passed: true, source: 'examples' } })
    expect(tensorShapes(join(dir, 'model.safetensors'))).toEqual({ ...encoderShapes(), 'classifier.weight': [5, H], 'classifier.bias': [5] })
    const json = readJson(join(dir, 'config.json'))
    expect(json.id2label).toEqual({ 0: 'O', 1: 'B-PER', 2: 'I-PER', 3: 'B-LOC', 4: 'I-LOC' })
    expect(json.problem_type).toBeUndefined()
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('pipeline_tag: token-classification')
    expect(parseStudioExamples(readJson(join(dir, 'studio-examples.json'))).examples[0]!.outputs.kind).toBe('token')

    const summaries = finetuned('summarize', [], 'summaries')
    const summaryDir = join(home.path, 'summaries-hf')
    const summary = await studio.models.export({ runId: summaries.runId, checkpoint: 'best', format: 'hf', dir: summaryDir })
    expect(summary).toMatchObject({ architecture: 'BertForTokenClassification', parity: { passed: true } })
    expect(readJson(join(summaryDir, 'config.json')).id2label).toEqual({ 0: 'out', 1: 'in' })
    expect(readFileSync(join(summaryDir, 'README.md'), 'utf8')).toContain('extractive summarisation')
  }, 60_000)

  it('BertForQuestionAnswering: qa_outputs [2, H], no labels, parity on (question, passage) pairs', async () => {
    const { runId } = finetuned('qa', [], 'reader')
    const dir = join(home.path, 'reader-hf')
    const exported = await studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir })
    expect(exported).toMatchObject({ architecture: 'BertForQuestionAnswering', parity: { passed: true, source: 'examples', tokenizerMatches: true } })
    expect(tensorShapes(join(dir, 'model.safetensors'))).toEqual({ ...encoderShapes(), 'qa_outputs.weight': [2, H], 'qa_outputs.bias': [2] })
    const json = readJson(join(dir, 'config.json'))
    expect(json.architectures).toEqual(['BertForQuestionAnswering'])
    expect(json.id2label).toBeUndefined()
    const examples = parseStudioExamples(readJson(join(dir, 'studio-examples.json')))
    // Question first, passage second, as transformers' question-answering pipeline encodes them.
    expect(examples.examples[0]).toMatchObject({ text: expect.stringMatching(/\?$/), pair: expect.any(String), outputs: { kind: 'span' } })
    expect(examples.examples[0]!.tokenTypeIds).toContain(1)
  }, 60_000)

  it('refuses a fine-tuning run whose config lists no labels, and writes nothing', async () => {
    const model = buildModel('classify', ['a', 'b'], config, 5)
    models.push(model)
    const { runId } = saveFinetunedRun(studio.db, model, { projectId, tokenizerId, name: 'unlabelled', task: 'classify', labels: ['a', 'b'], examples: [] })
    const stored = runStore.getRun(studio.db, runId)!
    studio.db.prepare('UPDATE runs SET config_json = ? WHERE id = ?').run(JSON.stringify({ ...(stored.config as object), id2label: null }), runId)
    const dir = join(home.path, 'unlabelled')
    await expect(studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('no labels') })
    expect(existsSync(dir)).toBe(false)
  }, 60_000)

  it('a run whose frozen examples are gone is checked on fixed sentences', async () => {
    const { runId } = finetuned('classify', ['x', 'y'], 'no examples')
    studio.db.prepare('DELETE FROM run_datasets WHERE run_id = ?').run(runId)
    const exported = await studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir: join(home.path, 'no-examples') })
    expect(exported.parity).toMatchObject({ source: 'sentences', passed: true })
  }, 60_000)
})

describe('TensorFlow.js export of a fine-tuned classifier', () => {
  it('writes model.json with the labels and problem type, the shards, the tokenizer and the example page', async () => {
    const { runId } = finetuned('multilabel', ['sport', 'place', 'animal'], 'topics web')
    const dir = join(home.path, 'topics-tfjs')
    const exported = await studio.models.export({ runId, checkpoint: 'best', format: 'tfjs', dir })
    expect(exported.parity).toMatchObject({ passed: true, source: 'examples', tokenizerMatches: true })
    expect(exported.files.map((file) => file.name).sort()).toEqual([
      'README.md', 'bert-studio-model.js', 'group1-shard1of1.bin', 'index.html', 'model.json', 'special_tokens_map.json', 'studio-examples.json', 'tf.fesm.min.js',
      'tokenizer.json', 'tokenizer_config.json', 'vocab.txt',
    ])
    const modelJson = readJson(join(dir, 'model.json'))
    expect(modelJson).toMatchObject({ architecture: 'BertForSequenceClassification', id2label: ['sport', 'place', 'animal'], problemType: 'multi_label_classification' })
    const names = modelJson.weightsManifest[0].weights.map((weight: { name: string }) => weight.name)
    expect(names).toContain('classifier.weight')
    expect(names).toContain('bert.pooler.dense.weight')
    expect(names.some((name: string) => name.startsWith('cls.'))).toBe(false)
    // The page's module is the studio's build, importing tfjs as the page maps it.
    expect(readFileSync(join(dir, 'bert-studio-model.js'), 'utf8')).toMatch(/^import \* as tf from "@tensorflow\/tfjs";/m)
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toContain('"@tensorflow/tfjs": "./tf.fesm.min.js"')
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('python3 -m http.server')
    // The copy is the build's.
    expect(readFileSync(join(dir, 'bert-studio-model.js')).equals(readFileSync(join(repoRoot, 'out', 'inference', 'bert-studio-model.js')))).toBe(true)
  }, 60_000)

  it('the exported module, served over HTTP, loads the folder and predicts as the studio does', async () => {
    const labels = ['negative', 'neutral', 'positive']
    const { runId, model } = finetuned('classify', labels, 'served', { seed: 21 })
    const dir = join(home.path, 'served-tfjs')
    await studio.models.export({ runId, checkpoint: 'best', format: 'tfjs', dir })
    const server = await serveFolder(dir)
    const inApp = new StudioModel({ architecture: 'BertForSequenceClassification', bertConfig: config, id2label: labels, problemType: 'single_label_classification' }, model.variables)
    try {
      const text = 'the cat sat on the mat , we loved it'
      const result = await runModule(`${server.url}/`, text)
      expect(result.error).toBeUndefined()
      expect(result.spec).toMatchObject({ architecture: 'BertForSequenceClassification', id2label: labels, problemType: 'single_label_classification' })
      const check = result.check!
      expect(check).toMatchObject({ passed: true, idsMatch: true })
      expect(check.examples.length).toBeGreaterThan(2)
      expect(check.maxAbsDiff).toBeLessThanOrEqual(1e-4)

      const prediction = result.prediction!
      const [expected] = await inApp.run([await tokenizer.encode(text)])
      expect(prediction.inputIds).toEqual((await tokenizer.encode(text)).inputIds)
      expect(prediction.outputs.kind).toBe('sequence')
      const actual = (prediction.outputs as { logits: number[] }).logits
      const wanted = (expected as { logits: number[] }).logits
      expect(Math.max(...actual.map((logit, i) => Math.abs(logit - wanted[i]!)))).toBeLessThanOrEqual(1e-5)
      expect(prediction.reading).toMatchObject({ kind: 'sequence', multiLabel: false })
      const reading = prediction.reading as { labels: { label: string; probability: number; chosen: boolean }[] }
      expect(reading.labels.map((entry) => entry.label).sort()).toEqual([...labels].sort())
      expect(reading.labels.filter((entry) => entry.chosen)).toHaveLength(1)
      expect(reading.labels.reduce((sum, entry) => sum + entry.probability, 0)).toBeCloseTo(1, 5)
    } finally {
      inApp.dispose()
      await server.close()
    }
  }, 60_000)

  it('the module refuses a model.json whose weight paths leave the folder', async () => {
    const dir = join(home.path, 'escape-tfjs')
    const { runId } = finetuned('classify', ['a', 'b'], 'escape')
    await studio.models.export({ runId, checkpoint: 'best', format: 'tfjs', dir })
    const modelJson = readJson(join(dir, 'model.json'))
    modelJson.weightsManifest[0].paths = ['../secret.bin']
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson))
    const server = await serveFolder(dir)
    try {
      expect((await runModule(`${server.url}/`, 'text')).error).toMatch(/weight path "\.\.\/secret\.bin" is not a file name inside the model's folder/)
    } finally {
      await server.close()
    }
  }, 60_000)
})

interface ModuleRun {
  error?: string
  spec?: ModelSpec
  check?: ExamplesCheck
  prediction?: Prediction
}

/**
 * The built module (out/inference, whose bare tfjs import resolves from the repository) run in a
 * process of its own: a page holds one copy of the model code on one tfjs engine, and so must the check.
 */
async function runModule(folderUrl: string, text: string): Promise<ModuleRun> {
  const runner = join(repoRoot, 'tests', 'unit', 'models', 'page-module-runner.mjs')
  const { stdout } = await run(process.execPath, [runner, join(repoRoot, 'out', 'inference', 'bert-studio-model.js'), folderUrl, text], { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 })
  return JSON.parse(stdout) as ModuleRun
}

/** A loopback static server for one folder (what `python3 -m http.server` would do for a user). */
async function serveFolder(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const types: Record<string, string> = { '.js': 'text/javascript', '.json': 'application/json', '.html': 'text/html', '.bin': 'application/octet-stream', '.txt': 'text/plain' }
  const server = createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname).replace(/^\/+/, '') || 'index.html'
    const path = join(dir, name)
    if (name.includes('..') || !existsSync(path)) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': types[extname(name)] ?? 'application/octet-stream' }).end(readFileSync(path))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

describe('round trip: fine-tuned export → import → export', () => {
  it('imports the classifier as a run to fine-tune from, keeps its head, and predicts exactly as the original', async () => {
    const labels = ['negative', 'positive']
    const { runId, model } = finetuned('classify', labels, 'round trip', { seed: 9 })
    const first = join(home.path, 'round-trip-1')
    await studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir: first })

    const imported = await studio.models.import({ projectId, path: first, name: 'round trip imported' })
    expect(imported).toMatchObject({ architecture: 'BertForSequenceClassification', initializedHeads: ['mlm', 'nsp'], ignoredWeights: ['classifier.weight', 'classifier.bias'] })
    // A finished pre-training run: what fine-tuning starts from.
    expect(studio.runs.list(projectId).find((run) => run.id === imported.run.id)).toMatchObject({ kind: 'pretrain', status: 'done', tokenizerId: imported.tokenizer.id })

    // The imported checkpoint, run as the head it came from, predicts exactly as the original model.
    const weights = checkpointWeights(runStore.loadLatestCheckpoint(studio.db, imported.run.id)!.checkpoint.tensors)
    expect(weights.get('classifier.bias')!.data).toEqual(model.variables.get('classifier.bias')!.dataSync())
    const spec: ModelSpec = { architecture: 'BertForSequenceClassification', bertConfig: config, id2label: labels, problemType: 'single_label_classification' }
    const original = new StudioModel(spec, model.variables)
    const reloaded = new StudioModel(spec, weights)
    try {
      const inputs = await Promise.all(['the film was great', 'an awful movie , we hated it', 'mary went to london'].map((text) => tokenizer.encode(text)))
      const expected = await original.run(inputs)
      expect(await reloaded.run(inputs)).toEqual(expected)
      expect(new Set(expected.map((outputs) => JSON.stringify(outputs))).size).toBe(3)
    } finally {
      original.dispose()
      reloaded.dispose()
    }

    // Exported again, it is the same classifier, byte for byte.
    const second = join(home.path, 'round-trip-2')
    const again = await studio.models.export({ runId: imported.run.id, checkpoint: 'best', format: 'hf', dir: second })
    expect(again).toMatchObject({ architecture: 'BertForSequenceClassification', parity: { passed: true } })
    expect(readFileSync(join(second, 'model.safetensors')).equals(readFileSync(join(first, 'model.safetensors')))).toBe(true)
    const { id2label, label2id, problem_type } = readJson(join(second, 'config.json'))
    expect({ id2label, label2id, problem_type }).toEqual({ id2label: { 0: 'negative', 1: 'positive' }, label2id: { negative: 0, positive: 1 }, problem_type: 'single_label_classification' })
    expect(id2labelOf('classify', labels)).toEqual(labels)
  }, 90_000)

  it('a question-answering and a token-classification folder come back as themselves', async () => {
    for (const [task, labels, architecture] of [['qa', [], 'BertForQuestionAnswering'], ['tag', ['ORG'], 'BertForTokenClassification']] as const) {
      const { runId } = finetuned(task, [...labels], `${task} round trip`, { seed: 13 })
      const first = join(home.path, `${task}-round-1`)
      await studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir: first })
      const imported = await studio.models.import({ projectId, path: first, name: `${task} round trip imported` })
      // No pooler in these heads' files: the pre-training run gets a fresh one (and fresh MLM/NSP heads).
      expect(imported).toMatchObject({ architecture, initializedHeads: ['pooler', 'mlm', 'nsp'] })
      const second = join(home.path, `${task}-round-2`)
      const again = await studio.models.export({ runId: imported.run.id, checkpoint: 'best', format: 'hf', dir: second })
      expect(again).toMatchObject({ architecture, parity: { passed: true } })
      expect(readFileSync(join(second, 'model.safetensors')).equals(readFileSync(join(first, 'model.safetensors')))).toBe(true)
      expect(readJson(join(second, 'config.json')).id2label).toEqual(readJson(join(first, 'config.json')).id2label)
    }
  }, 90_000)
})
