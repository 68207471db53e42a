/** Fine-tuning batch builders, QA windows and span postprocessing, summaries and splits, on known vectors. */
import { describe, expect, it } from 'vitest'
import {
  buildExtractiveSummaryBatch,
  buildQaFeatures,
  buildSequenceClassificationBatch,
  buildTokenClassificationBatch,
  postprocessQa,
  qaBatch,
  sentenceScores,
  stratifiedSplit,
  summarise,
  tokenizeWithOffsets,
  wordTags,
  type QaLogits,
} from '../../../src-main/core/data/finetune.ts'
import { tokenizer, VOCAB } from './fixtures.ts'

const id = (token: string) => VOCAB.indexOf(token)
const ids = (tokens: string) => tokens.split(' ').map(id)

describe('tokenizeWithOffsets', () => {
  it('keeps each piece’s characters through lowercasing, accents and punctuation', () => {
    const text = 'Unaffable CAFÉ, run!'
    const pieces = tokenizeWithOffsets(tokenizer, text)
    expect(pieces.map((p) => [p.token, text.slice(p.start, p.end), p.word])).toEqual([
      ['un', 'Un', 0],
      ['##aff', 'aff', 0],
      ['##able', 'able', 0],
      ['cafe', 'CAFÉ', 1],
      [',', ',', 2],
      ['run', 'run', 3],
      ['!', '!', 4],
    ])
  })

  it('gives the pieces tokenizeWords gives', () => {
    for (const text of ['Unwanted, running\tthe  Paris-London cafe\u0301 ça?', 'Zebra 东京 at Denver']) {
      expect(tokenizeWithOffsets(tokenizer, text).map((p) => p.token)).toEqual(tokenizer.tokenizeWords(text).flatMap((w) => w.pieces))
    }
  })
})

describe('sequence classification batches', () => {
  it('pairs with LongestFirst truncation, segment ids and padding to the longest', () => {
    const batch = buildSequenceClassificationBatch(
      tokenizer,
      [
        { text: 'the cat sat', textPair: 'the dog ran to the park', labels: [1] },
        { text: 'great movie', labels: [0] },
      ],
      { maxLength: 8, numLabels: 2 },
    )
    expect(batch.seqLength).toBe(8)
    expect([...batch.inputIds.slice(0, 8)]).toEqual(ids('[CLS] the cat [SEP] the dog ran [SEP]'))
    expect([...batch.tokenTypeIds.slice(0, 8)]).toEqual([0, 0, 0, 0, 1, 1, 1, 1])
    expect([...batch.inputIds.slice(8)]).toEqual([...ids('[CLS] great movie [SEP]'), 0, 0, 0, 0])
    expect([...batch.attentionMask.slice(8)]).toEqual([1, 1, 1, 1, 0, 0, 0, 0])
    expect([...batch.labels]).toEqual([1, 0])
  })

  it('multi-label targets are multi-hot rows', () => {
    const batch = buildSequenceClassificationBatch(
      tokenizer,
      [
        { text: 'good', labels: [0, 2] },
        { text: 'bad', labels: [] },
      ],
      { maxLength: 8, numLabels: 3, problemType: 'multi_label_classification', padToMaxLength: true },
    )
    expect(batch.seqLength).toBe(8)
    expect([...batch.labels]).toEqual([1, 0, 1, 0, 0, 0])
  })

  it('rejects labels out of range and several labels for single-label', () => {
    expect(() => buildSequenceClassificationBatch(tokenizer, [{ text: 'a', labels: [3] }], { maxLength: 8, numLabels: 2 })).toThrow(/label 3, expected an integer in \[0, 1\]/)
    expect(() => buildSequenceClassificationBatch(tokenizer, [{ text: 'a', labels: [0, 1] }], { maxLength: 8, numLabels: 2 })).toThrow(/2 labels, expected 1/)
  })
})

describe('token classification batches', () => {
  it('labels each word’s first piece only, and truncation leaves words without a position', () => {
    const examples = [{ words: ['John', 'Smith', 'unaffable', 'running'], tags: [1, 2, 0, 0] }]
    const { batch, firstPieces } = buildTokenClassificationBatch(tokenizer, examples, { maxLength: 16, numLabels: 3 })
    expect([...batch.inputIds.slice(0, 9)]).toEqual(ids('[CLS] john smith un ##aff ##able run ##ning [SEP]'))
    expect(firstPieces).toEqual([[1, 2, 3, 6]])
    expect([...batch.labelWeights]).toEqual([0, 1, 1, 1, 0, 0, 1, 0, 0])
    expect([...batch.labels]).toEqual([0, 1, 2, 0, 0, 0, 0, 0, 0])
    expect(wordTags([9, 5, 6, 7, 9, 9, 8, 9, 9], 9, firstPieces)).toEqual([[5, 6, 7, 8]])

    const cut = buildTokenClassificationBatch(tokenizer, examples, { maxLength: 5, numLabels: 3 })
    expect([...cut.batch.inputIds]).toEqual(ids('[CLS] john smith un [SEP]'))
    expect(cut.firstPieces).toEqual([[1, 2, 3, -1]])
    expect([...cut.batch.labelWeights]).toEqual([0, 1, 1, 1, 0])
  })

  it('rejects a tag count that differs from the word count', () => {
    expect(() => buildTokenClassificationBatch(tokenizer, [{ words: ['a', 'b'], tags: [0] }], { maxLength: 8, numLabels: 2 })).toThrow(/2 words and 1 tags/)
  })
})

