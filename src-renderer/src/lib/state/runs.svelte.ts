import type {
  Corpus,
  FillMaskResult,
  MetricSeries,
  ModelPreset,
  PretrainRequest,
  RunProgress,
  RunStatus,
  RunSummary,
  TokenizerInfo,
  TrainingPlan,
} from '../../../../src-main/contract/index.ts'
import { defaultPretrainDropout, defaultPretrainLearningRate } from '../../../../src-main/contract/index.ts'
import type { ChartSeries } from '../../ui/chart-data.ts'
import { api } from '../api.ts'
import { messageOf } from '../format.ts'

/** The published small BERTs (Turc et al.); the worker's presets, for the cards before a plan exists. */
export const MODEL_PRESETS: readonly { id: ModelPreset; title: string; layers: number; hidden: number; heads: number }[] = [
  { id: 'tiny', title: 'Tiny', layers: 2, hidden: 128, heads: 2 },
  { id: 'mini', title: 'Mini', layers: 4, hidden: 256, heads: 4 },
  { id: 'small', title: 'Small', layers: 4, hidden: 512, heads: 8 },
  { id: 'medium', title: 'Medium', layers: 8, hidden: 512, heads: 8 },
  { id: 'base', title: 'Base', layers: 12, hidden: 768, heads: 12 },
]
/** A preset's hidden size (Base's 768 when none is chosen): what the studio's defaults go by. */
export const presetHidden = (preset: ModelPreset | null): number => MODEL_PRESETS.find((p) => p.id === preset)?.hidden ?? 768

export const ACTIVE: readonly RunStatus[] = ['queued', 'running', 'paused']
export const FINISHED: readonly RunStatus[] = ['done', 'diverged', 'crashed', 'cancelled']
export const isActive = (status: RunStatus) => ACTIVE.includes(status)

/** Above this a plan's memory is flagged: laptops share it with everything else. */
export const LARGE_MEMORY_BYTES = 4e9

/**
 * A metric's value from `lastMetrics` or a progress event. Training metrics are stored by bare name;
 * validation ones carry a prefix whose exact spelling the renderer does not rely on.
 */
export function metricValue(metrics: Record<string, number>, name: string, split: 'train' | 'validation' = 'train'): number | null {
  for (const [key, value] of Object.entries(metrics)) {
    const parsed = parseMetricKey(key)
    if (parsed.name === name && parsed.split === split) return value
  }
  return null
}

export function parseMetricKey(key: string): { split: 'train' | 'validation'; name: string } {
  const validation = /^(?:val|validation|eval)[._/:-](.+)$/i.exec(key)
  if (validation) return { split: 'validation', name: validation[1]! }
  const train = /^train[._/:-](.+)$/i.exec(key)
  return { split: 'train', name: train ? train[1]! : key }
}

/** A setting the analyst chose, read from a run's stored config wherever it sits in it. */
export function configNumber(config: unknown, key: string): number | null {
  const seen = new Set<unknown>()
  const visit = (value: unknown): number | null => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return null
    seen.add(value)
    const record = value as Record<string, unknown>
    if (typeof record[key] === 'number') return record[key]
    for (const child of Object.values(record)) {
      const found = visit(child)
      if (found !== null) return found
    }
    return null
  }
  return visit(config)
}

export function configString(config: unknown, key: string): string | null {
  if (config === null || typeof config !== 'object') return null
  const record = config as Record<string, unknown>
  if (typeof record[key] === 'string') return record[key]
  for (const child of Object.values(record)) {
    const found = configString(child, key)
    if (found !== null) return found
  }
  return null
}

const REFRESH_MS = 3_000

/**
 * Runs kept current by the run.progress events (one subscription): each event updates its run in
 * place, and the run is fetched again when its status changes or its copy is a few seconds old (the
 * event carries no checkpoint, error or finish time). Pause, resume and cancel put the answer back.
 */
export abstract class LiveRuns {
  projectId = $state<number | null>(null)
  progress = $state.raw<Record<number, RunProgress>>({})
  error = $state<string | null>(null)

  private unsubscribe: () => void
  private refreshedAt = new Map<number, number>()

