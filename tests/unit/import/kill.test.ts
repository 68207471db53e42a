import Database from 'better-sqlite3'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The child is the built CLI: `npm test` builds before it runs vitest. Run `npm run build` first
// when running this file alone.
const cli = resolve(__dirname, '../../../out/main/cli.js')
const dir = mkdtempSync(join(tmpdir(), 'kill-'))
const big = join(dir, 'big.txt')
const small = join(dir, 'small.txt')

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` before this test (npm test does)`)
  // ~40 MB: several seconds of import, so a kill lands mid-transaction.
  const line = (i: number) => `document ${i} says the quick brown fox jumps over the lazy dog again and again`
  const block = Array.from({ length: 50_000 }, (_, i) => line(i)).join('\n') + '\n'
  writeFileSync(big, block.repeat(10))
  writeFileSync(small, 'kept one\nkept two\n')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Starts an import and SIGKILLs it at a random moment after it has reported documents. */
function importAndKill(home: string, delayMs: number): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, 'import', big, '--name', 'doomed', '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let armed = false
    child.stderr.on('data', (data: Buffer) => {
      stderr += data
      if (!armed && / [1-9]\d* documents/.test(stderr)) {
        armed = true
        setTimeout(() => child.kill('SIGKILL'), delayMs)
      }
    })
    child.on('error', fail)
    child.on('exit', (_code, signal) => done({ killed: signal === 'SIGKILL', stderr }))
  })
}

describe('an import killed with SIGKILL', () => {
  it('leaves an intact database without any of its rows', async () => {
    const home = join(dir, 'home')
    const kept = spawnSync(process.execPath, [cli, 'import', small, '--name', 'kept', '--home', home], { encoding: 'utf8' })
    expect(kept.status, kept.stdout + kept.stderr).toBe(0)
    for (const delayMs of [0, 150 + Math.floor(Math.random() * 300), 600 + Math.floor(Math.random() * 900)]) {
      const { killed, stderr } = await importAndKill(home, delayMs)
      expect(killed, `the import finished before the kill at ${delayMs} ms:\n${stderr.slice(-500)}`).toBe(true)
      const db = new Database(join(home, 'studio.db'))
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
        expect(db.prepare('SELECT name FROM corpora').pluck().all()).toEqual(['kept'])
        expect(db.prepare('SELECT text FROM documents ORDER BY id').pluck().all()).toEqual(['kept one', 'kept two'])
      } finally {
        db.close()
      }
    }
  })
})
