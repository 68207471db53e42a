/**
 * Headless CLI: `bert-studio <verb> [options]`. Every verb takes `--home DIR` and `--project P`
 * and prints its result as one compact JSON object, the last line on stdout; progress goes to
 * stderr; on failure it prints `{"error":{"code","message"}}` and exits non-zero.
 */
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ImportOptions, TokenizerTrainOptions, type JobProgress } from './contract/index.ts'
import type { BertTokenizer, EncodeInput } from './core/tokenizer/index.ts'
import { StudioError } from './core/errors.ts'
import { toFailure } from './services/handlers.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'
import { TokenizersService } from './services/tokenizers.ts'

const USAGE = `Usage: bert-studio <verb> [options]

Verbs:
  import <file|folder> --name NAME [--format txt|csv|tsv|jsonl|folder] [--split line|paragraph]
                       [--text-column C] [--label-column C]
  corpora              list the project's corpora
  projects             list projects
  tokenizer train (--corpus ID | --input FILE) --out DIR [--vocab-size N] [--cased] [--min-frequency N]
                       [--limit-alphabet N] [--name NAME]
                       train a WordPiece vocabulary; writes vocab.txt and tokenizer.json into DIR
  tokenizers           list the project's tokenizers
  tokenize --tokenizer ID|DIR --input FILE [--pairs] [--max-length N] [--output FILE]
                       one JSON line per input line: {"input_ids","token_type_ids","tokens"}

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
      corpus: { type: 'string' },
      input: { type: 'string' },
      out: { type: 'string' },
      output: { type: 'string' },
      'vocab-size': { type: 'string' },
      'min-frequency': { type: 'string' },
      'limit-alphabet': { type: 'string' },
      cased: { type: 'boolean' },
      tokenizer: { type: 'string' },
      pairs: { type: 'boolean' },
      'max-length': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [verb, ...rest] = positionals
  if (values.help || verb === undefined || verb === 'help') {
    process.stderr.write(`${USAGE}\n`)
    if (verb === undefined && !values.help) throw new StudioError('VALIDATION', 'No verb given')
    return { usage: USAGE }
  }
  const studio = new Studio({ home: resolveHome(values.home), workerPath: join(__dirname, 'worker.js') })
  try {
    const project = studio.projects.ensure(String(values.project))
    switch (verb) {
      case 'import':
        return await importVerb(studio, project.id, rest, values)
      case 'corpora':
        return { corpora: studio.corpora.list(project.id) }
      case 'projects':
        return { projects: studio.projects.list() }
      case 'tokenizer':
        if (rest[0] !== 'train') throw new StudioError('VALIDATION', `Unknown tokenizer verb "${rest[0] ?? ''}": did you mean "tokenizer train"?`)
        return await tokenizerTrainVerb(studio, project.id, values)
      case 'tokenizers':
        return { tokenizers: studio.tokenizers.list(project.id) }
      case 'tokenize':
        return await tokenizeVerb(studio, values)
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

/** A whole number option, or the default; a clear error otherwise. */
function intOption(values: Values, name: string, fallback?: number): number | undefined {
  const raw = values[name]
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (typeof raw !== 'string' || !Number.isInteger(value)) throw new StudioError('VALIDATION', `--${name} must be a whole number, got "${String(raw)}"`)
  return value
}

function withProgress<T>(studio: Studio, jobId: string, work: () => Promise<T>): Promise<T> {
  const unsubscribe = studio.bus.subscribe((event, payload) => {
    if (event === 'job.progress' && payload.jobId === jobId) process.stderr.write(formatProgress(payload))
  })
  const onSigint = () => studio.jobs.cancel(jobId)
  process.once('SIGINT', onSigint)
  return work().finally(() => {
    process.off('SIGINT', onSigint)
    unsubscribe()
  })
}

async function tokenizerTrainVerb(studio: Studio, projectId: number, values: Values): Promise<unknown> {
  const out = typeof values.out === 'string' ? resolve(values.out) : null
  if (!out) throw new StudioError('VALIDATION', 'tokenizer train needs --out DIR (where vocab.txt and tokenizer.json go)')
  if ((values.corpus === undefined) === (values.input === undefined)) {
    throw new StudioError('VALIDATION', 'tokenizer train needs exactly one of --corpus ID or --input FILE')
  }
  const parsed = TokenizerTrainOptions.safeParse({
    vocabSize: intOption(values, 'vocab-size'),
    minFrequency: intOption(values, 'min-frequency'),
    limitAlphabet: intOption(values, 'limit-alphabet'),
    lowercase: values.cased !== true,
  })
  if (!parsed.success) {
    throw new StudioError('VALIDATION', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
  }
  const name = typeof values.name === 'string' ? values.name : basename(out)
  const jobId = `cli-tokenizer-${process.pid}`
  const info = await withProgress(studio, jobId, () => {
    if (values.corpus !== undefined) {
      const corpusId = intOption(values, 'corpus')!
      return studio.tokenizers.train({ projectId, corpusId, name, jobId, options: parsed.data })
    }
    const input = resolve(String(values.input))
    if (!existsSync(input)) throw new StudioError('NOT_FOUND', `${input}: no such file`)
    return studio.tokenizers.trainFromFile({ projectId, path: input, name, jobId, options: parsed.data })
  })
  studio.tokenizers.save(info.id, out)
  return {
    tokenizer_id: info.id,
    name: info.name,
    vocab_size: info.vocabSize,
    out,
    seconds: info.train?.seconds ?? null,
    pieces_per_word: info.diagnostics?.piecesPerWord ?? null,
    unknown_rate: info.diagnostics?.unknownRate ?? null,
  }
}

/** Texts per native batch: large enough for its threads, small enough to stream. */
const TOKENIZE_BATCH = 1_000

/**
 * Streams a file through the native encoder, one JSON line per input line, in input order. Only
 * records go to stdout (or --output); the summary goes to stderr.
 */
async function tokenizeVerb(studio: Studio, values: Values): Promise<typeof STREAMED> {
  if (typeof values.tokenizer !== 'string') throw new StudioError('VALIDATION', 'tokenize needs --tokenizer ID|DIR')
  if (typeof values.input !== 'string') throw new StudioError('VALIDATION', 'tokenize needs --input FILE')
  const tokenizer = resolveTokenizer(studio, values.tokenizer)
  const maxLength = intOption(values, 'max-length')
  const pairs = values.pairs === true
  const input = resolve(values.input)
  if (!existsSync(input)) throw new StudioError('NOT_FOUND', `${input}: no such file`)
  const output: NodeJS.WritableStream = typeof values.output === 'string' ? createWriteStream(resolve(values.output)) : process.stdout
  const lines = createInterface({ input: createReadStream(input, { encoding: 'utf8' }), crlfDelay: Infinity })
  let batch: EncodeInput[] = []
  let lineNumber = 0
  let written = 0
  const flush = async () => {
    const encoded = await tokenizer.encodeBatch(batch, maxLength === undefined ? {} : { maxLength })
    let text = ''
    for (const e of encoded) text += `${JSON.stringify({ input_ids: e.inputIds, token_type_ids: e.tokenTypeIds, tokens: e.tokens })}
