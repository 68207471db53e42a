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
import {
  CheckpointChoice,
  ExportFormat,
  ImportOptions,
  LabelledFileOptions,
  FinetuneRequest,
  PretrainRequest,
  TaskKind,
  TokenizerTrainOptions,
  type DatasetInfo,
  type EvaluationBaseline,
  type JobProgress,
  type RunSummary,
} from './contract/index.ts'
import type { BertTokenizer, EncodeInput } from './core/tokenizer/index.ts'
import { StudioError } from './core/errors.ts'
import { toFailure } from './services/handlers.ts'
import { exportProject, importProject } from './services/project-files.ts'
import * as runStore from './store/runs.ts'
import { readTextFile } from './core/data/labelled-file.ts'
import { toPrediction } from './core/train/finetune.ts'
import { predictInputOf } from './services/finetune.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'
import { TokenizersService } from './services/tokenizers.ts'

const USAGE = `Usage: bert-studio <verb> [options]

Verbs:
  import <file|folder> --name NAME [--format txt|csv|tsv|jsonl|folder] [--split line|paragraph]
                       [--text-column C] [--label-column C]
                       [--max-document-chars N] [--long-documents split|truncate]
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
                       [--micro-batch N] [--steps N | --epochs N] [--lr X (default by size: 1e-3 Tiny/Mini, 5e-4 Small/Medium, 1e-4 Base)] [--seed N] [--backend B] [--name NAME]
                       [--checkpoint-every N] [--validate-every N] [--whole-word-mask] [--dropout X (default 0 for tiny/mini, 0.1 above)]
                       [--from RUN [--checkpoint best|last|STEP (default last)]]
                       pre-train a BERT encoder (MLM + NSP); prints the run's final losses and accuracies;
                       with --from, continue from that run's weights (its model and tokenizer;
                       a fresh optimizer and schedule)
  resume --run ID      continue a paused, cancelled or crashed run from its last checkpoint
  bundle (--run ID | the pretrain flags) --out DIR
                       write a run's remaining pre-training (from its last checkpoint) as a folder
                       for PyTorch distributed training: data shards, model, train.py, README.md;
                       with pretrain flags instead of --run, as a new run that has not started
  import-results DIR   a bundle's output folder (metrics.jsonl, checkpoint-N) becomes a run [--name NAME]
  fill-mask --run ID --text "the [MASK] sat on the mat" [--top-k 5]
  runs [--status S] [--run ID]
                       list the project's runs of every kind (S: queued, running, paused, done, diverged,
                       crashed, cancelled); with --run, that one run in full (config and environment)
  probes --run ID      the fill-mask probe's guesses at each checkpoint
  metrics --run ID [--format jsonl|csv]
                       every stored metric point of a run: JSON lines {"run_id","step","split","name",
                       "value","time"} (time: seconds since 1970), or CSV with a header
  project-export --out FILE
                       the project as one file (a consistent snapshot; FILE must not exist)
  project-import FILE [--name NAME]
                       a project file becomes a new project
  prune [--run ID]     keep only the best and last checkpoints of a run (default: every stopped run)
  compact              rewrite the database without its free pages (refused while a run trains)
  tokenize --tokenizer ID|DIR --input FILE [--pairs] [--max-length N] [--output FILE]
                       one JSON line per input line: {"input_ids","token_type_ids","tokens"}
  export --run ID --format hf|tfjs --out DIR [--checkpoint best|last|STEP]
                       write a run's checkpoint (best by default) as a Hugging Face or TensorFlow.js
                       folder DIR (which must not exist), read it back and compare its logits with
                       the in-app model's; prints the files written and the parity result
  datasets             list the project's labelled datasets
  label-import FILE --task classify|multilabel|tag|qa|summarize [--name NAME] [--format csv|tsv|jsonl]
                       [--text-column C] [--label-column C]
                       a labelled file becomes a corpus and a dataset labelled by "import"
  finetune --task classify|multilabel|tag|qa|summarize --data FILE [--text-column C] [--label-column C]
                       (or --dataset ID: a dataset already in the studio, with its fixed split)
                       [--from RUN|DIR] [--tokenizer ID|DIR] [--preset tiny] [--epochs N] [--lr X] [--seed N]
                       [--batch 32] [--seq N] [--dropout 0.1] [--validate-every N] [--patience 3] [--freeze-layers N]
                       [--class-weights] [--checkpoint best|last|STEP] [--name NAME]
                       the labelled file (csv, tsv or jsonl) becomes a dataset, split 80/10/10, and a
                       model is fine-tuned on it: from a run, from a Hugging Face folder (imported
                       first), or from random weights with the tokenizer given or one trained on the
                       data; prints run_id, the metrics and the test split's evaluation
  eval --run ID [--data FILE] [--text-column C] [--label-column C] [--checkpoint best|last|STEP]
       [--no-baseline]
                       metrics of a fine-tuned run (accuracy, macro_f1, per class; entity F1, exact
                       match, ROUGE by task) on a labelled file, or on its held-out test split;
                       with "baseline" on the same examples: TF-IDF + logistic regression fitted on
                       the run's train and validation examples (classify), the first sentences
                       within the same word budget (summarize)
  predict --run ID --input FILE [--checkpoint best|last|STEP] [--text-column C]
                       one JSON line per input, in input order: a text per line (or a CSV/TSV/JSONL
                       text column); QA: JSON lines {"question", "context"}. classify: {"label",
                       "probabilities"}; tag: {"spans"}; qa: {"answer", "start", "end", "score"}
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
      'max-document-chars': { type: 'string' },
      'long-documents': { type: 'string' },
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
      dropout: { type: 'string' },
      run: { type: 'string' },
      status: { type: 'string' },
      checkpoint: { type: 'string' },
      text: { type: 'string' },
      'top-k': { type: 'string' },
      offset: { type: 'string' },
      limit: { type: 'string' },
      task: { type: 'string' },
      data: { type: 'string' },
      dataset: { type: 'string' },
      from: { type: 'string' },
      patience: { type: 'string' },
      'freeze-layers': { type: 'string' },
      'class-weights': { type: 'boolean' },
      'no-baseline': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [verb, ...rest] = positionals
  if (values.help || verb === undefined || verb === 'help') {
    process.stderr.write(`${USAGE}\n`)
    if (verb === undefined && !values.help) throw new StudioError('VALIDATION', 'No verb given')
    return { usage: USAGE }
  }
  // serveQueue false: a CLI trains what it queues itself, never the app's waiting runs.
  const studio = new Studio({ home: resolveHome(values.home), workerPath: join(__dirname, 'worker.js'), serveQueue: false })
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
        // A CLI killed between taking a run from the queue and starting it leaves the run 'queued'
        // and claimed by a dead process. The app puts such runs back in its queue when it opens; a
        // CLI serves only its own runs, so it takes this one back itself (found by the kill loop in
        // tests/unit/hardening/kill-loop.test.ts).
        const orphaned = runStore.requeueOrphans(studio.db).includes(runId)
        const run = await followRun(studio, runId, () => {
          if (!orphaned) return studio.runs.resume(runId)
          studio.runs.enqueue(runId)
          return studio.runs.get(runId)
        })
        return run.kind === 'finetune' ? finetuneResult(studio, run) : runResult(run)
      }
      case 'fill-mask': {
        if (typeof values.text !== 'string') throw new StudioError('VALIDATION', 'fill-mask needs --text "… [MASK] …"')
        return await studio.runs.fillMask({ runId: requiredInt(values, 'run'), text: values.text, topK: intOption(values, 'top-k', 5)! })
      }
      case 'metrics':
        return await metricsVerb(studio, values)
      case 'probes':
        return { probes: studio.runs.probes(requiredInt(values, 'run')) }
      case 'runs':
        return runsVerb(studio, project.id, values)
      case 'project-export': {
        if (typeof values.out !== 'string') throw new StudioError('VALIDATION', 'project-export needs --out FILE (a file that does not exist yet)')
        return exportProject(studio.db, project.id, resolve(values.out), studio.openOptions)
      }
      case 'project-import': {
        if (rest.length !== 1) throw new StudioError('VALIDATION', 'project-import takes exactly one project file')
        const imported = importProject(studio.db, resolve(rest[0]!), { ...studio.openOptions, name: typeof values.name === 'string' ? values.name : undefined, home: studio.home })
        return { project: studio.projects.get(imported.projectId) }
      }
      case 'prune': {
        const runId = intOption(values, 'run')
        return studio.experiments.prune(runId === undefined ? project.id : studio.runs.get(runId).projectId, runId)
      }
      case 'compact':
        return studio.experiments.compact()
      case 'export':
        return await exportVerb(studio, values)
      case 'bundle':
        return await bundleVerb(studio, project.id, values)
      case 'import-results': {
        if (rest.length !== 1) throw new StudioError('VALIDATION', 'import-results takes exactly one folder: the bundle\'s output/ folder (or the bundle folder)')
        const run = await studio.bundles.importResults(project.id, { path: rest[0]! }, typeof values.name === 'string' ? values.name : undefined)
        return { run_id: run.id, name: run.name, status: run.status, step: run.step, total_steps: run.totalSteps }
      }
      case 'import-model':
        return await importModelVerb(studio, project.id, rest, values)
      case 'datasets':
        return { datasets: studio.labels.list(project.id) }
      case 'finetune':
        return await finetuneVerb(studio, project.id, values)
      case 'eval':
        return await evalVerb(studio, values)
      case 'predict':
        return await predictVerb(studio, values)
      case 'label-import':
        return await labelImportVerb(studio, project.id, rest, values)
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
    maxDocumentChars: values['max-document-chars'] === undefined ? undefined : Number(values['max-document-chars']),
    longDocuments: values['long-documents'],
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
  // Ctrl-C (or a SIGTERM) cancels the import: its transaction rolls back and nothing is stored.
  const offSignals = onStopSignals(() => studio.jobs.cancel(jobId))
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
      ...(result.corpus.stats.longDocuments ? { long_documents: result.corpus.stats.longDocuments } : {}),
    }
  } finally {
    offSignals()
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

/** Reads a labelled file into a new corpus and dataset; prints what it holds. */
async function labelImportVerb(studio: Studio, projectId: number, rest: string[], values: Values): Promise<unknown> {
  if (rest.length !== 1) throw new StudioError('VALIDATION', 'label-import takes exactly one file')
  const path = resolve(rest[0]!)
  if (!existsSync(path) || statSync(path).isDirectory()) throw new StudioError('NOT_FOUND', `${path}: no such file`)
  const task = TaskKind.safeParse(values.task)
  if (!task.success) {
    throw new StudioError('VALIDATION', `label-import needs --task ${TaskKind.options.join('|')}, got ${values.task === undefined ? 'none' : `"${String(values.task)}"`}`)
  }
  const options = LabelledFileOptions.safeParse({ format: values.format, textColumn: values['text-column'], labelColumn: values['label-column'] })
  if (!options.success) throw new StudioError('VALIDATION', options.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '))
  const jobId = `cli-label-${process.pid}`
  const info = await withProgress(studio, jobId, () =>
    studio.labels.importFile({ projectId, path, task: task.data, jobId, name: typeof values.name === 'string' ? values.name : undefined, options: options.data }),
  )
  const names = new Map(info.classes.map((c) => [c.id, c.name]))
  return {
    dataset_id: info.id,
    corpus_id: info.corpusId,
    name: info.name,
    task: info.task,
    examples: info.examples,
    labelled: info.labelled,
    classes: info.classes.map((c) => c.name),
    per_class: Object.fromEntries(info.perClass.map((p) => [names.get(p.classId)!, p.count])),
    allow_overlap: info.allowOverlap,
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
  const request = pretrainRequestFrom(studio, projectId, values)
  return runResult(await followRun(studio, null, () => studio.runs.pretrain(request)))
}

/** A training bundle for PyTorch: from a run (--run), or from pre-training flags as a new run that has not started. */
async function bundleVerb(studio: Studio, projectId: number, values: Values): Promise<unknown> {
  if (typeof values.out !== 'string') throw new StudioError('VALIDATION', 'bundle needs --out DIR (a folder that does not exist yet)')
  const runId = intOption(values, 'run') ?? studio.runs.create(pretrainRequestFrom(studio, projectId, values)).id
  const bundle = await studio.bundles.bundle(runId, values.out)
  return { bundle }
}

function pretrainRequestFrom(studio: Studio, projectId: number, values: Values): PretrainRequest {
  const corpusId = requiredInt(values, 'corpus')
  // Continued pre-training (--from RUN) keeps the parent's tokenizer and model.
  const fromRunId = values.from === undefined ? undefined : requiredInt(values, 'from')
  if (typeof values.tokenizer !== 'string' && fromRunId === undefined) throw new StudioError('VALIDATION', 'pretrain needs --tokenizer ID|DIR')
  const tokenizerId = typeof values.tokenizer === 'string' ? tokenizerIdFor(studio, projectId, values.tokenizer) : studio.runs.get(fromRunId!).tokenizerId
  if (tokenizerId === null) throw new StudioError('CONFLICT', `Run ${fromRunId}'s tokenizer was deleted: it cannot be trained further`)
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
    dropout: numberOption(values, 'dropout'),
    seed: intOption(values, 'seed'),
    checkpointEvery: intOption(values, 'checkpoint-every'),
    validateEvery: intOption(values, 'validate-every'),
    wholeWordMask: values['whole-word-mask'] === true ? true : undefined,
    fromRunId,
    fromCheckpoint: values.checkpoint === undefined ? undefined : checkpointOption(values),
  })
  if (!parsed.success) {
    throw new StudioError('VALIDATION', parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '))
  }
  return parsed.data
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
  // Ctrl-C (or a SIGTERM: a service manager, `kill`) pauses: the current step finishes, a
  // checkpoint is written, and `resume` continues.
  const offSignals = onStopSignals(() => {
    if (id !== null) studio.runs.pause(id)
  })
  try {
    const started = start()
    id = started.id
    return await studio.runs.wait(started.id)
  } finally {
    offSignals()
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
  const offSignals = onStopSignals(() => studio.jobs.cancel(jobId))
  return work().finally(() => {
    offSignals()
    unsubscribe()
  })
}

/**
 * Runs `stop` on the first SIGINT or SIGTERM (a second one of either ends the process as usual)
 * and returns a function that removes the handlers.
 */
function onStopSignals(stop: () => void): () => void {
  const handler = () => {
    off()
    stop()
  }
  const off = () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
  process.once('SIGINT', handler)
  process.once('SIGTERM', handler)
  return off
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

// ---------------------------------------------------------------- fine-tuning verbs

/** `--checkpoint best|last|STEP` (best when absent). */
function checkpointOption(values: Values): CheckpointChoice {
  const raw = values.checkpoint ?? 'best'
  const parsed = CheckpointChoice.safeParse(typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw)
  if (!parsed.success) throw new StudioError('VALIDATION', `--checkpoint must be best, last or a step number, got "${String(raw)}"`)
  return parsed.data
}

function labelledOptions(values: Values): LabelledFileOptions {
  const options = LabelledFileOptions.safeParse({ format: values.format, textColumn: values['text-column'], labelColumn: values['label-column'] })
  if (!options.success) throw new StudioError('VALIDATION', options.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '))
  return options.data
}

function existingFile(values: Values, option: string, verb: string): string {
  if (typeof values[option] !== 'string') throw new StudioError('VALIDATION', `${verb} needs --${option} FILE`)
  const path = resolve(String(values[option]))
  if (!existsSync(path) || statSync(path).isDirectory()) throw new StudioError('NOT_FOUND', `${path}: no such file`)
  return path
}

/**
 * A labelled file → a dataset (its corpus and labels), then a fine-tuning run on its split: from a
 * run (`--from ID`), a Hugging Face folder imported first (`--from DIR`), or random weights with
 * the tokenizer given or one trained on the file.
 */
async function finetuneVerb(studio: Studio, projectId: number, values: Values): Promise<unknown> {
  if (typeof values.backend === 'string') process.env.STUDIO_BACKEND = values.backend
  const task = TaskKind.safeParse(values.task)
  if (!task.success) throw new StudioError('VALIDATION', `finetune needs --task ${TaskKind.options.join('|')}, got ${values.task === undefined ? 'none' : `"${String(values.task)}"`}`)
  if ((values.data === undefined) === (values.dataset === undefined)) throw new StudioError('VALIDATION', 'finetune needs --data FILE (or --dataset ID to reuse a dataset and its split)')
  if (values.from !== undefined && values.tokenizer !== undefined) throw new StudioError('VALIDATION', 'Give --from or --tokenizer, not both: a model brings its own tokenizer')
  let dataset: DatasetInfo
  if (values.data !== undefined) {
    const data = existingFile(values, 'data', 'finetune')
    const options = labelledOptions(values)
    const jobId = `cli-finetune-${process.pid}`
    dataset = await withProgress(studio, jobId, () => studio.labels.importFile({ projectId, path: data, task: task.data, jobId, options }))
  } else {
    dataset = studio.labels.get(requiredInt(values, 'dataset'))
    if (dataset.task !== task.data) throw new StudioError('VALIDATION', `Dataset ${dataset.id} is a ${dataset.task} dataset, not ${task.data}`)
  }
  process.stderr.write(`dataset ${dataset.id} "${dataset.name}": ${dataset.labelled} labelled examples\n`)
  let fromRunId: number | undefined
  let importedRunId: number | null = null
  let tokenizerId: number | undefined
  if (typeof values.from === 'string') {
    if (/^\d+$/.test(values.from) && !existsSync(values.from)) fromRunId = studio.runs.get(Number(values.from)).id
    else {
      const imported = await studio.models.import({ projectId, path: resolve(values.from) })
      fromRunId = importedRunId = imported.run.id
      process.stderr.write(`imported ${values.from} as run ${imported.run.id} (${imported.architecture})\n`)
    }
  } else if (typeof values.tokenizer === 'string') {
    tokenizerId = tokenizerIdFor(studio, projectId, values.tokenizer)
  } else {
    const taken = new Set(studio.tokenizers.list(projectId).map((t) => t.name))
    let name = `${dataset.name} vocabulary`
    for (let i = 2; taken.has(name); i++) name = `${dataset.name} vocabulary ${i}`
    const trainJob = `cli-finetune-tokenizer-${process.pid}`
    tokenizerId = (await withProgress(studio, trainJob, () => studio.tokenizers.train({ projectId, corpusId: dataset.corpusId, name, jobId: trainJob, options: TokenizerTrainOptions.parse({}) }))).id
    process.stderr.write(`trained tokenizer ${tokenizerId} "${name}" on the data\n`)
  }
  if (fromRunId === undefined) process.stderr.write(`no --from: starting from random weights (preset ${values.preset ?? 'tiny'}) with tokenizer ${tokenizerId}\n`)
  const parsed = FinetuneRequest.safeParse({
    projectId,
    datasetId: dataset.id,
    name: typeof values.name === 'string' ? values.name : `${task.data}-${dataset.name}-${new Date().toISOString().slice(0, 19)}`,
    fromRunId,
    fromCheckpoint: values.checkpoint === undefined ? undefined : checkpointOption(values),
    tokenizerId,
    preset: values.preset,
    seqLength: intOption(values, 'seq'),
    batchSize: intOption(values, 'batch'),
    epochs: numberOption(values, 'epochs'),
    learningRate: numberOption(values, 'lr'),
    dropout: numberOption(values, 'dropout'),
    seed: intOption(values, 'seed'),
    validateEvery: intOption(values, 'validate-every'),
    earlyStoppingPatience: intOption(values, 'patience'),
    freezeLayers: intOption(values, 'freeze-layers'),
    classWeights: values['class-weights'] === true ? true : undefined,
  })
  if (!parsed.success) throw new StudioError('VALIDATION', parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '))
  const run = await followRun(studio, null, () => studio.finetune.finetune(parsed.data))
  return { ...finetuneResult(studio, run), dataset_id: dataset.id, imported_run_id: importedRunId }
}

/** A fine-tuning run's end: its status, last training and validation metrics, and its test evaluation. */
function finetuneResult(studio: Studio, run: RunSummary): Record<string, unknown> {
  if (run.status === 'crashed') throw new StudioError('INTERNAL', `Run ${run.id} crashed: ${run.error ?? 'unknown error'}`)
  const config = run.config as { task?: string; setup?: { seqLength?: number }; train?: { optimizer?: { learningRate?: number } }; stoppedEarly?: unknown } | null
  const evaluation = studio.finetune.evaluation(run.id)
  return {
    run_id: run.id,
    status: run.status,
    task: config?.task ?? null,
    from_run_id: run.parentRunId,
    tokenizer_id: run.tokenizerId,
    step: run.step,
    total_steps: run.totalSteps,
    backend: run.backend,
    learning_rate: config?.train?.optimizer?.learningRate ?? null,
    seq_length: config?.setup?.seqLength ?? null,
    stopped_early: config?.stoppedEarly ?? null,
    metrics: run.lastMetrics,
    test: evaluation && { checkpoint_step: evaluation.checkpointStep, examples: evaluation.examples, ...evaluation.metrics, baseline: baselineJson(evaluation.baseline) },
    error: run.error,
  }
}

/** The TF-IDF baseline beside an evaluation, as the CLI prints it (null: none for this task). */
function baselineJson(baseline: EvaluationBaseline | null) {
  if (baseline === null) return null
  const common = { method: baseline.method, ...baseline.metrics, compared_on: baseline.metric, model_better: baseline.modelBetter, baseline_better: baseline.baselineBetter, p_value: baseline.pValue }
  return baseline.kind === 'tfidf'
    ? { ...common, C: baseline.C, features: baseline.features, fitted_on: baseline.fittedOn, seconds: baseline.seconds }
    : { ...common, summary_words: baseline.summaryWords }
}

/** Metrics of an evaluation as the CLI prints them: the headline numbers, per class, then the baseline. */
function evaluationJson(evaluation: {
  examples: number
  metrics: Record<string, number>
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[]
  labels: string[]
  confusion: number[][] | null
  baseline: EvaluationBaseline | null
}) {
  return {
    examples: evaluation.examples,
    ...evaluation.metrics,
    per_class: Object.fromEntries(evaluation.perClass.map(({ label, ...scores }) => [label, scores])),
    ...(evaluation.confusion ? { labels: evaluation.labels, confusion: evaluation.confusion } : {}),
    baseline: baselineJson(evaluation.baseline),
  }
}

/** Metrics of a run's checkpoint on a labelled file (`--data`), or on its held-out test split (stored). */
async function evalVerb(studio: Studio, values: Values): Promise<unknown> {
  const runId = requiredInt(values, 'run')
  const checkpoint = checkpointOption(values)
  if (values.data === undefined) {
    const evaluation = await studio.finetune.evaluate({ runId, checkpoint })
    return { run_id: runId, evaluation_id: evaluation.id, split: evaluation.split, checkpoint_step: evaluation.checkpointStep, ...evaluationJson(evaluation) }
  }
  const path = existingFile(values, 'data', 'eval')
  const result = await studio.finetune.evaluateFile({ runId, checkpoint, path, options: labelledOptions(values), baseline: values['no-baseline'] !== true })
  return { run_id: runId, data: basename(path), checkpoint_step: result.checkpointStep, ...evaluationJson(result.evaluation) }
}

/**
 * One JSON line per input, in input order: a text per line (or the text column/field of CSV, TSV,
 * JSONL; QA: JSON lines with "question" and "context"). Each text is encoded up to the model's
 * position limit, not cut to the fine-tuning length.
 */
async function predictVerb(studio: Studio, values: Values): Promise<typeof STREAMED> {
  const runId = requiredInt(values, 'run')
  const checkpoint = checkpointOption(values)
  const path = existingFile(values, 'input', 'predict')
  const run = studio.runs.get(runId)
  if (run.kind !== 'finetune') throw new StudioError('CONFLICT', `Run ${runId} is a ${run.kind} run: predict needs a fine-tuned run`)
  const task = (run.config as { task: TaskKind }).task
  const file = await readTextFile({ path, displayName: basename(path) }, labelledOptions(values))
  const inputs = file.records.map((record) => predictInputOf(task, record))
  const { setup, outputs, checkpointStep } = await studio.finetune.predictInputs(runId, checkpoint, inputs, {
    onProgress: (done) => process.stderr.write(`predicted ${done}/${inputs.length}\n`),
  })
  let text = ''
  outputs.forEach((output, i) => {
    const prediction = toPrediction(setup, inputs[i]!, output)
    let line: unknown
    switch (prediction.task) {
      case 'classify':
      case 'multilabel':
        line = prediction.task === 'classify' ? { label: prediction.labels[0], probabilities: prediction.probabilities } : { labels: prediction.labels, probabilities: prediction.probabilities }
        break
      case 'tag':
        line = { spans: prediction.spans }
        break
      case 'qa':
        line = prediction.answer ? { answer: prediction.answer.text, start: prediction.answer.start, end: prediction.answer.end, score: prediction.answer.score } : { answer: null, start: null, end: null, score: 0 }
        break
      case 'summarize':
        line = { summary: prediction.summary, sentences: prediction.sentences.flatMap((s, index) => (s.selected ? [index] : [])) }
    }
    text += `${JSON.stringify(line)}\n`
  })
  process.stdout.write(text)
  process.stderr.write(`predicted ${outputs.length} inputs of ${basename(path)} with run ${runId}'s checkpoint of step ${checkpointStep}\n`)
  return STREAMED
}

const RUN_STATUSES = ['queued', 'running', 'paused', 'done', 'diverged', 'crashed', 'cancelled'] as const

/** `{"runs":[…]}`: every run of the project (optionally of one status), or one run in full. */
function runsVerb(studio: Studio, projectId: number, values: Values): unknown {
  const runId = intOption(values, 'run')
  if (runId !== undefined) return { runs: [{ ...studio.experiments.get(runId), config_export: studio.experiments.config(runId) }] }
  const status = values.status
  if (status !== undefined && !RUN_STATUSES.includes(status as (typeof RUN_STATUSES)[number])) {
    throw new StudioError('VALIDATION', `--status must be one of ${RUN_STATUSES.join(', ')}, got "${String(status)}"`)
  }
  const runs = studio.experiments.list(projectId).filter((run) => status === undefined || run.status === status)
  return { runs: runs.map(({ config: _config, modelConfig: _model, ...run }) => run) }
}

/** Every stored point of a run, streamed: JSON lines or CSV, in metric then step order. */
async function metricsVerb(studio: Studio, values: Values): Promise<typeof STREAMED> {
  const runId = requiredInt(values, 'run')
  studio.runs.get(runId)
  const format = values.format ?? 'jsonl'
  if (format !== 'jsonl' && format !== 'csv') throw new StudioError('VALIDATION', `--format must be jsonl or csv, got "${String(format)}"`)
  const cell = (text: string) => (/[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text)
  let buffer = format === 'csv' ? 'run_id,step,split,name,value,time\n' : ''
  const flush = async () => {
    if (!process.stdout.write(buffer)) await new Promise<void>((resolveDrain) => process.stdout.once('drain', () => resolveDrain()))
    buffer = ''
  }
  for (const point of runStore.iterateMetrics(studio.db, runId)) {
    buffer +=
      format === 'csv'
        ? `${runId},${point.step},${point.split},${cell(point.name)},${point.value ?? ''},${point.wallTime}\n`
        : `${JSON.stringify({ run_id: runId, step: point.step, split: point.split, name: point.name, value: point.value, time: point.wallTime })}\n`
    if (buffer.length >= 1 << 16) await flush()
  }
  await flush()
  return STREAMED
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

// A reader that stops early (`metrics --run 1 | head`) closes the pipe: that ends the output, not in a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

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
