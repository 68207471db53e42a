/**
 * Headless CLI: `bert-studio <verb> [options]`. Every verb takes `--home DIR` and `--project P`
 * and prints its result as one compact JSON object, the last line on stdout; progress goes to
 * stderr; on failure it prints `{"error":{"code","message"}}` and exits non-zero.
 */
import { statSync } from 'node:fs'
import { basename, extname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ImportOptions, type JobProgress } from './contract/index.ts'
import { StudioError } from './core/errors.ts'
import { toFailure } from './services/handlers.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'

const USAGE = `Usage: bert-studio <verb> [options]

Verbs:
  import <file|folder> --name NAME [--format txt|csv|tsv|jsonl|folder] [--split line|paragraph]
                       [--text-column C] [--label-column C]
  corpora              list the project's corpora
  projects             list projects

Every verb: --home DIR (default: STUDIO_HOME or the OS app-data folder), --project P (default "default")`

type Values = Record<string, string | boolean | undefined>

async function main(argv: string[]): Promise<unknown> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      home: { type: 'string' },
      project: { type: 'string', default: 'default' },
      name: { type: 'string' },
      format: { type: 'string' },
      split: { type: 'string' },
      'text-column': { type: 'string' },
      'label-column': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [verb, ...rest] = positionals
  if (values.help || verb === undefined || verb === 'help') {
    process.stderr.write(`${USAGE}\n`)
    if (verb === undefined && !values.help) throw new StudioError('VALIDATION', 'No verb given')
    return { usage: USAGE }
  }
  const studio = new Studio({ home: resolveHome(values.home) })
  try {
    const project = studio.projects.ensure(String(values.project))
    switch (verb) {
      case 'import':
        return await importVerb(studio, project.id, rest, values)
      case 'corpora':
        return { corpora: studio.corpora.list(project.id) }
      case 'projects':
        return { projects: studio.projects.list() }
      default:
        throw new StudioError('VALIDATION', `Unknown verb "${verb}". ${USAGE}`)
    }
  } finally {
    studio.close()
  }
}

async function importVerb(studio: Studio, projectId: number, rest: string[], values: Values): Promise<unknown> {
  if (rest.length !== 1) throw new StudioError('VALIDATION', 'import takes exactly one file or folder')
  const path = resolve(rest[0]!)
  let kind: 'file' | 'folder'
  try {
    kind = statSync(path).isDirectory() ? 'folder' : 'file'
  } catch {
    throw new StudioError('NOT_FOUND', `${path}: no such file or folder`)
  }
  const parsed = ImportOptions.safeParse({
    format: values.format,
    split: values.split,
    textColumn: values['text-column'],
    labelColumn: values['label-column'],
  })
  if (!parsed.success) {
    throw new StudioError('VALIDATION', parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '))
  }
  const name = typeof values.name === 'string' ? values.name : basename(path, extname(path))
  const file = studio.files.register(path, kind)
  const jobId = `cli-${process.pid}`
  const unsubscribe = studio.bus.subscribe((event, payload) => {
    if (event === 'job.progress') process.stderr.write(formatProgress(payload))
  })
  // Ctrl-C cancels the import: its transaction rolls back and nothing is stored.
  const onSigint = () => studio.jobs.cancel(jobId)
  process.once('SIGINT', onSigint)
  try {
    const result = await studio.corpora.import({
      projectId,
      name,
      jobId,
      source: { path: file.path, kind: file.kind, displayName: file.name },
      options: parsed.data,
    })
    return {
      corpus_id: result.corpus.id,
      documents: result.corpus.stats.documents,
      name: result.corpus.name,
      bytes: result.corpus.stats.bytes,
      seconds: result.seconds,
    }
  } finally {
    process.off('SIGINT', onSigint)
    unsubscribe()
  }
}

function formatProgress(p: JobProgress): string {
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1)
  const total = p.total === null ? '' : ` of ${mb(p.total)} MB`
  const eta = p.etaSeconds === null || p.state !== 'running' ? '' : `, ETA ${Math.ceil(p.etaSeconds)} s`
  return `${p.state} ${p.label}: ${p.items} documents, ${mb(p.done)}${total} MB${eta}\n`
}

main(process.argv.slice(2)).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`)
  },
  (error: unknown) => {
    const failure = toFailure(error)
    // node:util parseArgs rejects unknown or malformed options with ERR_PARSE_ARGS_* TypeErrors.
    const badArguments = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
    const code = badArguments ? 'VALIDATION' : failure.code
    process.stdout.write(`${JSON.stringify({ error: { code, message: failure.message } })}\n`)
    process.exitCode = 1
  },
)
