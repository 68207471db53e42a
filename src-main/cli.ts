/**
 * Headless CLI: `bert-studio <verb> [options]`. Every verb takes `--home DIR` and `--project P`
 * and prints its result as one compact JSON object, the last line on stdout; progress goes to
 * stderr; on failure it prints `{"error":{"code","message"}}` and exits non-zero.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { CheckpointChoice, ExportFormat, ImportOptions, PretrainRequest, TokenizerTrainOptions, type JobProgress, type RunSummary } from './contract/index.ts'
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
  documents --corpus ID [--query Q] [--offset N] [--limit N]
                       a page of a corpus' documents, optionally only those matching Q (builds the
                       word index first if it is not ready)
  projects             list projects
  tokenizer train (--corpus ID | --input FILE) --out DIR [--vocab-size N] [--cased] [--min-frequency N]
                       [--limit-alphabet N] [--name NAME]
                       train a WordPiece vocabulary; writes vocab.txt and tokenizer.json into DIR
  tokenizers           list the project's tokenizers
  pretrain --corpus ID --tokenizer ID|DIR [--preset tiny|mini|small|medium|base] [--seq 128] [--batch 32]
                       [--micro-batch N] [--steps N | --epochs N] [--lr 1e-4] [--seed N] [--backend B] [--name NAME]
                       [--checkpoint-every N] [--validate-every N] [--whole-word-mask]
                       pre-train a BERT encoder (MLM + NSP); prints the run's final losses and accuracies
  resume --run ID      continue a paused, cancelled or crashed run from its last checkpoint
  fill-mask --run ID --text "the [MASK] sat on the mat" [--top-k 5]
  runs                 list the project's runs
  probes --run ID      the fill-mask probe's guesses at each checkpoint
  metrics --run ID     one JSON line per metric point: {"step","split","name","value"}
  tokenize --tokenizer ID|DIR --input FILE [--pairs] [--max-length N] [--output FILE]
                       one JSON line per input line: {"input_ids","token_type_ids","tokens"}
  export --run ID --format hf|tfjs --out DIR [--checkpoint best|last|STEP]
                       write a run's checkpoint (best by default) as a Hugging Face or TensorFlow.js
                       folder DIR (which must not exist), read it back and compare its logits with
                       the in-app model's; prints the files written and the parity result
  import-model DIR [--name NAME]
                       a Hugging Face BERT folder (config.json, model.safetensors, vocab.txt or
                       tokenizer.json) becomes a finished pre-training run and a tokenizer

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
      query: { type: 'string' },
      preset: { type: 'string' },
      seq: { type: 'string' },
      batch: { type: 'string' },
      'micro-batch': { type: 'string' },
      steps: { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'validate-every': { type: 'string' },
      'whole-word-mask': { type: 'boolean' },
      run: { type: 'string' },
      checkpoint: { type: 'string' },
      text: { type: 'string' },
      'top-k': { type: 'string' },
      offset: { type: 'string' },
      limit: { type: 'string' },
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
      case 'documents':
        return await documentsVerb(studio, values)
      case 'projects':
        return { projects: studio.projects.list() }
      case 'tokenizer':
        if (rest[0] !== 'train') throw new StudioError('VALIDATION', `Unknown tokenizer verb "${rest[0] ?? ''}": did you mean "tokenizer train"?`)
        return await tokenizerTrainVerb(studio, project.id, values)
      case 'tokenizers':
        return { tokenizers: studio.tokenizers.list(project.id) }
      case 'tokenize':
        return await tokenizeVerb(studio, values)
      case 'pretrain':
        return await pretrainVerb(studio, project.id, values)
      case 'resume': {
        const runId = requiredInt(values, 'run')
        return runResult(await followRun(studio, runId, () => studio.runs.resume(runId)))
      }
      case 'fill-mask': {
        if (typeof values.text !== 'string') throw new StudioError('VALIDATION', 'fill-mask needs --text "… [MASK] …"')
        return await studio.runs.fillMask({ runId: requiredInt(values, 'run'), text: values.text, topK: intOption(values, 'top-k', 5)! })
      }
      case 'metrics': {
        const runId = requiredInt(values, 'run')
        let text = ''
        for (const series of studio.runs.metrics(runId)) {
          series.steps.forEach((step, i) => {
            text += `${JSON.stringify({ step, split: series.split, name: series.name, value: series.values[i] })}\n`
          })
        }
        process.stdout.write(text)
        return STREAMED
      }
      case 'probes':
        return { probes: studio.runs.probes(requiredInt(values, 'run')) }
      case 'runs':
        return { runs: studio.runs.list(project.id).map(({ config: _config, modelConfig: _model, ...run }) => run) }
      case 'export':
        return await exportVerb(studio, values)
      case 'import-model':
        return await importModelVerb(studio, project.id, rest, values)
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

async function exportVerb(studio: Studio, values: Values): Promise<unknown> {
  if (typeof values.backend === 'string') process.env.STUDIO_BACKEND = values.backend
  const runId = requiredInt(values, 'run')
  const format = ExportFormat.safeParse(values.format)
  if (!format.success) throw new StudioError('VALIDATION', `export needs --format hf or --format tfjs, got ${values.format === undefined ? 'none' : `"${String(values.format)}"`}`)
  if (typeof values.out !== 'string') throw new StudioError('VALIDATION', 'export needs --out DIR (a folder that does not exist yet)')
  const raw = values.checkpoint ?? 'best'
  const checkpoint = CheckpointChoice.safeParse(typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw)
  if (!checkpoint.success) throw new StudioError('VALIDATION', `--checkpoint must be best, last or a step number, got "${String(raw)}"`)
  const result = await studio.models.export({ runId, checkpoint: checkpoint.data, format: format.data, dir: resolve(values.out) })
  const { parity } = result
  process.stderr.write(
    `parity: max |Δlogit| ${parity.maxAbsDiff.toExponential(2)} over ${parity.values} logits of ${parity.examples} examples (${parity.source}), tolerance ${parity.tolerance}: ${parity.passed ? 'passed' : 'FAILED'}\n`,
  )
  return {
    run_id: result.runId,
    format: result.format,
    architecture: result.architecture,
    checkpoint: { step: result.checkpoint.step, kind: result.checkpoint.kind, chosen_as: result.checkpoint.chosenAs, validation_loss: result.checkpoint.validationLoss },
    folder: result.folder,
    files: result.files,
    parity: {
      passed: parity.passed,
      max_abs_diff: parity.maxAbsDiff,
      tolerance: parity.tolerance,
      source: parity.source,
      examples: parity.examples,
      values: parity.values,
      tokenizer_matches: parity.tokenizerMatches,
    },
    seconds: result.seconds,
  }
}

async function importModelVerb(studio: Studio, projectId: number, rest: string[], values: Values): Promise<unknown> {
  if (rest.length !== 1) throw new StudioError('VALIDATION', 'import-model takes exactly one folder')
  const result = await studio.models.import({ projectId, path: resolve(rest[0]!), name: typeof values.name === 'string' ? values.name : undefined })
  return {
    run_id: result.run.id,
    name: result.run.name,
    tokenizer_id: result.tokenizer.id,
    tokenizer_name: result.tokenizer.name,
    architecture: result.architecture,
    initialized_heads: result.initializedHeads,
    ignored_weights: result.ignoredWeights,
  }
}

function requiredInt(values: Values, name: string): number {
  const value = intOption(values, name)
  if (value === undefined) throw new StudioError('VALIDATION', `--${name} is required`)
  return value
}

function numberOption(values: Values, name: string): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (typeof raw !== 'string' || !Number.isFinite(value)) throw new StudioError('VALIDATION', `--${name} must be a number, got "${String(raw)}"`)
  return value
}

async function pretrainVerb(studio: Studio, projectId: number, values: Values): Promise<unknown> {
  if (typeof values.backend === 'string') process.env.STUDIO_BACKEND = values.backend
  const corpusId = requiredInt(values, 'corpus')
  if (typeof values.tokenizer !== 'string') throw new StudioError('VALIDATION', 'pretrain needs --tokenizer ID|DIR')
  const tokenizerId = tokenizerIdFor(studio, projectId, values.tokenizer)
  const corpus = studio.corpora.get(corpusId)
  const parsed = PretrainRequest.safeParse({
    projectId,
    corpusId,
    tokenizerId,
    name: typeof values.name === 'string' ? values.name : `${values.preset ?? 'tiny'}-${corpus.name}-${new Date().toISOString().slice(0, 19)}`,
    preset: values.preset,
    seqLength: intOption(values, 'seq'),
    batchSize: intOption(values, 'batch'),
    microBatchSize: intOption(values, 'micro-batch'),
    steps: intOption(values, 'steps'),
    epochs: numberOption(values, 'epochs'),
    learningRate: numberOption(values, 'lr'),
    seed: intOption(values, 'seed'),
    checkpointEvery: intOption(values, 'checkpoint-every'),
    validateEvery: intOption(values, 'validate-every'),
    wholeWordMask: values['whole-word-mask'] === true ? true : undefined,
  })
  if (!parsed.success) {
    throw new StudioError('VALIDATION', parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '))
  }
  return runResult(await followRun(studio, null, () => studio.runs.pretrain(parsed.data)))
}

/** A stored tokenizer by id, or a folder/file imported once (reused when its content is already stored). */
function tokenizerIdFor(studio: Studio, projectId: number, reference: string): number {
  if (/^\d+$/.test(reference) && !existsSync(reference)) return studio.tokenizers.get(Number(reference)).id
  const tokenizer = resolveTokenizer(studio, reference)
  const hash = createHash('sha256').update(JSON.stringify(tokenizer.json)).digest('hex')
  const existing = studio.tokenizers.list(projectId).find((t) => t.hash === hash)
  if (existing) return existing.id
  const path = statSync(resolve(reference)).isDirectory()
    ? [join(reference, 'tokenizer.json'), join(reference, 'vocab.txt')].find((p) => existsSync(p))!
    : resolve(reference)
  const base = basename(resolve(reference))
  const taken = new Set(studio.tokenizers.list(projectId).map((t) => t.name))
  let name = base
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`
  return studio.tokenizers.import({ projectId, path, displayName: basename(path), name, lowercase: tokenizer.settings.lowercase }).id
}

/** Starts (or resumes) a run, prints its progress to stderr, and resolves when it stops. Ctrl-C pauses it. */
async function followRun(studio: Studio, runId: number | null, start: () => RunSummary): Promise<RunSummary> {
  let id = runId
  const unsubscribe = studio.bus.subscribe((event, payload) => {
    if (event !== 'run.progress' || payload.runId !== id) return
    const m = payload.metrics
    const loss = m.loss === undefined ? '' : ` loss ${m.loss.toFixed(4)}`
    const eta = payload.etaSeconds ? `, ETA ${Math.ceil(payload.etaSeconds)} s` : ''
    process.stderr.write(`${payload.phase} ${payload.step}/${payload.totalSteps ?? '?'}${loss}${eta}\n`)
  })
  // Ctrl-C pauses: the current step finishes, a checkpoint is written, and `resume` continues.
  const onSigint = () => {
    if (id !== null) studio.runs.pause(id)
  }
  process.once('SIGINT', onSigint)
  try {
    const started = start()
    id = started.id
    return await studio.runs.wait(started.id)
  } finally {
    process.off('SIGINT', onSigint)
    unsubscribe()
  }
}

function runResult(run: RunSummary): unknown {
  if (run.status === 'crashed') throw new StudioError('INTERNAL', `Run ${run.id} crashed: ${run.error ?? 'unknown error'}`)
  const m = run.lastMetrics
  return {
    run_id: run.id,
    status: run.status,
    step: run.step,
    total_steps: run.totalSteps,
    backend: run.backend,
    loss: m.loss ?? null,
    mlm_loss: m.mlm_loss ?? null,
    mlm_accuracy: m.mlm_accuracy ?? null,
    nsp_loss: m.nsp_loss ?? null,
    nsp_accuracy: m.nsp_accuracy ?? null,
    validation_loss: m.validation_loss ?? null,
    validation_mlm_loss: m.validation_mlm_loss ?? null,
    validation_mlm_accuracy: m.validation_mlm_accuracy ?? null,
    validation_nsp_accuracy: m.validation_nsp_accuracy ?? null,
    tokens_per_second: m.tokens_per_second ?? null,
    error: run.error,
  }
}

async function documentsVerb(studio: Studio, values: Values): Promise<unknown> {
  const corpusId = intOption(values, 'corpus')
  if (corpusId === undefined) throw new StudioError('VALIDATION', 'documents needs --corpus ID')
  const corpus = studio.corpora.get(corpusId)
  const query = typeof values.query === 'string' ? values.query : ''
  let indexSeconds: number | null = null
  if (query !== '' && !corpus.searchReady) {
    const started = performance.now()
    await withProgress(studio, `index-${corpusId}`, async () => {
      studio.searchIndex.schedule(corpusId)
      await studio.searchIndex.idle()
    })
    indexSeconds = (performance.now() - started) / 1000
  }
  const started = performance.now()
  const page = studio.corpora.documents({ corpusId, query, offset: intOption(values, 'offset', 0)!, limit: intOption(values, 'limit', 20)! })
  return { ...page, milliseconds: performance.now() - started, index_seconds: indexSeconds }
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
