import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PretrainDataGenerator, resolvePretrainDataConfig, type DataPosition } from '../../../src-main/core/data/instances.ts'
import { buildTokenCache, TokenCache } from '../../../src-main/core/data/token-cache.ts'
import type { PretrainBatch } from '../../../src-main/core/train/types.ts'
import { tempDir } from '../helpers.ts'
import { makeDocuments, makeTokenizer, VOCAB } from './corpus.ts'

const dir = tempDir('studio-instances-')
const tokenizer = makeTokenizer()
const id = (token: string) => tokenizer.tokenToId(token)!
const [PAD, CLS, SEP, MASK] = ['[PAD]', '[CLS]', '[SEP]', '[MASK]'].map(id) as [number, number, number, number]
const SEQ = 64
let path: string
let cache: TokenCache
/** The whole corpus as one string of ids, to check that segments are real text. */
let corpusText: string
let corpus: Int32Array

/** B starts at most `gap` tokens after an occurrence of A ends (truncation cuts between them). */
function followsWithin(a: number[], b: number[], gap: number): boolean {
  const at = (start: number, tokens: number[]) => tokens.every((t, k) => corpus[start + k] === t)
  for (let i = 0; i + a.length <= corpus.length; i++) {
    if (!at(i, a)) continue
    for (let g = 0; g <= gap; g++) if (at(i + a.length + g, b)) return true
  }
  return false
}

const documents = [...makeDocuments(120, 5), { id: 9001, text: 'Kalo mira neru sota.' }, { id: 9002, text: '' }, { id: 9003, text: 'Lomi.' }]

beforeAll(async () => {
  path = join(dir.path, 'corpus.tokens')
  await buildTokenCache(documents, tokenizer, path, { tokenizerHash: 't' })
  cache = TokenCache.open(path)
  const all = new Int32Array(cache.tokenCount)
  cache.readTokens(0, cache.tokenCount, all)
  corpusText = ` ${all.join(' ')} `
  corpus = all
})
afterAll(() => {
  cache.close()
  dir.cleanup()
})

const rowOf = (array: Int32Array | Float32Array, row: number, width: number) => [...array.subarray(row * width, (row + 1) * width)]

interface Row {
  length: number
  firstSep: number
  original: number[]
  masked: number[]
  labels: number[]
  input: number[]
}

