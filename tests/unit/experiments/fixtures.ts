import { join } from 'node:path'
import { PretrainRequest } from '../../../src-main/contract/index.ts'
import { CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, serializeCheckpoint, type SerializedCheckpoint } from '../../../src-main/core/train/checkpoint-format.ts'
import { StudioError } from '../../../src-main/core/errors.ts'
import { defaultTrainConfig } from '../../../src-main/core/train/config.ts'
import type { RunControls } from '../../../src-main/services/runs.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import type { TrainingWorker } from '../../../src-main/services/worker.ts'
import type { Db } from '../../../src-main/store/index.ts'
import { setRunStatus } from '../../../src-main/store/runs.ts'
import { repoRoot } from '../helpers.ts'

/** A small serialized checkpoint of `step` (one tensor whose bytes encode the step). */
export function checkpointAt(step: number, validationLoss: number | null = null, size = 256): SerializedCheckpoint {
  const data = new Uint8Array(size * 4).map((_, i) => (i * 31 + step) & 0xff)
  return serializeCheckpoint({
    manifest: {
      format: CHECKPOINT_FORMAT,
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      step,
      optimizerStep: step,
      scheduleStep: step,
      epoch: 0,
      dataPosition: { epoch: 0, documentCursor: step, instanceInDocument: 0 },
      rng: { seed: 42, dropout: 'murmur3(seed, step, micro-batch)' },
      datasetHash: null,
      tokenizerHash: null,
      trainConfig: defaultTrainConfig(),
      modelConfig: { hidden_size: 8 },
      versions: { studio: 'test', tfjs: '4.22.0', backend: 'cpu' },
      validationLoss,
      byteOrder: 'little',
      totalBytes: 0,
      tensors: [],
    },
    tensors: [{ name: 'w', dtype: 'float32', shape: [size], data }],
  })
}

export interface Launch {
  runId: number
  controls: RunControls
  /** Ends the task as the worker would: records the status and resolves. */
  finish(status: 'done' | 'paused' | 'cancelled'): void
  fail(error: Error): void
}

/**
 * A stand-in for the training worker's run launcher: records each run it is handed and lets the
 * test say when it starts and how it ends. Nothing trains.
 */
export class FakeLauncher {
  readonly launches: Launch[] = []
  private readonly started = new Set<number>()

  constructor(private readonly db: Db) {}

  readonly launch = (runId: number, controls: RunControls): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const launch: Launch = {
        runId,
        controls,
        finish: (status) => {
          setRunStatus(this.db, runId, status)
          resolve({ status })
        },
        fail: reject,
      }
      controls.signal.addEventListener('abort', () => {
        if (!this.started.has(runId)) return reject(new StudioError('CANCELLED', 'Cancelled'))
        launch.finish('cancelled')
      })
      controls.pauseSignal.addEventListener('abort', () => launch.finish('paused'))
      this.launches.push(launch)
    })

  /** The worker begins the run: status running. */
  start(runId: number): void {
    const launch = this.launches.find((item) => item.runId === runId)!
    this.started.add(runId)
    setRunStatus(this.db, runId, 'running', { backend: 'cpu' })
    launch.controls.onStart()
  }

  get order(): number[] {
    return this.launches.map((launch) => launch.runId)
  }
}

/** A worker that must never be asked for anything (the launcher is faked). */
export const noWorker = {
  run: () => Promise.reject(new Error('no worker in this test')),
  close: async () => {},
} as unknown as TrainingWorker

/** A studio with a corpus (the e2e stories) and a tokenizer (imported vocab.txt); nothing trains. */
export async function studioWithData(home: string): Promise<{ studio: Studio; projectId: number; corpusId: number; tokenizerId: number; request: (overrides?: Record<string, unknown>) => PretrainRequest }> {
  const studio = new Studio({ home, workerPath: join(home, 'no-worker.js') })
  const projectId = studio.projects.create('Experiments').id
  const fixtures = join(repoRoot, 'tests', 'e2e', 'fixtures')
  const { corpus } = await studio.corpora.import({
    projectId,
    name: 'stories',
    jobId: 'import-stories',
    source: { path: join(fixtures, 'stories.txt'), kind: 'file', displayName: 'stories.txt' },
    options: {},
  })
  const tokenizer = studio.tokenizers.import({ projectId, path: join(fixtures, 'vocab.txt'), displayName: 'vocab.txt', name: 'vocab', lowercase: true })
  const request = (overrides: Record<string, unknown> = {}) =>
    PretrainRequest.parse({ projectId, corpusId: corpus.id, tokenizerId: tokenizer.id, name: 'base', seqLength: 32, batchSize: 4, steps: 6, seed: 7, ...overrides })
  return { studio, projectId, corpusId: corpus.id, tokenizerId: tokenizer.id, request }
}
