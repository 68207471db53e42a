import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { TaskKind } from '../../../src-main/contract/index.ts'
import { readLabelledFile } from '../../../src-main/core/data/labelled-file.ts'
import { splitSentences } from '../../../src-main/core/data/sentences.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const samples = join(repoRoot, 'resources', 'samples')
const generated = ['entities.jsonl', 'multilabel.jsonl', 'qa.jsonl', 'sentiment.csv', 'summaries.jsonl', 'topics-corpus.txt', 'topics.csv']
const dir = tempDir('samples-')
afterAll(() => dir.cleanup())

const read = (name: string) => readFileSync(join(samples, name), 'utf8')
const records = <T>(name: string): T[] =>
  read(name)
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as T)
const parse = (name: string, task: TaskKind) => readLabelledFile({ path: join(samples, name), displayName: name }, task)
const counts = (labels: string[]) => labels.reduce<Record<string, number>>((c, l) => ({ ...c, [l]: (c[l] ?? 0) + 1 }), {})

describe('the sample generator', () => {
  it('writes exactly the shipped files, byte for byte', () => {
    const result = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'make-samples.mjs'), '--out', dir.path], { encoding: 'utf8' })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    expect(readdirSync(dir.path).sort()).toEqual(generated)
    for (const name of generated) {
      // A mismatch means the script changed without the files being regenerated (or the reverse).
      expect(readFileSync(join(dir.path, name)).equals(readFileSync(join(samples, name))), `${name} differs from a fresh generation`).toBe(true)
    }
  })

  it('draws differently with another seed', () => {
    const other = join(dir.path, 'other')
    const result = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'make-samples.mjs'), '--out', other, '--seed', '7'], { encoding: 'utf8' })
    expect(result.status).toBe(0)
    expect(readFileSync(join(other, 'topics.csv'), 'utf8')).not.toBe(read('topics.csv'))
  })

  it('keeps the labelled files small and the pre-training corpus between 1 and 2 MB', () => {
    for (const name of generated) {
      const size = statSync(join(samples, name)).size
      if (name === 'topics-corpus.txt') expect(size).toBeGreaterThan(1_000_000)
      expect(size, name).toBeLessThan(name === 'topics-corpus.txt' ? 2_000_000 : 300_000)
    }
  })
})

