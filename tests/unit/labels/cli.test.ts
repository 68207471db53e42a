import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '../helpers.ts'

// Runs the built CLI: `npm run build` first when running this file alone.
const cli = resolve(__dirname, '../../../out/main/cli.js')
const dir = tempDir('label-cli-')
const home = join(dir.path, 'home')

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` before this test (npm test does)`)
})
afterAll(() => dir.cleanup())

function run(...args: string[]): { status: number | null; json: Record<string, unknown>; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home], { encoding: 'utf8' })
  const last = result.stdout.trim().split('\n').at(-1) ?? ''
  return { status: result.status, json: JSON.parse(last) as Record<string, unknown>, stderr: result.stderr }
}

describe('CLI: label-import and datasets', () => {
  it('imports a labelled file as a corpus and a dataset, and lists it', () => {
    const file = join(dir.path, 'reviews.tsv')
    writeFileSync(file, 'review\tsentiment\ngreat\tpos\nawful\tneg\nfine\tpos\n')
    const imported = run('label-import', file, '--task', 'classify')
    expect(imported.status, imported.stderr).toBe(0)
    expect(imported.json).toMatchObject({ name: 'reviews', task: 'classify', examples: 3, labelled: 3, classes: ['pos', 'neg'], per_class: { pos: 2, neg: 1 } })
    expect(typeof imported.json.dataset_id).toBe('number')
    expect(typeof imported.json.corpus_id).toBe('number')
    const again = run('label-import', file, '--task', 'classify')
    expect(again.json).toMatchObject({ name: 'reviews 2' })
    const listed = run('datasets')
    expect((listed.json.datasets as { name: string }[]).map((d) => d.name).sort()).toEqual(['reviews', 'reviews 2'])
  })

  it('names the column options and reports a bad line with its file and line', () => {
    const file = join(dir.path, 'topics.csv')
    writeFileSync(file, 'body,topic\none,a\ntwo,\n')
    const bad = run('label-import', file, '--task', 'classify', '--text-column', 'body', '--label-column', 'topic', '--name', 'Topics')
    expect(bad.status).toBe(1)
    expect(bad.json).toEqual({ error: { code: 'BAD_INPUT', message: 'topics.csv line 3: the label column "topic" is empty' } })
    expect(run('datasets').json.datasets).toHaveLength(2)
    expect(run('label-import', file, '--task', 'sentiment').json).toMatchObject({ error: { code: 'VALIDATION' } })
  })
})
