/**
 * The yardstick beside every text-classification evaluation: TF-IDF + logistic regression fitted on
 * the run's own training examples and scored on the same held-out examples as the model. An analyst
 * sees at once whether the fine-tuned BERT earns its cost over the simplest strong baseline, and the
 * finetune quality bench (bench/finetune-quality.mjs) measures the studio against the same code.
 *
 * Hand-written: the JavaScript packages for logistic regression (ml-logistic-regression and the
 * like) are dense, one-vs-rest and trained by fixed-step gradient descent, so on a TF-IDF matrix of
 * tens of thousands of columns they are slow and stop short of the regularised optimum that
 * scikit-learn reaches; the text-vectorising packages (natural's TfIdf and the like) compute other
 * tf and idf variants. These follow scikit-learn's definitions, and the bench checks the two agree
 * prediction for prediction (bench/sklearn_baseline.py).
 */
import { cancelled as cancelledError } from '../errors.ts'
import { classificationReport } from './metrics.ts'

/** A labelled text; `label` is a class index. */
export interface BaselineExample {
  readonly text: string
  readonly label: number
}

export interface SparseRow {
  readonly indices: Int32Array
  readonly values: Float64Array
}

// scikit-learn's default analyser: lower case, tokens of two or more word characters.
const TOKEN = /[\p{L}\p{N}\p{M}_]{2,}/gu

function ngrams(text: string): string[] {
  const words = text.toLowerCase().match(TOKEN) ?? []
  const grams = [...words]
  for (let i = 0; i + 1 < words.length; i++) grams.push(`${words[i]} ${words[i + 1]}`)
  return grams
}

/**
 * TF-IDF as scikit-learn's TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)): word unigrams
 * and bigrams, tf → 1 + ln(tf), smoothed idf ln((1 + n) / (1 + df)) + 1, rows l2-normalised.
 * Terms come from the texts it is fitted on; others are ignored when transforming.
 */
export class TfidfVectorizer {
  private vocabulary = new Map<string, number>()
  private idf = new Float64Array(0)

  /** `maxFeatures`: keep only the terms most frequent across the texts (scikit-learn's max_features; ties alphabetical). */
  constructor(private readonly maxFeatures = Infinity) {}

  fit(texts: readonly string[]): this {
    const df = new Map<string, number>()
    const tf = new Map<string, number>()
    for (const text of texts) {
      const grams = ngrams(text)
      for (const gram of grams) tf.set(gram, (tf.get(gram) ?? 0) + 1)
      for (const gram of new Set(grams)) df.set(gram, (df.get(gram) ?? 0) + 1)
    }
    let terms = [...df.keys()]
    if (terms.length > this.maxFeatures) {
      terms = terms.sort((a, b) => tf.get(b)! - tf.get(a)! || (a < b ? -1 : 1)).slice(0, this.maxFeatures)
    }
    terms.sort()
    this.vocabulary = new Map(terms.map((t, i) => [t, i]))
    this.idf = Float64Array.from(terms, (t) => Math.log((1 + texts.length) / (1 + df.get(t)!)) + 1)
    return this
  }

  /** Sparse rows, indices ascending. */
  transform(texts: readonly string[]): SparseRow[] {
    return texts.map((text) => {
      const counts = new Map<number, number>()
      for (const gram of ngrams(text)) {
        const j = this.vocabulary.get(gram)
        if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1)
      }
      const indices = Int32Array.from([...counts.keys()].sort((a, b) => a - b))
      const values = Float64Array.from(indices, (j) => (1 + Math.log(counts.get(j)!)) * this.idf[j]!)
      let norm = 0
      for (const v of values) norm += v * v
      norm = Math.sqrt(norm)
      if (norm > 0) for (let i = 0; i < values.length; i++) values[i]! /= norm
      return { indices, values }
    })
  }

  get size(): number {
    return this.vocabulary.size
  }
}

// ---------------------------------------------------------------- multinomial logistic regression

// The objective scikit-learn's LogisticRegression (multinomial, L2) minimises:
//   C · Σ_i −log softmax(W x_i + b)[y_i] + ½‖W‖²   (intercept not penalised)
// solved by L-BFGS with a backtracking (Armijo) line search. It is strictly convex, so a warm start
// (the previous C's solution) reaches the same optimum in fewer iterations.

