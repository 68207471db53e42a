import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
let home: ReturnType<typeof tempDir>

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home.path], { encoding: 'utf8' })
  const lines = result.stdout.trim().split('\n')
  return { status: result.status, stdoutLines: lines, last: JSON.parse(lines.at(-1)!), stderr: result.stderr }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
})
afterAll(() => home.cleanup())

describe('bert-studio CLI', () => {
  it('creates the project named by --project and prints one JSON line', () => {
    const result = run('projects', '--project', 'Reviews')
    expect(result.status).toBe(0)
    expect(result.stdoutLines).toHaveLength(1)
    expect(result.last.projects.map((p: { name: string }) => p.name)).toContain('Reviews')
  })

  it('imports a file and lists it among the corpora', () => {
    const file = join(home.path, 'tiny.txt')
    writeFileSync(file, 'first document\nsecond document\n\nthird one\n')
    const imported = run('import', file, '--name', 'tiny', '--project', 'p1')
    expect(imported.status, imported.stderr).toBe(0)
    expect(imported.last).toMatchObject({ documents: 3 })
    expect(typeof imported.last.corpus_id).toBe('number')
    const listed = run('corpora', '--project', 'p1')
    expect(listed.last.corpora).toEqual([expect.objectContaining({ id: imported.last.corpus_id, name: 'tiny' })])
    expect(run('corpora', '--project', 'p2').last.corpora).toEqual([])
  })

  it('fails with a JSON error and a non-zero exit', () => {
    for (const args of [['bogus'], ['import'], ['import', join(home.path, 'missing.txt'), '--name', 'x'], ['projects', '--nope']]) {
      const result = run(...args)
      expect(result.status, args.join(' ')).not.toBe(0)
      expect(result.last.error.code, args.join(' ')).toMatch(/^[A-Z_]+$/)
      expect(result.last.error.message.length).toBeGreaterThan(5)
    }
    const badFormat = run('import', join(home.path, 'tiny.txt'), '--format', 'docx')
    expect(badFormat.last.error).toMatchObject({ code: 'VALIDATION' })
    expect(badFormat.last.error.message).toContain('--format')
  })

  it('trains a tokenizer from a corpus or a file, and tokenizes a file as JSON lines in input order', () => {
    const file = join(home.path, 'train.txt')
    const lines = Array.from({ length: 300 }, (_, i) => `the runner was running ${i % 7} unwanted miles, happily`)
    writeFileSync(file, lines.join('\n'))
    const corpus = run('import', file, '--name', 'train', '--project', 'tok')
    const out = join(home.path, 'tok-out')
    const trained = run('tokenizer', 'train', '--corpus', String(corpus.last.corpus_id), '--vocab-size', '80', '--out', out, '--project', 'tok')
    expect(trained.status, trained.stderr).toBe(0)
    expect(trained.last).toMatchObject({ out, tokenizer_id: expect.any(Number) })
    // A tiny corpus runs out of pairs to merge before 80.
    expect(trained.last.vocab_size).toBeGreaterThan(20)
    expect(trained.last.vocab_size).toBeLessThanOrEqual(80)
    expect(readFileSync(join(out, 'vocab.txt'), 'utf8').split('\n').slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    expect(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')).model.type).toBe('WordPiece')

    const fromFile = run('tokenizer', 'train', '--input', file, '--vocab-size', '60', '--cased', '--out', join(home.path, 'tok-file'), '--project', 'tok')
    expect(fromFile.status, fromFile.stderr).toBe(0)
    expect(run('tokenizers', '--project', 'tok').last.tokenizers.map((t: { lowercase: boolean }) => t.lowercase).sort()).toEqual([false, true])

    const input = join(home.path, 'in.txt')
    writeFileSync(input, 'The RUNNER\n\nhappily running\n')
    const encoded = run('tokenize', '--tokenizer', out, '--input', input)
    expect(encoded.status, encoded.stderr).toBe(0)
    const records = encoded.stdoutLines.map((line) => JSON.parse(line))
    expect(records).toHaveLength(3)
    expect(records[1]).toEqual({ input_ids: [2, 3], token_type_ids: [0, 0], tokens: ['[CLS]', '[SEP]'] })
    expect(records[0].tokens.slice(0, 2)).toEqual(['[CLS]', 'the'])
    for (const record of records) expect(record.input_ids).toHaveLength(record.tokens.length)

    const pairs = join(home.path, 'pairs.txt')
    writeFileSync(pairs, 'the runner was running\thappily running miles\n')
    const pair = run('tokenize', '--tokenizer', String(trained.last.tokenizer_id), '--input', pairs, '--pairs', '--max-length', '6', '--project', 'tok')
    expect(pair.status, pair.stderr).toBe(0)
    expect(pair.last.tokens).toHaveLength(6)
    // Longest first: both segments keep a share of the 3 free places; segment ids run 0… then 1….
    const types: number[] = pair.last.token_type_ids
    expect(types.join('')).toMatch(/^0{3,4}1{2,3}$/)
    expect(pair.last.tokens.filter((t: string) => t === '[SEP]')).toHaveLength(2)

    const notPairs = run('tokenize', '--tokenizer', out, '--input', input, '--pairs')
    expect(notPairs.last.error.message).toMatch(/in\.txt line 1: --pairs needs two texts separated by a tab/)
    expect(run('tokenizer', 'train', '--input', file).last.error.message).toMatch(/--out/)
  })
})
