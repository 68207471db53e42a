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
//   --warm-start-check     also fit the baseline with every C from zero: time, iterations and agreement side by side
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

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function mulberry32(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** mulberry32 seeded by (seed, key): one independent stream per label for the split. */
function rngFor(seed, key) {
  let h = 0x811c9dc5 ^ seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return mulberry32(h)
}

/** Fisher–Yates in place with `random`; returns `items`. */
export function shuffle(items, random) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

/** Index lists per split, each label's rows shuffled and cut by largest remainders. */
export function stratifiedSplit(labels, fractions, seed) {
  const byLabel = new Map()
  labels.forEach((label, i) => (byLabel.get(label) ?? byLabel.set(label, []).get(label)).push(i))
  const splits = fractions.map(() => [])
  for (const [label, indices] of [...byLabel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    shuffle(indices, rngFor(seed, label))
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

// ---------------------------------------------------------------- baseline

/** The studio's own baseline (src-main/core/train/baseline.ts), from the build. */
function core() {
  const built = join(root, 'out', 'main', 'bench.js')
  if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`)
  return require(built)
}

/**
 * TF-IDF + logistic regression as the studio computes it beside every evaluation: C chosen on
 * validation, refitted on train+validation. `warmStart: false` fits every C from zero (the
 * --warm-start-check comparison).
 */
export async function baseline(rows, split, { warmStart = true } = {}) {
  const { tfidfBaseline, BASELINE_METHOD } = core()
  const labelNames = [...new Set(rows.map((r) => r.label))].sort()
  const classOf = new Map(labelNames.map((l, i) => [l, i]))
  const [train, validation, test] = split.map((indices) => indices.map((i) => ({ text: rows[i].text, label: classOf.get(rows[i].label) })))
  const outcome = await tfidfBaseline({ train, validation, test }, labelNames.length, { warmStart })
  return {
    method: BASELINE_METHOD,
    C: outcome.C,
    validation: outcome.validation,
    fit_on: 'train+validation',
    features: outcome.features,
    test: { accuracy: outcome.metrics.accuracy, macro_f1: outcome.metrics.macro_f1 },
    predictions: outcome.predictions.map((k) => labelNames[k]),
    seconds: outcome.seconds,
    warm_start: warmStart,
  }
}

/** The C grid the baseline tries (the same for scikit-learn's cross-check). */
const grid = () => [...core().C_GRID]

/** The same baseline in scikit-learn (bench/sklearn_baseline.py) when /usr/bin/python3 has it; null otherwise. */
export function sklearnBaseline(rows, split) {
  const python = '/usr/bin/python3'
  if (!existsSync(python) || spawnSync(python, ['-c', 'import sklearn'], { stdio: 'ignore' }).status !== 0) return null
  const part = (indices) => ({ texts: indices.map((i) => rows[i].text), labels: indices.map((i) => rows[i].label) })
  const [train, validation, test] = split.map(part)
  const result = spawnSync(python, [join(here, 'sklearn_baseline.py')], { input: JSON.stringify({ grid: grid(), train, validation, test }), encoding: 'utf8', maxBuffer: 1 << 28 })
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

/** A CSV field, quoted when it must be. */
export const csvField = (value) => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)
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
  const evaluation = await cli(home, ['eval', '--run', String(finetune.run_id), '--data', testPath, '--text-column', 'text', '--label-column', 'label', '--no-baseline'])
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
      'warm-start-check': { type: 'boolean', default: false },
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
  // One data file at a time, so that each baseline's timing is its own.
  const splitsFor = async (seed) => {
    const datasets = []
    for (const { path, rows } of labelled) {
      const split = stratifiedSplit(rows.map((r) => r.label), [0.8, 0.1, 0.1], seed)
      const result = { data: path, rows: rows.length, classes: [...new Set(rows.map((r) => r.label))].sort(), split: { train: split[0].length, validation: split[1].length, test: split[2].length } }
      const base = await baseline(rows, split)
      const sk = values['no-sklearn'] ? null : sklearnBaseline(rows, split)
      if (sk && !sk.error) sk.prediction_agreement = sk.predictions.filter((p, i) => p === base.predictions[i]).length / base.predictions.length
      if (sk) delete sk.predictions
      if (values['warm-start-check']) {
        // Side by side in one run: every C fitted from zero, as the baseline did before warm starts.
        const cold = await baseline(rows, split, { warmStart: false })
        base.warm_start_check = {
          cold_seconds: cold.seconds,
          warm_seconds: base.seconds,
          speedup: cold.seconds / base.seconds,
          cold_iterations: cold.validation.reduce((sum, v) => sum + v.iterations, 0),
          warm_iterations: base.validation.reduce((sum, v) => sum + v.iterations, 0),
          same_C: cold.C === base.C,
          prediction_agreement: cold.predictions.filter((p, i) => p === base.predictions[i]).length / base.predictions.length,
          cold_test: cold.test,
        }
      }
      delete base.predictions
      datasets.push({ rows, split, result: { ...result, baseline: base, ...(sk ? { sklearn: sk } : {}) } })
    }
    return datasets
  }

  const runs = []
  let pretrained = null
  const home = values['baseline-only'] ? null : values.home ? resolve(values.home) : mkdtempSync(join(tmpdir(), 'bench-finetune-'))
  try {
    if (home !== null && !existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first (or pass --baseline-only)`)
    for (const seed of seeds) {
      const datasets = await splitsFor(seed)
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