/** Loss and gradient at theta = [W (features × classes, row-major), b (classes)]. */
function objective(theta: Float64Array, rows: readonly SparseRow[], targets: readonly number[], classes: number, features: number, C: number) {
  const K = classes
  const bias = features * K
  const gradient = new Float64Array(theta.length)
  const logits = new Float64Array(K)
  let loss = 0
  for (let r = 0; r < rows.length; r++) {
    const { indices, values } = rows[r]!
    for (let k = 0; k < K; k++) logits[k] = theta[bias + k]!
    for (let n = 0; n < indices.length; n++) {
      const base = indices[n]! * K
      const v = values[n]!
      for (let k = 0; k < K; k++) logits[k]! += theta[base + k]! * v
    }
    let max = -Infinity
    for (let k = 0; k < K; k++) if (logits[k]! > max) max = logits[k]!
    let sum = 0
    for (let k = 0; k < K; k++) sum += Math.exp(logits[k]! - max)
    const logSum = max + Math.log(sum)
    const target = targets[r]!
    loss += C * (logSum - logits[target]!)
    for (let k = 0; k < K; k++) {
      const residual = C * (Math.exp(logits[k]! - logSum) - (k === target ? 1 : 0))
      gradient[bias + k]! += residual
      for (let n = 0; n < indices.length; n++) gradient[indices[n]! * K + k]! += residual * values[n]!
    }
  }
  for (let i = 0; i < bias; i++) {
    loss += 0.5 * theta[i]! * theta[i]!
    gradient[i]! += theta[i]!
  }
  return { loss, gradient }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

interface LbfgsOptions {
  history?: number
  maxIterations?: number
  /** Stop when the largest gradient entry is below this. */
  tolerance?: number
  cancelled?: () => boolean
}

const RELATIVE_DECREASE = 1e7 * Number.EPSILON

/** Lets the thread's other events (a cancel message, progress) through between iterations. */
const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Minimises f from theta by L-BFGS. */
async function lbfgs(f: (theta: Float64Array) => { loss: number; gradient: Float64Array }, start: Float64Array, options: LbfgsOptions = {}): Promise<{ theta: Float64Array; loss: number; iterations: number }> {
  const { history: m = 10, maxIterations = 1000, tolerance = 1e-5, cancelled } = options
  let theta = start
  let { loss, gradient } = f(theta)
  const history: { s: Float64Array; y: Float64Array; rho: number }[] = []
  let iteration = 0
  for (; iteration < maxIterations; iteration++) {
    if (iteration % 8 === 0) await yieldToEvents()
    if (cancelled?.()) throw cancelledError()
    let largest = 0
    for (let j = 0; j < gradient.length; j++) largest = Math.max(largest, Math.abs(gradient[j]!))
    if (largest < tolerance) break
    // Two-loop recursion: direction = −H·g.
    const q = Float64Array.from(gradient)
    const alphas: number[] = []
    for (let i = history.length - 1; i >= 0; i--) {
      const { s, y, rho } = history[i]!
      const alpha = rho * dot(s, q)
      alphas[i] = alpha
      for (let j = 0; j < q.length; j++) q[j]! -= alpha * y[j]!
    }
    const last = history[history.length - 1]
    const gamma = last ? dot(last.s, last.y) / dot(last.y, last.y) : 1 / Math.max(1, Math.sqrt(dot(gradient, gradient)))
    for (let j = 0; j < q.length; j++) q[j]! *= gamma
    for (let i = 0; i < history.length; i++) {
      const { s, y, rho } = history[i]!
      const beta = rho * dot(y, q)
      for (let j = 0; j < q.length; j++) q[j]! += s[j]! * (alphas[i]! - beta)
    }
    const direction = q
    for (let j = 0; j < direction.length; j++) direction[j] = -direction[j]!
    let slope = dot(direction, gradient)
    if (slope >= 0) {
      // Not a descent direction (the curvature pairs went stale): restart from steepest descent.
      history.length = 0
      for (let j = 0; j < direction.length; j++) direction[j] = -gradient[j]!
      slope = -dot(gradient, gradient)
    }
    let step = 1
    const trial = new Float64Array(theta.length)
    let next = { loss, gradient }
    for (let tries = 0; ; tries++) {
      for (let j = 0; j < trial.length; j++) trial[j] = theta[j]! + step * direction[j]!
      next = f(trial)
      if (next.loss <= loss + 1e-4 * step * slope || tries >= 40) break
      step *= 0.5
    }
    // The step taken and the change of gradient: the curvature pair. The oldest pair's arrays are reused.
    const recycled = history.length >= m ? history.shift()! : null
    const s = recycled?.s ?? new Float64Array(theta.length)
    const y = recycled?.y ?? new Float64Array(theta.length)
    for (let j = 0; j < s.length; j++) {
      s[j] = trial[j]! - theta[j]!
      y[j] = next.gradient[j]! - gradient[j]!
    }
    const sy = dot(s, y)
    if (sy > 1e-12) history.push({ s, y, rho: 1 / sy })
    const improvement = loss - next.loss
    theta = trial
    loss = next.loss
    gradient = next.gradient
    // SciPy's L-BFGS-B stopping rule on the objective (factr 1e7, as scikit-learn leaves it): a relative
    // decrease below 1e7 machine epsilons.
    if (improvement >= 0 && improvement <= RELATIVE_DECREASE * Math.max(1, Math.abs(loss), Math.abs(loss + improvement))) break
  }
  return { theta, loss, iterations: iteration }
}

export class LogisticRegression {
  theta: Float64Array = new Float64Array(0)
  iterations = 0
  private classes = 0
  private features = 0

  constructor(readonly C = 1) {}

  /** Fits on sparse rows; `start` (a previous fit's theta of the same shape) warm-starts the solver. */
  async fit(rows: readonly SparseRow[], targets: readonly number[], classes: number, features: number, options: { start?: Float64Array; cancelled?: () => boolean; tolerance?: number } = {}): Promise<this> {
    const size = features * classes + classes
    const start = options.start?.length === size ? Float64Array.from(options.start) : new Float64Array(size)
    const { start: _start, ...solver } = options
    const result = await lbfgs((theta) => objective(theta, rows, targets, classes, features, this.C), start, solver)
    this.theta = result.theta
    this.iterations = result.iterations
    this.classes = classes
    this.features = features
    return this
  }

  /** Class probabilities of each row. */
  predictProbabilities(rows: readonly SparseRow[]): Float64Array[] {
    const K = this.classes
    const bias = this.features * K
    return rows.map(({ indices, values }) => {
      const logits = Float64Array.from({ length: K }, (_, k) => this.theta[bias + k]!)
      for (let n = 0; n < indices.length; n++) for (let k = 0; k < K; k++) logits[k]! += this.theta[indices[n]! * K + k]! * values[n]!
      const max = Math.max(...logits)
      let sum = 0
      for (let k = 0; k < K; k++) sum += logits[k] = Math.exp(logits[k]! - max)
      return logits.map((v) => v / sum)
    })
  }

  predict(rows: readonly SparseRow[]): number[] {
    return this.predictProbabilities(rows).map((p) => {
      let best = 0
      for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k
      return best
    })
  }
}

// ---------------------------------------------------------------- the baseline

/** Inverse regularisation strengths tried, smallest first (each fit warm-starts the next). */
export const C_GRID = [0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000] as const
/** C when there is no validation example to choose it on: the grid's middle. */
export const DEFAULT_C = 10

/**
 * Weights (features × classes) the solver may hold: its memory is about 24 copies of them (the
 * curvature history, gradients, trial points), so 2M weights is about 400 MB. More word 1–2-grams
 * than fit keep the most frequent ones.
 */
export const MAX_WEIGHTS = 2_000_000

/** Training examples the baseline learns from at most (beyond it, an evenly spaced sample): about a minute on a laptop core. */
export const MAX_TRAIN_EXAMPLES = 20_000

/** At most `limit` of the items, evenly spaced (all when there are no more). */
function evenlySpaced<T>(items: readonly T[], limit: number): readonly T[] {
  if (items.length <= limit) return items
  return Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]!)
}

