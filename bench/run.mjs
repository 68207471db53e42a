#!/usr/bin/env node
// `npm run bench -- <name> [options]`: runs one benchmark and prints its result as JSON.
// Benchmarks that drive the built CLI live here as .mjs files; those that call core code directly
// are built with the app (out/main/bench.js) from bench/index.ts.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const [name, ...args] = process.argv.slice(2)
if (!name) {
  console.error('Usage: npm run bench -- <import|tokenizer|train|batches|finetune|metrics> [options]')
  process.exit(2)
}
// Benchmarks whose script is named for what it measures rather than for the verb.
const ALIASES = { finetune: 'finetune-quality' }
const script = join(here, `${ALIASES[name] ?? name}.mjs`)
if (existsSync(script)) {
  process.argv = [process.argv[0], script, ...args]
  await import(pathToFileURL(script).href)
} else {
  const built = join(here, '..', 'out', 'main', 'bench.js')
  if (!existsSync(built)) {
    console.error(`${built} is missing: run npm run build first`)
    process.exit(1)
  }
  const { runBench } = createRequire(import.meta.url)(built)
  const result = await runBench(name, args)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
