/**
 * How a fine-tuned classifier compares with the TF-IDF + logistic regression baseline fitted on the
 * same run's examples, said in words an analyst can act on. "Ahead" and "behind" only when McNemar's
 * test on the paired test examples says the gap is unlikely to be chance (p < 0.05).
 */
import type { EvaluationBaseline } from '../../../src-main/contract/index.ts'
import { formatCount } from './format.ts'

export type BaselineStanding = 'ahead' | 'level' | 'behind'

export interface BaselineVerdict {
  standing: BaselineStanding
  /** The model's accuracy minus the baseline's, in percentage points. */
  points: number
  headline: string
  advice: string
}

export const SIGNIFICANCE = 0.05

const formatPoints = (points: number) => `${Math.abs(points).toFixed(1)} ${Math.abs(points).toFixed(1) === '1.0' ? 'point' : 'points'}`
const formatP = (p: number) => (p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(p < 0.01 ? 3 : 2)}`)

export function baselineVerdict(modelAccuracy: number, baseline: EvaluationBaseline, examples: number): BaselineVerdict {
  const points = (modelAccuracy - baseline.metrics.accuracy) * 100
  const significant = baseline.pValue < SIGNIFICANCE
  const on = `${formatCount(examples)} test ${examples === 1 ? 'example' : 'examples'}`
  const evidence = `${formatCount(baseline.modelOnlyCorrect)} right only by this model, ${formatCount(baseline.baselineOnlyCorrect)} only by the baseline; ${formatP(baseline.pValue)}`
  if (significant && points > 0) {
    return {
      standing: 'ahead',
      points,
      headline: `This model beats the baseline by ${formatPoints(points)} on ${on} (${evidence}).`,
      advice: 'What it learnt beyond which words appear pays off here.',
    }
  }
  if (significant && points < 0) {
    return {
      standing: 'behind',
      points,
      headline: `The baseline does better, by ${formatPoints(points)} on ${on} (${evidence}).`,
      advice:
        'Where the words alone decide the class, a small BERT is hard pressed to beat word counts. Pre-training longer, on more text like this, or a larger model size usually narrows the gap; more labelled examples help both.',
    }
  }
  return {
    standing: 'level',
    points,
    headline: `This model and the baseline are level within chance on ${on}: ${formatPoints(points)} apart (${evidence}).`,
    advice: examples < 200 ? 'A larger test split would tell them apart more surely.' : 'Neither is clearly better on this task yet.',
  }
}
