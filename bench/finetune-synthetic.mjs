#!/usr/bin/env node
// `npm run bench -- finetune-synthetic [--tasks classify,tag,qa] [--backend wasm] [--keep]`
//
// Fine-tunes Tiny models from random weights (tokenizer trained on the data) through the built CLI
// on the synthetic tasks of tests/unit/finetune/synthetic.ts, larger than the unit tests' and with
// the harder QA variant (three kinds of question, so the model must read the question), and prints
// each task's test metrics, the bar of issue #5 it must pass, and the time it took, as JSON.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import ts from 'typescript'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = join(repo, 'out', 'main', 'cli.js')
const { values } = parseArgs({
  options: { tasks: { type: 'string', default: 'classify,tag,qa' }, backend: { type: 'string', default: 'wasm' }, keep: { type: 'boolean', default: false } },
})

const work = mkdtempSync(join(tmpdir(), 'finetune-synthetic-'))
// The generators are the unit tests' own (TypeScript): transpiled, not copied.
const source = readFileSync(join(repo, 'tests', 'unit', 'finetune', 'synthetic.ts'), 'utf8')
const generated = join(work, 'synthetic.mjs')
writeFileSync(generated, ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText)
const synthetic = await import(pathToFileURL(generated).href)

const TASKS = {
  classify: {
    make: (path) => synthetic.classifyCsv(path, 150, 41),
    file: 'topics.csv',
    args: ['--epochs', '5', '--lr', '2e-3', '--batch', '16'],
    bar: { metric: 'accuracy', min: 0.9 },
  },
  tag: {
    make: (path) => synthetic.tagJsonl(path, 400, 42),
    file: 'entities.jsonl',
    args: ['--epochs', '5', '--lr', '2e-3', '--batch', '16'],
    bar: { metric: 'entity_f1', min: 0.8 },
  },
  qa: {
    make: (path) => synthetic.qaJsonl(path, 400, 43, 3),
    file: 'houses.jsonl',
    args: ['--epochs', '15', '--lr', '2e-3', '--batch', '16', '--seq', '64', '--patience', '0'],
    bar: { metric: 'exact_match', min: 0.8 },
  },
}

const results = {}
for (const name of values.tasks.split(',')) {
  const task = TASKS[name]
  if (!task) throw new Error(`Unknown task ${name}; expected ${Object.keys(TASKS).join(', ')}`)
  const data = join(work, task.file)
  task.make(data)
  const started = performance.now()
  const result = spawnSync(process.execPath, [cli, 'finetune', '--task', name, '--data', data, '--seed', '3', ...task.args, '--home', join(work, 'home')], {
    encoding: 'utf8',
    env: { ...process.env, STUDIO_BACKEND: values.backend },
    maxBuffer: 64 * 1024 * 1024,
  })
  const seconds = (performance.now() - started) / 1000
  const last = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null')
  if (result.status !== 0 || !last?.test) {
    results[name] = { error: last?.error ?? result.stderr.slice(-2000), seconds }
    continue
  }
  const value = last.test[task.bar.metric]
  results[name] = {
    run_id: last.run_id,
    steps: last.step,
    seconds,
    test: last.test,
    bar: { ...task.bar, value, passed: value > task.bar.min || (task.bar.metric === 'accuracy' && value >= task.bar.min) },
  }
}
if (!values.keep) rmSync(work, { recursive: true, force: true })
process.stdout.write(`${JSON.stringify({ bench: 'finetune-synthetic', backend: values.backend, from: 'random weights, preset tiny', tasks: results, ...(values.keep ? { folder: work } : {}) })}\n`)