`
    if (!output.write(text)) await new Promise<void>((resolveDrain) => output.once('drain', () => resolveDrain()))
    written += encoded.length
    batch = []
  }
  for await (const raw of lines) {
    lineNumber++
    const line = lineNumber === 1 ? raw.replace(/^﻿/, '') : raw
    if (pairs) {
      const tab = line.indexOf('	')
      if (tab < 0) throw new StudioError('BAD_INPUT', `${basename(input)} line ${lineNumber}: --pairs needs two texts separated by a tab`)
      batch.push([line.slice(0, tab), line.slice(tab + 1)])
    } else {
      batch.push(line)
    }
    if (batch.length >= TOKENIZE_BATCH) await flush()
  }
  if (batch.length > 0) await flush()
  if (output !== process.stdout) await new Promise<void>((resolveEnd) => output.end(() => resolveEnd()))
  process.stderr.write(`tokenized ${written} ${pairs ? 'pairs' : 'texts'} from ${basename(input)}\n`)
  return STREAMED
}

function resolveTokenizer(studio: Studio, reference: string): BertTokenizer {
  if (/^\d+$/.test(reference) && !existsSync(reference)) return studio.tokenizers.tokenizer(Number(reference))
  const path = resolve(reference)
  if (!existsSync(path)) throw new StudioError('NOT_FOUND', `--tokenizer ${reference}: no tokenizer with that id, and no such folder or file`)
  if (statSync(path).isDirectory()) {
    const json = join(path, 'tokenizer.json')
    const vocab = join(path, 'vocab.txt')
    if (existsSync(json)) return TokenizersService.fromFolderOrFile(json)
    if (existsSync(vocab)) return TokenizersService.fromFolderOrFile(vocab)
    throw new StudioError('NOT_FOUND', `${path} holds neither tokenizer.json nor vocab.txt`)
  }
  return TokenizersService.fromFolderOrFile(path)
}

/** Marks a verb whose records were its output: no summary object follows on stdout. */
const STREAMED = Symbol('streamed')

function formatProgress(p: JobProgress): string {
  const eta = p.etaSeconds === null || p.state !== 'running' ? '' : `, ETA ${Math.ceil(p.etaSeconds)} s`
  if (p.kind === 'import') {
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1)
    const of = p.total === null ? '' : ` of ${mb(p.total)}`
    return `${p.state} ${p.label}: ${p.items} documents, ${mb(p.done)}${of} MB${eta}\n`
  }
  const percent = p.total ? ` ${Math.round((100 * p.done) / p.total)}%,` : ''
  return `${p.state} ${p.label}:${percent} ${p.items} documents${eta}\n`
}

main(process.argv.slice(2)).then(
  (result) => {
    if (result !== STREAMED) process.stdout.write(`${JSON.stringify(result)}\n`)
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