  constructor() {
    this.unsubscribe = api.on('run.progress', (progress) => this.onProgress(progress))
  }

  dispose(): void {
    this.unsubscribe()
  }

  /** The runs this state holds. */
  protected abstract held(): readonly RunSummary[]
  /** Whether a run fetched for this project belongs here (every kind, unless a subclass says otherwise). */
  protected wants(_run: RunSummary): boolean {
    return true
  }
  abstract put(run: RunSummary): void

  async refresh(runId: number): Promise<RunSummary | null> {
    this.refreshedAt.set(runId, Date.now())
    try {
      const run = await api['runs.get']({ runId })
      if (run.projectId === this.projectId && this.wants(run)) this.put(run)
      return run
    } catch (error) {
      this.error = messageOf(error)
      return null
    }
  }

  private onProgress(progress: RunProgress): void {
    this.progress = { ...this.progress, [progress.runId]: progress }
    const run = this.held().find((item) => item.id === progress.runId)
    if (!run) {
      // Started elsewhere (another window, the CLI): fetched once to learn its project.
      if (!this.refreshedAt.has(progress.runId)) void this.refresh(progress.runId)
      return
    }
    this.put({
      ...run,
      status: progress.status,
      step: progress.step,
      totalSteps: progress.totalSteps ?? run.totalSteps,
      lastMetrics: { ...run.lastMetrics, ...progress.metrics },
    })
    const stale = Date.now() - (this.refreshedAt.get(run.id) ?? 0) > REFRESH_MS
    if (progress.status !== run.status || stale) void this.refresh(run.id)
  }

  async pause(runId: number): Promise<void> {
    await this.act(() => api['runs.pause']({ runId }))
  }

  async resume(runId: number): Promise<void> {
    await this.act(() => api['runs.resume']({ runId }))
  }

  async cancel(runId: number): Promise<void> {
    await this.act(() => api['runs.cancel']({ runId }))
  }

  private async act(action: () => Promise<RunSummary>): Promise<void> {
    this.error = null
    try {
      this.put(await action())
    } catch (error) {
      this.error = messageOf(error)
    }
  }
}

/**
 * A project's pre-training runs, with the latest progress event of each; the corpora and
 * tokenizers the setup form chooses from.
 */
export class RunsState extends LiveRuns {
  list = $state.raw<RunSummary[]>([])
  corpora = $state.raw<Corpus[]>([])
  tokenizers = $state.raw<TokenizerInfo[]>([])
  selectedId = $state<number | null>(null)
  loaded = $state(false)

  selected = $derived(this.list.find((run) => run.id === this.selectedId) ?? null)

  protected held(): readonly RunSummary[] {
    return this.list
  }