describe('extractive summarisation', () => {
  it('one token sequence per document, labels on each sentence’s first piece, segments alternating', () => {
    const { batch, firstPieces } = buildExtractiveSummaryBatch(tokenizer, [{ sentences: ['The cat sat.', 'The dog ran.'], labels: [1, 0] }], { maxLength: 16 })
    expect([...batch.inputIds]).toEqual(ids('[CLS] the cat sat . the dog ran . [SEP]'))
    expect([...batch.tokenTypeIds]).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 0])
    expect(firstPieces).toEqual([[1, 5]])
    expect([...batch.labels]).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    expect([...batch.labelWeights]).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    const probabilities = new Float32Array(10 * 2)
    probabilities[1 * 2 + 1] = 0.9
    probabilities[5 * 2 + 1] = 0.3
    expect(sentenceScores(probabilities, 10, firstPieces)[0]!.map((x) => Number(x.toFixed(3)))).toEqual([0.9, 0.3])
  })

  it('keeps the best sentences that fit the word budget, in document order', () => {
    const sentences = ['a b c', 'd e', 'f g h i', 'j']
    const scores = [0.9, 0.2, 0.8, 0.5]
    expect(summarise(scores, sentences, 5)).toEqual({ indices: [0, 3], sentences: ['a b c', 'j'], words: 4 })
    expect(summarise(scores, sentences, 7).indices).toEqual([0, 2])
    expect(summarise(scores, sentences, 0).indices).toEqual([])
    expect(summarise([0.5, 0.5, 0.5, 0.5], sentences, 3).indices).toEqual([0])
  })
})

