import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'

const cli = join(repoRoot, 'out', 'main', 'cli.js')
let home: ReturnType<typeof tempDir>
const env = { ...process.env, STUDIO_BACKEND: 'wasm', STUDIO_TRAIN_WORKERS: '1' }

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args, '--home', home.path], { encoding: 'utf8', env })
  const lines = result.stdout.trim().split('\n')
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>
}

/** Starts a pre-training run in a CLI process and sends `signal` once it has trained a few steps. */
function pretrainThenSignal(signal: NodeJS.Signals, name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [cli, 'pretrain', '--corpus', '1', '--tokenizer', '1', '--seq', '32', '--batch', '4', '--steps', '200', '--checkpoint-every', '1000', '--name', name, '--home', home.path],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    let sent = false
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (!sent && /Training [3-9]\d*\/200/.test(stderr)) {
        sent = true
        child.kill(signal)
      }
    })
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build before the unit tests`)
  home = tempDir()
  run('import', join(repoRoot, 'tests', 'e2e', 'fixtures', 'stories.txt'), '--name', 'stories')
  run('tokenizer', 'train', '--corpus', '1', '--vocab-size', '300', '--out', join(home.path, 'tok'))
}, 120_000)
afterAll(() => home.cleanup())

describe('CLI stop signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} pauses a training run at a step with a checkpoint; resume finishes it`, async () => {
      const name = `stopped-by-${signal}`
      const { code, stdout, stderr } = await pretrainThenSignal(signal, name)
      expect(code, stderr.slice(-2000)).toBe(0)
      const printed = JSON.parse(stdout.trim().split('\n').at(-1)!) as { run_id: number; status: string; step: number }
      expect(printed.status).toBe('paused')
      expect(printed.step).toBeGreaterThanOrEqual(3)
      expect(printed.step).toBeLessThan(200)
      const stored = (run('runs', '--run', String(printed.run_id)) as { runs: { status: string; checkpointStep: number; resumable: boolean }[] }).runs[0]
      // The pause wrote a checkpoint at the step it stopped (the interval, 1000, was never reached).
      expect(stored).toMatchObject({ status: 'paused', checkpointStep: printed.step, resumable: true })
      const resumed = run('resume', '--run', String(printed.run_id))
      expect(resumed).toMatchObject({ status: 'done', step: 200 })
    }, 300_000)
  }
})
