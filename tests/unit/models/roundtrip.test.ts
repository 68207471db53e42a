/**
 * The round trip of issue #7 through the real pipeline: a labelled file → a classifier fine-tuned by
 * the studio → exported as a Hugging Face folder → imported back → the same predictions; and the
 * imported model is one fine-tuning starts from.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultFinetuneLearningRate, FinetuneRequest } from '../../../src-main/contract/index.ts'
import { StudioModel } from '../../../src-main/core/inference/model.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { bertConfigFromJson } from '../../../src-main/core/model/config.ts'
import { BertTokenizer } from '../../../src-main/core/tokenizer/index.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import * as runStore from '../../../src-main/store/runs.ts'
import { tokenizerStore } from '../../../src-main/store/tokenizers.ts'
import { checkpointWeights } from '../../../src-main/worker/export-task.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
const INPUTS = [
  'The striker scored twice in the final minutes of the match.',
  'Whisk the eggs with the sugar until the mixture is pale.',
  'The central bank raised interest rates for the third time this year.',
]

let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number

beforeAll(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  // The worker trains on wasm (much faster than cpu); this process runs the imported weights on cpu,
  // so "identical" means within float32 rounding of two backends.
  process.env.STUDIO_BACKEND = 'wasm'
  await initBackend('cpu', {})
  home = tempDir('studio-roundtrip-')
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('Round trip').id
}, 60_000)

afterAll(() => {
  studio?.close()
  home?.cleanup()
  delete process.env.STUDIO_BACKEND
})

describe('fine-tune → export Hugging Face → import → predictions identical', () => {
  it('through the studio’s own fine-tuning, export and import', async () => {
    const lines = readFileSync(join(repoRoot, 'resources', 'samples', 'topics.csv'), 'utf8').split('\n')
    const file = join(home.path, 'topics.csv')
    writeFileSync(file, lines.slice(0, 61).join('\n') + '\n')
    const dataset = await studio.labels.importLabelled({ projectId, name: 'topics', task: 'classify', jobId: 'labelled', options: {}, source: { path: file, displayName: 'topics.csv' } })
    const tokenizer = await studio.tokenizers.train({ projectId, corpusId: dataset.corpusId, name: 'topic words', jobId: 'tok', options: { vocabSize: 400 } } as Parameters<Studio['tokenizers']['train']>[0])
    const run = studio.finetune.finetune(FinetuneRequest.parse({ projectId, datasetId: dataset.id, name: 'topics', tokenizerId: tokenizer.id, preset: 'tiny', seqLength: 32, batchSize: 8, epochs: 2 }))
    expect((await studio.runs.wait(run.id)).status).toBe('done')

    const folder = join(home.path, 'topics-hf')
    const exported = await studio.models.export({ runId: run.id, checkpoint: 'best', format: 'hf', dir: folder })
    expect(exported).toMatchObject({ architecture: 'BertForSequenceClassification', parity: { passed: true, source: 'examples', tokenizerMatches: true } })
    const card = readFileSync(join(folder, 'README.md'), 'utf8')
    expect(card).toContain('**topics**')
    // The run evaluated its best checkpoint on the test split when it finished: the card reports it.
    expect(card).toMatch(/\| test_accuracy \| [\d.]+ \|/)

    const imported = await studio.models.import({ projectId, path: folder, name: 'topics imported' })
    expect(imported).toMatchObject({ architecture: 'BertForSequenceClassification', ignoredWeights: ['classifier.weight', 'classifier.bias'] })

    // The studio's own predictions of the fine-tuned run…
    const predictions = await Promise.all(INPUTS.map((text) => studio.finetune.predict({ runId: run.id, text, checkpoint: 'best' })))
    // …and the imported run's weights, run as the classifier they came from, on the same inputs.
    const importedRun = runStore.getRun(studio.db, imported.run.id)!
    const labels = (importedRun.config as { imported: { id2label: string[] } }).imported.id2label
    const model = new StudioModel(
      { architecture: 'BertForSequenceClassification', bertConfig: bertConfigFromJson(importedRun.modelConfig as object), id2label: labels, problemType: 'single_label_classification' },
      checkpointWeights(runStore.loadLatestCheckpoint(studio.db, imported.run.id)!.checkpoint.tensors),
    )
    try {
      const importedTokenizer = BertTokenizer.fromTokenizerJson(tokenizerStore.tokenizerJson(studio.db, imported.tokenizer.id)!)
      const outputs = await model.run(await Promise.all(INPUTS.map((text) => importedTokenizer.encode(text, null, { maxLength: 128 }))))
      outputs.forEach((output, i) => {
        const prediction = predictions[i]!
        if (output.kind !== 'sequence' || prediction.task !== 'classify') throw new Error(`${output.kind} / ${prediction.task}`)
        const top = Math.max(...output.logits)
        const exps = output.logits.map((logit) => Math.exp(logit - top))
        const sum = exps.reduce((a, b) => a + b, 0)
        labels.forEach((label, c) => expect(Math.abs(exps[c]! / sum - prediction.probabilities[label]!), `${INPUTS[i]}: ${label}`).toBeLessThanOrEqual(1e-6))
        expect(labels[output.logits.indexOf(top)]).toBe(prediction.labels[0])
      })
    } finally {
      model.dispose()
    }

    // The imported model is one to fine-tune from; its kept classifier does not get in the way.
    // Its dropout is the request's, not the parent's (the export carried the first run's 0.1).
    expect(importedRun.modelConfig).toMatchObject({ hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 })
    const again = studio.finetune.finetune(FinetuneRequest.parse({ projectId, datasetId: dataset.id, name: 'topics again', fromRunId: imported.run.id, seqLength: 32, batchSize: 8, epochs: 1, dropout: 0.2 }))
    expect(again.parentRunId).toBe(imported.run.id)
    expect(again.modelConfig).toMatchObject({ hidden_dropout_prob: 0.2, attention_probs_dropout_prob: 0.2, hidden_size: 128 })
    // No learning rate asked: Tiny's default.
    expect((again.config as { train: { optimizer: { learningRate: number } } }).train.optimizer.learningRate).toBe(defaultFinetuneLearningRate(128))
    expect(defaultFinetuneLearningRate(128)).toBe(1e-3)
    expect((await studio.runs.wait(again.id)).status).toBe('done')
  }, 300_000)
})