  protected override wants(run: RunSummary): boolean {
    return run.kind === 'pretrain'
  }

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.error = null
    try {
      const [runs] = await Promise.all([api['runs.list']({ projectId }), this.loadInputs()])
      if (this.projectId !== projectId) return
      this.list = runs.filter((run) => run.kind === 'pretrain')
      this.selectedId = this.list.at(-1)?.id ?? null
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loaded = true
    }
  }

  /** Corpora and tokenizers are made on earlier steps: asked again each time this one is shown. */
  async loadInputs(): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    try {
      const [corpora, tokenizers] = await Promise.all([api['corpora.list']({ projectId }), api['tokenizers.list']({ projectId })])
      if (this.projectId !== projectId) return
      this.corpora = corpora
      this.tokenizers = tokenizers
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  /** Runs made on other steps since (an imported model, a bundle's results): asked again each time this one is shown. */
  async reloadList(): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    try {
      const runs = await api['runs.list']({ projectId })
      if (this.projectId !== projectId) return
      for (const run of runs) if (run.kind === 'pretrain' && !this.list.some((item) => item.id === run.id)) this.put(run)
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  corpusName(corpusId: number | null): string | null {
    return this.corpora.find((corpus) => corpus.id === corpusId)?.name ?? null
  }

  tokenizerName(tokenizerId: number | null): string | null {
    return this.tokenizers.find((tokenizer) => tokenizer.id === tokenizerId)?.name ?? null
  }

  put(run: RunSummary): void {
    const known = this.list.some((item) => item.id === run.id)
    this.list = known ? this.list.map((item) => (item.id === run.id ? run : item)) : [...this.list, run]
  }

  select(runId: number | null): void {
    this.selectedId = runId
  }
}

export type LengthMode = 'steps' | 'epochs'
type FormField =
  | 'corpus'
  | 'tokenizer'
  | 'seqLength'
  | 'batchSize'
  | 'microBatchSize'
  | 'steps'
  | 'epochs'
  | 'learningRate'
  | 'warmupPercent'
  | 'dropout'
  | 'seed'
  | 'checkpointEvery'
  | 'validateEvery'
  | 'name'

const today = () => new Date().toISOString().slice(0, 10)
/** A number input's value: undefined (Svelte) or null when empty or not a number. */
type MaybeNumber = number | null | undefined
const isNumber = (value: MaybeNumber): value is number => typeof value === 'number' && Number.isFinite(value)
const isWhole = (value: MaybeNumber, min: number, max: number): value is number =>
  isNumber(value) && Number.isInteger(value) && value >= min && value <= max

/** The setup form, its compute plan and starting the run. */
export class PretrainForm {
  private readonly runs: RunsState
  corpusId = $state<number | null>(null)
  tokenizerId = $state<number | null>(null)
  preset = $state<ModelPreset>('tiny')
  seqLength = $state<MaybeNumber>(128)
  batchSize = $state<MaybeNumber>(32)
  microBatchSize = $state<MaybeNumber>(null)
  lengthMode = $state<LengthMode>('steps')
  steps = $state<MaybeNumber>(1_000)
  epochs = $state<MaybeNumber>(1)
  /** Null: the studio's default for the model's size (defaultPretrainLearningRate). */
  learningRate = $state<MaybeNumber>(null)
  /** Runs a new run can continue from: stopped, with a checkpoint and a tokenizer (imported models included). */
  startingPoints = $derived(
    this.inputs().list.filter((run) => run.checkpointStep !== null && run.tokenizerId !== null && run.status !== 'running' && run.status !== 'queued'),
  )
  parent = $derived(this.startingPoints.find((run) => run.id === this.fromRunId) ?? null)
  /** The parent's width and depth, for the form to name the model it continues. */
  parentModel = $derived.by(() => {
    const config = this.parent?.modelConfig as { hidden_size?: unknown; num_hidden_layers?: unknown } | undefined
    return typeof config?.hidden_size === 'number' && typeof config.num_hidden_layers === 'number'
      ? { hidden: config.hidden_size, layers: config.num_hidden_layers }
      : null
  })
  /** What an empty learning-rate field means for the chosen preset (or the parent's model). */
  defaultLearningRate = $derived(defaultPretrainLearningRate(this.parentModel?.hidden ?? presetHidden(this.preset)))
  /** Null: the default — 0 for Tiny and Mini, 0.1 above (defaultPretrainDropout); a continued run keeps its parent's. */
  dropout = $state<MaybeNumber>(null)
  /** What an empty dropout field means: the parent's when continuing, else the preset's default. */
  defaultDropout = $derived.by((): { value: number; source: string } => {
    const parent = (this.parent?.modelConfig as { hidden_dropout_prob?: unknown } | undefined)?.hidden_dropout_prob
    if (this.parent && typeof parent === 'number') return { value: parent, source: 'the parent\'s' }
    return { value: defaultPretrainDropout(presetHidden(this.preset)), source: `default for ${this.preset}` }
  })
  /** The warm-up share as a percentage: people read 10% more easily than 0.1. */
  warmupPercent = $state<MaybeNumber>(10)
  seed = $state<MaybeNumber>(12345)
  checkpointEvery = $state<MaybeNumber>(500)
  validateEvery = $state<MaybeNumber>(250)
  wholeWordMask = $state(false)
  customName = $state<string | null>(null)
  /** Continue pre-training from this run's last checkpoint (its model and tokenizer); null: a new model. */
  fromRunId = $state<number | null>(null)

  plan = $state.raw<TrainingPlan | null>(null)
  planError = $state<string | null>(null)
  planning = $state(false)
  starting = $state(false)
  error = $state<string | null>(null)
  private planKey = $state<string | null>(null)

  constructor(runs: RunsState) {
    this.runs = runs
  }

  corpus = $derived(this.inputs().corpora.find((corpus) => corpus.id === this.corpusId) ?? null)
  /** The parent's tokenizer when continuing (its vocabulary is the model's), else the chosen one. */
  tokenizer = $derived(this.inputs().tokenizers.find((tokenizer) => tokenizer.id === (this.parent?.tokenizerId ?? this.tokenizerId)) ?? null)
  /** `tiny-stories-2025-06-01`, then `…-2`: run names are unique in a project. */
  suggestedName = $derived.by(() => {
    const base = (this.parent ? `${this.parent.name}-continued` : `${this.preset}-${this.corpus?.name ?? 'corpus'}-${today()}`).slice(0, 190)
    const taken = new Set(this.inputs().list.map((run) => run.name))
    let name = base
    for (let count = 2; taken.has(name); count++) name = `${base}-${count}`
    return name
  })
  name = $derived(this.customName ?? this.suggestedName)

  problems = $derived.by(() => {
    const problems: Partial<Record<FormField, string>> = {}
    if (this.corpus === null) problems.corpus = 'Choose a corpus to pre-train on'
    if (this.tokenizer === null) problems.tokenizer = 'Choose a tokenizer (train one on the Tokenizer step)'
    if (!isWhole(this.seqLength, 16, 512)) problems.seqLength = 'Sequence length must be a whole number from 16 to 512'
    if (!isWhole(this.batchSize, 1, 4096)) problems.batchSize = 'Batch size must be a whole number from 1 to 4,096'
    if (this.microBatchSize !== null && this.microBatchSize !== undefined) {
      if (!isWhole(this.microBatchSize, 1, 4096)) problems.microBatchSize = 'Micro-batch size must be a whole number from 1 to 4,096'
      else if (isNumber(this.batchSize) && this.batchSize % this.microBatchSize !== 0)
        problems.microBatchSize = `The batch size (${this.batchSize}) must be a multiple of the micro-batch size (${this.microBatchSize})`
    }
    if (this.lengthMode === 'steps' && !isWhole(this.steps, 1, 10_000_000)) problems.steps = 'Steps must be a whole number from 1 to 10,000,000'
    if (this.lengthMode === 'epochs' && (!isNumber(this.epochs) || !(this.epochs > 0) || this.epochs > 10_000))
      problems.epochs = 'Epochs must be more than 0 and at most 10,000'
    if (this.learningRate !== null && this.learningRate !== undefined && (!isNumber(this.learningRate) || !(this.learningRate > 0) || this.learningRate > 1))
      problems.learningRate = 'Learning rate must be more than 0 and at most 1'
    if (!isNumber(this.warmupPercent) || !(this.warmupPercent >= 0) || this.warmupPercent > 50)
      problems.warmupPercent = 'Warm-up must be from 0% to 50% of the steps'
    if (this.dropout !== null && this.dropout !== undefined && (!isNumber(this.dropout) || !(this.dropout >= 0) || this.dropout > 0.9))
      problems.dropout = 'Dropout must be from 0 to 0.9'
    if (!isWhole(this.seed, 0, 2 ** 31 - 1)) problems.seed = 'Seed must be a whole number from 0 to 2,147,483,647'
    if (!isWhole(this.checkpointEvery, 1, 1_000_000)) problems.checkpointEvery = 'Checkpoint interval must be a whole number of steps, 1 or more'
    if (!isWhole(this.validateEvery, 1, 1_000_000)) problems.validateEvery = 'Validation interval must be a whole number of steps, 1 or more'
    if (this.name.trim() === '') problems.name = 'Give the run a name'
    return problems
  })
  valid = $derived(Object.keys(this.problems).length === 0)

  /** The request as the contract reads it; null while the form has problems. */
  request = $derived.by((): PretrainRequest | null => {
    const projectId = this.inputs().projectId
    if (!this.valid || projectId === null) return null
    return {
      projectId,
      corpusId: this.corpusId!,
      tokenizerId: this.tokenizer!.id,
      name: this.name.trim(),
      preset: this.preset,
      seqLength: this.seqLength!,
      batchSize: this.batchSize!,
      ...(isNumber(this.microBatchSize) ? { microBatchSize: this.microBatchSize } : {}),
      ...(this.lengthMode === 'steps' ? { steps: this.steps! } : { epochs: this.epochs! }),
      ...(isNumber(this.learningRate) ? { learningRate: this.learningRate } : {}),
      warmupFraction: this.warmupPercent! / 100,
      ...(isNumber(this.dropout) ? { dropout: this.dropout } : {}),
      seed: this.seed!,
      checkpointEvery: this.checkpointEvery!,
      validateEvery: this.validateEvery!,
      wholeWordMask: this.wholeWordMask,
      ...(this.parent ? { fromRunId: this.parent.id } : {}),
    }
  })
  /** The plan describes the form as it is now (the name does not change it). */
  planFresh = $derived(this.plan !== null && this.planKey === keyOf(this.request))

  // A method, not a field read: derived fields are declared before the constructor sets `runs`.
  private inputs(): RunsState {
    return this.runs
  }

  /** The newest corpus and a tokenizer trained on it (else the newest), when none is chosen. */
  chooseDefaults(): void {
    if (this.corpus === null) this.corpusId = this.runs.corpora.at(-1)?.id ?? null
    if (this.tokenizer === null) {
      const matching = this.runs.tokenizers.filter((tokenizer) => tokenizer.corpusId === this.corpusId)
      this.tokenizerId = (matching.at(-1) ?? this.runs.tokenizers.at(-1))?.id ?? null
    }
  }

  async computePlan(): Promise<void> {
    const request = this.request
    if (!request) return
    this.planning = true
    this.planError = null
    try {
      const plan = await api['runs.plan'](request)
      this.plan = plan
      this.planKey = keyOf(request)
    } catch (error) {
      this.planError = messageOf(error)
    } finally {
      this.planning = false
    }
  }

  async start(): Promise<RunSummary | null> {
    const request = this.request
    if (!request || this.starting) return null
    this.starting = true
    this.error = null
    try {
      const run = await api['runs.pretrain'](request)
      this.customName = null
      return run
    } catch (error) {
      this.error = messageOf(error)
      return null
    } finally {
      this.starting = false
    }
  }
}

function keyOf(request: PretrainRequest | null): string | null {
  if (!request) return null
  const { name: _name, ...rest } = request
  return JSON.stringify(rest)
}

/**
 * One run's metric series: fetched whole once, then extended from progress events (sampled,
 * ~8 a second) and fetched whole again at the end and after each validation.
 */
export class RunMetrics {
  readonly runId: number
  series = $state.raw<MetricSeries[]>([])
  loading = $state(false)
  error = $state<string | null>(null)

  private request = 0
  private lastValidationStep = 0

  constructor(runId: number) {
    this.runId = runId
  }

  async load(): Promise<void> {
    const request = ++this.request
    this.loading = true
    try {
      const series = await api['runs.metrics']({ runId: this.runId })
      if (request !== this.request) return
      this.series = series
      this.error = null
    } catch (error) {
      if (request === this.request) this.error = messageOf(error)
    } finally {
      if (request === this.request) this.loading = false
    }
  }

  find(name: string, split: 'train' | 'validation' = 'train'): MetricSeries | null {
    return this.series.find((series) => series.name === name && series.split === split) ?? null
  }

  /** Chart lines of the series wanted (name, split, legend label); validation ones drawn sparse. */
  lines(...wanted: [name: string, split: 'train' | 'validation', label: string][]): ChartSeries[] {
    return wanted.flatMap(([name, split, label]) => {
      const series = this.find(name, split)
      return series ? [{ label, steps: series.steps, values: series.values, sparse: split === 'validation' }] : []
    })
  }

  /** Adds the event's values at its step; `validateEvery` says when to fetch the validation points. */
  append(progress: RunProgress, validateEvery: number | null): void {
    if (progress.runId !== this.runId) return
    if (FINISHED.includes(progress.status)) {
      void this.load()
      return
    }
    const entries = Object.entries(progress.metrics)
    if (entries.length > 0) {
      let series = this.series
      for (const [key, value] of entries) {
        const { split, name } = parseMetricKey(key)
        const existing = series.find((item) => item.name === name && item.split === split)
        if (existing && (existing.steps.at(-1) ?? -1) >= progress.step) continue
        const next: MetricSeries = existing
          ? { ...existing, steps: [...existing.steps, progress.step], values: [...existing.values, value] }
          : { name, split, steps: [progress.step], values: [value] }
        series = existing ? series.map((item) => (item === existing ? next : item)) : [...series, next]
      }
      this.series = series
    }
    const every = validateEvery ?? 250
    const due = Math.floor(progress.step / every) * every
    if (due > this.lastValidationStep && progress.step > due) {
      // One step past a validation: its points are stored by now.
      this.lastValidationStep = due
      void this.load()
    }
  }
}

const STOP_WORDS = new Set(
  'the a an and or but of to in on at for with from by as is was were be been are it its this that these those he she they we you i his her their our your my me him them then than so not no yes there here what when where who which how all any some into out up down over under about after before again once also very just can will would could should has have had do does did'.split(
    ' ',
  ),
)

/** About twelve words of a document with one content word (the longest, not a stop word) masked. */
export function maskSentence(text: string, words = 12): string | null {
  const tokens = text.replace(/\s+/g, ' ').trim().split(' ').slice(0, words)
  let best = -1
  let bestLength = 0
  tokens.forEach((token, index) => {
    const core = token.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')
    if (!/^\p{L}+$/u.test(core) || STOP_WORDS.has(core.toLowerCase())) return
    if (index > 0 && core.length > bestLength) {
      best = index
      bestLength = core.length
    }
  })
  if (best < 0 || tokens.length < 3) return null
  const token = tokens[best]!
  tokens[best] = token.replace(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/u, '[MASK]')
  return tokens.join(' ')
}

export interface Probe {
  text: string
  result: FillMaskResult | null
  error: string | null
}

/** The fill-mask probe: a few sentences, each with [MASK], and the model's guesses. */
export class FillMaskState {
  probes = $state<Probe[]>([])
  asking = $state(false)
  loadingSentences = $state(false)

  problems = $derived(this.probes.map((probe) => (probe.text.trim() === '' || probe.text.includes('[MASK]') ? null : 'Put [MASK] where a word is hidden')))
  canAsk = $derived(!this.asking && this.probes.some((probe) => probe.text.includes('[MASK]')))

  /** Three sentences from the corpus' first documents; plain examples when it has none to offer. */
  async prefill(corpusId: number | null): Promise<void> {
    if (this.probes.length > 0) return
    this.loadingSentences = true
    let sentences: string[] = []
    try {
      if (corpusId !== null) {
        const page = await api['corpora.documents']({ corpusId, limit: 20 })
        sentences = page.documents.map((document) => maskSentence(document.text)).filter((text): text is string => text !== null).slice(0, 3)
      }
    } catch {
      // A sentence of our own does as well.
    } finally {
      this.loadingSentences = false
    }
    if (sentences.length === 0) sentences = ['The cat sat on the [MASK] by the door.']
    if (this.probes.length === 0) this.probes = sentences.map((text) => ({ text, result: null, error: null }))
  }

  add(): void {
    this.probes.push({ text: '', result: null, error: null })
  }

  remove(index: number): void {
    this.probes.splice(index, 1)
  }

  async ask(runId: number): Promise<void> {
    this.asking = true
    try {
      for (const probe of this.probes) {
        if (!probe.text.includes('[MASK]')) continue
        const text = probe.text
        try {
          const result = await api['runs.fillMask']({ runId, text, topK: 5 })
          if (probe.text === text) {
            probe.result = result
            probe.error = null
          }
        } catch (error) {
          probe.error = messageOf(error)
          probe.result = null
        }
      }
    } finally {
      this.asking = false
    }
  }
}
