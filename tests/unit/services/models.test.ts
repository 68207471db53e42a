import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PretrainRequest, TokenizerTrainOptions } from '../../../src-main/contract/index.ts'
import { assignWeights, exportHuggingFace } from '../../../src-main/core/io/index.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { bertConfigFromJson } from '../../../src-main/core/model/config.ts'
import { BertTokenizer, MASK } from '../../../src-main/core/tokenizer/index.ts'
import { createHandlers, dispatch } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import * as runStore from '../../../src-main/store/runs.ts'
import { tokenizerStore } from '../../../src-main/store/tokenizers.ts'
import { checkpointWeights } from '../../../src-main/worker/export-task.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number
let runId: number

beforeAll(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  process.env.STUDIO_BACKEND = 'wasm'
  home = tempDir()
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('P').id
  const path = join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt')
  const corpusId = (await studio.corpora.import({ projectId, name: 'stories', jobId: 'import-1', source: { path, kind: 'file', displayName: 'stories.txt' }, options: {} })).corpus.id
  const tokenizerId = (await studio.tokenizers.train({ projectId, corpusId, name: 'tok', jobId: 'tok-1', options: TokenizerTrainOptions.parse({ vocabSize: 300 }) })).id
  const request = PretrainRequest.parse({ projectId, corpusId, tokenizerId, name: 'tiny run', seqLength: 32, batchSize: 4, steps: 8, checkpointEvery: 4, validateEvery: 2 })
  runId = studio.runs.pretrain(request).id
  expect((await studio.runs.wait(runId)).status).toBe('done')
  // fill-mask is compared here, on one backend for both runs.
  await initBackend('cpu', {})
}, 180_000)
afterAll(() => {
  studio.close()
  home.cleanup()
  delete process.env.STUDIO_BACKEND
})

/** What the model at a run's latest checkpoint guesses for [MASK], computed here on one backend for both runs. */
async function fillMaskOf(run: number, text: string) {
  const info = runStore.getRun(studio.db, run)!
  const tokenizer = BertTokenizer.fromTokenizerJson(tokenizerStore.tokenizerJson(studio.db, info.tokenizerId!)!)
  const model = new BertForPreTraining(bertConfigFromJson(info.modelConfig as object), { seed: 7 })
  try {
    assignWeights(model.variables, checkpointWeights(runStore.loadLatestCheckpoint(studio.db, run)!.checkpoint.tensors))
    const encoded = await tokenizer.encode(text)
    const positions = encoded.inputIds.flatMap((id, i) => (id === tokenizer.tokenToId(MASK) ? [i] : []))
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
      5,
    )
    return predictions.map((p) => p.candidates.map((c) => ({ token: tokenizer.vocab[c.tokenId], probability: c.probability })))
  } finally {
    model.dispose()
  }
}