/** Checks every structural invariant of a batch and returns its rows with masks undone. */
function checkBatch(batch: PretrainBatch, batchSize: number): Row[] {
  const T = batch.seqLength
  const P = batch.maxPredictions
  expect(batch.batchSize).toBe(batchSize)
  expect(batch.inputIds.length).toBe(batchSize * T)
  expect(batch.maskedPositions.length).toBe(batchSize * P)
  expect(batch.nextSentenceLabels.length).toBe(batchSize)
  const rows: Row[] = []
  for (let b = 0; b < batchSize; b++) {
    const input = rowOf(batch.inputIds, b, T)
    const types = rowOf(batch.tokenTypeIds, b, T)
    const attention = rowOf(batch.attentionMask, b, T)
    const length = attention.reduce((sum, x) => sum + x, 0)
    expect(attention).toEqual(Array.from({ length: T }, (_, i) => (i < length ? 1 : 0)))
    expect(input.slice(length).every((x) => x === PAD)).toBe(true)
    expect(input.slice(0, length).every((x) => x !== PAD)).toBe(true)
    expect(input[0]).toBe(CLS)
    expect(input[length - 1]).toBe(SEP)
    const seps = input.flatMap((x, i) => (x === SEP ? [i] : []))
    expect(seps).toHaveLength(2)
    expect(input.filter((x) => x === CLS)).toHaveLength(1)
    const firstSep = seps[0]!
    expect(firstSep).toBeGreaterThanOrEqual(2) // A has a token
    expect(length - firstSep).toBeGreaterThanOrEqual(3) // B has a token
    expect(types).toEqual(Array.from({ length: T }, (_, i) => (i > firstSep && i < length ? 1 : 0)))
    const weights = [...batch.maskedWeights.subarray(b * P, (b + 1) * P)]
    const count = weights.filter((w) => w === 1).length
    expect(weights).toEqual(Array.from({ length: P }, (_, i) => (i < count ? 1 : 0)))
    const masked = rowOf(batch.maskedPositions, b, P).slice(0, count)
    const labels = rowOf(batch.maskedIds, b, P).slice(0, count)
    expect(rowOf(batch.maskedPositions, b, P).slice(count).every((x) => x === 0)).toBe(true)
    expect(rowOf(batch.maskedIds, b, P).slice(count).every((x) => x === 0)).toBe(true)
    for (let i = 0; i < count; i++) {
      const p = masked[i]!
      expect(p > 0 && p < length - 1 && p !== firstSep).toBe(true)
      if (i > 0) expect(p).toBeGreaterThan(masked[i - 1]!)
      expect([PAD, CLS, SEP, MASK]).not.toContain(labels[i])
    }
    const original = [...input]
    masked.forEach((p, i) => (original[p] = labels[i]!))
    expect(original.slice(0, length).filter((x) => x === MASK)).toEqual([])
    // A and B are each real text (so maskedIds are the originals); a true next B continues A.
    const a = original.slice(1, firstSep)
    const bTokens = original.slice(firstSep + 1, length - 1)
    expect(corpusText.includes(` ${a.join(' ')} `)).toBe(true)
    expect(corpusText.includes(` ${bTokens.join(' ')} `)).toBe(true)
    if (batch.nextSentenceLabels[b] === 0) expect(followsWithin(a, bTokens, T)).toBe(true)
    else expect(batch.nextSentenceLabels[b]).toBe(1)
    rows.push({ length, firstSep, original, masked, labels, input })
  }
  return rows
}

