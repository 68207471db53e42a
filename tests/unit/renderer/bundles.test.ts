import { describe, expect, it } from 'vitest'
import type { RunSummary, TrainingBundle } from '../../../src-main/contract/index.ts'
import { canRunElsewhere, describeResults, formatSteps, importBlocker, outputFiles } from '../../../src-renderer/src/lib/bundles.ts'

const run = (overrides: Partial<RunSummary> = {}): RunSummary => ({
  id: 1, projectId: 1, kind: 'pretrain', name: 'tiny', status: 'paused', corpusId: 1, tokenizerId: 1, parentRunId: null, backend: 'cpu',
  step: 40, totalSteps: 100, epoch: 0, createdAt: '', startedAt: null, finishedAt: null, error: null, checkpointStep: 40,
  config: {}, modelConfig: {}, lastMetrics: {}, ...overrides,
})

const bundle = (overrides: Partial<TrainingBundle> = {}): TrainingBundle => ({
  name: 'tiny bundle', dir: '/home/studio/bundles/tiny bundle', projectId: 1, runId: 1, runName: 'tiny', kind: 'pretrain',
  fromStep: 40, totalSteps: 100, instances: 240, validationInstances: 8, bytes: 1_000, createdAt: '', command: 'torchrun train.py',
  results: null, importedRunId: null, ...overrides,
})

describe('run elsewhere', () => {
  it('offers a pre-training run with steps left after its last checkpoint, whatever its status', () => {
    expect(canRunElsewhere(run())).toBe(true)
    expect(canRunElsewhere(run({ status: 'crashed', checkpointStep: null }))).toBe(true)
    // Done at step 100 of 100: nothing left. Stopped at 100 with its checkpoint at 90: 10 steps left.
    expect(canRunElsewhere(run({ status: 'done', step: 100, checkpointStep: 100 }))).toBe(false)
    expect(canRunElsewhere(run({ status: 'cancelled', step: 100, checkpointStep: 90 }))).toBe(true)
    expect(canRunElsewhere(run({ kind: 'finetune' }))).toBe(false)
    // An imported model: no corpus to write the data from.
    expect(canRunElsewhere(run({ corpusId: null }))).toBe(false)
  })
})

describe('bundle results', () => {
  it('says what the output folder holds', () => {
    expect(describeResults(bundle())).toBe('no results yet')
    expect(describeResults(bundle({ results: { step: 120, checkpoints: [50, 100, 120] } }))).toBe('output: step 120, checkpoints 50, 100, 120')
    expect(describeResults(bundle({ results: { step: 7, checkpoints: [] } }))).toBe('output: step 7, no checkpoint yet')
    expect(describeResults(bundle({ results: { step: 50, checkpoints: [50] } }))).toBe('output: step 50, checkpoint 50')
  })

  it('shortens a long list of checkpoints to its first and last steps', () => {
    const steps = Array.from({ length: 40 }, (_, index) => (index + 1) * 500)
    expect(formatSteps(steps)).toMatch(/^500, 1,000, 1,500, 2,000, …, 19,500, 20,000 \(40\)$/)
  })

  it('imports only what has a complete checkpoint and was not imported before', () => {
    expect(importBlocker(bundle())).toMatch(/^Nothing in \/home\/studio\/bundles\/tiny bundle\/output yet/)
    expect(importBlocker(bundle({ results: { step: 7, checkpoints: [] } }))).toMatch(/No complete checkpoint yet/)
    expect(importBlocker(bundle({ results: { step: 50, checkpoints: [50] } }))).toBeNull()
    expect(importBlocker(bundle({ results: { step: 50, checkpoints: [50] }, importedRunId: 3 }))).toBe('Already imported')
  })
})

describe('an output folder to upload', () => {
  const pick = (paths: string[]) => outputFiles(paths, (path) => path)

  it('takes an output folder whole, without a killed job’s half-written checkpoint', () => {
    const chosen = pick(['output/metrics.jsonl', 'output/bundle.json', 'output/checkpoint-5/model.safetensors', 'output/.tmp-checkpoint-10-77/model.safetensors'])
    expect(chosen.problem).toBeNull()
    expect(chosen.files).toEqual(['output/metrics.jsonl', 'output/bundle.json', 'output/checkpoint-5/model.safetensors'])
  })

  it('takes a bundle folder’s output and manifest, not its data shards', () => {
    const chosen = pick(['tiny bundle/manifest.json', 'tiny bundle/train.py', 'tiny bundle/data/train-00000.bin', 'tiny bundle/output/metrics.jsonl', 'tiny bundle/output/checkpoint-5/config.json'])
    expect(chosen.problem).toBeNull()
    expect(chosen.files).toEqual(['tiny bundle/manifest.json', 'tiny bundle/output/metrics.jsonl', 'tiny bundle/output/checkpoint-5/config.json'])
  })

  it('refuses a folder that holds no results, saying what it needs', () => {
    const chosen = pick(['model/config.json', 'model/model.safetensors', 'model/deeper/metrics.jsonl'])
    expect(chosen.files).toEqual([])
    expect(chosen.problem).toMatch(/not a bundle’s output: it needs the metrics\.jsonl/)
  })
})
