/**
 * Evaluation metrics for fine-tuned models, on plain arrays (no tensors): classification
 * (accuracy, per-class precision/recall/F1, macro/micro F1, confusion matrix), multi-label,
 * entity-level F1 over BIO/IOBES tags as seqeval computes it, SQuAD exact match and token F1,
 * ROUGE-1/2/L, expected calibration error and the reliability curve, McNemar's test of two
 * classifiers on the same examples. Every ratio whose denominator is 0 is 0 (sklearn's zero_division=0).
 */
import { badInput } from '../errors.ts'
import type { EvalMetrics, TrainMetrics } from './trainer.ts'

const ratio = (numerator: number, denominator: number): number => (denominator > 0 ? numerator / denominator : 0)
const f1Of = (precision: number, recall: number): number => (precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0)

function sameLength(a: { length: number }, b: { length: number }, what: string): void {
  if (a.length !== b.length) throw badInput(`There are ${a.length} predictions and ${b.length} ${what}, expected as many of each`)
}

export function accuracy(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  sameLength(predicted, actual, 'labels')
  let hits = 0
  for (let i = 0; i < actual.length; i++) if (predicted[i] === actual[i]) hits++
  return ratio(hits, actual.length)
}

/** matrix[actual][predicted] counts. */
export function confusionMatrix(predicted: ArrayLike<number>, actual: ArrayLike<number>, numClasses: number): number[][] {
  sameLength(predicted, actual, 'labels')
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0))
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!
    const p = predicted[i]!
    if (!(a >= 0 && a < numClasses && p >= 0 && p < numClasses)) throw badInput(`Item ${i} has label ${a} and prediction ${p}, expected classes in [0, ${numClasses - 1}]`)
    matrix[a]![p]! += 1
  }
  return matrix
}

export interface ClassScores {
  readonly precision: number
  readonly recall: number
  readonly f1: number
  /** True instances of the class. */
  readonly support: number
}

export interface ClassificationReport {
  readonly accuracy: number
  readonly perClass: ClassScores[]
  /** Unweighted mean of the per-class F1s. */
  readonly macroF1: number
  /** F1 of pooled counts (equal to accuracy for single-label classification). */
  readonly microF1: number
  /** Mean of per-class F1s weighted by support. */
  readonly weightedF1: number
  readonly confusion: number[][]
}

function scoresFromCounts(truePositive: number, falsePositive: number, falseNegative: number): ClassScores {
  const precision = ratio(truePositive, truePositive + falsePositive)
  const recall = ratio(truePositive, truePositive + falseNegative)
  return { precision, recall, f1: f1Of(precision, recall), support: truePositive + falseNegative }
}

export function classificationReport(predicted: ArrayLike<number>, actual: ArrayLike<number>, numClasses: number): ClassificationReport {
  const confusion = confusionMatrix(predicted, actual, numClasses)
  const perClass: ClassScores[] = []
  let tp = 0
  let fp = 0
  let fn = 0
  for (let c = 0; c < numClasses; c++) {
    const truePositive = confusion[c]![c]!
    const falseNegative = confusion[c]!.reduce((sum, n) => sum + n, 0) - truePositive
    const falsePositive = confusion.reduce((sum, row) => sum + row[c]!, 0) - truePositive
    perClass.push(scoresFromCounts(truePositive, falsePositive, falseNegative))
    tp += truePositive
    fp += falsePositive
    fn += falseNegative
  }
  const micro = scoresFromCounts(tp, fp, fn)
  const total = perClass.reduce((sum, c) => sum + c.support, 0)
  return {
    accuracy: accuracy(predicted, actual),
    perClass,
    macroF1: ratio(
      perClass.reduce((sum, c) => sum + c.f1, 0),
      numClasses,
    ),
    microF1: micro.f1,
    weightedF1: ratio(
      perClass.reduce((sum, c) => sum + c.f1 * c.support, 0),
      total,
    ),
    confusion,
  }
}

