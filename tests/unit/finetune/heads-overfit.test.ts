/**
 * Each head overfits a handful of examples through the real Trainer (AdamW, schedule, clipping,
 * gradient accumulation), and the sequence classifier through runTrainingLoop with a checkpoint
 * that restores into a fresh model with identical predictions.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  buildQaFeatures,
  buildSequenceClassificationBatch,
  buildTokenClassificationBatch,
  postprocessQa,
  qaBatch,
  rowsOf,
  wordTags,
  type QaExample,
} from '../../../src-main/core/data/finetune.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification } from '../../../src-main/core/model/heads.ts'
import { deserializeCheckpoint, engineVersions, restoreCheckpoint } from '../../../src-main/core/train/checkpoint.ts'
import { parseTrainConfig } from '../../../src-main/core/train/config.ts'
import { runTrainingLoop, type CheckpointWrite } from '../../../src-main/core/train/loop.ts'
import { finetuneMetrics } from '../../../src-main/core/train/metrics.ts'
import { Trainer } from '../../../src-main/core/train/trainer.ts'
import { tinyConfig, tokenizer } from './fixtures.ts'

beforeAll(async () => {
  await initBackend('wasm', {})
})

const trainConfig = (steps: number, learningRate = 5e-3) =>
  parseTrainConfig({ batchSize: 4, microBatchSize: 2, steps, seed: 3, optimizer: { learningRate, weightDecay: 0.01 }, schedule: { warmupFraction: 0.1 } })

/** Micro-batches of 2 from a 4-example batch builder. */
const halves = <T>(items: readonly T[]): [T[], T[]] => [items.slice(0, 2), items.slice(2, 4)]

