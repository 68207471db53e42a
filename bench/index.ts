/**
 * Benchmarks that call core code directly, built with the app into out/main/bench.js and run by
 * `npm run bench -- <name> [options]` (bench/run.mjs). Each returns one JSON-able object.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { batchesBench } from './batches.ts'
import { metricsBench } from './metrics.ts'
import { tokenizerBench } from './tokenizer.ts'
import { trainBench } from './train.ts'
import type { BertPresetName } from '../src-main/core/model/config.ts'
import type { BackendChoice } from '../src-main/core/model/backend.ts'

// The studio's TF-IDF + logistic regression baseline, for bench/finetune-quality.mjs.
export { BASELINE_METHOD, C_GRID, tfidfBaseline } from '../src-main/core/train/baseline.ts'

const benches: Record<string, (args: string[]) => Promise<object>> = {
  batches: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        corpus: { type: 'string', default: join(__dirname, '..', '..', 'resources', 'samples', 'topics-corpus.txt') },
        seq: { type: 'string', default: '128' },
        batch: { type: 'string', default: '32' },
        batches: { type: 'string', default: '100' },
        vocab: { type: 'string', default: '8192' },
      },
      strict: true,
    })
    return batchesBench({ corpus: values.corpus, seqLength: Number(values.seq), batchSize: Number(values.batch), batches: Number(values.batches), vocabSize: Number(values.vocab) })
  },
  metrics: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        runs: { type: 'string', default: '20' },
        points: { type: 'string', default: '100000' },
        'validate-every': { type: 'string', default: '100' },
        'max-points': { type: 'string', default: '2000' },
        dir: { type: 'string' },
        keep: { type: 'boolean', default: false },
      },
      strict: true,
    })
    return metricsBench({
      runs: Number(values.runs),
      points: Number(values.points),
      validateEvery: Number(values['validate-every']),
      maxPoints: Number(values['max-points']),
      ...(values.dir ? { dir: values.dir } : {}),
      keep: values.keep === true,
    })
  },
  tokenizer: async (args) => {
    const { values } = parseArgs({
      args,
      options: { 'corpus-mb': { type: 'string' }, 'work-dir': { type: 'string' }, quiet: { type: 'boolean' } },
      strict: true,
    })
    return tokenizerBench({
      ...(values['corpus-mb'] ? { corpusMb: Number(values['corpus-mb']) } : {}),
      ...(values['work-dir'] ? { workDir: values['work-dir'] } : {}),
      verbose: values.quiet !== true,
    })
  },
  train: async (args) => {
    const { values } = parseArgs({
      args,
      options: {
        preset: { type: 'string', default: 'tiny' },
        seq: { type: 'string', default: '128' },
        batch: { type: 'string', default: '32' },
        'micro-batch': { type: 'string' },
        steps: { type: 'string', default: '5' },
        warmup: { type: 'string', default: '1' },
        workers: { type: 'string', default: '1' },
        vocab: { type: 'string', default: '30522' },
        backend: { type: 'string', default: 'wasm' },
        seed: { type: 'string', default: '1' },
        profile: { type: 'boolean', default: false },
      },
      strict: true,
    })
    return trainBench({
      preset: values.preset as BertPresetName,
      seqLength: Number(values.seq),
      batchSize: Number(values.batch),
      ...(values['micro-batch'] ? { microBatchSize: Number(values['micro-batch']) } : {}),
      steps: Number(values.steps),
      warmup: Number(values.warmup),
      workers: Number(values.workers),
      vocab: Number(values.vocab),
      backend: values.backend as BackendChoice,
      seed: Number(values.seed),
      profile: values.profile === true,
    })
  },
}

export async function runBench(name: string, args: string[]): Promise<object> {
  const bench = benches[name]
  if (!bench) throw new Error(`No benchmark "${name}"; known: import, ${Object.keys(benches).join(', ')}`)
  return bench(args)
}
