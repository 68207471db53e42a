/**
 * Fine-tuning resumes exactly through the real CLI and worker: a run killed with SIGKILL after a
 * checkpoint and resumed gives the same per-step losses and validation metrics as one that ran
 * straight on the same dataset, and loses only the steps since its last checkpoint.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'
import { classifyCsv } from './synthetic.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
let home: ReturnType<typeof tempDir>
const env = { ...process.env, STUDIO_BACKEND: 'wasm' }

function run(args: string[], at = home.path) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', at], { encoding: 'utf8', env })
  const lines = result.stdout.trim().split('\n').filter(Boolean)
  return { status: result.status, lines, last: lines.length ? JSON.parse(lines.at(-1)!) : null, stderr: result.stderr }
}

// 96 training examples in batches of 8: 12 steps an epoch, 24 in all; a checkpoint at each validation (every 4 steps).
const common = ['--task', 'classify', '--epochs', '2', '--batch', '8', '--lr', '1e-3', '--validate-every', '4', '--patience', '0', '--seed', '5']

function series(runId: number, where: string[] = [], at = home.path): { train: number[]; validation: number[] } {
  const points = run(['metrics', '--run', String(runId), ...where], at).lines.map((line) => JSON.parse(line) as { step: number; split: string; name: string; value: number })
  const of = (split: string, name: string) => points.filter((p) => p.split === split && p.name === name).sort((a, b) => a.step - b.step).map((p) => p.value)
  return { train: of('train', 'loss'), validation: [...of('validation', 'loss'), ...of('validation', 'accuracy')] }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
})
afterAll(() => home.cleanup())

describe('fine-tuning resume', () => {
  it('gives the same losses after kill -9 and resume as a run that went straight', async () => {
    const data = join(home.path, 'topics.csv')
    classifyCsv(data, 40, 31)
    const straight = run(['finetune', ...common, '--data', data, '--name', 'straight'])
    expect(straight.status, straight.stderr).toBe(0)
    expect(straight.last).toMatchObject({ status: 'done', step: 24 })
    const { dataset_id: datasetId, tokenizer_id: tokenizerId } = straight.last
    const reference = series(straight.last.run_id)
    expect(reference.train).toHaveLength(24)
    expect(reference.validation).toHaveLength(12)

    // The same dataset and tokenizer; killed once it is past its checkpoint at step 8.
    const args = ['finetune', ...common, '--dataset', String(datasetId), '--tokenizer', String(tokenizerId), '--name', 'killed', '--home', home.path]
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    await new Promise<void>((resolve, reject) => {
      let err = ''
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString()
        if ([...err.matchAll(/Training (\d+)\/24/g)].some((m) => Number(m[1]) >= 10)) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', () => reject(new Error(`the run ended before it could be killed:\n${err}`)))
    })
    await new Promise((resolve) => child.once('exit', resolve))

    const db = new Database(join(home.path, 'studio.db'), { readonly: true })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    const killed = db.prepare('SELECT id, step FROM runs WHERE name = ?').get('killed') as { id: number; step: number }
    db.close()
    // Only what the last checkpoint holds survives: step 8 (the next would have been 12).
    expect(killed.step).toBe(8)

    // The project moved to another studio (imported twice there, so every id changes) resumes the
    // same run to the same losses.
    const file = join(home.path, 'moved.bertstudio')
    expect(run(['project-export', '--out', file]).status).toBe(0)
    const other = tempDir()
    try {
      for (const name of ['first', 'moved']) expect(run(['project-import', file, '--name', name], other.path).status).toBe(0)
      const where = ['--project', 'moved']
      const moved = run(['runs', ...where], other.path).last.runs.find((r: { name: string }) => r.name === 'killed')
      expect(moved.id).not.toBe(killed.id)
      const elsewhere = run(['resume', '--run', String(moved.id), ...where], other.path)
      expect(elsewhere.status, elsewhere.stderr).toBe(0)
      expect(elsewhere.last).toMatchObject({ status: 'done', step: 24 })
      expect(series(moved.id, where, other.path)).toEqual(reference)
    } finally {
      other.cleanup()
    }

    const resumed = run(['resume', '--run', String(killed.id)])
    expect(resumed.status, resumed.stderr).toBe(0)
    expect(resumed.last).toMatchObject({ status: 'done', step: 24, task: 'classify' })
    expect(series(killed.id)).toEqual(reference)
    expect(resumed.last.test).toEqual({ ...straight.last.test })
  }, 300_000)
})
