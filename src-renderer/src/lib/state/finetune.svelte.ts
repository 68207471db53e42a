import type {
  ArgsOf,
  DatasetInfo,
  ModelPreset,
  RunSummary,
  TaskKind,
  TokenizerInfo,
} from '../../../../src-main/contract/index.ts'
import { api } from '../api.ts'
import { messageOf } from '../format.ts'
import { formatMetric } from '../../ui/chart-data.ts'
import { defaultFinetuneLearningRate } from '../../../../src-main/contract/index.ts'
import { configNumber, configString, LiveRuns, MODEL_PRESETS, parseMetricKey, presetHidden } from './runs.svelte.ts'

/** A number input's value: undefined (Svelte) or null when empty or not a number. */
type MaybeNumber = number | null | undefined
const isNumber = (value: MaybeNumber): value is number => typeof value === 'number' && Number.isFinite(value)
const isWhole = (value: MaybeNumber, min: number, max: number): value is number =>
  isNumber(value) && Number.isInteger(value) && value >= min && value <= max

/** Hidden size and layers of a run's model, from its stored Hugging Face config. */
export function modelShape(run: RunSummary): { hidden: number | null; layers: number | null } {
  return { hidden: configNumber(run.modelConfig, 'hidden_size'), layers: configNumber(run.modelConfig, 'num_hidden_layers') }
}

/** The studio's default learning rate for the parent's hidden size, or the preset's when starting from random weights. */
export function defaultLearningRate(hidden: number | null, preset: ModelPreset | null): number {
  return defaultFinetuneLearningRate(hidden ?? presetHidden(preset))
}

/**
 * The Fine-tune step: the project's runs (fine-tuned ones listed; pre-trained ones as parents),
 * its datasets and tokenizers, and the latest progress event of each run.
 */
export class FinetuneState extends LiveRuns {
  runs = $state.raw<RunSummary[]>([])
  datasets = $state.raw<DatasetInfo[]>([])
  tokenizers = $state.raw<TokenizerInfo[]>([])
  selectedId = $state<number | null>(null)
  loaded = $state(false)

  list = $derived(this.runs.filter((run) => run.kind === 'finetune'))
  /** Pre-trained (or imported) runs with weights to start from. */
  parents = $derived(this.runs.filter((run) => run.kind === 'pretrain' && run.checkpointStep !== null))
  selected = $derived(this.list.find((run) => run.id === this.selectedId) ?? null)