describe('the shipped samples', () => {
  it('topics.csv: at least 300 distinct sentences for each of sport, cooking and finance', async () => {
    const file = await parse('topics.csv', 'classify')
    const labels = file.examples.map((e) => (e.value.kind === 'classes' ? e.value.labels[0]! : ''))
    const perClass = counts(labels)
    expect(Object.keys(perClass).sort()).toEqual(['cooking', 'finance', 'sport'])
    for (const count of Object.values(perClass)) expect(count).toBeGreaterThanOrEqual(300)
    expect(new Set(file.examples.map((e) => e.text)).size).toBe(file.examples.length)
    // The CSV quoting round-trips: some texts hold commas and quotes.
    expect(file.examples.some((e) => e.text.includes(','))).toBe(true)
    expect(file.examples.some((e) => e.text.includes('"'))).toBe(true)
  })

  it('topics.csv: words shared across topics, so a topic is not given away by one keyword', async () => {
    const file = await parse('topics.csv', 'classify')
    const byWord = new Map<string, Set<string>>()
    for (const e of file.examples) {
      const label = e.value.kind === 'classes' ? e.value.labels[0]! : ''
      for (const word of new Set(e.text.toLowerCase().match(/[a-z]+/g) ?? [])) (byWord.get(word) ?? byWord.set(word, new Set()).get(word)!).add(label)
    }
    for (const word of ['season', 'stock', 'cut', 'record', 'balance', 'team', 'beat', 'shares', 'chef', 'club']) {
      expect(byWord.get(word)?.size ?? 0, `"${word}" appears in more than one topic`).toBeGreaterThanOrEqual(2)
    }
  })

  it('sentiment.csv: positive, negative and neutral, 100 each', async () => {
    const file = await parse('sentiment.csv', 'classify')
    expect(counts(file.examples.map((e) => (e.value.kind === 'classes' ? e.value.labels[0]! : '')))).toEqual({ positive: 100, negative: 100, neutral: 100 })
  })

  it('multilabel.jsonl: review aspects, several per review and some with none', async () => {
    const file = await parse('multilabel.jsonl', 'multilabel')
    expect(file.examples).toHaveLength(300)
    expect(file.labels.sort()).toEqual(['delivery', 'price', 'quality', 'service'])
    const sizes = file.examples.map((e) => (e.value.kind === 'classes' ? e.value.labels.length : -1))
    expect(sizes.some((n) => n === 0)).toBe(true)
    expect(sizes.some((n) => n >= 2)).toBe(true)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4)
  })

  it('entities.jsonl: spans are exact character offsets of names of PERSON, CITY or ORG', async () => {
    const rows = records<{ text: string; spans: { start: number; end: number; label: string }[] }>('entities.jsonl')
    expect(rows.length).toBeGreaterThanOrEqual(300)
    const perType = counts(rows.flatMap((r) => r.spans.map((s) => s.label)))
    expect(Object.keys(perType).sort()).toEqual(['CITY', 'ORG', 'PERSON'])
    for (const count of Object.values(perType)) expect(count).toBeGreaterThanOrEqual(150)
    for (const { text, spans } of rows) {
      for (const { start, end } of spans) {
        const name = text.slice(start, end)
        expect(name).toMatch(/^[A-Z][\w&' -]*[a-z]$/)
        expect(name.startsWith('the ')).toBe(false)
        // A span never cuts a word.
        expect(/\w/.test(text.charAt(start - 1)) || /\w/.test(text.charAt(end))).toBe(false)
      }
      for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.end)
    }
    expect(rows.some((r) => r.spans.length === 0)).toBe(true)
    const file = await parse('entities.jsonl', 'tag')
    expect(file.examples).toHaveLength(rows.length)
    expect(file.overlapping).toBe(false)
  })

  it('qa.jsonl: every answer occurs once in its passage, at answer_start', async () => {
    const rows = records<{ context: string; question: string; answers: { text: string[]; answer_start: number[] } }>('qa.jsonl')
    expect(rows.length).toBeGreaterThanOrEqual(300)
    for (const { context, answers } of rows) {
      expect(answers.text).toHaveLength(1)
      const [answer, start] = [answers.text[0]!, answers.answer_start[0]!]
      expect(context.slice(start, start + answer.length)).toBe(answer)
      expect(context.indexOf(answer)).toBe(start)
      expect(context.indexOf(answer, start + 1)).toBe(-1)
    }
    // Answers are not all at one position: the model has to read the question.
    expect(new Set(rows.map((r) => r.answers.answer_start[0])).size).toBeGreaterThan(100)
    const file = await parse('qa.jsonl', 'qa')
    expect(file.examples).toHaveLength(new Set(rows.map((r) => r.context)).size)
    expect(file.examples.reduce((n, e) => n + (e.value.kind === 'qa' ? e.value.items.length : 0), 0)).toBe(rows.length)
  })

  it('summaries.jsonl: the sentences re-split as given, 1–3 of them in each summary', async () => {
    const rows = records<{ sentences: string[]; labels: number[] }>('summaries.jsonl')
    expect(rows.length).toBeGreaterThanOrEqual(300)
    for (const { sentences, labels } of rows) {
      expect(labels).toHaveLength(sentences.length)
      expect(splitSentences(sentences.join(' ')).map((s) => s.text)).toEqual(sentences)
      const chosen = labels.filter((l) => l === 1).length
      expect(chosen).toBeGreaterThanOrEqual(1)
      expect(chosen).toBeLessThanOrEqual(3)
    }
    const file = await parse('summaries.jsonl', 'summarize')
    expect(file.examples).toHaveLength(rows.length)
  })

  it('topics-corpus.txt: paragraphs of several sentences on the three topics, one a line', () => {
    const lines = read('topics-corpus.txt').trimEnd().split('\n')
    expect(lines.length).toBeGreaterThan(1_500)
    expect(lines.every((line) => line.trim() === line && line !== '')).toBe(true)
    const sentences = lines.slice(0, 200).map((line) => splitSentences(line).length)
    expect(Math.min(...sentences)).toBeGreaterThanOrEqual(4)
    const text = lines.join(' ').toLowerCase()
    for (const word of ['goal', 'recipe', 'shares', 'oven', 'league', 'interest rates']) expect(text.includes(word), word).toBe(true)
  })
})

