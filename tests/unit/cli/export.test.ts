import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
let home: ReturnType<typeof tempDir>
let runId: number

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home.path, '--project', 'cli-export'], {
    encoding: 'utf8',
    env: { ...process.env, STUDIO_BACKEND: 'wasm' },
  })
  const lines = result.stdout.trim().split('\n')
  return { status: result.status, last: JSON.parse(lines.at(-1)!), stderr: result.stderr }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
  const corpus = run('import', join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt'), '--name', 'stories')
  expect(corpus.status, corpus.stderr).toBe(0)
  const tokenizer = run('tokenizer', 'train', '--corpus', String(corpus.last.corpus_id), '--vocab-size', '300', '--out', join(home.path, 'tok'))
  expect(tokenizer.status, tokenizer.stderr).toBe(0)
  const trained = run(
    'pretrain', '--corpus', String(corpus.last.corpus_id), '--tokenizer', String(tokenizer.last.tokenizer_id), '--name', 'cli run',
    '--seq', '32', '--batch', '4', '--steps', '4', '--checkpoint-every', '2', '--validate-every', '2',
  )
  expect(trained.status, trained.stderr).toBe(0)
  runId = trained.last.run_id
}, 180_000)
afterAll(() => home.cleanup())

describe('bert-studio export and import-model', () => {
  it('exports the best checkpoint by default and prints the files and the parity result', () => {
    const out = join(home.path, 'hf')
    const exported = run('export', '--run', String(runId), '--format', 'hf', '--out', out)
    expect(exported.status, exported.stderr).toBe(0)
    expect(exported.last).toMatchObject({
      run_id: runId,
      format: 'hf',
      architecture: 'BertForPreTraining',
      folder: out,
      checkpoint: { chosen_as: 'best' },
      parity: { passed: true, tokenizer_matches: true, tolerance: 1e-4 },
    })
    expect(exported.last.parity.max_abs_diff).toBeLessThanOrEqual(1e-4)
    expect(exported.stderr).toMatch(/parity: max \|Δlogit\| .* passed/)
    expect(exported.last.files.map((f: { name: string }) => f.name)).toContain('model.safetensors')
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).architectures).toEqual(['BertForPreTraining'])

    const tfjs = run('export', '--run', String(runId), '--checkpoint', '2', '--format', 'tfjs', '--out', join(home.path, 'tfjs'))
    expect(tfjs.status, tfjs.stderr).toBe(0)
    expect(tfjs.last).toMatchObject({ format: 'tfjs', checkpoint: { step: 2, chosen_as: 'step' }, parity: { passed: true } })
    expect(existsSync(join(home.path, 'tfjs', 'model.json'))).toBe(true)
  }, 120_000)

  it('imports a Hugging Face folder as a run and a tokenizer', () => {
    const imported = run('import-model', join(home.path, 'hf'), '--name', 'reloaded')
    expect(imported.status, imported.stderr).toBe(0)
    expect(imported.last).toMatchObject({ name: 'reloaded', tokenizer_name: 'reloaded', architecture: 'BertForPreTraining', initialized_heads: [] })
    const runs = run('runs').last.runs as { id: number; name: string; status: string; kind: string }[]
    expect(runs.find((r) => r.id === imported.last.run_id)).toMatchObject({ name: 'reloaded', status: 'done', kind: 'pretrain' })
    expect(run('tokenizers').last.tokenizers.map((t: { id: number }) => t.id)).toContain(imported.last.tokenizer_id)
  }, 60_000)

  it('fails with a JSON error: an existing folder, a bad format, checkpoint or folder', () => {
    const taken = join(home.path, 'taken')
    mkdirSync(taken)
    const cases: [string[], string, RegExp][] = [
      [['export', '--run', String(runId), '--format', 'hf', '--out', taken], 'CONFLICT', /already exists/],
      [['export', '--run', String(runId), '--format', 'onnx', '--out', join(home.path, 'x')], 'VALIDATION', /--format hf or --format tfjs/],
      [['export', '--run', String(runId), '--format', 'hf'], 'VALIDATION', /--out DIR/],
      [['export', '--run', String(runId), '--format', 'hf', '--checkpoint', 'first', '--out', join(home.path, 'x')], 'VALIDATION', /--checkpoint must be best, last or a step/],
      [['export', '--run', String(runId), '--format', 'hf', '--checkpoint', '3', '--out', join(home.path, 'x')], 'NOT_FOUND', /no checkpoint of step 3/],
      [['export', '--format', 'hf', '--out', join(home.path, 'x')], 'VALIDATION', /--run is required/],
      [['import-model', join(home.path, 'tfjs')], 'NOT_FOUND', /config\.json/],
      [['import-model'], 'VALIDATION', /exactly one folder/],
    ]
    for (const [args, code, message] of cases) {
      const result = run(...args)
      expect(result.status, args.join(' ')).not.toBe(0)
      expect(result.last.error, args.join(' ')).toMatchObject({ code, message: expect.stringMatching(message) })
    }
    expect(existsSync(join(home.path, 'x'))).toBe(false)
  }, 60_000)
})