describe('models service', () => {
  it('lists checkpoints with the best and the last marked', () => {
    const checkpoints = studio.models.checkpoints(runId)
    expect(checkpoints.length).toBeGreaterThan(1)
    expect(checkpoints.filter((c) => c.last)).toEqual([expect.objectContaining({ step: 8 })])
    const best = checkpoints.filter((c) => c.best)
    expect(best).toHaveLength(1)
    const lowest = Math.min(...checkpoints.flatMap((c) => (c.validationLoss === null ? [] : [c.validationLoss])))
    expect(best[0]!.validationLoss).toBe(lowest)
  })

  it('exports Hugging Face and TensorFlow.js folders whose reloaded logits match the in-app model', async () => {
    const exports = join(home.path, 'out')
    const hf = await studio.models.export({ runId, checkpoint: 'last', format: 'hf', dir: join(exports, 'hf') })
    expect(hf).toMatchObject({ runId, format: 'hf', architecture: 'BertForPreTraining', checkpoint: { step: 8, chosenAs: 'last' }, folder: join(exports, 'hf') })
    expect(hf.files.map((f) => f.name).sort()).toEqual(['README.md', 'config.json', 'model.safetensors', 'special_tokens_map.json', 'studio-examples.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'])
    for (const file of hf.files) expect(file.bytes).toBeGreaterThan(0)
    // The run's token cache is there, so its held-out batches are what the check runs.
    expect(hf.parity).toMatchObject({ source: 'validation', passed: true, tokenizerMatches: true, tolerance: 1e-4 })
    expect(hf.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(hf.parity.examples).toBeGreaterThan(0)
    expect(hf.parity.values).toBeGreaterThan(hf.parity.examples * 100)
    const config = JSON.parse(readFileSync(join(hf.folder, 'config.json'), 'utf8'))
    expect(config).toMatchObject({ architectures: ['BertForPreTraining'], model_type: 'bert', hidden_size: 128, num_hidden_layers: 2 })
    expect(readFileSync(join(hf.folder, 'README.md'), 'utf8')).toContain('# tiny run')

    const tfjs = await studio.models.export({ runId, checkpoint: 'best', format: 'tfjs', dir: join(exports, 'tfjs') })
    const best = studio.models.checkpoints(runId).find((c) => c.best)!
    expect(tfjs.checkpoint).toMatchObject({ step: best.step, chosenAs: 'best' })
    expect(tfjs.files.map((f) => f.name)).toEqual(expect.arrayContaining(['model.json', 'group1-shard1of1.bin', 'vocab.txt', 'tokenizer.json']))
    expect(tfjs.parity.passed).toBe(true)
    expect(tfjs.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
  }, 120_000)

  it('exports into a new subfolder named after the run, never over an existing folder', async () => {
    const parent = join(home.path, 'picked')
    mkdirSync(join(parent, 'tiny run'), { recursive: true })
    const exported = await studio.models.exportInto({ runId, checkpoint: 4, format: 'hf', parent })
    expect(exported.folder).toBe(join(parent, 'tiny run-2'))
    expect(exported.checkpoint).toMatchObject({ step: 4, chosenAs: 'step' })

    const taken = join(home.path, 'taken')
    mkdirSync(taken)
    writeFileSync(join(taken, 'keep.txt'), 'mine')
    await expect(studio.models.export({ runId, checkpoint: 'last', format: 'hf', dir: taken })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('already exists') })
    await expect(studio.models.exportInto({ runId, checkpoint: 'last', format: 'tfjs', parent, name: 'tiny run' })).rejects.toMatchObject({ code: 'CONFLICT' })
    expect(readFileSync(join(taken, 'keep.txt'), 'utf8')).toBe('mine')
    await expect(studio.models.export({ runId, checkpoint: 3, format: 'hf', dir: join(home.path, 'nope') })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no checkpoint of step 3') })
  }, 120_000)

  it('imports an exported folder as a finished run whose fill-mask matches the original', async () => {
    const folder = join(home.path, 'out', 'hf')
    const imported = await studio.models.import({ projectId, path: folder, displayName: 'tiny-bert' })
    expect(imported.run).toMatchObject({ kind: 'pretrain', status: 'done', name: 'tiny-bert', checkpointStep: 0, corpusId: null, tokenizerId: imported.tokenizer.id })
    expect(imported).toMatchObject({ architecture: 'BertForPreTraining', initializedHeads: [], ignoredWeights: [] })
    expect(imported.tokenizer).toMatchObject({ origin: 'imported', name: 'tiny-bert', vocabSize: studio.tokenizers.get(runStore.getRun(studio.db, runId)!.tokenizerId!).vocabSize })
    expect(studio.runs.list(projectId).map((run) => run.name)).toContain('tiny-bert')
    expect(imported.run.modelConfig).toEqual(runStore.getRun(studio.db, runId)!.modelConfig)

    const text = `the ${MASK} was happy and the ${MASK} sang`
    const original = await fillMaskOf(runId, text)
    expect(await fillMaskOf(imported.run.id, text)).toEqual(original)
    // The worker's probe works on an imported model too (it has no corpus), and agrees.
    const viaWorker = await studio.runs.fillMask({ runId: imported.run.id, text, topK: 5 })
    const originalViaWorker = await studio.runs.fillMask({ runId, text, topK: 5 })
    expect(viaWorker.masks.map((m) => m.candidates.map((c) => c.token))).toEqual(originalViaWorker.masks.map((m) => m.candidates.map((c) => c.token)))

    // The same folder again: the derived names move aside; a name given that is taken is refused.
    const again = await studio.models.import({ projectId, path: folder, displayName: 'tiny-bert' })
    expect(again.run.name).toBe('tiny-bert-2')
    expect(again.tokenizer.name).toBe('tiny-bert-2')
    await expect(studio.models.import({ projectId, path: folder, name: 'tiny-bert' })).rejects.toMatchObject({ code: 'CONFLICT' })

    // An imported run has no corpus: its export checks parity on fixed sentences.
    const reexported = await studio.models.export({ runId: imported.run.id, checkpoint: 'best', format: 'tfjs', dir: join(home.path, 'out', 'reexported') })
    // 8 sentence pairs in a padded batch, and the 4 masked sentences of studio-examples.json.
    expect(reexported.parity).toMatchObject({ source: 'sentences', passed: true, examples: 8 + 4 })
  }, 120_000)

  it('imports a fine-tuned folder: missing heads are initialised, the classifier is set aside', async () => {
    const run = runStore.getRun(studio.db, runId)!
    const weights = checkpointWeights(runStore.loadLatestCheckpoint(studio.db, runId)!.checkpoint.tensors)
    const config = bertConfigFromJson(run.modelConfig as object)
    const H = config.hidden_size
    weights.set('classifier.weight', { shape: [H, 3], data: Float32Array.from({ length: H * 3 }, (_, i) => Math.sin(i) / 10) })
    weights.set('classifier.bias', { shape: [3], data: new Float32Array([0.1, -0.2, 0.3]) })
    const folder = join(home.path, 'tagger')
    const tokenizer = BertTokenizer.fromTokenizerJson(tokenizerStore.tokenizerJson(studio.db, run.tokenizerId!)!)
    exportHuggingFace(folder, { weights, bertConfig: config, architecture: 'BertForTokenClassification', id2label: ['O', 'B-PER', 'I-PER'], tokenizerSpec: tokenizer.spec })
    const imported = await studio.models.import({ projectId, path: folder })
    expect(imported).toMatchObject({ architecture: 'BertForTokenClassification', initializedHeads: ['pooler', 'mlm', 'nsp'], ignoredWeights: ['classifier.weight', 'classifier.bias'] })
    expect(imported.run).toMatchObject({ name: 'tagger', status: 'done', config: { imported: { id2label: ['O', 'B-PER', 'I-PER'] } } })
    // The encoder is the original's, bit for bit.
    const stored = checkpointWeights(runStore.loadLatestCheckpoint(studio.db, imported.run.id)!.checkpoint.tensors)
    const name = 'bert.encoder.layer.1.attention.self.query.weight'
    expect(stored.get(name)!.data).toEqual(weights.get(name)!.data)
  }, 60_000)

  it('refuses malformed folders with an error naming the file, and stores nothing', async () => {
    const runsBefore = studio.runs.list(projectId).length
    const tokenizersBefore = studio.tokenizers.list(projectId).length
    const bad = join(home.path, 'bad')
    mkdirSync(bad)
    await expect(studio.models.import({ projectId, path: bad })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('config.json') })
    writeFileSync(join(bad, 'config.json'), '{"model_type": "bert", ')
    await expect(studio.models.import({ projectId, path: bad })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/config\.json: not valid JSON/) })
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ model_type: 'gpt2' }))
    await expect(studio.models.import({ projectId, path: bad })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('model_type') })
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 300, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512 }))
    await expect(studio.models.import({ projectId, path: bad })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('model.safetensors') })
    writeFileSync(join(bad, 'model.safetensors'), Buffer.from([1, 2, 3]))
    await expect(studio.models.import({ projectId, path: bad })).rejects.toMatchObject({ message: expect.stringContaining('model.safetensors') })
    await expect(studio.models.import({ projectId, path: join(home.path, 'missing') })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(studio.runs.list(projectId)).toHaveLength(runsBefore)
    expect(studio.tokenizers.list(projectId)).toHaveLength(tokenizersBefore)
  }, 60_000)

  it('answers through the contract: web mode writes under <home>/exports; a file is not a model folder', async () => {
    const handlers = createHandlers(studio)
    const context = { transport: 'web' as const }
    const exported = await dispatch(handlers, 'models.export', { runId, format: 'tfjs' }, context)
    expect(exported).toMatchObject({ ok: true, value: { folder: join(home.path, 'exports', 'tiny run-tfjs'), parity: { passed: true } } })
    const listed = await dispatch(handlers, 'models.checkpoints', { runId }, context)
    expect(listed.ok).toBe(true)
    for (const folder of ['../escape', 'a/b', '..']) {
      expect(await dispatch(handlers, 'models.export', { runId, format: 'hf', folder }, context)).toMatchObject({ ok: false, code: 'VALIDATION' })
    }
    expect(await dispatch(handlers, 'models.export', { runId, format: 'onnx' }, context)).toMatchObject({ ok: false, code: 'VALIDATION' })
    expect(await dispatch(handlers, 'models.export', { runId: 9999, format: 'hf' }, context)).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    const file = studio.files.register(join(home.path, 'taken', 'keep.txt'), 'file')
    expect(await dispatch(handlers, 'models.import', { projectId, fileId: file.fileId }, context)).toMatchObject({ ok: false, code: 'VALIDATION' })
    const folder = studio.files.register(join(home.path, 'out', 'tfjs'), 'folder')
    // A TensorFlow.js export is not a Hugging Face folder.
    expect(await dispatch(handlers, 'models.import', { projectId, fileId: folder.fileId }, context)).toMatchObject({ ok: false, code: 'NOT_FOUND', message: expect.stringContaining('config.json') })
  }, 120_000)
})
