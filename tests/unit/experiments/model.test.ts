import { describe, expect, it } from 'vitest'
import type { ExperimentRun } from '../../../src-main/contract/index.ts'
import { configDifferences, displayStatus, filterRuns, NO_FILTER, smoothByStep, sortRuns, xOf } from '../../../src-renderer/src/features/runs/model.ts'

function run(id: number, overrides: Partial<ExperimentRun> = {}): ExperimentRun {
  return {
    id,
    projectId: 1,
    kind: 'pretrain',
    name: `run ${id}`,
    status: 'done',
    corpusId: 1,
    tokenizerId: 1,
    parentRunId: null,
    backend: 'wasm',
    step: 100,
    totalSteps: 100,
    epoch: 0,
    createdAt: `2025-01-0${id}T00:00:00.000Z`,
    startedAt: null,
    finishedAt: null,
    error: null,
    checkpointStep: 100,
    config: { request: { name: `run ${id}`, learningRate: 1e-4, seed: 1 }, train: { batchSize: 8 } },
    modelConfig: { hidden_size: 128 },
    lastMetrics: {},
    tags: [],
    notes: '',
    archived: false,
    queuePosition: null,
    sweepId: null,
    dataName: 'stories',
    tokenizerName: 'vocab',
    parentName: null,
    hyper: { preset: 'tiny', task: null, learningRate: 1e-4, batchSize: 8, seqLength: 32, steps: 100, epochs: null, seed: 1 },
    best: null,
    last: null,
    durationSeconds: null,
    checkpoints: 1,
    checkpointBytes: 1,
    tokensPerStep: 256,
    stepsPerEpoch: null,
    resumable: true,
    environment: null,
    test: null,
    ...overrides,
  }
}

describe('the Runs view model', () => {
  it('shows only the settings that differ, request first, names and ids left out', () => {
    const a = run(1)
    const b = run(2, { config: { request: { name: 'other', learningRate: 3e-4, seed: 1 }, train: { batchSize: 8 } } })
    const c = run(3, { config: { request: { name: 'third', learningRate: 1e-4, seed: 2 }, train: { batchSize: 8 } }, backend: 'cpu' })
    expect(configDifferences([a, b, c])).toEqual([
      { key: 'request.learningRate', values: ['0.0001', '0.0003', '0.0001'] },
      { key: 'request.seed', values: ['1', '1', '2'] },
      { key: 'backend', values: ['wasm', 'wasm', 'cpu'] },
    ])
    expect(configDifferences([a, run(4)])).toEqual([])
    // A setting only one run has is a difference too.
    expect(configDifferences([a, run(5, { modelConfig: { hidden_size: 128, extra: true } })])).toEqual([{ key: 'model.extra', values: [null, 'true'] }])
  })

  it('smooths by steps: on every point as TensorBoard, and over the same span when decimated', () => {
    const steps = Array.from({ length: 1000 }, (_, i) => i + 1)
    const values = steps.map((step) => (step % 2 === 0 ? 1 : 0))
    const full = smoothByStep(steps, values, 0.9)
    expect(full[0]).toBe(0)
    expect(full.at(-1)!).toBeCloseTo(0.5, 1)
    // TensorBoard's formula on consecutive steps.
    let last = 0
    const tensorboard = values.map((value, index) => {
      last = last * 0.9 + 0.1 * value
      return last / (1 - 0.9 ** (index + 1))
    })
    full.forEach((value, index) => expect(value).toBeCloseTo(tensorboard[index]!, 10))
    // Every 10th step of a constant series: the same constant, not a bias from fewer points.
    expect(smoothByStep([10, 20, 30], [2, 2, 2], 0.99)).toEqual([2, 2, 2].map(() => expect.closeTo(2, 10)))
    expect(smoothByStep([1, 2, 3], [1, null, 3], 0)).toEqual([1, null, 3])
  })

  it('filters by text, status (crashed and resumable apart), kind, tag and archive; sorts with missing values last', () => {
    const runs = [
      run(1, { name: 'baseline', tags: ['keep'], best: { name: 'loss', split: 'validation', step: 50, value: 2 } }),
      run(2, { name: 'lr sweep 1', status: 'crashed', resumable: true, best: { name: 'loss', split: 'validation', step: 40, value: 1.5 } }),
      run(3, { name: 'lr sweep 2', status: 'crashed', resumable: false, checkpointStep: null }),
      run(4, { name: 'old', archived: true }),
      run(5, { name: 'classifier', kind: 'finetune', notes: 'the sentiment model' }),
    ]
    expect(displayStatus(runs[1]!)).toBe('crashed-resumable')
    expect(displayStatus(runs[2]!)).toBe('crashed')
    const names = (list: ExperimentRun[]) => list.map((item) => item.name)
    expect(names(filterRuns(runs, NO_FILTER))).toEqual(['baseline', 'lr sweep 1', 'lr sweep 2', 'classifier'])
    expect(names(filterRuns(runs, { ...NO_FILTER, query: 'sweep' }))).toEqual(['lr sweep 1', 'lr sweep 2'])
    expect(names(filterRuns(runs, { ...NO_FILTER, query: 'sentiment' }))).toEqual(['classifier'])
    expect(names(filterRuns(runs, { ...NO_FILTER, status: 'crashed-resumable' }))).toEqual(['lr sweep 1'])
    expect(names(filterRuns(runs, { ...NO_FILTER, status: 'crashed' }))).toEqual(['lr sweep 1', 'lr sweep 2'])
    expect(names(filterRuns(runs, { ...NO_FILTER, kind: 'finetune' }))).toEqual(['classifier'])
    expect(names(filterRuns(runs, { ...NO_FILTER, tag: 'keep' }))).toEqual(['baseline'])
    expect(names(filterRuns(runs, { ...NO_FILTER, showArchived: true, query: 'old' }))).toEqual(['old'])
    expect(names(sortRuns(runs, 'best', 'ascending')).slice(0, 2)).toEqual(['lr sweep 1', 'baseline'])
    expect(names(sortRuns(runs, 'best', 'descending')).slice(0, 2)).toEqual(['baseline', 'lr sweep 1'])
    // Fine-tuning runs by their test metric; runs without one last either way.
    const tuned = [
      run(6, { name: 'a', kind: 'finetune', test: { metric: 'accuracy', value: 0.74, baselineValue: 0.78, checkpointStep: 40 } }),
      run(7, { name: 'b', kind: 'finetune', test: { metric: 'accuracy', value: 0.81, baselineValue: 0.78, checkpointStep: 40 } }),
      run(8, { name: 'c', kind: 'finetune' }),
    ]
    expect(names(sortRuns(tuned, 'test', 'descending'))).toEqual(['b', 'a', 'c'])
    expect(names(sortRuns(tuned, 'test', 'ascending'))).toEqual(['a', 'b', 'c'])
  })

  it('puts points on the step, epoch, tokens and wall-time axes', () => {
    const subject = run(1, { stepsPerEpoch: 50, tokensPerStep: 256 })
    expect(xOf(subject, 'step', [10, 20], [100, 101], null)).toEqual([10, 20])
    expect(xOf(subject, 'epoch', [25, 100], [100, 101], null)).toEqual([0.5, 2])
    expect(xOf(subject, 'tokens', [1, 2], [100, 101], null)).toEqual([256, 512])
    expect(xOf(subject, 'time', [1, 2], [100, 160], 90)).toEqual([10, 70])
  })
})
