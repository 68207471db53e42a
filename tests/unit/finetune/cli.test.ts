/**
 * Fine-tuning through the real CLI and worker, from random weights of the Tiny preset with a
 * tokenizer trained on the data, on small learnable tasks: classification of separable topics,
 * tagging of a closed set of names and places, extractive QA about a described house; then `eval`
 * on a file and `predict` (one line per input, in order). Summaries and multi-label run end to end.
 * Every run prints its run_id.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'
import { classifyCsv, multilabelJsonl, qaJsonl, qaRecords, summaryJsonl, tagJsonl } from './synthetic.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
let home: ReturnType<typeof tempDir>

function run(args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home.path], { encoding: 'utf8', env: { ...process.env, STUDIO_BACKEND: 'wasm' } })
  const lines = result.stdout.trim().split('\n').filter(Boolean)
  return { status: result.status, lines, last: lines.length ? JSON.parse(lines.at(-1)!) : null, stderr: result.stderr }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
})
afterAll(() => home.cleanup())

describe('finetune, eval and predict on the CLI', () => {
  it('classifies topics above 0.9 test accuracy, evaluates a file and predicts in input order', () => {
    const data = join(home.path, 'topics.csv')
    classifyCsv(data, 100, 21)
    const trained = run(['finetune', '--task', 'classify', '--data', data, '--epochs', '5', '--lr', '2e-3', '--batch', '16', '--seed', '3'])
    expect(trained.status, trained.stderr).toBe(0)
    expect(trained.stderr).toMatch(/no --from: starting from random weights \(preset tiny\) with tokenizer \d+/)
    expect(trained.last).toMatchObject({ status: 'done', task: 'classify', from_run_id: null })
    expect(trained.last.run_id).toBeGreaterThan(0)
    expect(trained.last.test.accuracy).toBeGreaterThanOrEqual(0.9)
    const runId = String(trained.last.run_id)

    const held = join(home.path, 'held-out.csv')
    classifyCsv(held, 10, 99)
    const evaluated = run(['eval', '--run', runId, '--data', held])
    expect(evaluated.status, evaluated.stderr).toBe(0)
    expect(evaluated.last).toMatchObject({ run_id: Number(runId), examples: 30 })
    expect(evaluated.last.accuracy).toBeGreaterThanOrEqual(0.9)
    expect(evaluated.last.macro_f1).toBeGreaterThanOrEqual(0.85)
    expect(Object.keys(evaluated.last.per_class)).toEqual(['sport', 'cooking', 'finance'])
    expect(evaluated.last.per_class.sport).toMatchObject({ support: 10 })
    // The TF-IDF baseline, fitted on the run's train and validation examples, scored on the file's.
    expect(evaluated.last.baseline).toMatchObject({ fitted_on: 270 })
    expect(evaluated.last.baseline.accuracy).toBeGreaterThanOrEqual(0.9)
    expect(evaluated.last.baseline.p_value).toBeGreaterThan(0)
    expect(trained.last.test.baseline.accuracy).toBeGreaterThanOrEqual(0.9)

    const texts = ['the striker scored a late goal for the team', 'melt the butter and add garlic to the sauce', 'the bank raised interest on every loan', 'the coach and the referee left the stadium']
    const input = join(home.path, 'texts.txt')
    writeFileSync(input, `${texts.join('\n')}\n`)
    const predicted = run(['predict', '--run', runId, '--input', input])
    expect(predicted.status, predicted.stderr).toBe(0)
    const rows = predicted.lines.map((line) => JSON.parse(line) as { label: string; probabilities: Record<string, number> })
    expect(rows.map((row) => row.label)).toEqual(['sport', 'cooking', 'finance', 'sport'])
    for (const row of rows) expect(Object.values(row.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)
  }, 300_000)

  it('tags names and places with entity F1 above 0.8 and predicts their spans', () => {
    const data = join(home.path, 'entities.jsonl')
    tagJsonl(data, 300, 22)
    const trained = run(['finetune', '--task', 'tag', '--data', data, '--epochs', '5', '--lr', '2e-3', '--batch', '16', '--seed', '3'])
    expect(trained.status, trained.stderr).toBe(0)
    expect(trained.last.test.entity_f1).toBeGreaterThan(0.8)
    const input = join(home.path, 'sentences.txt')
    writeFileSync(input, 'yesterday lena white visited berlin with omar .\nnothing here .\n')
    const predicted = run(['predict', '--run', String(trained.last.run_id), '--input', input])
    expect(predicted.status, predicted.stderr).toBe(0)
    const [first, second] = predicted.lines.map((line) => JSON.parse(line) as { spans: { text: string; label: string; start: number; end: number }[] })
    expect(first!.spans.map((s) => [s.label, s.text])).toEqual([
      ['PER', 'lena white'],
      ['LOC', 'berlin'],
      ['PER', 'omar'],
    ])
    expect(first!.spans[0]).toMatchObject({ start: 10, end: 20 })
    expect(second!.spans).toEqual([])
  }, 300_000)

  it('answers questions with exact match above 0.8 and predicts answer spans from JSON lines', () => {
    const data = join(home.path, 'houses.jsonl')
    qaJsonl(data, 240, 3, 2)
    const trained = run(['finetune', '--task', 'qa', '--data', data, '--epochs', '12', '--lr', '2e-3', '--batch', '16', '--seq', '64', '--patience', '0'])
    expect(trained.status, trained.stderr).toBe(0)
    expect(trained.last).toMatchObject({ task: 'qa', seq_length: 64 })
    expect(trained.last.test.exact_match).toBeGreaterThan(0.8)
    const questions = qaRecords(6, 77, 2)
    const input = join(home.path, 'questions.jsonl')
    writeFileSync(input, questions.map(({ question, context }) => JSON.stringify({ question, context })).join('\n'))
    const predicted = run(['predict', '--run', String(trained.last.run_id), '--input', input])
    expect(predicted.status, predicted.stderr).toBe(0)
    const answers = predicted.lines.map((line) => JSON.parse(line) as { answer: string; start: number; end: number; score: number })
    expect(answers).toHaveLength(6)
    answers.forEach((answer, i) => {
      expect(questions[i]!.context.slice(answer.start, answer.end)).toBe(answer.answer)
      expect(answer.score).toBeGreaterThan(0)
    })
    expect(answers.filter((a, i) => a.answer === questions[i]!.answer).length).toBeGreaterThanOrEqual(4)
  }, 400_000)

  it('trains summaries and multi-label classes end to end, with their own metrics', () => {
    const summaries = join(home.path, 'news.jsonl')
    summaryJsonl(summaries, 80, 24)
    const summary = run(['finetune', '--task', 'summarize', '--data', summaries, '--epochs', '2', '--lr', '2e-3', '--batch', '16'])
    expect(summary.status, summary.stderr).toBe(0)
    expect(Object.keys(summary.last.test)).toEqual(expect.arrayContaining(['rouge1', 'rouge2', 'rougeL', 'ece']))
    // Beside it, Lead: the first sentences within the same word budget, compared on ROUGE-L.
    expect(summary.last.test.baseline).toMatchObject({ compared_on: 'rougeL', summary_words: expect.any(Number), method: expect.stringMatching(/^Lead/) })
    expect(summary.last.test.baseline.model_better + summary.last.test.baseline.baseline_better).toBeLessThanOrEqual(summary.last.test.examples)
    const labels = join(home.path, 'multi.jsonl')
    multilabelJsonl(labels, 80, 25)
    const multi = run(['finetune', '--task', 'multilabel', '--data', labels, '--epochs', '2', '--lr', '2e-3', '--batch', '16', '--class-weights'])
    expect(multi.status, multi.stderr).toBe(0)
    expect(Object.keys(multi.last.test)).toEqual(expect.arrayContaining(['micro_f1', 'macro_f1', 'exact_match', 'hamming_loss']))
    const input = join(home.path, 'multi.txt')
    writeFileSync(input, 'the striker and the bank\n')
    const predicted = run(['predict', '--run', String(multi.last.run_id), '--input', input])
    expect(Object.keys(JSON.parse(predicted.lines[0]!))).toEqual(['labels', 'probabilities'])
  }, 300_000)

  it('says what is wrong with bad input', () => {
    expect(run(['finetune', '--task', 'classify']).last.error.message).toMatch(/--data FILE/)
    expect(run(['finetune', '--task', 'nope', '--data', 'x']).last.error.message).toMatch(/--task classify\|multilabel/)
    const bad = join(home.path, 'bad.csv')
    writeFileSync(bad, 'text,label\nfine,a\n"unclosed,b\n')
    expect(run(['finetune', '--task', 'classify', '--data', bad]).last.error.message).toMatch(/bad.csv/)
    expect(run(['predict', '--run', '999', '--input', bad]).last.error.code).toBe('NOT_FOUND')
  })
})