describe('pre-training instances', () => {
  it('keeps every invariant, masks 80/10/10 and labels ~50% random over many batches', () => {
    const generator = new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ, seed: 3 })
    expect(generator.maxPredictions).toBe(10) // round(64 × 0.15)
    let mask = 0
    let kept = 0
    let random = 0
    let randomNext = 0
    let rows = 0
    let full = 0
    for (let step = 0; step < 60; step++) {
      const { batch } = generator.nextBatch(16)
      for (const row of checkBatch(batch, 16)) {
        rows++
        if (row.length === SEQ) full++
        expect(row.masked.length).toBe(Math.min(10, Math.max(1, Math.round(row.length * 0.15))))
        row.masked.forEach((p, i) => {
          const now = row.input[p]!
          if (now === MASK) mask++
          else if (now === row.labels[i]) kept++
          else {
            random++
            expect(now).toBeGreaterThanOrEqual(5) // never a special token
          }
        })
      }
      randomNext += batch.nextSentenceLabels.reduce((sum, x) => sum + x, 0)
    }
    const total = mask + kept + random
    expect(total).toBeGreaterThan(5000)
    expect(mask / total).toBeCloseTo(0.8, 1)
    expect(Math.abs(kept / total - 0.1)).toBeLessThan(0.02)
    expect(Math.abs(random / total - 0.1)).toBeLessThan(0.02)
    // Half random by the coin, a little more from one-sentence chunks (the reference's rule).
    expect(randomNext / rows).toBeGreaterThan(0.45)
    expect(randomNext / rows).toBeLessThan(0.65)
    expect(full / rows).toBeGreaterThan(0.3) // short documents end many chunks early
  })

  it('makes ~10% of instances short, and the others (mid-document) full length', () => {
    const generator = new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ })
    let short = 0
    let all = 0
    let longFull = 0
    let longAll = 0
    let shortLength = 0
    for (let epoch = 0; epoch < 4; epoch++) {
      for (const document of generator.split.training) {
        const plans = generator.planDocument(epoch, document)
        plans.forEach((plan, i) => {
          const length = plan.aEnd - plan.aStart + plan.bEnd - plan.bStart
          expect(length).toBeLessThanOrEqual(SEQ - 3)
          all++
          if (plan.isShort) {
            short++
            shortLength += length
          } else if (i < plans.length - 1 && !plan.isRandomNext) {
            longAll++
            if (length === SEQ - 3) longFull++
          }
        })
      }
    }
    expect(Math.abs(short / all - 0.1)).toBeLessThan(0.03)
    expect(longFull / longAll).toBeGreaterThan(0.95)
    expect(shortLength / short).toBeLessThan(0.75 * (SEQ - 3))
    expect(generator.instancesPerEpoch(0)).toBe(generator.split.training.reduce((sum, d) => sum + generator.planDocument(0, d).length, 0))
    expect(generator.stepsPerEpoch(16)).toBe(Math.ceil(generator.instancesPerEpoch(0) / 16))
  })

  it('masks every piece of a chosen word with whole-word masking', () => {
    const generator = new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ, wholeWordMask: true, seed: 11 })
    const isPiece = (token: number) => VOCAB[token]!.startsWith('##')
    let multiPieceWords = 0
    for (let step = 0; step < 30; step++) {
      for (const row of checkBatch(generator.nextBatch(16).batch, 16)) {
        expect(row.masked.length).toBeLessThanOrEqual(10)
        const chosen = new Set(row.masked)
        for (const p of row.masked) {
          // A piece's word start is masked, and so is the next piece of a masked word.
          if (isPiece(row.original[p]!) && p - 1 !== 0 && p - 1 !== row.firstSep) expect(chosen.has(p - 1)).toBe(true)
          if (p + 1 < row.length - 1 && p + 1 !== row.firstSep && isPiece(row.original[p + 1]!)) {
            expect(chosen.has(p + 1)).toBe(true)
            multiPieceWords++
          }
        }
      }
    }
    expect(multiPieceWords).toBeGreaterThan(50)
  })

  it('resumes exactly from a position saved as JSON, across epoch ends', () => {
    const config = { seqLength: SEQ, seed: 99, shuffleWindowDocuments: 8 }
    const straight = new PretrainDataGenerator(cache, tokenizer, config)
    const epochSteps = straight.stepsPerEpoch(16)
    const steps = 2 * epochSteps + 6 // crosses two epoch ends
    const expected: PretrainBatch[] = []
    const positions: DataPosition[] = []
    for (let i = 0; i < steps; i++) {
      const { batch, position } = straight.nextBatch(16)
      expected.push(batch)
      positions.push(position)
    }
    expect(positions.at(-1)!.epoch).toBe(2)
    for (const cut of [Math.floor(steps / 2), epochSteps - 1, 3]) {
      const first = new PretrainDataGenerator(cache, tokenizer, config)
      let saved = ''
      for (let i = 0; i < cut; i++) saved = JSON.stringify(first.nextBatch(16).position)
      const reopened = TokenCache.open(path)
      const resumed = new PretrainDataGenerator(reopened, tokenizer, config, JSON.parse(saved) as DataPosition)
      for (let i = cut; i < steps; i++) {
        const { batch, position } = resumed.nextBatch(16)
        expect(batch).toEqual(expected[i])
        expect(position).toEqual(positions[i])
      }
      reopened.close()
    }
  })

  it('draws different pairs and masks in different epochs', () => {
    const generator = new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ })
    let differentPlans = 0
    for (const document of generator.split.training) {
      if (JSON.stringify(generator.planDocument(0, document)) !== JSON.stringify(generator.planDocument(1, document))) differentPlans++
    }
    expect(differentPlans / generator.split.training.length).toBeGreaterThan(0.8)
  })

  it('redraws the masks of the same text each epoch', async () => {
    // One document of one sentence: every epoch is the same single pair (A = B = the sentence).
    const onePath = join(dir.path, 'one.tokens')
    await buildTokenCache([{ id: 1, text: 'Kalo mira neru sota tavi pedo guha kamo lone rumi sota tavi pedo guha kamo lone rumi.' }], tokenizer, onePath)
    const one = TokenCache.open(onePath)
    const generator = new PretrainDataGenerator(one, tokenizer, { seqLength: SEQ, shortSeqProb: 0 })
    expect(generator.split.validation).toHaveLength(0)
    const masks = new Set<string>()
    let text = ''
    for (let epoch = 0; epoch < 10; epoch++) {
      const { batch, position } = generator.nextBatch(1)
      expect(position).toEqual({ epoch: epoch + 1, documentCursor: 0, instanceInDocument: 0 })
      const [row] = checkBatchLoose(batch)
      text ||= JSON.stringify(row!.original)
      expect(JSON.stringify(row!.original)).toBe(text)
      masks.add(JSON.stringify(row!.masked))
    }
    expect(masks.size).toBeGreaterThan(7)
    one.close()
  })

  it('holds out a stable, disjoint validation set with fixed batches', () => {
    const a = new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ, seed: 1 })
    const b = new PretrainDataGenerator(TokenCache.open(path), tokenizer, { seqLength: SEQ, seed: 2 })
    expect(a.split).toEqual(b.split)
    expect(a.split.validation.length).toBeGreaterThanOrEqual(1)
    const training = new Set(a.split.training)
    expect([...a.split.validation].some((d) => training.has(d))).toBe(false)
    expect(a.split.training.length + a.split.validation.length).toBe(documents.length - 1) // the empty one is in neither
    const batchesA = [...a.validationBatches(4)]
    expect(batchesA.length).toBeGreaterThan(0)
    expect([...a.validationBatches(4)]).toEqual(batchesA)
    expect([...b.validationBatches(4)]).toEqual(batchesA)
    expect([...a.validationBatches(4, 1)]).toHaveLength(1)
    for (const batch of batchesA) checkBatch(batch, batch.batchSize)
    // Training batches never contain validation text: B segments come from the same split.
    const wider = new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ, validationFraction: 0.2 })
    expect(Math.abs(wider.split.validation.length / 123 - 0.2)).toBeLessThan(0.1)
    expect(new Set([...wider.split.training, ...wider.split.validation]).size).toBe(122)
    for (const document of wider.split.training) {
      for (const plan of wider.planDocument(0, document)) {
        const owner = (offset: number) => [...wider.split.validation].some((v) => offset >= cache.sentenceOffsets[cache.documentSentences[v]!]! && offset < cache.sentenceOffsets[cache.documentSentences[v + 1]!]!)
        expect(owner(plan.aStart) || owner(plan.bStart)).toBe(false)
      }
    }
  })

  it('rejects unknown config fields and positions outside the data', () => {
    expect(() => resolvePretrainDataConfig({ seqLen: 128 } as never)).toThrow(/unknown field "seqLen"/)
    expect(() => resolvePretrainDataConfig({ seqLength: 4 })).toThrow(/seqLength is 4, expected an integer ≥ 8/)
    expect(() => new PretrainDataGenerator(cache, tokenizer, { seqLength: SEQ }, { epoch: 0, documentCursor: 10_000, instanceInDocument: 0 })).toThrow(/documentCursor is 10000/)
  })

})

/** Rows with masks undone, for a corpus other than the shared one. */
function checkBatchLoose(batch: PretrainBatch): { original: number[]; masked: number[] }[] {
  const T = batch.seqLength
  const P = batch.maxPredictions
  return Array.from({ length: batch.batchSize }, (_, b) => {
    const original = rowOf(batch.inputIds, b, T)
    const count = batch.maskedWeights.subarray(b * P, (b + 1) * P).reduce((sum, w) => sum + w, 0)
    const masked = rowOf(batch.maskedPositions, b, P).slice(0, count)
    masked.forEach((p, i) => (original[p] = batch.maskedIds[b * P + i]!))
    return { original, masked }
  })
}