export const BASELINE_METHOD = 'TF-IDF (word 1–2-grams, sublinear tf) + logistic regression'

export interface BaselineOutcome {
  C: number
  /** Macro F1 and accuracy of each C tried on the validation examples, until two in a row after the best did no better (empty: C was not chosen, DEFAULT_C). */
  validation: { C: number; accuracy: number; macro_f1: number; iterations: number }[]
  /** Word 1–2-grams of the final fit (the most frequent, when there were more than MAX_WEIGHTS / classes). */
  features: number
  /** Examples the final model was fitted on (train + validation, or the sample of them when there were more than MAX_TRAIN_EXAMPLES). */
  fittedOn: number
  metrics: { accuracy: number; macro_f1: number; weighted_f1: number }
  /** Predicted class of each test example. */
  predictions: number[]
  seconds: number
}

export interface BaselineOptions {
  grid?: readonly number[]
  /** Warm-start each C from the previous one's solution (default true; false: the bench's comparison). */
  warmStart?: boolean
  /** The solver stops when the largest gradient entry is below this (default 1e-5). */
  tolerance?: number
  /** Training examples to learn from at most (default MAX_TRAIN_EXAMPLES); validation is cut in proportion. */
  maxTrainExamples?: number
  /** Weights the model may have at most (default MAX_WEIGHTS): features are capped at this over the classes. */
  maxWeights?: number
  cancelled?: () => boolean
  /** Fits done of all (the grid's, then the final one). */
  onProgress?: (done: number, total: number) => void
}

