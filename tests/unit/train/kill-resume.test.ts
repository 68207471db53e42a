/**
 * Resume through the real CLI and worker: a run killed with SIGKILL (or whose worker dies) and
 * resumed gives the same per-step losses as one that ran straight, and loses at most the steps
 * since its last checkpoint.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
const corpus = join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt')
let home: ReturnType<typeof tempDir>

function run(args: string[], env: Record<string, string> = {}, at = home.path) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', at], {
    encoding: 'utf8',
    env: { ...process.env, STUDIO_BACKEND: 'wasm', ...env },
  })
  const lines = result.stdout.trim().split('\n').filter(Boolean)
  return { status: result.status, lines, last: lines.length ? JSON.parse(lines.at(-1)!) : null, stderr: result.stderr }
}

const trainArgs = (name: string) => [
  'pretrain', '--corpus', '1', '--tokenizer', '1', '--preset', 'tiny', '--seq', '32', '--batch', '4',
  '--steps', '16', '--checkpoint-every', '4', '--validate-every', '8', '--seed', '7', '--lr', '5e-4', '--name', name,
  // Tiny pre-trains without dropout by default; with it the resumed run must also replay its masks.
  '--dropout', '0.1',
]

function losses(runId: number, where: string[] = [], at = home.path): number[] {
  const points = run(['metrics', '--run', String(runId), ...where], {}, at).lines.map((line) => JSON.parse(line))
  return points
    .filter((p) => p.split === 'train' && p.name === 'loss')
    .sort((a, b) => a.step - b.step)
    .map((p) => p.value)
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
  expect(run(['import', corpus, '--name', 'stories']).status).toBe(0)
  expect(run(['tokenizer', 'train', '--corpus', '1', '--vocab-size', '300', '--out', join(home.path, 'tok')]).status).toBe(0)
})
afterAll(() => home.cleanup())

describe('pre-training resume', () => {
  it.each(['wasm', 'cpu'])('gives the same losses after kill -9 and resume as a run that went straight (%s)', async (backend) => {
    const env = { STUDIO_BACKEND: backend }
    const straight = run(trainArgs(`straight-${backend}`), env)
    expect(straight.status, straight.stderr).toBe(0)
    expect(straight.last).toMatchObject({ status: 'done', step: 16 })
    const reference = losses(straight.last.run_id)
    expect(reference).toHaveLength(16)

    // The second run is killed once it is past its checkpoint at step 8.
    const child = spawn(process.execPath, [cli, ...trainArgs(`killed-${backend}`), '--home', home.path], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    await new Promise<void>((resolve, reject) => {
      let err = ''
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString()
        const steps = [...err.matchAll(/Training (\d+)\/16/g)].map((m) => Number(m[1]))
        if (steps.some((s) => s >= 10)) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', () => reject(new Error(`the run ended before it could be killed:\n${err}`)))
    })
    await new Promise((resolve) => child.once('exit', resolve))

    const db = new Database(join(home.path, 'studio.db'), { readonly: true })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    const killed = db.prepare('SELECT id, step FROM runs WHERE name = ?').get(`killed-${backend}`) as { id: number; step: number }
    db.close()
    // Only what the last checkpoint holds survives: step 8 (the next would have been 12).
    expect(killed.step).toBe(8)

    const resumed = run(['resume', '--run', String(killed.id)], env)
    expect(resumed.status, resumed.stderr).toBe(0)
    expect(resumed.last).toMatchObject({ status: 'done', step: 16 })
    expect(losses(killed.id)).toEqual(reference)
  }, 240_000)

  it('marks a run whose worker died crashed-resumable, and the next run works', () => {
    const crashed = run(trainArgs('crashing'), { STUDIO_FAULT_EXIT_AT_STEP: '6' })
    expect(crashed.status).not.toBe(0)
    expect(crashed.last.error.message).toMatch(/crashed: The training worker stopped/)
    const listed = run(['runs']).last.runs.find((r: { name: string }) => r.name === 'crashing')
    expect(listed).toMatchObject({ status: 'crashed', checkpointStep: 4 })
    const resumed = run(['resume', '--run', String(listed.id)])
    expect(resumed.last).toMatchObject({ status: 'done', step: 16 })
    const next = run(trainArgs('after-crash'))
    expect(next.last).toMatchObject({ status: 'done', step: 16 })
  }, 240_000)

  it('resumes a crashed run in another studio after project export and import (every id moved)', () => {
    const straight = run(trainArgs('straight-moved'))
    expect(straight.status, straight.stderr).toBe(0)
    const reference = losses(straight.last.run_id)
    const crashed = run(trainArgs('crashed-moved'), { STUDIO_FAULT_EXIT_AT_STEP: '6' })
    expect(crashed.status).not.toBe(0)
    const file = join(home.path, 'moved.bertstudio')
    expect(run(['project-export', '--out', file]).status).toBe(0)
    const other = tempDir()
    try {
      // Imported twice: the second copy's corpus, documents, tokenizer and runs all get new ids.
      for (const name of ['first', 'moved']) expect(run(['project-import', file, '--name', name], {}, other.path).status).toBe(0)
      const where = ['--project', 'moved']
      const moved = run(['runs', ...where], {}, other.path).last.runs.find((r: { name: string }) => r.name === 'crashed-moved')
      expect(moved).toMatchObject({ status: 'crashed', checkpointStep: 4 })
      const resumed = run(['resume', '--run', String(moved.id), ...where], {}, other.path)
      expect(resumed.status, resumed.stderr).toBe(0)
      expect(resumed.last).toMatchObject({ status: 'done', step: 16 })
      expect(losses(moved.id, where, other.path)).toEqual(reference)
    } finally {
      other.cleanup()
    }
  }, 240_000)
})
