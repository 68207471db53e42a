#!/usr/bin/env node
// `npm run bench -- finetune [options]`: the studio's fine-tuning quality against TF-IDF + logistic
// regression on the same fixed split of a text-classification file. Prints one JSON object.
//
//   --data FILE            csv, tsv or jsonl; repeatable (default: resources/samples/topics.csv and
//                          sentiment.csv)
//   --text-column C        default "text"      --label-column C   default "label"
//   --seed N               the split's and the studio's seed (default 7)
//   --seeds N,M,…          several splits (one per seed): each side's mean test accuracy and the mean
//                          paired difference with its standard error, beside each split's result
//   --corpus FILE          related text the studio pre-trains Tiny on, one document a line
//                          (default: resources/samples/topics-corpus.txt)
//   --pretrain-steps N     pre-training steps (default 400); --pretrain-seq N (default: the studio's)
//   --from RUN             skip pre-training and fine-tune from this run of --home
//   --home DIR             studio home (default: a temporary folder, removed afterwards)
//   --cli FILE             the built CLI to drive (default: out/main/cli.js)
//   --finetune-args="…"    extra options for `finetune` (e.g. --finetune-args="--epochs 10"), for diagnosis only:
//                          the output records them, and a result with any is not the defaults'
//   --baseline-only        only the TF-IDF + logistic regression baseline
//   --no-sklearn           skip the scikit-learn cross-check (run when /usr/bin/python3 has it)
//
// The split is stratified 80/10/10 (train/validation/test) by label, seeded. The baseline picks C on
// the validation rows, then is refitted on train+validation with that C; the studio is given the
// same train+validation rows (it carves its own validation split out of them for early stopping)
// and both are scored on the same test rows, so neither sees a test row.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
// Run names are unique in a project: a stamp lets several benches share one --home.
const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')
const root = join(here, '..')
let cliPath = join(root, 'out', 'main', 'cli.js')

// ---------------------------------------------------------------- data

/** Rows {text, label} of a csv/tsv/jsonl file; a row without text or label is an error naming its line. */
export function readLabelled(path, textColumn = 'text', labelColumn = 'label') {
  const source = readFileSync(path, 'utf8')
  const ext = extname(path).toLowerCase()
  const rows = []
  const take = (record, where) => {
    const text = record[textColumn]
    const label = record[labelColumn]
    if (typeof text !== 'string' || text.trim() === '') throw new Error(`${where}: no text in column "${textColumn}"`)
    if (label === undefined || label === null || String(label).trim() === '') throw new Error(`${where}: no label in column "${labelColumn}"`)
    rows.push({ text, label: String(label) })
  }
  if (ext === '.jsonl' || ext === '.ndjson') {
    source.split('\n').forEach((line, i) => {
      if (line.trim() === '') return
      let record
      try {
        record = JSON.parse(line)
      } catch (error) {
        throw new Error(`${path}:${i + 1}: not JSON (${error.message})`)
      }
      take(record, `${path}:${i + 1}`)
    })
  } else {
    const { parse } = require('csv-parse/sync')
    const records = parse(source, { columns: true, delimiter: ext === '.tsv' ? '\t' : ',', bom: true, skip_empty_lines: true, info: true, relax_quotes: ext === '.tsv' })
    for (const { record, info } of records) take(record, `${path}:${info.lines}`)
  }
  if (rows.length === 0) throw new Error(`${path}: no rows`)
  return rows
}

