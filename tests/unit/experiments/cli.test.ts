import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../../src-main/store/index.ts'
import { appendMetrics, createRun, enqueueRun, saveCheckpoint, setRunStatus } from '../../../src-main/store/runs.ts'
import { repoRoot, tempDir } from '../helpers.ts'
import { checkpointAt } from './fixtures.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
let home: ReturnType<typeof tempDir>
const ids: Record<string, number> = {}

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home.path], { encoding: 'utf8' })
  return { status: result.status, stdout: result.stdout, lines: result.stdout.trim().split('\n'), stderr: result.stderr }
}
const json = (...args: string[]) => JSON.parse(run(...args).lines.at(-1)!)

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
  // A studio home as the app leaves it: a finished run with points and a checkpoint, one waiting in the queue.
  const db = openDatabase(join(home.path, 'studio.db'))
  const projectId = db.prepare("INSERT INTO projects (name) VALUES ('default')").run().lastInsertRowid as number
  ids.done = createRun(db, { projectId, kind: 'pretrain', name: 'finished', config: { request: { seed: 5, learningRate: 1e-4 } }, modelConfig: { hidden_size: 32 } }).id
  setRunStatus(db, ids.done, 'running', { backend: 'wasm' })
  appendMetrics(db, ids.done, [
    { step: 1, split: 'train', name: 'loss', value: 4, wallTime: 1_700_000_000.5 },
    { step: 2, split: 'train', name: 'loss', value: 3.5, wallTime: 1_700_000_001.5 },
    { step: 2, split: 'validation', name: 'loss', value: 3.75, wallTime: 1_700_000_001.5 },
    { step: 2, split: 'train', name: 'mlm_accuracy', value: 0.25, wallTime: 1_700_000_001.5 },
  ])
  saveCheckpoint(db, ids.done, 2, [], checkpointAt(2, 3.75))
  setRunStatus(db, ids.done, 'done')
  ids.queued = createRun(db, { projectId, kind: 'pretrain', name: 'waiting', config: {}, modelConfig: {} }).id
  enqueueRun(db, ids.queued)
  db.close()
})
afterAll(() => home.cleanup())

describe('bert-studio runs and metrics', () => {
  it('lists runs of every status, filters by one, and prints one run in full', () => {
    const all = json('runs')
    expect(all.runs.map((item: { name: string }) => item.name).sort()).toEqual(['finished', 'waiting'])
    expect(all.runs[0].config).toBeUndefined()
    const done = json('runs', '--status', 'done')
    expect(done.runs).toHaveLength(1)
    expect(done.runs[0]).toMatchObject({ id: ids.done, status: 'done', backend: 'wasm', best: { split: 'validation', step: 2, value: 3.75 }, hyper: { seed: 5 } })
    const one = json('runs', '--run', String(ids.done))
    expect(one.runs).toHaveLength(1)
    expect(one.runs[0]).toMatchObject({ id: ids.done, config: { request: { seed: 5 } }, modelConfig: { hidden_size: 32 }, config_export: { environment: { backend: 'wasm' } } })
    // The CLI never starts the app's waiting runs.
    expect(json('runs', '--status', 'queued').runs[0]).toMatchObject({ id: ids.queued, status: 'queued', queuePosition: 1 })
    const bad = run('runs', '--status', 'finished')
    expect(bad.status).toBe(1)
    expect(JSON.parse(bad.lines.at(-1)!).error).toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('--status must be one of') })
  })

  it('writes every stored point as JSON lines or CSV', () => {
    const lines = run('metrics', '--run', String(ids.done))
    expect(lines.status, lines.stderr).toBe(0)
    const points = lines.lines.map((line) => JSON.parse(line))
    expect(points).toHaveLength(4)
    expect(points).toContainEqual({ run_id: ids.done, step: 2, split: 'validation', name: 'loss', value: 3.75, time: 1_700_000_001.5 })
    expect(Object.keys(points[0])).toEqual(['run_id', 'step', 'split', 'name', 'value', 'time'])
    const csv = run('metrics', '--run', String(ids.done), '--format', 'csv')
    expect(csv.lines[0]).toBe('run_id,step,split,name,value,time')
    expect(csv.lines).toHaveLength(5)
    expect(csv.lines).toContain(`${ids.done},1,train,loss,4,1700000000.5`)
    expect(JSON.parse(run('metrics', '--run', String(ids.done), '--format', 'xml').lines.at(-1)!).error.code).toBe('VALIDATION')
    expect(JSON.parse(run('metrics', '--run', '999').lines.at(-1)!).error.code).toBe('NOT_FOUND')
  })

  it('exports the project to one file and imports it back', () => {
    const file = join(home.path, 'copy.bertstudio')
    const exported = json('project-export', '--out', file)
    expect(exported.bytes).toBeGreaterThan(0)
    const imported = json('project-import', file, '--name', 'restored')
    expect(imported.project.name).toBe('restored')
    const runs = json('runs', '--project', 'restored').runs
    expect(runs.map((item: { name: string; status: string }) => [item.name, item.status]).sort()).toEqual([['finished', 'done'], ['waiting', 'paused']])
  })
})