describe('fine-tuning heads overfit through the Trainer (wasm)', () => {
  it('sequence classification reaches accuracy 1, checkpoints and resumes through runTrainingLoop', async () => {
    const examples = [
      { text: 'great movie , love it', labels: [0] },
      { text: 'awful film , hate it', labels: [1] },
      { text: 'the cat sat on the mat', labels: [2] },
      { text: 'very good film', labels: [0] },
    ]
    const options = { maxLength: 12, numLabels: 3, padToMaxLength: true }
    const micro = halves(examples).map((part) => buildSequenceClassificationBatch(tokenizer, part, options))
    const all = buildSequenceClassificationBatch(tokenizer, examples, options)
    const model = new BertForSequenceClassification(tinyConfig(), { numLabels: 3, seed: 1 })
    const config = trainConfig(100)
    const trainer = new Trainer(model, config, { totalSteps: 100 })
    let drawn = 0
    const writes: CheckpointWrite[] = []
    const result = await runTrainingLoop({
      trainer,
      data: { nextBatch: () => ({ batch: micro[drawn++ % 2]!, position: { drawn } }), validationBatches: () => [all] },
      position: { drawn: 0 },
      context: { datasetHash: null, tokenizerHash: null, modelConfig: model.config, versions: engineVersions('test') },
      saveCheckpoint: (write) => {
        writes.push(write)
      },
    })
    expect(result.status).toBe('done')
    const final = writes.at(-1)!
    expect(final.kind).toBe('final')
    const validation = final.metricRows.filter((row) => row.split === 'validation' && row.name === 'mlm_accuracy').at(-1)!
    expect(validation.value).toBe(1)
    const evaluation = finetuneMetrics(await trainer.evaluate([all]))
    expect(evaluation.accuracy).toBe(1)
    const { probabilities } = await model.predict(all)
    const predicted = [0, 1, 2, 3].map((b) => [0, 1, 2].reduce((best, c) => (probabilities[b * 3 + c]! > probabilities[b * 3 + best]! ? c : best), 0))
    expect(predicted).toEqual([0, 1, 2, 0])

    const restoredModel = new BertForSequenceClassification(tinyConfig(), { numLabels: 3, seed: 99 })
    const restored = new Trainer(restoredModel, config, { totalSteps: 100 })
    restoreCheckpoint(restored, deserializeCheckpoint(final.checkpoint.manifestJson, [...final.checkpoint.chunks]))
    expect(restored.globalStep).toBe(100)
    expect(Array.from((await restoredModel.predict(all)).logits)).toEqual(Array.from((await model.predict(all)).logits))
    for (const t of [trainer, restored]) t.dispose()
    model.dispose()
    restoredModel.dispose()
  })

  it('multi-label classification reaches exact match 1', async () => {
    const examples = [
      { text: 'great movie', labels: [0, 2] },
      { text: 'awful film', labels: [1] },
      { text: 'the cat sat', labels: [] },
      { text: 'love the big red house', labels: [0, 1, 2] },
    ]
    const options = { maxLength: 10, numLabels: 3, problemType: 'multi_label_classification' as const, padToMaxLength: true }
    const micro = halves(examples).map((part) => buildSequenceClassificationBatch(tokenizer, part, options))
    // A random encoder at BERT's 0.02 starts with near-identical [CLS] outputs for every input, and
    // per-label sigmoid losses can settle at p = 0.5 before the encoder tells the inputs apart; a
    // wider initialisation (as the gradient tests use) separates them from the start.
    const model = new BertForSequenceClassification(tinyConfig({ initializer_range: 0.1 }), { numLabels: 3, problemType: 'multi_label_classification', seed: 2 })
    const trainer = new Trainer(model, trainConfig(100), { totalSteps: 100 })
    for (let step = 0; step < 100; step++) await trainer.step(micro)
    const metrics = await trainer.evaluate(micro)
    expect(metrics.mlm_accuracy).toBe(1)
    trainer.dispose()
    model.dispose()
  })

  it('token classification tags every word’s first piece right', async () => {
    const examples = [
      { words: ['John', 'Smith', 'lives', 'in', 'London', '.'], tags: [1, 2, 0, 0, 3, 0] },
      { words: ['Mary', 'ran', 'to', 'the', 'park'], tags: [1, 0, 0, 0, 0] },
      { words: ['the', 'unaffable', 'dog', 'lives', 'in', 'Paris'], tags: [0, 0, 0, 0, 0, 3] },
      { words: ['John', 'and', 'Mary', 'Smith'], tags: [1, 0, 1, 2] },
    ]
    const options = { maxLength: 12, numLabels: 4, padToMaxLength: true }
    const micro = halves(examples).map((part) => buildTokenClassificationBatch(tokenizer, part, options).batch)
    const model = new BertForTokenClassification(tinyConfig({ hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 }), { numLabels: 4, seed: 3 })
    const trainer = new Trainer(model, trainConfig(60), { totalSteps: 60 })
    for (let step = 0; step < 60; step++) await trainer.step(micro)
    const { batch, firstPieces } = buildTokenClassificationBatch(tokenizer, examples, options)
    const { tags } = await model.predict(batch)
    expect(wordTags(tags, batch.seqLength, firstPieces)).toEqual(examples.map((e) => e.tags))
    trainer.dispose()
    model.dispose()
  })

  it('question answering finds each exact span', async () => {
    const context = 'John Smith lives in London. Mary lives in Paris. The dog ran to the park.'
    const ask = (question: string, answer: string): QaExample => ({ question, context, answerStart: context.indexOf(answer), answerText: answer })
    const examples = [ask('Where does Mary live?', 'Paris'), ask('Who lives in London?', 'John Smith'), ask('Where did the dog run?', 'the park'), ask('Who lives in Paris?', 'Mary')]
    const features = buildQaFeatures(tokenizer, examples, { maxLength: 32, docStride: 16 })
    expect(features.length).toBe(4) // every passage fits one window
    const micro = halves(features).map((part) => qaBatch(part, 0, 32))
    const model = new BertForQuestionAnswering(tinyConfig({ hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 }), { seed: 4 })
    const trainer = new Trainer(model, trainConfig(80), { totalSteps: 80 })
    for (let step = 0; step < 80; step++) await trainer.step(micro)
    const batch = qaBatch(features, 0, 32)
    const { startLogits, endLogits } = await model.predict(batch)
    const starts = rowsOf(startLogits, 32)
    const ends = rowsOf(endLogits, 32)
    const predictions = postprocessQa(
      examples,
      features,
      features.map((_, f) => ({ start: starts[f]!, end: ends[f]! })),
    )
    expect(predictions.map((p) => p.best?.text)).toEqual(['Paris', 'John Smith', 'the park', 'Mary'])
    trainer.dispose()
    model.dispose()
  })
})