/** mulberry32 seeded by (seed, key): one independent stream per label for the split. */
function rngFor(seed, key) {
  let h = 0x811c9dc5 ^ seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  let state = h >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Index lists per split, each label's rows shuffled and cut by largest remainders. */
export function stratifiedSplit(labels, fractions, seed) {
  const byLabel = new Map()
  labels.forEach((label, i) => (byLabel.get(label) ?? byLabel.set(label, []).get(label)).push(i))
  const splits = fractions.map(() => [])
  for (const [label, indices] of [...byLabel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const random = rngFor(seed, label)
    for (let i = indices.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[indices[i], indices[j]] = [indices[j], indices[i]]
    }
    const n = indices.length
    const counts = fractions.map((f) => Math.floor(f * n))
    const order = fractions.map((f, s) => ({ s, r: f * n - counts[s] })).sort((a, b) => b.r - a.r || a.s - b.s)
    for (let left = n - counts.reduce((a, b) => a + b, 0), k = 0; left > 0; left--, k++) counts[order[k % order.length].s]++
    let at = 0
    counts.forEach((count, s) => {
      splits[s].push(...indices.slice(at, at + count))
      at += count
    })
  }
  return splits.map((split) => split.sort((a, b) => a - b))
}

// ---------------------------------------------------------------- TF-IDF

// scikit-learn's default analyser: lower case, tokens of two or more word characters.
const TOKEN = /[\p{L}\p{N}\p{M}_]{2,}/gu

function ngrams(text) {
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
  fit(texts) {
    const df = new Map()
    for (const text of texts) for (const gram of new Set(ngrams(text))) df.set(gram, (df.get(gram) ?? 0) + 1)
    const terms = [...df.keys()].sort()
    this.vocabulary = new Map(terms.map((t, i) => [t, i]))
    this.idf = Float64Array.from(terms, (t) => Math.log((1 + texts.length) / (1 + df.get(t))) + 1)
    return this
  }

  /** Sparse rows: {indices: Int32Array, values: Float64Array}, indices ascending. */
  transform(texts) {
    return texts.map((text) => {
      const counts = new Map()
      for (const gram of ngrams(text)) {
        const j = this.vocabulary.get(gram)
        if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1)
      }
      const indices = Int32Array.from([...counts.keys()].sort((a, b) => a - b))
      const values = Float64Array.from(indices, (j) => (1 + Math.log(counts.get(j))) * this.idf[j])
      const norm = Math.hypot(...values)
      if (norm > 0) for (let i = 0; i < values.length; i++) values[i] /= norm
      return { indices, values }
    })
  }

  get size() {
    return this.vocabulary.size
  }
}

// ---------------------------------------------------------------- multinomial logistic regression

// Hand-written: the JavaScript packages for logistic regression (ml-logistic-regression and the
// like) are dense, one-vs-rest and trained by fixed-step gradient descent, so on a TF-IDF matrix
// of tens of thousands of columns they are slow and do not converge to the regularised optimum
// that scikit-learn's baseline reaches. This is the same objective scikit-learn minimises:
//   C · Σ_i −log softmax(W x_i + b)[y_i] + ½‖W‖²   (intercept not penalised)
// solved by L-BFGS with a backtracking (Armijo) line search.

/** Loss and gradient of the objective at theta = [W (features × classes, row-major), b (classes)]. */
function objective(theta, rows, targets, classes, features, C) {
  const K = classes
  const bias = features * K
  const gradient = new Float64Array(theta.length)
  const logits = new Float64Array(K)
  let loss = 0
  for (let r = 0; r < rows.length; r++) {
    const { indices, values } = rows[r]
    for (let k = 0; k < K; k++) logits[k] = theta[bias + k]
    for (let n = 0; n < indices.length; n++) {
      const base = indices[n] * K
      const v = values[n]
      for (let k = 0; k < K; k++) logits[k] += theta[base + k] * v
    }
    let max = -Infinity
    for (let k = 0; k < K; k++) if (logits[k] > max) max = logits[k]
    let sum = 0
    for (let k = 0; k < K; k++) sum += Math.exp(logits[k] - max)
    const logSum = max + Math.log(sum)
    loss += C * (logSum - logits[targets[r]])
    for (let k = 0; k < K; k++) {
      const residual = C * (Math.exp(logits[k] - logSum) - (k === targets[r] ? 1 : 0))
      gradient[bias + k] += residual
      for (let n = 0; n < indices.length; n++) gradient[indices[n] * K + k] += residual * values[n]
    }
  }
  for (let i = 0; i < bias; i++) {
    loss += 0.5 * theta[i] * theta[i]
    gradient[i] += theta[i]
  }
  return { loss, gradient }
}

const dot = (a, b) => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

/** Minimises f by L-BFGS (history m); stops when the largest gradient entry is below tol. */
function lbfgs(f, theta, { m = 10, maxIterations = 1000, tol = 1e-5 } = {}) {
  let { loss, gradient } = f(theta)
  const history = []
  let iteration = 0
  for (; iteration < maxIterations; iteration++) {
    let gmax = 0
    for (const g of gradient) gmax = Math.max(gmax, Math.abs(g))
    if (gmax < tol) break
    // Two-loop recursion: direction = −H·g.
    const q = Float64Array.from(gradient)
    const alphas = []
    for (let i = history.length - 1; i >= 0; i--) {
      const { s, y, rho } = history[i]
      const alpha = rho * dot(s, q)
      alphas[i] = alpha
      for (let j = 0; j < q.length; j++) q[j] -= alpha * y[j]
    }
    const last = history[history.length - 1]
    const gamma = last ? dot(last.s, last.y) / dot(last.y, last.y) : 1 / Math.max(1, Math.sqrt(dot(gradient, gradient)))
    for (let j = 0; j < q.length; j++) q[j] *= gamma
    for (let i = 0; i < history.length; i++) {
      const { s, y, rho } = history[i]
      const beta = rho * dot(y, q)
      for (let j = 0; j < q.length; j++) q[j] += s[j] * (alphas[i] - beta)
    }
    const direction = q.map((v) => -v)
    let slope = dot(direction, gradient)
    if (slope >= 0) {
      // Not a descent direction (curvature information went stale): restart from steepest descent.
      history.length = 0
      for (let j = 0; j < direction.length; j++) direction[j] = -gradient[j]
      slope = -dot(gradient, gradient)
    }
    let step = 1
    let next
    let trial
    for (let tries = 0; ; tries++) {
      trial = theta.map((v, j) => v + step * direction[j])
      next = f(trial)
      if (next.loss <= loss + 1e-4 * step * slope || tries >= 40) break
      step *= 0.5
    }
    const s = trial.map((v, j) => v - theta[j])
    const y = next.gradient.map((v, j) => v - gradient[j])
    const sy = dot(s, y)
    if (sy > 1e-12) {
      history.push({ s, y, rho: 1 / sy })
      if (history.length > m) history.shift()
    }
    const improvement = loss - next.loss
    theta = trial
    loss = next.loss
    gradient = next.gradient
    if (improvement >= 0 && improvement <= 1e-12 * Math.max(1, Math.abs(loss))) break
  }
  return { theta, loss, iterations: iteration }
}

export class LogisticRegression {
  constructor({ C = 1 } = {}) {
    this.C = C
  }

  fit(rows, targets, classes, features) {
    const theta0 = new Float64Array(features * classes + classes)
    const result = lbfgs((theta) => objective(theta, rows, targets, classes, features, this.C), theta0)
    Object.assign(this, { theta: result.theta, classes, features, iterations: result.iterations, loss: result.loss })
    return this
  }

  predict(rows) {
    const K = this.classes
    const bias = this.features * K
    return rows.map(({ indices, values }) => {
      const logits = Array.from({ length: K }, (_, k) => this.theta[bias + k])
      for (let n = 0; n < indices.length; n++) for (let k = 0; k < K; k++) logits[k] += this.theta[indices[n] * K + k] * values[n]
      let best = 0
      for (let k = 1; k < K; k++) if (logits[k] > logits[best]) best = k
      return best
    })
  }
}

// ---------------------------------------------------------------- metrics

export function scores(truth, predicted, classes) {
  let correct = 0
  const tp = new Array(classes).fill(0)
  const fp = new Array(classes).fill(0)
  const fn = new Array(classes).fill(0)
  truth.forEach((t, i) => {
    const p = predicted[i]
    if (t === p) {
      correct++
      tp[t]++
    } else {
      fp[p]++
      fn[t]++
    }
  })
  const f1 = tp.map((x, k) => (2 * x + fp[k] + fn[k] === 0 ? 0 : (2 * x) / (2 * x + fp[k] + fn[k])))
  return { accuracy: correct / truth.length, macro_f1: f1.reduce((a, b) => a + b, 0) / classes }
}

// ---------------------------------------------------------------- baseline

export const C_GRID = [0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000]

/** TF-IDF + logistic regression: C chosen on validation (macro F1, then accuracy, then the smaller C), refitted on train+validation. */
export function baseline(rows, split) {
  const labelNames = [...new Set(rows.map((r) => r.label))].sort()
  const classOf = new Map(labelNames.map((l, i) => [l, i]))
  const pick = (indices) => ({ texts: indices.map((i) => rows[i].text), targets: indices.map((i) => classOf.get(rows[i].label)) })
  const [train, validation, test] = split.map(pick)
  const started = performance.now()
  const vectorizer = new TfidfVectorizer().fit(train.texts)
  const trainX = vectorizer.transform(train.texts)
  const validationX = vectorizer.transform(validation.texts)
  const grid = C_GRID.map((C) => {
    const model = new LogisticRegression({ C }).fit(trainX, train.targets, labelNames.length, vectorizer.size)
    return { C, ...scores(validation.targets, model.predict(validationX), labelNames.length), iterations: model.iterations }
  })
  const best = grid.reduce((a, b) => (b.macro_f1 > a.macro_f1 || (b.macro_f1 === a.macro_f1 && b.accuracy > a.accuracy) ? b : a))
  const fitTexts = [...train.texts, ...validation.texts]
  const refit = new TfidfVectorizer().fit(fitTexts)
  const model = new LogisticRegression({ C: best.C }).fit(refit.transform(fitTexts), [...train.targets, ...validation.targets], labelNames.length, refit.size)
  const predicted = model.predict(refit.transform(test.texts))
  return {
    method: 'tfidf(word 1-2 grams, sublinear tf, l2) + multinomial logistic regression (L2, L-BFGS)',
    C: best.C,
    validation: grid,
    fit_on: 'train+validation',
    features: refit.size,
    test: scores(test.targets, predicted, labelNames.length),
    predictions: predicted.map((k) => labelNames[k]),
    seconds: (performance.now() - started) / 1000,
  }
}

/** The same baseline in scikit-learn (bench/sklearn_baseline.py) when /usr/bin/python3 has it; null otherwise. */
export function sklearnBaseline(rows, split) {
  const python = '/usr/bin/python3'
  if (!existsSync(python) || spawnSync(python, ['-c', 'import sklearn'], { stdio: 'ignore' }).status !== 0) return null
  const part = (indices) => ({ texts: indices.map((i) => rows[i].text), labels: indices.map((i) => rows[i].label) })
  const [train, validation, test] = split.map(part)
  const result = spawnSync(python, [join(here, 'sklearn_baseline.py')], { input: JSON.stringify({ grid: C_GRID, train, validation, test }), encoding: 'utf8', maxBuffer: 1 << 28 })
  if (result.status !== 0) return { error: result.stderr.trim().split('\n').pop() }
  return JSON.parse(result.stdout)
}

// ---------------------------------------------------------------- the studio, through its CLI

/** Runs a CLI verb, passing its progress through to stderr, and resolves to its JSON result (the last stdout line). */
let running = null
// A benchmark stopped by a signal stops the verb it is running too, rather than leaving it training.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    running?.kill('SIGTERM')
    process.exit(130)
  })
}