describe('the fine-tuning quality baseline', () => {
  const bench = (...args: string[]) => {
    const result = spawnSync(process.execPath, [join(repoRoot, 'bench', 'finetune-quality.mjs'), '--baseline-only', '--no-sklearn', ...args], { encoding: 'utf8' })
    expect(result.status, result.stdout + result.stderr).toBe(0)
    return JSON.parse(result.stdout.trim().split('\n').pop()!) as {
      datasets: { rows: number; split: { train: number; validation: number; test: number }; baseline: { C: number; test: { accuracy: number; macro_f1: number } } }[]
    }
  }

  it('separates the topics with TF-IDF + logistic regression, and does no better than chance on shuffled labels', () => {
    const lines = read('topics.csv').trimEnd().split('\n')
    // Labels moved one row down: same label counts, no relation to the text.
    const labels = lines.slice(1).map((l) => l.slice(l.lastIndexOf(',') + 1))
    const shuffled = [lines[0], ...lines.slice(1).map((l, i) => `${l.slice(0, l.lastIndexOf(','))},${labels[(i + 1) % labels.length]}`)].join('\n')
    const path = join(dir.path, 'shuffled.csv')
    writeFileSync(path, `${shuffled}\n`)
    const result = bench('--data', join(samples, 'topics.csv'), '--data', path)
    const [topics, noise] = result.datasets
    expect(topics!.split).toEqual({ train: 840, validation: 105, test: 105 })
    expect(topics!.baseline.test.accuracy).toBeGreaterThanOrEqual(0.95)
    expect(noise!.baseline.test.accuracy).toBeLessThan(0.6)
  })

  it('scores several splits with --seeds: one result per split and their mean', () => {
    const result = bench('--data', join(samples, 'sentiment.csv'), '--seeds', '3,4,5') as unknown as {
      seeds: number[]
      splits: { seed: number; datasets: { baseline: { test: { accuracy: number } } }[] }[]
      summary: { splits: number; baseline_accuracy: number; studio_accuracy?: number }[]
    }
    expect(result.seeds).toEqual([3, 4, 5])
    expect(result.splits.map((split) => split.seed)).toEqual([3, 4, 5])
    const accuracies = result.splits.map((split) => split.datasets[0]!.baseline.test.accuracy)
    // Three different splits: not all scored alike (the test rows differ), and the summary is their mean.
    expect(new Set(accuracies).size).toBeGreaterThan(1)
    expect(result.summary[0]!.splits).toBe(3)
    expect(result.summary[0]!.baseline_accuracy).toBeCloseTo(accuracies.reduce((a, b) => a + b, 0) / 3, 12)
    // Baseline only: no studio numbers to average.
    expect(result.summary[0]!.studio_accuracy).toBeUndefined()
  })

  it('summarises the studio against the baseline over splits as paired differences', async () => {
    // @ts-expect-error: a plain ES module without types
    const { summarise } = (await import('../../../bench/finetune-quality.mjs')) as { summarise: (runs: unknown[]) => Record<string, number | null>[] }
    const split = (baseline: number, studio: number | null) => ({
      datasets: [{ data: 'x.csv', baseline: { test: { accuracy: baseline } }, ...(studio === null ? { studio: { error: 'failed' } } : { studio: { test: { accuracy: studio } } }) }],
    })
    const [summary] = summarise([split(0.7, 0.75), split(0.8, 0.78), split(0.6, 0.66), split(0.9, null)])
    expect(summary!.splits).toBe(4)
    expect(summary!.baseline_accuracy).toBeCloseTo(0.75, 12)
    // The failed split counts for the baseline's mean only.
    expect(summary!.studio_accuracy).toBeCloseTo((0.75 + 0.78 + 0.66) / 3, 12)
    expect(summary!.accuracy_difference).toBeCloseTo((0.05 - 0.02 + 0.06) / 3, 12)
    const d = [0.05, -0.02, 0.06]
    const m = d.reduce((a, b) => a + b) / 3
    expect(summary!.accuracy_difference_se).toBeCloseTo(Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / 2 / 3), 12)
    expect(summary!.studio_wins).toBe(2)
  })
})
