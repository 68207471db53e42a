/**
 * How a fine-tuned model compares with its task's simple baseline on the same test examples (TF-IDF
 * + logistic regression for a classifier, the first sentences for extractive summaries), said in
 * words an analyst can act on. "Ahead" and "behind" only when the exact sign test on the paired
 * examples (McNemar's for classification) says the gap is unlikely to be chance (p < 0.05).
 */
import type { EvaluationBaseline } from '../../../src-main/contract/index.ts'
import { formatCount } from './format.ts'

export type BaselineStanding = 'ahead' | 'level' | 'behind'

export interface BaselineVerdict {
  standing: BaselineStanding
  /** The model's score minus the baseline's on the compared metric, in percentage points. */
  points: number
  headline: string
  advice: string
}

export const SIGNIFICANCE = 0.05

/** What a baseline is called beside the model, by kind. */
export const BASELINE_NAME: Record<EvaluationBaseline['kind'], string> = {
  tfidf: 'Word counts (TF-IDF + logistic regression)',
  lead: 'The first sentences (Lead)',
}

const formatPoints = (points: number) => `${Math.abs(points).toFixed(1)} ${Math.abs(points).toFixed(1) === '1.0' ? 'point' : 'points'}`
const formatP = (p: number) => (p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(p < 0.01 ? 3 : 2)}`)
const plural = (count: number, one: string, many: string) => `${formatCount(count)} ${count === 1 ? one : many}`

const ADVICE: Record<EvaluationBaseline['kind'], { ahead: string; behind: string }> = {
  tfidf: {
    ahead: 'What it learnt beyond which words appear pays off here.',
    behind:
      'Where the words alone decide the class, a small BERT is hard pressed to beat word counts. Pre-training longer, on more text like this, or a larger model size usually narrows the gap; more labelled examples help both.',
  },
  lead: {
    ahead: 'It picks the sentences that matter, not just the first ones.',
    behind:
      'In many kinds of text the opening sentences are the summary. More labelled documents, or a parent pre-trained longer on text like this, help the model find what else matters.',
  },
}

/** `modelScore`: the model's value of `baseline.metric` on the same examples. */
export function baselineVerdict(modelScore: number, baseline: EvaluationBaseline, examples: number): BaselineVerdict {
  const baselineScore = (baseline.metrics as Record<string, number>)[baseline.metric] ?? 0
  const points = (modelScore - baselineScore) * 100
  const significant = baseline.pValue < SIGNIFICANCE
  const on = baseline.kind === 'tfidf' ? plural(examples, 'test example', 'test examples') : plural(examples, 'test document', 'test documents')
  const evidence =
    baseline.kind === 'tfidf'
      ? `${formatCount(baseline.modelBetter)} right only by this model, ${formatCount(baseline.baselineBetter)} only by the baseline; ${formatP(baseline.pValue)}`
      : `ROUGE-L higher for this model on ${formatCount(baseline.modelBetter)}, for the baseline on ${formatCount(baseline.baselineBetter)}; ${formatP(baseline.pValue)}`
  const by = baseline.kind === 'tfidf' ? formatPoints(points) : `${formatPoints(points)} of ROUGE-L`
  if (significant && points > 0) {
    return { standing: 'ahead', points, headline: `This model beats the baseline by ${by} on ${on} (${evidence}).`, advice: ADVICE[baseline.kind].ahead }
  }
  if (significant && points < 0) {
    return { standing: 'behind', points, headline: `The baseline does better, by ${by} on ${on} (${evidence}).`, advice: ADVICE[baseline.kind].behind }
  }
  return {
    standing: 'level',
    points,
    headline: `This model and the baseline are level within chance on ${on}: ${by} apart (${evidence}).`,
    advice: examples < 200 ? 'A larger test split would tell them apart more surely.' : 'Neither is clearly better on this task yet.',
  }
}
