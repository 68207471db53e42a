/**
 * bench/transformers_check.py on the studio's Hugging Face exports of every architecture: with
 * transformers where the machine has it (BertFor*.from_pretrained + the fast tokenizer), and with
 * its independent NumPy BERT (model.safetensors parsed by hand, the forward pass written from
 * transformers' modeling_bert by parameter name) everywhere numpy is. Either way the studio's
 * logits in studio-examples.json must come back within 1e-4, and a tampered file must fail.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TaskKind } from '../../../src-main/contract/index.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { repoRoot, tempDir } from '../helpers.ts'
import { addTokenizer, buildModel, saveFinetunedRun, savePretrainedRun, snapshotExamples, tinyConfig, type FinetuneModel } from './fixtures.ts'

const script = join(repoRoot, 'bench', 'transformers_check.py')
const workerPath = join(repoRoot, 'out', 'main', 'worker.js')
const interpreters = [process.env.STUDIO_PYTHON, 'python3', '/usr/bin/python3'].filter((candidate): candidate is string => Boolean(candidate))
const having = (modules: string) => interpreters.find((candidate) => spawnSync(candidate, ['-c', `import ${modules}`], { timeout: 120_000 }).status === 0)
const python = having('numpy')
if (python === undefined) process.stderr.write('skip: transformers_check.py — no python3 with numpy here\n')
/** The first interpreter with transformers (and torch), where the machine has one. */
const transformersPython = python === undefined ? undefined : having('torch, transformers')
const hasTransformers = transformersPython !== undefined

interface Report {
  passed: boolean
  skipped?: boolean
  error?: string
  reference?: string
  architecture?: string
  examples?: number
  max_abs_diff?: number | null
  loaded_cleanly?: boolean
  tokenizer_matches?: boolean
  tokenizer_is_fast?: boolean
}

function check(folder: string, ...args: string[]): { status: number | null; report: Report; stderr: string } {
  const interpreter = args.includes('numpy') ? python! : (transformersPython ?? python!)
  const run = spawnSync(interpreter, [script, folder, ...args], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 })
  return { status: run.status, report: JSON.parse(run.stdout) as Report, stderr: run.stderr }
}

describe.skipIf(python === undefined)('bench/transformers_check.py', () => {
  const config = tinyConfig()
  const folders = new Map<string, string>()
  const models: (FinetuneModel | BertForPreTraining)[] = []
  let home: ReturnType<typeof tempDir>
  let studio: Studio

  beforeAll(async () => {
    if (!existsSync(workerPath)) throw new Error(`${workerPath} is missing: run npm run build before the unit tests`)
    process.env.STUDIO_BACKEND = 'cpu'
    await initBackend('cpu', {})
    home = tempDir('studio-transformers-check-')
    studio = new Studio({ home: home.path, workerPath })
    const projectId = studio.projects.create('checked').id
    const tokenizerId = addTokenizer(studio.db, projectId)
    const runs: [string, number][] = []
    const tasks: [TaskKind, string[]][] = [['classify', ['negative', 'positive']], ['multilabel', ['a', 'b', 'c']], ['tag', ['PER', 'LOC']], ['qa', []]]
    for (const [task, labels] of tasks) {
      const model = buildModel(task, labels, config, 17)
      models.push(model)
      runs.push([task, saveFinetunedRun(studio.db, model, { projectId, tokenizerId, name: task, task, labels, examples: snapshotExamples(task, labels) }).runId])
    }
    const pretrained = new BertForPreTraining(config, { seed: 17 })
    models.push(pretrained)
    runs.push(['pretrain', savePretrainedRun(studio.db, pretrained, { projectId, tokenizerId, name: 'pretrain' })])
    for (const [name, runId] of runs) {
      const dir = join(home.path, name)
      const exported = await studio.models.export({ runId, checkpoint: 'best', format: 'hf', dir })
      expect(exported.parity.passed).toBe(true)
      folders.set(name, dir)
    }
  }, 120_000)

  afterAll(() => {
    for (const model of models) model.dispose()
    studio?.close()
    home?.cleanup()
    delete process.env.STUDIO_BACKEND
  })

  it.each([
    ['classify', 'BertForSequenceClassification'],
    ['multilabel', 'BertForSequenceClassification'],
    ['tag', 'BertForTokenClassification'],
    ['qa', 'BertForQuestionAnswering'],
    ['pretrain', 'BertForPreTraining'],
  ])('an independent NumPy BERT gives the studio’s logits for the %s export (%s)', (name, architecture) => {
    const { status, report, stderr } = check(folders.get(name)!, '--reference', 'numpy')
    expect(stderr).toBe('')
    expect(report).toMatchObject({ reference: 'numpy', architecture, passed: true })
    expect(report.examples).toBeGreaterThan(2)
    expect(report.max_abs_diff).toBeLessThanOrEqual(1e-4)
    expect(status).toBe(0)
  }, 120_000)

  it('fails, with exit status 1, when the studio’s logits are off by more than the tolerance', () => {
    const folder = folders.get('classify')!
    const path = join(home.path, 'tampered.json')
    const examples = JSON.parse(readFileSync(join(folder, 'studio-examples.json'), 'utf8'))
    examples.examples[1].outputs.logits[0] += 1e-3
    writeFileSync(path, JSON.stringify(examples))
    const { status, report } = check(folder, '--reference', 'numpy', '--examples', path)
    expect(report.passed).toBe(false)
    expect(report.max_abs_diff).toBeGreaterThan(9e-4)
    expect(status).toBe(1)
    expect(check(join(home.path, 'missing'), '--reference', 'numpy')).toMatchObject({ status: 2, report: { passed: false, error: expect.stringContaining('no config.json') } })
  }, 60_000)

  it(
    hasTransformers
      ? 'transformers loads the classifier with from_pretrained and the fast tokenizer and gives the studio’s logits'
      : 'says clearly, with exit status 3, that transformers is not installed',
    () => {
      const { status, report } = check(folders.get('classify')!)
      if (!hasTransformers) {
        expect(report).toMatchObject({ passed: false, skipped: true, error: expect.stringContaining('transformers and torch are needed') })
        expect(status).toBe(3)
        return
      }
      expect(report).toMatchObject({ reference: 'transformers', architecture: 'BertForSequenceClassification', loaded_cleanly: true, tokenizer_is_fast: true, tokenizer_matches: true, passed: true })
      expect(report.max_abs_diff).toBeLessThanOrEqual(1e-4)
      expect(status).toBe(0)
    },
    300_000,
  )
})
