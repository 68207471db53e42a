/**
 * Benchmarks that call core code directly, built with the app into out/main/bench.js and run by
 * `npm run bench -- <name> [options]` (bench/run.mjs). Each returns one JSON-able object.
 */
import { parseArgs } from 'node:util'
import { tokenizerBench } from './tokenizer.ts'

const benches: Record<string, (args: string[]) => Promise<object>> = {
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
}

export async function runBench(name: string, args: string[]): Promise<object> {
  const bench = benches[name]
  if (!bench) throw new Error(`No benchmark "${name}"; known: import, ${Object.keys(benches).join(', ')}`)
  return bench(args)
}
