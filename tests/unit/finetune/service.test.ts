/**
 * The fine-tuning service over the real worker: a labelled file becomes a dataset, a run is
 * created with its examples frozen and trained in the worker, evaluated on its test split at the
 * end; then the channels around it: the confusion cell's examples, the playground, a file's CSV,
 * model-in-the-loop predictions for the dataset, and the defaults the service resolves.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FinetuneRequest, TokenizerTrainOptions, type TfidfBaseline } from '../../../src-main/contract/index.ts'
import { createHandlers, dispatch } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { repoRoot, tempDir } from '../helpers.ts'
import { classifyCsv } from './synthetic.ts'

const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number
let datasetId: number
let tokenizerId: number

beforeAll(async () => {
  if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
  process.env.STUDIO_BACKEND = 'wasm'
  home = tempDir()
  studio = new Studio({ home: home.path, workerPath })
  projectId = studio.projects.create('P').id
  const path = join(home.path, 'topics.csv')
  classifyCsv(path, 40, 11)
  const dataset = await studio.labels.importFile({ projectId, path, task: 'classify', jobId: 'import-1', options: {} })
  datasetId = dataset.id
  tokenizerId = (await studio.tokenizers.train({ projectId, corpusId: dataset.corpusId, name: 'tok', jobId: 'tok-1', options: TokenizerTrainOptions.parse({}) })).id
}, 120_000)
afterAll(() => {
  studio.close()
  home.cleanup()
  delete process.env.STUDIO_BACKEND
})

describe('fine-tuning service', () => {
  let runId: number

  it('resolves the defaults, freezes the examples, trains, keeps the best checkpoint and evaluates on the test split', async () => {
    const started = studio.finetune.finetune(FinetuneRequest.parse({ projectId, datasetId, tokenizerId, name: 'topics', epochs: 4, learningRate: 2e-3, batchSize: 16, earlyStoppingPatience: 0 }))
    runId = started.id
    const config = started.config as { setup: { seqLength: number }; train: { optimizer: { learningRate: number } }; architecture: string; id2label: string[]; splits: Record<string, number> }
    expect(config.setup.seqLength).toBe(128)
    expect(started.modelConfig).toMatchObject({ hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 })
    expect(config.architecture).toBe('BertForSequenceClassification')
    expect(config.id2label).toEqual(['sport', 'cooking', 'finance'])
    expect(config.splits).toEqual({ train: 96, validation: 12, test: 12 })
    const run = await studio.runs.wait(runId)
    expect(run).toMatchObject({ status: 'done', kind: 'finetune', step: 24, totalSteps: 24 })
    expect(run.lastMetrics.validation_accuracy).toBeGreaterThan(0)
    expect(Object.keys(run.lastMetrics)).not.toContain('mlm_accuracy')
    // The best checkpoint is kept beside the latest ones.
    const checkpoints = studio.models.checkpoints(runId)
    expect(checkpoints.filter((c) => c.best)).toHaveLength(1)
    expect(checkpoints.at(-1)!.last).toBe(true)
    const evaluation = studio.finetune.evaluation(runId)!
    expect(evaluation).toMatchObject({ split: 'test', task: 'classify', examples: 12, labels: ['sport', 'cooking', 'finance'] })
    expect(evaluation.checkpointStep).toBe(checkpoints.find((c) => c.best)!.step)
    expect(evaluation.confusion!.flat().reduce((a, b) => a + b, 0)).toBe(12)
    expect(evaluation.metrics.accuracy).toBeGreaterThan(0.5)
    expect(evaluation.calibration.reduce((sum, bin) => sum + bin.count, 0)).toBe(12)
    // Beside it, the TF-IDF baseline fitted on the run's own train and validation examples and
    // scored on the same 12; McNemar's counts agree with the per-example records.
    const baseline = evaluation.baseline as TfidfBaseline
    expect(baseline).toMatchObject({ kind: 'tfidf', metric: 'accuracy', fittedOn: 108 })
    expect(baseline.metrics.accuracy).toBeGreaterThanOrEqual(0.9) // three topics, separable by their words
    const records = studio.finetune.evaluationExamples({ evaluationId: evaluation.id, actual: '', predicted: '' })
    expect(records.filter((r) => r.baselinePredicted === r.actual).length / 12).toBeCloseTo(baseline.metrics.accuracy, 12)
    expect(baseline.modelBetter).toBe(records.filter((r) => r.predicted === r.actual && r.baselinePredicted !== r.actual).length)
    expect(baseline.baselineBetter).toBe(records.filter((r) => r.predicted !== r.actual && r.baselinePredicted === r.actual).length)
    expect(baseline.pValue).toBeGreaterThan(0)
    expect(baseline.pValue).toBeLessThanOrEqual(1)
  }, 300_000)

  it('lists a confusion cell’s examples with their documents', async () => {
    const evaluation = studio.finetune.evaluation(runId)!
    const all = studio.finetune.evaluationExamples({ evaluationId: evaluation.id, actual: '', predicted: '' })
    expect(all).toHaveLength(12)
    const cell = studio.finetune.evaluationExamples({ evaluationId: evaluation.id, actual: 'sport', predicted: 'sport' })
    expect(cell.length).toBe(evaluation.confusion![0]![0])
    for (const example of cell) {
      expect(example).toMatchObject({ actual: 'sport', predicted: 'sport' })
      expect(example.documentId).toBeGreaterThan(0)
      expect(example.confidence).toBeGreaterThan(0)
    }
    // On demand, through the channel, with a stored evaluation of the last checkpoint.
    const handlers = createHandlers(studio)
    const again = await dispatch(handlers, 'runs.evaluate', { runId, checkpoint: 'last' }, { transport: 'test' })
    expect(again).toMatchObject({ ok: true, value: { runId, checkpointStep: 24, split: 'test' } })
    const latest = studio.finetune.evaluation(runId)!
    expect(latest.checkpointStep).toBe(24)
    // The run's data is frozen: the baseline is the earlier evaluation's, not fitted again.
    const { modelBetter: _a, baselineBetter: _b, pValue: _c, ...first } = evaluation.baseline!
    expect(latest.baseline).toMatchObject(first)
    // The Runs view compares runs on it: the latest test evaluation's accuracy and the baseline's.
    expect(studio.experiments.get(runId).test).toEqual({ metric: 'accuracy', value: latest.metrics.accuracy, baselineValue: (latest.baseline as TfidfBaseline).metrics.accuracy, checkpointStep: 24 })
  }, 120_000)

  it('predicts in the playground, a file as formula-safe CSV, and every example of the dataset', async () => {
    const handlers = createHandlers(studio)
    const playground = await dispatch(handlers, 'runs.predict', { runId, text: 'the striker scored a goal for the team' }, { transport: 'test' })
    expect(playground.ok).toBe(true)
    const prediction = (playground as { value: { task: string; labels: string[]; probabilities: Record<string, number> } }).value
    expect(prediction.task).toBe('classify')
    expect(Object.values(prediction.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)

    const file = join(home.path, 'inputs.csv')
    writeFileSync(file, 'id,text\n1,=HYPERLINK("x") the oven and the butter\n2,"bank loan, interest"\n')
    const registered = studio.files.register(file, 'file')
    const batch = await dispatch(handlers, 'runs.predictFile', { runId, fileId: registered.fileId, jobId: 'predict-file-1' }, { transport: 'test' })
    expect(batch.ok).toBe(true)
    const { csv, rows, fileName } = (batch as { value: { csv: string; rows: number; fileName: string } }).value
    expect({ rows, fileName }).toEqual({ rows: 2, fileName: 'inputs-predictions.csv' })
    const lines = csv.split('\r\n')
    expect(lines[0]).toBe('id,text,prediction,confidence,p(sport),p(cooking),p(finance)')
    expect(lines[1]).toMatch(/^1,"'=HYPERLINK\(""x""\) the oven and the butter",(sport|cooking|finance),/)
    expect(lines[2]).toMatch(/^2,"bank loan, interest",/)

    const predicted = await dispatch(handlers, 'datasets.predict', { datasetId, runId, jobId: 'predict-ds-1' }, { transport: 'test' })
    expect(predicted).toEqual({ ok: true, value: { predicted: 120 } })
    const page = studio.labels.examples({ datasetId, filter: { kind: 'all' }, query: '', offset: 0, limit: 5 })
    for (const example of page.examples) {
      expect(example.prediction).toMatchObject({ runId, value: { kind: 'classes' } })
      expect(example.prediction!.confidence).toBeGreaterThan(0.3)
      expect(example.prediction!.margin).toBeGreaterThanOrEqual(0)
    }
  }, 120_000)

  it('refuses what cannot work, with the reason', async () => {
    const handlers = createHandlers(studio)
    const noTokenizer = await dispatch(handlers, 'runs.finetune', { projectId, datasetId, name: 'x' }, { transport: 'test' })
    expect(noTokenizer).toMatchObject({ ok: false, code: 'VALIDATION', message: expect.stringMatching(/tokenizerId/) })
    const taken = await dispatch(handlers, 'runs.finetune', { projectId, datasetId, tokenizerId, name: 'topics' }, { transport: 'test' })
    expect(taken).toMatchObject({ ok: false, code: 'CONFLICT' })
    const qa = await dispatch(handlers, 'runs.predict', { runId, text: 'x', question: 'y' }, { transport: 'test' })
    expect(qa.ok).toBe(true)
    const none = await dispatch(handlers, 'runs.evaluation', { runId: 999 }, { transport: 'test' })
    expect(none).toMatchObject({ ok: false, code: 'NOT_FOUND' })
  })

  it('gives a second run on the same examples the first run’s baseline instead of fitting it again', async () => {
    const second = studio.finetune.finetune(FinetuneRequest.parse({ projectId, datasetId, tokenizerId, name: 'topics-again', epochs: 1, learningRate: 2e-3, batchSize: 16, seed: 5 }))
    expect(await studio.runs.wait(second.id)).toMatchObject({ status: 'done' })
    const original = studio.finetune.evaluation(runId)!.baseline!
    const reused = studio.finetune.evaluation(second.id)!.baseline!
    expect(reused.datasetHash).toMatch(/^[0-9a-f]{64}$/)
    // The same fit (its measured seconds included), with McNemar's counts against this run's model.
    expect({ ...reused, modelBetter: 0, baselineBetter: 0, pValue: 0 }).toEqual({ ...original, modelBetter: 0, baselineBetter: 0, pValue: 0 })
  }, 120_000)
})
