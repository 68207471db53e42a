/** Fine-tuning metrics against hand-computed values. */
import { describe, expect, it } from 'vitest'
import {
  accuracy,
  classificationReport,
  confusionMatrix,
  entityReport,
  expectedCalibrationError,
  exactMatch,
  extractEntities,
  finetuneMetrics,
  mcnemarPValue,
  multiLabelReport,
  meanRouge,
  normalizeAnswer,
  reliabilityCurve,
  rouge,
  rougeTokens,
  squadScores,
  tokenF1,
} from '../../../src-main/core/train/metrics.ts'

const round = (x: number) => Number(x.toFixed(4))

describe('classification', () => {
  const predicted = [0, 1, 2, 2, 1]
  const actual = [0, 2, 2, 2, 1]

  it('accuracy, confusion matrix, per-class and averaged F1', () => {
    expect(accuracy(predicted, actual)).toBe(0.8)
    expect(confusionMatrix(predicted, actual, 3)).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 1, 2],
    ])
    const report = classificationReport(predicted, actual, 3)
    expect(report.perClass.map((c) => [round(c.precision), round(c.recall), round(c.f1), c.support])).toEqual([
      [1, 1, 1, 1],
      [0.5, 1, 0.6667, 1],
      [1, 0.6667, 0.8, 3],
    ])
    expect(round(report.macroF1)).toBe(round((1 + 2 / 3 + 0.8) / 3))
    expect(round(report.microF1)).toBe(0.8)
    expect(round(report.weightedF1)).toBe(round((1 + 2 / 3 + 0.8 * 3) / 5))
  })

  it('a class never predicted nor present scores 0, and mismatched lengths are an error', () => {
    const report = classificationReport([0, 0], [0, 0], 2)
    expect(report.perClass[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 })
    expect(() => accuracy([0], [0, 1])).toThrow(/1 predictions and 2 labels/)
  })

  it('multi-label micro/macro F1, exact match and Hamming loss at a threshold', () => {
    const scores = [0.9, 0.1, 0.6, 0.2, 0.8, 0.4]
    const report = multiLabelReport(scores, [[0, 2], [1, 2]], 3)
    expect(round(report.microF1)).toBe(round((2 * 0.75) / 1.75))
    expect(round(report.macroF1)).toBe(round((1 + 1 + 2 / 3) / 3))
    expect(report.exactMatch).toBe(0.5)
    expect(round(report.hammingLoss)).toBe(round(1 / 6))
    expect(multiLabelReport(scores, [[0, 2], [1, 2]], 3, 0.3).exactMatch).toBe(1)
  })
})

describe('entities (seqeval)', () => {
  it('an I- without a B- starts an entity; B- splits adjacent entities; a type change ends one', () => {
    expect(extractEntities(['I-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC', 'I-LOC'])).toEqual([
      { type: 'PER', start: 0, end: 1 },
      { type: 'LOC', start: 3, end: 3 },
      { type: 'LOC', start: 4, end: 5 },
    ])
    expect(extractEntities(['B-PER', 'I-LOC', 'O', 'I-MISC'])).toEqual([
      { type: 'PER', start: 0, end: 0 },
      { type: 'LOC', start: 1, end: 1 },
      { type: 'MISC', start: 3, end: 3 },
    ])
    expect(extractEntities(['S-PER', 'B-ORG', 'E-ORG', 'O'])).toEqual([
      { type: 'PER', start: 0, end: 0 },
      { type: 'ORG', start: 1, end: 2 },
    ])
    expect(extractEntities(['O', 'O'])).toEqual([])
  })

  it('entity-level precision, recall and F1 count exact (type, start, end) matches only', () => {
    const actual = [
      ['B-PER', 'I-PER', 'O', 'B-LOC'],
      ['B-ORG', 'O'],
    ]
    const predicted = [
      ['B-PER', 'O', 'O', 'B-LOC'],
      ['B-ORG', 'B-ORG'],
    ]
    const report = entityReport(actual, predicted)
    // true: PER(0,1) LOC(3) ORG(0); predicted: PER(0,0) LOC(3) ORG(0) ORG(1) → 2 right of 4 predicted, of 3 true
    expect(round(report.precision)).toBe(0.5)
    expect(round(report.recall)).toBe(round(2 / 3))
    expect(round(report.f1)).toBe(round((2 * 0.5 * (2 / 3)) / (0.5 + 2 / 3)))
    expect(report.perType.PER).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 })
    expect(report.perType.LOC).toEqual({ precision: 1, recall: 1, f1: 1, support: 1 })
    expect(round(report.perType.ORG!.precision)).toBe(0.5)
    // I- continuing a B- of the same type is one entity in both, so it matches.
    expect(entityReport([['B-PER', 'I-PER']], [['I-PER', 'I-PER']]).f1).toBe(1)
  })
})

describe('SQuAD', () => {
  it('normalises case, punctuation, articles and whitespace', () => {
    expect(normalizeAnswer('The  Denver Broncos!')).toBe('denver broncos')
    expect(exactMatch('Broncos.', 'the broncos')).toBe(1)
    expect(exactMatch('Denver Broncos', 'broncos')).toBe(0)
  })

  it('token F1 is the bag-of-words overlap; the best reference counts', () => {
    expect(tokenF1('denver broncos won', 'the broncos')).toBe(0.5)
    expect(tokenF1('', '')).toBe(1)
    expect(tokenF1('x', '')).toBe(0)
    const scores = squadScores(['Denver Broncos', 'Paris'], [['Broncos', 'the Denver Broncos'], ['London']])
    expect(scores).toEqual({ exactMatch: 0.5, f1: 0.5 })
  })
})

