/**
 * The TF-IDF + logistic regression baseline shown beside classification evaluations: its features
 * follow scikit-learn's definitions (worked by hand below), its solver reaches the regularised
 * optimum whether warm-started or not, C is chosen on validation, and it learns what is learnable.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_C, LogisticRegression, TfidfVectorizer, tfidfBaseline, type BaselineExample } from '../../../src-main/core/train/baseline.ts'
import { seeded, topicRows } from './synthetic.ts'

const CLASSES = ['sport', 'cooking', 'finance']
const indexed = (rows: { text: string; label: string }[]): BaselineExample[] => rows.map((row) => ({ text: row.text, label: CLASSES.indexOf(row.label) }))

describe('TfidfVectorizer', () => {
  it('weighs word 1–2-grams by sublinear tf and smoothed idf, rows of unit length', () => {
    // "a" is too short to be a token (two or more word characters, as scikit-learn's default).
    const vectorizer = new TfidfVectorizer().fit(['A cat sat, cat!', 'the cat'])
    // Terms, sorted: "cat", "cat sat", "sat", "sat cat", "the", "the cat"; df: cat 2, the others 1 (n = 2).
    expect(vectorizer.size).toBe(6)
    const [row] = vectorizer.transform(['cat sat cat'])
    const idfOne = Math.log(3 / 2) + 1
    const raw = new Map([
      [0, (1 + Math.log(2)) * 1], // "cat" twice, idf ln(3/3) + 1 = 1
      [1, idfOne], // "cat sat"
      [2, idfOne], // "sat"
      [3, idfOne], // "sat cat"
    ])
    const norm = Math.hypot(...raw.values())
    expect([...row!.indices]).toEqual([0, 1, 2, 3])
    row!.indices.forEach((j, n) => expect(row!.values[n]).toBeCloseTo(raw.get(j)! / norm, 12))
    // Unknown terms are ignored; a text with none is the zero row.
    expect([...vectorizer.transform(['dog dog'])[0]!.indices]).toEqual([])
  })

  it('keeps only the most frequent terms when told to, as max_features', () => {
    // Counts over both texts: cat 3, sat 1, "cat sat" 1, "sat cat" 1, the 1, "the cat" 1.
    const capped = new TfidfVectorizer(2).fit(['A cat sat, cat!', 'the cat'])
    expect(capped.size).toBe(2)
    // "cat" (3), then the alphabetically first of the ties: "cat sat".
    expect(capped.transform(['cat sat'])[0]!.indices.length).toBe(2)
    for (const dropped of ['sat', 'the']) expect(capped.transform([dropped])[0]!.indices.length).toBe(0)
  })
})

describe('LogisticRegression', () => {
  const rows = indexed(topicRows(20, 5))
  const vectorizer = new TfidfVectorizer().fit(rows.map((r) => r.text))
  const X = vectorizer.transform(rows.map((r) => r.text))
  const y = rows.map((r) => r.label)

  it('reaches the same optimum from zero and from another C’s solution', async () => {
    const cold = await new LogisticRegression(30).fit(X, y, 3, vectorizer.size)
    const previous = await new LogisticRegression(10).fit(X, y, 3, vectorizer.size)
    const warm = await new LogisticRegression(30).fit(X, y, 3, vectorizer.size, { start: previous.theta })
    expect(warm.iterations).toBeLessThan(cold.iterations)
    let largest = 0
    cold.theta.forEach((v, i) => (largest = Math.max(largest, Math.abs(v - warm.theta[i]!))))
    expect(largest).toBeLessThan(1e-3)
    expect(warm.predict(X)).toEqual(cold.predict(X))
  })

  it('gives probabilities that sum to one, and with almost no data weight predicts the majority', async () => {
    const skewed = [...y.slice(0, 30), 0, 0, 0, 0, 0]
    const weak = await new LogisticRegression(1e-4).fit(X.slice(0, 35), skewed, 3, vectorizer.size)
    for (const p of weak.predictProbabilities(X)) expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    const majority = [0, 1, 2].reduce((best, k) => (skewed.filter((c) => c === k).length > skewed.filter((c) => c === best).length ? k : best), 0)
    expect(new Set(weak.predict(X))).toEqual(new Set([majority]))
  })
})

describe('tfidfBaseline', () => {
  it('separates topics, chooses C on validation and refits on train + validation', async () => {
    const data = { train: indexed(topicRows(40, 1)), validation: indexed(topicRows(10, 2)), test: indexed(topicRows(20, 3)) }
    const progress: [number, number][] = []
    const outcome = await tfidfBaseline(data, 3, { grid: [0.1, 1, 10], onProgress: (done, total) => progress.push([done, total]) })
    expect(outcome.metrics.accuracy).toBeGreaterThanOrEqual(0.95)
    expect(outcome.metrics.macro_f1).toBeGreaterThanOrEqual(0.95)
    expect(outcome.validation.map((v) => v.C)).toEqual([0.1, 1, 10])
    const best = Math.max(...outcome.validation.map((v) => v.macro_f1))
    expect(outcome.validation.find((v) => v.C === outcome.C)!.macro_f1).toBe(best)
    expect(outcome.fittedOn).toBe(150)
    expect(outcome.predictions).toHaveLength(60)
    expect(progress).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ])
  })

  it('stops trying larger Cs two past the peak, where the fits are slowest', async () => {
    // Half the training labels are noise: a large C fits the noise and validation falls after C = 1.
    const random = seeded(3)
    const noisy = indexed(topicRows(60, 1)).map((row) => (random() < 0.5 ? { ...row, label: Math.floor(random() * 3) } : row))
    const outcome = await tfidfBaseline({ train: noisy, validation: indexed(topicRows(30, 2)), test: indexed(topicRows(10, 3)) }, 3, { grid: [0.01, 0.1, 1, 10, 100, 1000, 10000] })
    expect(outcome.C).toBe(1)
    expect(outcome.validation.map((v) => v.C)).toEqual([0.01, 0.1, 1, 10, 100])
  })

  it('does no better than chance on shuffled labels', async () => {
    const random = seeded(9)
    const shuffled = (rows: BaselineExample[]) => rows.map((row) => ({ ...row, label: Math.floor(random() * 3) }))
    const data = { train: shuffled(indexed(topicRows(40, 1))), validation: shuffled(indexed(topicRows(10, 2))), test: shuffled(indexed(topicRows(40, 3))) }
    const outcome = await tfidfBaseline(data, 3, { grid: [1, 10] })
    expect(outcome.metrics.accuracy).toBeLessThan(0.5)
  })

  it('takes the default C when there is no validation example', async () => {
    const outcome = await tfidfBaseline({ train: indexed(topicRows(20, 1)), validation: [], test: indexed(topicRows(5, 3)) }, 3)
    expect(outcome.C).toBe(DEFAULT_C)
    expect(outcome.validation).toEqual([])
  })

  it('learns from an evenly spaced sample of a big training set, validation cut in proportion, and scores every test example', async () => {
    const data = { train: indexed(topicRows(40, 1)), validation: indexed(topicRows(10, 2)), test: indexed(topicRows(20, 3)) }
    const outcome = await tfidfBaseline(data, 3, { grid: [1, 10], maxTrainExamples: 30 })
    expect(outcome.fittedOn).toBe(30 + 8) // 30 of 120 training examples, and 30 · 30 / 120 of the validation ones
    expect(outcome.predictions).toHaveLength(60)
    expect(outcome.metrics.accuracy).toBeGreaterThan(0.6)
  })

  it('caps its features so that features × classes stays within the weights allowed', async () => {
    const data = { train: indexed(topicRows(40, 1)), validation: indexed(topicRows(10, 2)), test: indexed(topicRows(20, 3)) }
    const full = await tfidfBaseline(data, 3, { grid: [10] })
    const capped = await tfidfBaseline(data, 3, { grid: [10], maxWeights: 90 })
    expect(full.features).toBeGreaterThan(30)
    expect(capped.features).toBe(30)
    expect(capped.metrics.accuracy).toBeGreaterThan(0.9) // the topic words are among the most frequent
  })

  it('stops when cancelled, with the studio’s cancellation error', async () => {
    let calls = 0
    const data = { train: indexed(topicRows(40, 1)), validation: indexed(topicRows(10, 2)), test: indexed(topicRows(10, 3)) }
    await expect(tfidfBaseline(data, 3, { cancelled: () => ++calls > 3 })).rejects.toMatchObject({ code: 'CANCELLED' })
  })
})