/** The best by validation macro F1, then accuracy, then the smaller C (the earlier one). */
function bestOf<T extends { macro_f1: number; accuracy: number }>(outcomes: readonly T[]): T | null {
  return outcomes.reduce<T | null>((a, b) => (a === null || b.macro_f1 > a.macro_f1 || (b.macro_f1 === a.macro_f1 && b.accuracy > a.accuracy) ? b : a), null)
}

function scores(predicted: readonly number[], actual: readonly number[], classes: number) {
  const report = classificationReport(predicted, actual, classes)
  return { accuracy: report.accuracy, macro_f1: report.macroF1, weighted_f1: report.weightedF1 }
}

/**
 * TF-IDF + logistic regression: C chosen on the validation examples (macro F1, then accuracy, then
 * the smaller C), then refitted on train + validation with that C and scored on the test examples.
 */
export async function tfidfBaseline(
  data: { train: readonly BaselineExample[]; validation: readonly BaselineExample[]; test: readonly BaselineExample[] },
  classes: number,
  options: BaselineOptions = {},
): Promise<BaselineOutcome> {
  const started = performance.now()
  // A bounded cost on big datasets: an evenly spaced sample of the training examples (C is chosen,
  // and the final model fitted, on it); every test example is still scored.
  const limit = options.maxTrainExamples ?? MAX_TRAIN_EXAMPLES
  const train = evenlySpaced(data.train, limit)
  const validation = evenlySpaced(data.validation, Math.max(1, Math.round((limit * data.validation.length) / Math.max(1, data.train.length))))
  const test = data.test
  if (train.length === 0) throw new RangeError('The baseline needs training examples')
  if (test.length === 0) throw new RangeError('The baseline needs test examples')
  const maxFeatures = Math.max(1, Math.floor((options.maxWeights ?? MAX_WEIGHTS) / classes))
  const tried = validation.length > 0 ? [...(options.grid ?? C_GRID)].sort((a, b) => a - b) : []
  const total = tried.length + 1
  const cancelled = options.cancelled
  const fitOptions = (start?: Float64Array) => ({
    ...(start && options.warmStart !== false ? { start } : {}),
    ...(cancelled ? { cancelled } : {}),
    ...(options.tolerance !== undefined ? { tolerance: options.tolerance } : {}),
  })
  const texts = (examples: readonly BaselineExample[]) => examples.map((e) => e.text)
  const labels = (examples: readonly BaselineExample[]) => examples.map((e) => e.label)

  const outcomes: BaselineOutcome['validation'] = []
  if (tried.length > 0) {
    const vectorizer = new TfidfVectorizer(maxFeatures).fit(texts(train))
    const trainX = vectorizer.transform(texts(train))
    const validationX = vectorizer.transform(texts(validation))
    let previous: Float64Array | undefined
    for (const C of tried) {
      const model = await new LogisticRegression(C).fit(trainX, labels(train), classes, vectorizer.size, fitOptions(previous))
      previous = model.theta
      const { accuracy, macro_f1 } = scores(model.predict(validationX), labels(validation), classes)
      outcomes.push({ C, accuracy, macro_f1, iterations: model.iterations })
      options.onProgress?.(outcomes.length, total)
      // Past the peak: the two larger Cs after the best did no better, and the larger the C the
      // longer the fit, so stop there (the validation score over C rises, peaks, then falls).
      const bestAt = outcomes.indexOf(bestOf(outcomes)!)
      if (outcomes.length - 1 - bestAt >= 2) break
    }
  }
  const best = bestOf(outcomes)
  const C = best?.C ?? DEFAULT_C
  const fitted = [...train, ...validation]
  const vectorizer = new TfidfVectorizer(maxFeatures).fit(texts(fitted))
  const model = await new LogisticRegression(C).fit(vectorizer.transform(texts(fitted)), labels(fitted), classes, vectorizer.size, fitOptions())
  const predictions = model.predict(vectorizer.transform(texts(test)))
  options.onProgress?.(total, total)
  return {
    C,
    validation: outcomes,
    features: vectorizer.size,
    fittedOn: fitted.length,
    metrics: scores(predictions, labels(test), classes),
    predictions,
    seconds: (performance.now() - started) / 1000,
  }
}