describe('calibration and trainer metrics', () => {
  it('expected calibration error over confidence bins', () => {
    expect(round(expectedCalibrationError([0.95, 0.95, 0.55, 0.55], [1, 0, 1, 1]))).toBe(0.45)
    expect(expectedCalibrationError([1, 1], [true, true])).toBe(0)
  })

  it('the reliability curve: one point per non-empty bin, mean confidence against the share right', () => {
    // Bins of 0.1: 0.95 and 0.92 share (0.9, 1]; 0.55 is in (0.5, 0.6]; 0.1 in (0, 0.1].
    const curve = reliabilityCurve([0.95, 0.92, 0.55, 0.1], [1, 0, 1, 0])
    expect(curve.map((bin) => ({ ...bin, confidence: round(bin.confidence) }))).toEqual([
      { confidence: 0.1, accuracy: 0, count: 1 },
      { confidence: 0.55, accuracy: 1, count: 1 },
      { confidence: 0.935, accuracy: 0.5, count: 2 },
    ])
    // Its points weighted by count give the ECE.
    const ece = curve.reduce((sum, bin) => sum + (bin.count / 4) * Math.abs(bin.accuracy - bin.confidence), 0)
    expect(round(ece)).toBe(round(expectedCalibrationError([0.95, 0.92, 0.55, 0.1], [1, 0, 1, 0])))
    expect(reliabilityCurve([], [])).toEqual([])
    expect(() => reliabilityCurve([0.5], [1, 0])).toThrow(/1 predictions and 2 outcomes/)
  })

  it('renames the trainer’s pre-training fields for a head', () => {
    expect(finetuneMetrics({ loss: 1, mlm_loss: 1, mlm_accuracy: 0.75, nsp_loss: 0, nsp_accuracy: 0 })).toEqual({ loss: 1, accuracy: 0.75 })
  })
})

describe('ROUGE', () => {
  it('tokenises as rouge-score: lowercase, runs of letters and digits', () => {
    expect(rougeTokens('The cat—sat, on 2 mats!')).toEqual(['the', 'cat', 'sat', 'on', '2', 'mats'])
    expect(rougeTokens('Ça va, Zoë?')).toEqual(['ça', 'va', 'zoë'])
  })

  it('ROUGE-1, ROUGE-2 and ROUGE-L against hand counts', () => {
    // prediction: the cat was found under the bed (7 tokens); reference: the cat was under the bed (6)
    const scores = rouge('the cat was found under the bed', 'the cat was under the bed')
    // unigrams: the×2, cat, was, under, bed all matched → 6 of 7 predicted, 6 of 6 reference
    expect(round(scores.rouge1.precision)).toBe(round(6 / 7))
    expect(scores.rouge1.recall).toBe(1)
    expect(round(scores.rouge1.f1)).toBe(round((2 * (6 / 7)) / (6 / 7 + 1)))
    // bigrams: predicted the-cat cat-was was-found found-under under-the the-bed; reference the-cat cat-was was-under under-the the-bed → 4 common
    expect(round(scores.rouge2.precision)).toBe(round(4 / 6))
    expect(round(scores.rouge2.recall)).toBe(round(4 / 5))
    // LCS: the cat was under the bed = 6
    expect(round(scores.rougeL.precision)).toBe(round(6 / 7))
    expect(scores.rougeL.recall).toBe(1)
  })

  it('clips repeated n-grams, takes the longest common subsequence in order, and scores empty texts 0', () => {
    // "the the the" vs "the cat": one "the" in the reference → overlap 1 of 3 predicted, 1 of 2 reference
    const clipped = rouge('the the the', 'the cat')
    expect(round(clipped.rouge1.precision)).toBe(round(1 / 3))
    expect(clipped.rouge1.recall).toBe(0.5)
    // LCS of "a b c d" and "b d a c" is 2 (b c, b d or a c)
    expect(rouge('a b c d', 'b d a c').rougeL.recall).toBe(0.5)
    expect(rouge('', 'the cat').rouge1).toEqual({ precision: 0, recall: 0, f1: 0 })
    expect(rouge('one', 'one').rouge2).toEqual({ precision: 0, recall: 0, f1: 0 })
  })

  it('averages F1 over pairs', () => {
    const mean = meanRouge(['a b', 'c d'], ['a b', 'x y'])
    expect(mean).toEqual({ rouge1: 0.5, rouge2: 0.5, rougeL: 0.5 })
  })
})

describe("McNemar's exact test", () => {
  it('matches scipy.stats.binomtest on the discordant pairs', () => {
    // Reference values: scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue.
    expect(mcnemarPValue(12, 3)).toBeCloseTo(0.03515625, 12)
    expect(mcnemarPValue(3, 12)).toBeCloseTo(0.03515625, 12)
    expect(mcnemarPValue(600, 500)).toBeCloseTo(0.002819544991436429, 10)
    expect(mcnemarPValue(10, 0)).toBeCloseTo(2 / 1024, 12)
    expect(mcnemarPValue(40, 41)).toBe(1)
    expect(mcnemarPValue(0, 0)).toBe(1)
  })
})
