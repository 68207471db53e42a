#!/usr/bin/env node
// Metrics storage benchmark (issue #6): `npm run bench -- metrics [--runs 20] [--points 100000]
// [--validate-every 100] [--max-points 2000] [--dir DIR] [--keep]`. Writes runs × points metric
// points through the store's batched writer and reads one run's curve as the Runs view does;
// prints one JSON object with write_s and read_ms. The store code is built with the app
// (out/main/bench.js): run `npm run build` first.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const built = join(import.meta.dirname, '..', 'out', 'main', 'bench.js')
if (!existsSync(built)) {
  console.error(`${built} is missing: run npm run build first`)
  process.exit(1)
}
const { runBench } = createRequire(import.meta.url)(built)
const result = await runBench('metrics', process.argv.slice(2))
process.stdout.write(`${JSON.stringify(result)}\n`)