  /** Every kind: the fine-tuning runs, and the pre-trained ones they start from. */
  protected held(): readonly RunSummary[] {
    return this.runs
  }

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.error = null
    await this.loadInputs()
    if (this.projectId === projectId && this.selected === null) this.selectedId = this.list.at(-1)?.id ?? null
    this.loaded = true
  }

  /** Runs, datasets and tokenizers change on other steps: asked again each time this one is shown. */
  async loadInputs(): Promise<void> {
    const projectId = this.projectId
    if (projectId === null) return
    try {
      const [runs, datasets, tokenizers] = await Promise.all([
        api['runs.list']({ projectId }),
        api['datasets.list']({ projectId }),
        api['tokenizers.list']({ projectId }),
      ])
      if (this.projectId !== projectId) return
      this.runs = runs
      this.datasets = datasets
      this.tokenizers = tokenizers
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  put(run: RunSummary): void {
    const known = this.runs.some((item) => item.id === run.id)
    this.runs = known ? this.runs.map((item) => (item.id === run.id ? run : item)) : [...this.runs, run]
  }

  select(runId: number | null): void {
    this.selectedId = runId
  }

  datasetName(datasetId: number | null): string | null {
    return this.datasets.find((dataset) => dataset.id === datasetId)?.name ?? null
  }

  runName(runId: number | null): string | null {
    return this.runs.find((run) => run.id === runId)?.name ?? null
  }
}

type FormField = 'dataset' | 'tokenizer' | 'epochs' | 'batchSize' | 'seqLength' | 'learningRate' | 'warmupPercent' | 'dropout' | 'freezeLayers' | 'patience' | 'seed' | 'docStride' | 'maxAnswerLength' | 'summaryWords' | 'name'

const today = () => new Date().toISOString().slice(0, 10)

/**
 * The fine-tuning setup. Fields the analyst leaves at their default are left out of the request,
 * so the studio's own defaults (which depend on the parent model) apply; they are shown filled in.
 */
export class FinetuneForm {
  private readonly state: FinetuneState
  datasetId = $state<number | null>(null)
  /** A pre-trained run's id, or 'random' for fresh weights of `preset`. */
  parent = $state<number | 'random'>('random')
  tokenizerId = $state<number | null>(null)
  preset = $state<ModelPreset>('tiny')
  /** Null: the studio's default (3 passes, more on a small dataset). */
  epochs = $state<MaybeNumber>(null)
  batchSize = $state<MaybeNumber>(32)
  /** Null: the default for the parent and task. */
  seqLengthChoice = $state<MaybeNumber>(null)
  learningRateChoice = $state<MaybeNumber>(null)
  warmupPercent = $state<MaybeNumber>(10)
  /** BERT's fine-tuning dropout, whatever the parent was pre-trained with. */
  dropout = $state<MaybeNumber>(0.1)
  freezeLayers = $state<MaybeNumber>(0)
  classWeights = $state(false)
  patience = $state<MaybeNumber>(3)
  seed = $state<MaybeNumber>(12345)
  docStride = $state<MaybeNumber>(128)
  maxAnswerLength = $state<MaybeNumber>(30)
  summaryWords = $state<MaybeNumber>(60)
  customName = $state<string | null>(null)
  starting = $state(false)
  error = $state<string | null>(null)

  constructor(state: FinetuneState) {
    this.state = state
  }

  // A method, not a field read: derived fields are declared before the constructor sets `state`.
  private inputs(): FinetuneState {
    return this.state
  }

  dataset = $derived(this.inputs().datasets.find((dataset) => dataset.id === this.datasetId) ?? null)
  parentRun = $derived(this.parent === 'random' ? null : (this.inputs().parents.find((run) => run.id === this.parent) ?? null))
  tokenizer = $derived(this.inputs().tokenizers.find((tokenizer) => tokenizer.id === this.tokenizerId) ?? null)
  task = $derived(this.dataset?.task ?? 'classify')
  layers = $derived(this.parentRun ? (modelShape(this.parentRun).layers ?? 12) : (MODEL_PRESETS.find((preset) => preset.id === this.preset)?.layers ?? 12))
  defaultSeqLength = $derived.by(() => {
    if (this.task === 'qa') return 384
    return (this.parentRun ? configNumber(this.parentRun.config, 'seqLength') : null) ?? 128
  })
  defaultLearningRate = $derived(
    this.parentRun
      ? defaultLearningRate(modelShape(this.parentRun).hidden, configString(this.parentRun.config, 'preset') as ModelPreset | null)
      : defaultLearningRate(null, this.preset),
  )
  seqLength = $derived(this.seqLengthChoice ?? this.defaultSeqLength)
  learningRate = $derived(this.learningRateChoice ?? this.defaultLearningRate)

  suggestedName = $derived.by(() => {
    const from = this.parentRun?.name ?? `${this.preset}-random`
    const base = `${this.dataset?.name ?? 'dataset'}-${from}-${today()}`.slice(0, 190)
    const taken = new Set(this.inputs().runs.map((run) => run.name))
    let name = base
    for (let count = 2; taken.has(name); count++) name = `${base}-${count}`
    return name
  })
  name = $derived(this.customName ?? this.suggestedName)

  problems = $derived.by(() => {
    const problems: Partial<Record<FormField, string>> = {}
    if (this.dataset === null) problems.dataset = 'Choose a dataset (make one on the Label step)'
    else if (this.dataset.labelled === 0) problems.dataset = `“${this.dataset.name}” has no labelled examples yet`
    if (this.parent === 'random' && this.tokenizer === null) problems.tokenizer = 'Random weights need a tokenizer (train one on the Tokenizer step)'
    if (this.epochs !== null && this.epochs !== undefined && (!isNumber(this.epochs) || !(this.epochs > 0) || this.epochs > 1_000)) problems.epochs = 'Epochs must be more than 0 and at most 1,000'
    if (!isWhole(this.batchSize, 1, 4096)) problems.batchSize = 'Batch size must be a whole number from 1 to 4,096'
    if (!isWhole(this.seqLength, 16, 512)) problems.seqLength = 'Sequence length must be a whole number from 16 to 512'
    if (!isNumber(this.learningRate) || !(this.learningRate > 0) || this.learningRate > 1) problems.learningRate = 'Learning rate must be more than 0 and at most 1'
    if (!isNumber(this.warmupPercent) || !(this.warmupPercent >= 0) || this.warmupPercent > 50) problems.warmupPercent = 'Warm-up must be from 0% to 50% of the steps'
    if (!isNumber(this.dropout) || !(this.dropout >= 0) || this.dropout > 0.9) problems.dropout = 'Dropout must be from 0 to 0.9'
    if (!isWhole(this.freezeLayers, 0, this.layers)) problems.freezeLayers = `Frozen layers must be a whole number from 0 to ${this.layers}`
    if (!isWhole(this.patience, 0, 1_000)) problems.patience = 'Patience must be a whole number from 0 to 1,000 (0: never stop early)'
    if (!isWhole(this.seed, 0, 2 ** 31 - 1)) problems.seed = 'Seed must be a whole number from 0 to 2,147,483,647'
    if (this.task === 'qa') {
      if (!isWhole(this.docStride, 8, 512)) problems.docStride = 'Stride must be a whole number from 8 to 512'
      if (!isWhole(this.maxAnswerLength, 1, 512)) problems.maxAnswerLength = 'Longest answer must be a whole number from 1 to 512'
    }
    if (this.task === 'summarize' && !isWhole(this.summaryWords, 5, 10_000)) problems.summaryWords = 'Summary length must be a whole number of words from 5 to 10,000'
    if (this.name.trim() === '') problems.name = 'Give the run a name'
    return problems
  })
  valid = $derived(Object.keys(this.problems).length === 0)

  request = $derived.by((): ArgsOf<'runs.finetune'> | null => {
    const projectId = this.inputs().projectId
    if (!this.valid || projectId === null || this.dataset === null) return null
    return {
      projectId,
      datasetId: this.dataset.id,
      name: this.name.trim(),
      ...(this.parentRun ? { fromRunId: this.parentRun.id } : { tokenizerId: this.tokenizerId!, preset: this.preset }),
      ...(isNumber(this.seqLengthChoice) ? { seqLength: this.seqLengthChoice } : {}),
      ...(isNumber(this.learningRateChoice) ? { learningRate: this.learningRateChoice } : {}),
      batchSize: this.batchSize!,
      ...(isNumber(this.epochs) ? { epochs: this.epochs } : {}),
      warmupFraction: this.warmupPercent! / 100,
      dropout: this.dropout!,
      freezeLayers: this.freezeLayers!,
      classWeights: this.classWeights,
      earlyStoppingPatience: this.patience!,
      seed: this.seed!,
      ...(this.task === 'qa' ? { docStride: this.docStride!, maxAnswerLength: this.maxAnswerLength! } : {}),
      ...(this.task === 'summarize' ? { summaryWords: this.summaryWords! } : {}),
    }
  })

  /** The newest dataset with labels, the newest parent, and a tokenizer, when none is chosen. */
  chooseDefaults(): void {
    const state = this.state
    if (this.dataset === null) this.datasetId = (state.datasets.filter((dataset) => dataset.labelled > 0).at(-1) ?? state.datasets.at(-1))?.id ?? null
    if (this.parent !== 'random' && this.parentRun === null) this.parent = 'random'
    if (this.parent === 'random' && !this.parentChosen && state.parents.length > 0) this.parent = state.parents.at(-1)!.id
    if (this.tokenizer === null) this.tokenizerId = state.tokenizers.at(-1)?.id ?? null
  }

  /** Set once the analyst picks a parent, so defaults stop choosing for them. */
  parentChosen = false

  async start(): Promise<RunSummary | null> {
    const request = this.request
    if (!request || this.starting) return null
    this.starting = true
    this.error = null
    try {
      const run = await api['runs.finetune'](request)
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

// Shares read best as percentages; losses and counts as numbers.
const SHARES = new Set(['accuracy', 'macro_f1', 'weighted_f1', 'micro_f1', 'entity_f1', 'entity_precision', 'entity_recall', 'exact_match', 'f1', 'rouge1', 'rouge2', 'rougeL', 'ece', 'subset_accuracy', 'hamming_loss'])
/** The metrics that say most, in the order they are shown; a task's own come first. */
export const HEADLINE_ORDER = ['accuracy', 'macro_f1', 'weighted_f1', 'micro_f1', 'entity_f1', 'exact_match', 'f1', 'rouge1', 'rouge2', 'rougeL', 'ece']
const TASK_FIRST: Partial<Record<TaskKind, string[]>> = {
  multilabel: ['micro_f1', 'macro_f1'],
  tag: ['entity_f1', 'entity_precision', 'entity_recall'],
  qa: ['exact_match', 'f1'],
  summarize: ['rouge1', 'rouge2', 'rougeL'],
}

export function formatMetricValue(name: string, value: number): string {
  return SHARES.has(name) ? `${(value * 100).toFixed(1)}%` : formatMetric(value)
}

/** Metrics sorted headline first (then by name). */
export function byHeadline<T>(entries: [string, T][], task: TaskKind | null = null): [string, T][] {
  const order = [...(task ? (TASK_FIRST[task] ?? []) : []), ...HEADLINE_ORDER]
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length)
  return entries.sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
}

/** The latest validation figures of a fine-tuning run worth a box: the task's headline ones, at most `limit`. */
export function headlineMetrics(metrics: Record<string, number>, task: TaskKind | null, limit = 3): { name: string; value: number }[] {
  const wanted = new Set([...(task ? (TASK_FIRST[task] ?? []) : []), ...HEADLINE_ORDER])
  wanted.delete('ece')
  const validation: [string, number][] = []
  for (const [key, value] of Object.entries(metrics)) {
    const parsed = parseMetricKey(key)
    if (parsed.split === 'validation' && wanted.has(parsed.name)) validation.push([parsed.name, value])
  }
  return byHeadline(validation, task)
    .slice(0, limit)
    .map(([name, value]) => ({ name, value }))
}

/** Metric names as people read them. */
export function metricTitle(name: string): string {
  const known: Record<string, string> = {
    accuracy: 'Accuracy',
    macro_f1: 'Macro F1',
    weighted_f1: 'Weighted F1',
    micro_f1: 'Micro F1',
    entity_f1: 'Entity F1',
    entity_precision: 'Entity precision',
    entity_recall: 'Entity recall',
    exact_match: 'Exact match',
    f1: 'F1',
    rouge1: 'ROUGE-1',
    rouge2: 'ROUGE-2',
    rougeL: 'ROUGE-L',
    ece: 'Calibration error (ECE)',
    loss: 'Loss',
    learning_rate: 'Learning rate',
    subset_accuracy: 'Exact set match',
    hamming_loss: 'Hamming loss',
  }
  return known[name] ?? name.replace(/_/g, ' ').replace(/^./, (first) => first.toUpperCase())
}