export interface MultiLabelReport {
  readonly microF1: number
  readonly macroF1: number
  readonly microPrecision: number
  readonly microRecall: number
  /** Share of examples whose whole label set is predicted exactly. */
  readonly exactMatch: number
  /** Share of (example, label) decisions that are wrong. */
  readonly hammingLoss: number
  readonly perLabel: ClassScores[]
}

/**
 * `scores` [N*C] (probabilities or logits: pass the matching threshold, 0.5 or 0) against the
 * true label sets (each a list of label ids).
 */
export function multiLabelReport(scores: ArrayLike<number>, actual: readonly (readonly number[])[], numLabels: number, threshold = 0.5): MultiLabelReport {
  const N = actual.length
  if (scores.length !== N * numLabels) throw badInput(`There are ${scores.length} scores, expected ${N * numLabels} (${N} examples × ${numLabels} labels)`)
  const tp = new Array<number>(numLabels).fill(0)
  const fp = new Array<number>(numLabels).fill(0)
  const fn = new Array<number>(numLabels).fill(0)
  let exact = 0
  let wrong = 0
  for (let n = 0; n < N; n++) {
    const truth = new Set(actual[n])
    let allRight = true
    for (let c = 0; c < numLabels; c++) {
      const predicted = scores[n * numLabels + c]! > threshold
      const real = truth.has(c)
      if (predicted && real) tp[c]! += 1
      else if (predicted) fp[c]! += 1
      else if (real) fn[c]! += 1
      if (predicted !== real) {
        allRight = false
        wrong++
      }
    }
    if (allRight) exact++
  }
  const perLabel = tp.map((t, c) => scoresFromCounts(t, fp[c]!, fn[c]!))
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)
  const micro = scoresFromCounts(sum(tp), sum(fp), sum(fn))
  return {
    microF1: micro.f1,
    macroF1: ratio(sum(perLabel.map((c) => c.f1)), numLabels),
    microPrecision: micro.precision,
    microRecall: micro.recall,
    exactMatch: ratio(exact, N),
    hammingLoss: ratio(wrong, N * numLabels),
    perLabel,
  }
}

// ---------------------------------------------------------------------------------------------
// Entities (seqeval's default, conlleval-compatible mode)

export interface Entity {
  readonly type: string
  /** First and last token index, inclusive. */
  readonly start: number
  readonly end: number
}

function split(tag: string): [string, string] {
  // seqeval: the prefix is the first character, the type what follows the first "-" ('_' when none).
  const prefix = tag.charAt(0)
  const rest = tag.slice(1)
  const dash = rest.indexOf('-')
  const type = dash >= 0 ? rest.slice(dash + 1) : rest
  return [prefix, type === '' ? '_' : type]
}

function endOfChunk(previous: string, tag: string, previousType: string, type: string): boolean {
  if (previous === 'E' || previous === 'S') return true
  if ((previous === 'B' || previous === 'I') && (tag === 'B' || tag === 'S' || tag === 'O')) return true
  return previous !== 'O' && previous !== '.' && previousType !== type
}

function startOfChunk(previous: string, tag: string, previousType: string, type: string): boolean {
  if (tag === 'B' || tag === 'S') return true
  if ((previous === 'E' || previous === 'S' || previous === 'O') && (tag === 'E' || tag === 'I')) return true
  return tag !== 'O' && tag !== '.' && previousType !== type
}

/**
 * Entities in a BIO/IOBES tag sequence as seqeval's `get_entities`: an I- without a B- starts an
 * entity, a change of type ends one, B- always starts a new one (so adjacent entities stay apart).
 */
