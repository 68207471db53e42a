import { describe, expect, it } from 'vitest'
import type { EvaluationBaseline } from '../../../src-main/contract/index.ts'
import { baselineVerdict } from '../../../src-renderer/src/lib/baseline.ts'

const baseline = (accuracy: number, modelBetter: number, baselineBetter: number, pValue: number): EvaluationBaseline => ({
  kind: 'tfidf',
  metric: 'accuracy',
  method: 'TF-IDF + logistic regression',
  C: 10,
  features: 5000,
  fittedOn: 900,
  metrics: { accuracy, macro_f1: accuracy, weighted_f1: accuracy },
  modelBetter,
  baselineBetter,
  pValue,
  seconds: 2,
})

describe('the baseline verdict', () => {
  it('calls a significant gap ahead or behind, in points, with the paired evidence', () => {
    const behind = baselineVerdict(0.739, baseline(0.785, 10, 25, 0.017), 326)
    expect(behind.standing).toBe('behind')
    expect(behind.points).toBeCloseTo(-4.6, 10)
    expect(behind.headline).toBe('The baseline does better, by 4.6 points on 326 test examples (10 right only by this model, 25 only by the baseline; p = 0.02).')
    const ahead = baselineVerdict(0.9, baseline(0.8, 40, 10, 0.00002), 500)
    expect(ahead.standing).toBe('ahead')
    expect(ahead.headline).toContain('beats the baseline by 10.0 points')
    expect(ahead.headline).toContain('p < 0.001')
  })

  it('calls a gap that chance could give level, whichever side it is on', () => {
    const level = baselineVerdict(0.8, baseline(0.7, 3, 0, 0.25), 30)
    expect(level.standing).toBe('level')
    expect(level.headline).toContain('level within chance on 30 test examples: 10.0 points apart')
    expect(level.advice).toContain('larger test split')
    expect(baselineVerdict(0.7, baseline(0.71, 5, 6, 1), 1000).standing).toBe('level')
  })

  it('compares summaries with Lead on ROUGE-L, per document', () => {
    const lead: EvaluationBaseline = {
      kind: 'lead',
      metric: 'rougeL',
      method: 'Lead: the first sentences within 40 words',
      summaryWords: 40,
      metrics: { rouge1: 0.5, rouge2: 0.3, rougeL: 0.45 },
      modelBetter: 2,
      baselineBetter: 30,
      pValue: 0.0001,
      seconds: 0.01,
    }
    const verdict = baselineVerdict(0.3, lead, 40)
    expect(verdict.standing).toBe('behind')
    expect(verdict.headline).toBe('The baseline does better, by 15.0 points of ROUGE-L on 40 test documents (ROUGE-L higher for this model on 2, for the baseline on 30; p < 0.001).')
  })
})