describe('question answering windows', () => {
  const context = 'The cat sat on the mat. The dog ran to the park. Mary lives in Paris.'
  // Passage pieces: the cat sat on the mat . (0–6) the dog ran to the park . (7–13) mary lives in paris . (14–18)
  const options = { maxLength: 13, docStride: 4 } // question "where is mary ?" = 4 pieces: 6 passage pieces per window

  it('windows the passage docStride apart and labels only windows holding the whole answer', () => {
    const features = buildQaFeatures(tokenizer, [{ question: 'Where is Mary?', context, answerStart: context.indexOf('Paris'), answerText: 'Paris' }], options)
    expect(features.length).toBe(5) // windows start at 0, 4, 8, 12, 16
    expect(features.map((f) => f.inputIds.length)).toEqual([13, 13, 13, 13, 10])
    expect(features[3]!.inputIds).toEqual(ids('[CLS] where is mary ? [SEP] park . mary lives in paris [SEP]'))
    expect(features[3]!.tokenTypeIds).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    expect(features.map((f) => [f.startPosition, f.endPosition])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [11, 11],
      [7, 7],
    ])
    // "paris" (passage piece 17) has more context in the last window (1 piece each side) than at the edge of window 12.
    expect(features[3]!.maxContext[11]).toBe(false)
    expect(features[4]!.maxContext[7]).toBe(true)
    const batch = qaBatch(features, 0)
    expect(batch.seqLength).toBe(13)
    expect([...batch.spanMask.slice(4 * 13, 5 * 13)]).toEqual([1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    expect([...batch.startPositions]).toEqual([0, 0, 0, 11, 7])
  })

  it('an answer across a window boundary is labelled only where a window holds all of it', () => {
    const answerText = 'Mary lives in Paris'
    const features = buildQaFeatures(tokenizer, [{ question: 'Where is Mary?', context, answerStart: context.indexOf(answerText), answerText }], options)
    expect(features.map((f) => [f.startPosition, f.endPosition])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [8, 11],
      [0, 0],
    ])
  })

  it('rejects an answer that does not match the context', () => {
    expect(() => buildQaFeatures(tokenizer, [{ question: 'who', context, answerStart: 0, answerText: 'cat' }], options)).toThrow(/expected the answer "cat"/)
  })

  it('postprocessing picks the best valid span and maps it to characters', () => {
    const text = 'John Smith lives in London.'
    const example = { question: 'who?', context: text }
    const [feature] = buildQaFeatures(tokenizer, [example], { maxLength: 16, docStride: 8 })
    // [CLS] who ? [SEP] john smith lives in london . [SEP]
    const T = feature!.inputIds.length
    expect(T).toBe(11)
    const start = new Float32Array(T)
    const end = new Float32Array(T)
    start[4] = 10 // john
    end[9] = 10 // "." six pieces on
    end[5] = 5 // smith
    end[1] = 50 // a question token: never an answer
    start[0] = 1
    end[0] = 1
    const logits: QaLogits[] = [{ start, end }]
    const long = postprocessQa([example], [feature!], logits)[0]!
    expect(long.best).toMatchObject({ text: 'John Smith lives in London.', start: 0, end: 27, score: 20 })
    expect(long.nullScore).toBe(2)
    // P(start) · P(end) over [CLS] and the passage (4–9); the question's end logit of 50 takes no share.
    const startShare = Math.exp(10) / (Math.exp(1) + Math.exp(10) + 5)
    const endShare = Math.exp(10) / (Math.exp(1) + Math.exp(5) + Math.exp(10) + 4)
    expect(long.best!.probability).toBeCloseTo(startShare * endShare, 6)
    const short = postprocessQa([example], [feature!], logits, { maxAnswerLength: 3 })[0]!
    expect(short.best).toMatchObject({ text: 'John Smith', start: 0, end: 10, score: 15 })
    // The highest pair ends before it starts: the best valid span wins instead.
    const backwards = { start: new Float32Array(T), end: new Float32Array(T) }
    backwards.start[8] = 10 // london
    backwards.end[5] = 10 // smith
    backwards.end[8] = 1
    expect(postprocessQa([example], [feature!], [backwards])[0]!.best).toMatchObject({ text: 'London', start: 20, end: 26, score: 11 })
  })

  it('postprocessing combines windows and uses the start’s max-context window', () => {
    const features = buildQaFeatures(tokenizer, [{ question: 'Where is Mary?', context }], options)
    const logits = features.map((f) => ({ start: new Float32Array(f.inputIds.length).fill(-10), end: new Float32Array(f.inputIds.length).fill(-10) }))
    // Window 12 scores "paris" highest but is not its max-context window; window 16 scores it lower.
    logits[3]!.start[11] = 9
    logits[3]!.end[11] = 9
    logits[4]!.start[7] = 4
    logits[4]!.end[7] = 4
    const [prediction] = postprocessQa([{ question: 'Where is Mary?', context }], features, logits)
    expect(prediction!.best).toMatchObject({ text: 'Paris', start: context.indexOf('Paris'), score: 8 })
  })
})

describe('stratifiedSplit', () => {
  const labels: string[] = [...Array<string>(60).fill('a'), ...Array<string>(30).fill('b'), ...Array<string>(10).fill('c')]
  // Interleave so classes are not contiguous.
  const mixed = labels.map((_, i) => labels[(i * 37) % 100]!)

  it('keeps each label’s proportions in every split, covering every index once', () => {
    const [train, validation, test] = stratifiedSplit(mixed, [0.8, 0.1, 0.1], 7)
    const count = (split: number[], label: string) => split.filter((i) => mixed[i] === label).length
    expect(['a', 'b', 'c'].map((l) => [count(train!, l), count(validation!, l), count(test!, l)])).toEqual([
      [48, 6, 6],
      [24, 3, 3],
      [8, 1, 1],
    ])
    expect([...train!, ...validation!, ...test!].sort((x, y) => x - y)).toEqual(mixed.map((_, i) => i))
    for (const split of [train!, validation!, test!]) expect(split).toEqual([...split].sort((x, y) => x - y))
  })

  it('is stable: same seed, same split; new labels elsewhere leave the others in place', () => {
    const first = stratifiedSplit(mixed, [0.8, 0.1, 0.1], 7)
    expect(stratifiedSplit(mixed, [0.8, 0.1, 0.1], 7)).toEqual(first)
    expect(stratifiedSplit(mixed, [0.8, 0.1, 0.1], 8)).not.toEqual(first)
    const grown = stratifiedSplit([...mixed, 'd', 'd', 'd'], [0.8, 0.1, 0.1], 7)
    expect(grown.map((split) => split.filter((i) => i < 100))).toEqual(first)
  })

  it('rounds small classes by largest remainder and rejects bad fractions', () => {
    expect(stratifiedSplit([1, 1, 1], [0.5, 0.5], 1).map((s) => s.length)).toEqual([2, 1])
    expect(() => stratifiedSplit([1], [0.5, 0.4], 1)).toThrow(/sum to 0.9/)
  })
})