function cli(home, args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] })
    running = child
    let stdout = ''
    let stderrTail = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk)
      stderrTail = (stderrTail + chunk).slice(-2000)
    })
    child.on('close', (code) => {
      running = null
      const last = stdout.trim().split('\n').pop() ?? ''
      let parsed = null
      try {
        parsed = JSON.parse(last)
      } catch {}
      if (code === 0 && parsed) resolvePromise(parsed)
      else reject(new Error(`bert-studio ${args[0]} exited ${code}: ${parsed?.error?.message ?? (last || stderrTail.trim().split('\n').pop())}`))
    })
  })
}

const csvField = (value) => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)
const writeCsv = (path, rows) => writeFileSync(path, ['text,label', ...rows.map((r) => `${csvField(r.text)},${csvField(r.label)}`)].join('\n') + '\n')

async function pretrain(home, corpus, options) {
  const started = performance.now()
  const imported = await cli(home, ['import', corpus, '--name', 'related-text', '--format', 'txt', '--split', 'line'])
  const tokenizer = await cli(home, ['tokenizer', 'train', '--corpus', String(imported.corpus_id), '--out', join(home, 'tokenizer')])
  const args = ['pretrain', '--corpus', String(imported.corpus_id), '--tokenizer', String(tokenizer.tokenizer_id), '--preset', 'tiny', '--steps', String(options.steps), '--seed', String(options.seed), '--name', `bench-pretrain-${stamp}`]
  if (options.seq) args.push('--seq', String(options.seq))
  const run = await cli(home, args)
  return {
    run_id: run.run_id,
    corpus: corpus,
    documents: imported.documents,
    vocab_size: tokenizer.vocab_size,
    steps: run.step,
    mlm_accuracy: run.mlm_accuracy,
    validation_mlm_accuracy: run.validation_mlm_accuracy,
    seconds: (performance.now() - started) / 1000,
  }
}