export function extractEntities(tags: readonly string[]): Entity[] {
  const entities: Entity[] = []
  let previous = 'O'
  let previousType = ''
  let begin = 0
  const all = [...tags, 'O']
  for (const [i, chunk] of all.entries()) {
    const [tag, type] = split(chunk)
    if (endOfChunk(previous, tag, previousType, type)) entities.push({ type: previousType, start: begin, end: i - 1 })
    if (startOfChunk(previous, tag, previousType, type)) begin = i
    previous = tag
    previousType = type
  }
  return entities
}

export interface EntityReport {
  readonly precision: number
  readonly recall: number
  readonly f1: number
  readonly perType: Record<string, ClassScores>
}

/** Micro precision/recall/F1 over exact entity matches (type, start, end), as seqeval's defaults. */
export function entityReport(actual: readonly (readonly string[])[], predicted: readonly (readonly string[])[]): EntityReport {
  sameLength(predicted, actual, 'tag sequences')
  const key = (sentence: number, entity: Entity) => `${sentence}\u0000${entity.type}\u0000${entity.start}\u0000${entity.end}`
  const truth = new Set<string>()
  const guesses = new Set<string>()
  const types = new Set<string>()
  const perType = new Map<string, { tp: number; fp: number; fn: number }>()
  const counts = (type: string) => {
    let found = perType.get(type)
    if (!found) perType.set(type, (found = { tp: 0, fp: 0, fn: 0 }))
    return found
  }
  for (const [s, tags] of actual.entries()) {
    if (tags.length !== predicted[s]!.length) throw badInput(`Sequence ${s} has ${tags.length} true tags and ${predicted[s]!.length} predicted, expected as many of each`)
    for (const entity of extractEntities(tags)) {
      truth.add(key(s, entity))
      types.add(entity.type)
    }
  }
  for (const [s, tags] of predicted.entries()) {
    for (const entity of extractEntities(tags)) {
      const k = key(s, entity)
      guesses.add(k)
      types.add(entity.type)
      if (truth.has(k)) counts(entity.type).tp += 1
      else counts(entity.type).fp += 1
    }
  }
  for (const [s, tags] of actual.entries()) for (const entity of extractEntities(tags)) if (!guesses.has(key(s, entity))) counts(entity.type).fn += 1
  let tp = 0
  const report: Record<string, ClassScores> = {}
  for (const type of [...types].sort()) {
    const c = counts(type)
    tp += c.tp
    report[type] = scoresFromCounts(c.tp, c.fp, c.fn)
  }
  const precision = ratio(tp, guesses.size)
  const recall = ratio(tp, truth.size)
  return { precision, recall, f1: f1Of(precision, recall), perType: report }
}

// ---------------------------------------------------------------------------------------------
// SQuAD

