import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
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
})