async function studioOn(home, rows, split, fromRun, seed, name, extraArgs) {
  const started = performance.now()
  const trainValidation = [...split[0], ...split[1]].sort((a, b) => a - b).map((i) => rows[i])
  const test = split[2].map((i) => rows[i])
  const trainPath = join(home, `${name}-train.csv`)
  const testPath = join(home, `${name}-test.csv`)
  writeCsv(trainPath, trainValidation)
  writeCsv(testPath, test)
  const finetune = await cli(home, ['finetune', '--task', 'classify', '--data', trainPath, '--text-column', 'text', '--label-column', 'label', '--from', String(fromRun), '--seed', String(seed), '--name', `bench-${name}-${stamp}`, ...extraArgs])
  const evaluation = await cli(home, ['eval', '--run', String(finetune.run_id), '--data', testPath, '--text-column', 'text', '--label-column', 'label'])
  return {
    finetune_run: finetune.run_id,
    defaults: extraArgs.length === 0,
    ...(extraArgs.length > 0 ? { finetune_args: extraArgs } : {}),
    steps: finetune.step,
    learning_rate: finetune.learning_rate,
    seq_length: finetune.seq_length,
    test: { accuracy: evaluation.accuracy, macro_f1: evaluation.macro_f1 },
    examples: evaluation.examples,
    per_class: evaluation.per_class,
    seconds: (performance.now() - started) / 1000,
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', multiple: true },
      'text-column': { type: 'string', default: 'text' },
      'label-column': { type: 'string', default: 'label' },
      seed: { type: 'string', default: '7' },
      seeds: { type: 'string' },
      corpus: { type: 'string' },
      'pretrain-steps': { type: 'string', default: '400' },
      'pretrain-seq': { type: 'string' },
      from: { type: 'string' },
      home: { type: 'string' },
      cli: { type: 'string' },
      'finetune-args': { type: 'string', default: '' },
      'baseline-only': { type: 'boolean', default: false },
      'no-sklearn': { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.cli) cliPath = resolve(values.cli)
  const seeds = (values.seeds ?? values.seed).split(',').map((text) => {
    const seed = Number(text)
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed and --seeds take non-negative integers, got "${text}"`)
    return seed
  })
  const steps = Number(values['pretrain-steps'])
  if (!Number.isSafeInteger(steps) || steps < 1) throw new Error(`--pretrain-steps must be a positive integer, got "${values['pretrain-steps']}"`)
  const samples = join(root, 'resources', 'samples')
  const files = (values.data ?? [join(samples, 'topics.csv'), join(samples, 'sentiment.csv')]).map((f) => resolve(f))
  const corpus = resolve(values.corpus ?? join(samples, 'topics-corpus.txt'))
  const labelled = files.map((path) => ({ path, rows: readLabelled(path, values['text-column'], values['label-column']) }))

  // One split per seed; each is scored by the baseline and (unless --baseline-only) by the studio,
  // which pre-trains once (or reuses --from) and fine-tunes on each split with that seed.
  const splitsFor = (seed) =>
    labelled.map(({ path, rows }) => {
      const split = stratifiedSplit(rows.map((r) => r.label), [0.8, 0.1, 0.1], seed)
      const result = { data: path, rows: rows.length, classes: [...new Set(rows.map((r) => r.label))].sort(), split: { train: split[0].length, validation: split[1].length, test: split[2].length } }
      const base = baseline(rows, split)
      const sk = values['no-sklearn'] ? null : sklearnBaseline(rows, split)
      if (sk && !sk.error) sk.prediction_agreement = sk.predictions.filter((p, i) => p === base.predictions[i]).length / base.predictions.length
      if (sk) delete sk.predictions
      delete base.predictions
      return { rows, split, result: { ...result, baseline: base, ...(sk ? { sklearn: sk } : {}) } }
    })

  const runs = []
  let pretrained = null
  const home = values['baseline-only'] ? null : values.home ? resolve(values.home) : mkdtempSync(join(tmpdir(), 'bench-finetune-'))
  try {
    if (home !== null && !existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first (or pass --baseline-only)`)
    for (const seed of seeds) {
      const datasets = splitsFor(seed)
      if (home !== null) {
        if (pretrained === null) pretrained = values.from === undefined ? await pretrain(home, corpus, { steps, seed, seq: values['pretrain-seq'] }) : { run_id: Number(values.from), reused: true }
        for (const [i, { rows, split, result }] of datasets.entries()) {
          try {
            const extraArgs = values['finetune-args'].split(/\s+/).filter(Boolean)
            result.studio = await studioOn(home, rows, split, String(pretrained.run_id), seed, `${i}-${basename(result.data, extname(result.data))}-s${seed}`, extraArgs)
            const b = result.baseline.test
            const s = result.studio.test
            result.comparison = {
              accuracy_difference: s.accuracy - b.accuracy,
              accuracy_ratio: s.accuracy / b.accuracy,
              macro_f1_difference: s.macro_f1 - b.macro_f1,
              studio_beats_baseline: s.accuracy > b.accuracy,
            }
          } catch (error) {
            result.studio = { error: error.message }
          }
        }
      }
      runs.push({ seed, datasets: datasets.map((d) => d.result) })
    }
  } finally {
    if (home !== null && !values.home) rmSync(home, { recursive: true, force: true })
  }
  const output = runs.length === 1 ? { bench: 'finetune', ...runs[0] } : { bench: 'finetune', seeds, splits: runs, summary: summarise(runs) }
  if (pretrained) output.pretrain = pretrained
  process.stdout.write(`${JSON.stringify(output)}\n`)
}

/** Over several splits, per data file: the mean test accuracy of each side and of their paired difference. */
export function summarise(runs) {
  const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length
  return runs[0].datasets.map(({ data }, i) => {
    const results = runs.map((run) => run.datasets[i])
    const scored = results.filter((result) => result.studio && !result.studio.error)
    const differences = scored.map((result) => result.studio.test.accuracy - result.baseline.test.accuracy)
    const difference = scored.length > 0 ? mean(differences) : null
    return {
      data,
      splits: results.length,
      baseline_accuracy: mean(results.map((result) => result.baseline.test.accuracy)),
      ...(scored.length > 0
        ? {
            studio_accuracy: mean(scored.map((result) => result.studio.test.accuracy)),
            accuracy_difference: difference,
            // The spread of the paired differences: their standard error over the splits.
            accuracy_difference_se: differences.length > 1 ? Math.sqrt(differences.reduce((sum, d) => sum + (d - difference) ** 2, 0) / (differences.length - 1) / differences.length) : null,
            studio_wins: differences.filter((d) => d > 0).length,
          }
        : {}),
    }
  })
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stdout.write(`${JSON.stringify({ bench: 'finetune', error: error.message })}\n`)
    process.exit(1)
  })
}