/** SQuAD's normalize_answer: lowercase, ASCII punctuation removed, articles removed, whitespace collapsed. */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[!-/:-@[-`{-~]/g, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter((word) => word.length > 0)
    .join(' ')
}

export function exactMatch(prediction: string, truth: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(truth) ? 1 : 0
}

/** Token-overlap F1 of the normalised answers (bag of words). */
export function tokenF1(prediction: string, truth: string): number {
  const predicted = normalizeAnswer(prediction).split(' ').filter(Boolean)
  const real = normalizeAnswer(truth).split(' ').filter(Boolean)
  // SQuAD 2: an empty answer scores 1 against an empty answer only.
  if (predicted.length === 0 || real.length === 0) return predicted.length === real.length ? 1 : 0
  const counts = new Map<string, number>()
  for (const word of real) counts.set(word, (counts.get(word) ?? 0) + 1)
  let common = 0
  for (const word of predicted) {
    const left = counts.get(word) ?? 0
    if (left > 0) {
      common++
      counts.set(word, left - 1)
    }
  }
  if (common === 0) return 0
  return f1Of(common / predicted.length, common / real.length)
}

/** Mean over questions of the best exact match and best F1 against any of its reference answers (fractions, not percentages). */
export function squadScores(predictions: readonly string[], answers: readonly (readonly string[])[]): { exactMatch: number; f1: number } {
  sameLength(predictions, answers, 'answer lists')
  let em = 0
  let f1 = 0
  for (const [i, prediction] of predictions.entries()) {
    const truths = answers[i]!.length > 0 ? answers[i]! : ['']
    em += Math.max(...truths.map((truth) => exactMatch(prediction, truth)))
    f1 += Math.max(...truths.map((truth) => tokenF1(prediction, truth)))
  }
  return { exactMatch: ratio(em, predictions.length), f1: ratio(f1, predictions.length) }
}

/**
 * Expected calibration error: predictions binned by confidence into `bins` equal-width bins
 * ((0, 1/b], …), Σ |accuracy − mean confidence| weighted by the bin's share.
 */
export function expectedCalibrationError(confidences: ArrayLike<number>, correct: ArrayLike<boolean | number>, bins = 10): number {
  sameLength(confidences, correct, 'outcomes')
  const count = new Array<number>(bins).fill(0)
  const confidence = new Array<number>(bins).fill(0)
  const hits = new Array<number>(bins).fill(0)
  for (let i = 0; i < confidences.length; i++) {
    const p = confidences[i]!
    const bin = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1))
    count[bin]! += 1
    confidence[bin]! += p
    hits[bin]! += correct[i] ? 1 : 0
  }
  let error = 0
  for (let b = 0; b < bins; b++) if (count[b]! > 0) error += (count[b]! / confidences.length) * Math.abs(hits[b]! / count[b]! - confidence[b]! / count[b]!)
  return error
}

/** One reliability-curve bin: the mean confidence of its predictions, the share right, and how many. */
export interface ReliabilityBin {
  readonly confidence: number
  readonly accuracy: number
  readonly count: number
}

/**
 * The reliability curve (calibration plot): predictions binned by confidence into `bins`
 * equal-width bins as `expectedCalibrationError` bins them ((0, 1/b], …), one point per non-empty
 * bin in order of confidence. A calibrated model's points lie on the diagonal.
 */
export function reliabilityCurve(confidences: ArrayLike<number>, correct: ArrayLike<boolean | number>, bins = 10): ReliabilityBin[] {
  sameLength(confidences, correct, 'outcomes')
  if (!Number.isInteger(bins) || bins < 1) throw badInput(`bins is ${bins}, expected an integer ≥ 1`)
  const count = new Array<number>(bins).fill(0)
  const confidence = new Array<number>(bins).fill(0)
  const hits = new Array<number>(bins).fill(0)
  for (let i = 0; i < confidences.length; i++) {
    const p = confidences[i]!
    const bin = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1))
    count[bin]! += 1
    confidence[bin]! += p
    hits[bin]! += correct[i] ? 1 : 0
  }
  const curve: ReliabilityBin[] = []
  for (let b = 0; b < bins; b++) if (count[b]! > 0) curve.push({ confidence: confidence[b]! / count[b]!, accuracy: hits[b]! / count[b]!, count: count[b]! })
  return curve
}

// ---------------------------------------------------------------------------------------------
// ROUGE (Lin 2004), as Google's rouge-score computes it without stemming

export interface RougeScore {
  readonly precision: number
  readonly recall: number
  readonly f1: number
}

export interface RougeScores {
  readonly rouge1: RougeScore
  readonly rouge2: RougeScore
  readonly rougeL: RougeScore
}

/**
 * rouge-score's tokenizer: lowercase, every run of characters other than letters and digits is a
 * separator. (rouge-score keeps ASCII letters only; Unicode letters are kept here so that texts in
 * other languages are not scored as empty.)
 */
export function rougeTokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((token) => token.length > 0)
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0000')
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

function scoreOf(overlap: number, predicted: number, reference: number): RougeScore {
  const precision = ratio(overlap, predicted)
  const recall = ratio(overlap, reference)
  return { precision, recall, f1: f1Of(precision, recall) }
}

/** ROUGE-N: clipped n-gram overlap over the prediction's (precision) and the reference's (recall) n-grams. */
function rougeN(predicted: readonly string[], reference: readonly string[], n: number): RougeScore {
  const p = ngramCounts(predicted, n)
  const r = ngramCounts(reference, n)
  let overlap = 0
  for (const [gram, count] of p) overlap += Math.min(count, r.get(gram) ?? 0)
  return scoreOf(overlap, Math.max(0, predicted.length - n + 1), Math.max(0, reference.length - n + 1))
}

/** Length of the longest common subsequence of two token lists (two rows of the DP table). */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0)
  let current = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!)
    ;[previous, current] = [current, previous]
  }
  return previous[b.length]!
}

/** ROUGE-1, ROUGE-2 and ROUGE-L (sentence-level LCS over the whole text) of a prediction against a reference. */
export function rouge(prediction: string, reference: string): RougeScores {
  const predicted = rougeTokens(prediction)
  const real = rougeTokens(reference)
  return {
    rouge1: rougeN(predicted, real, 1),
    rouge2: rougeN(predicted, real, 2),
    rougeL: scoreOf(lcsLength(predicted, real), predicted.length, real.length),
  }
}

/** Mean F1 of ROUGE-1, -2 and -L over pairs (prediction i against reference i). */
export function meanRouge(predictions: readonly string[], references: readonly string[]): { rouge1: number; rouge2: number; rougeL: number } {
  sameLength(predictions, references, 'references')
  return meanRougeF1(predictions.map((prediction, i) => rouge(prediction, references[i]!)))
}

/** Mean F1 of ROUGE-1, -2 and -L over scores already computed (one per pair). */
export function meanRougeF1(scores: readonly RougeScores[]): { rouge1: number; rouge2: number; rougeL: number } {
  const sums = { rouge1: 0, rouge2: 0, rougeL: 0 }
  for (const score of scores) {
    sums.rouge1 += score.rouge1.f1
    sums.rouge2 += score.rouge2.f1
    sums.rougeL += score.rougeL.f1
  }
  const n = scores.length
  return { rouge1: ratio(sums.rouge1, n), rouge2: ratio(sums.rouge2, n), rougeL: ratio(sums.rougeL, n) }
}

/**
 * The trainer's metrics for a fine-tuning head (model/heads.ts reports its task in the
 * pre-training fields): `loss`, `accuracy` (examples, first word pieces or exact spans), and
 * the step figures when present.
 */
export function finetuneMetrics(metrics: TrainMetrics | EvalMetrics): Record<string, number> {
  const out: Record<string, number> = { loss: metrics.loss, accuracy: metrics.mlm_accuracy }
  if ('learning_rate' in metrics) {
    out.learning_rate = metrics.learning_rate
    out.grad_norm = metrics.grad_norm
    out.tokens_per_second = metrics.tokens_per_second
    out.step_time_ms = metrics.step_time_ms
  }
  return out
}

/**
 * McNemar's exact test (two-sided) of two classifiers scored on the same examples: `onlyFirst`
 * examples only the first got right, `onlySecond` only the second. Under the null hypothesis (equal
 * accuracy) each discordant example is a fair coin, so p = min(1, 2 · P(X ≤ min(b, c))) for X ~
 * Binomial(b + c, ½). 1 when they never disagree.
 */
export function mcnemarPValue(onlyFirst: number, onlySecond: number): number {
  const n = onlyFirst + onlySecond
  if (n === 0) return 1
  const k = Math.min(onlyFirst, onlySecond)
  // Σ_{i ≤ k} C(n, i) / 2ⁿ, each term in logs (n can be in the thousands).
  let logTerm = -n * Math.LN2 // i = 0: C(n, 0) / 2ⁿ
  let tail = Math.exp(logTerm)
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log((n - i + 1) / i)
    tail += Math.exp(logTerm)
  }
  return Math.min(1, 2 * tail)
}
