/**
 * The run's one serialisable config (google-research/bert's `BertConfig.from_json`/`to_json`,
 * nanoGPT's config saved in every checkpoint): a readonly tree composed from the defaults each
 * component owns (minGPT's `get_default_config`). Parsing fills what is missing from the defaults,
 * rejects unknown keys by their path, and says what was found against what was expected.
 */
import { StudioError } from '../errors.ts'
import { adamWDefaults, type AdamWConfig } from './optimizer.ts'
import { scheduleDefaults, type ScheduleConfig } from './schedule.ts'

/** When to write checkpoints and which to keep. */
export interface CheckpointPolicy {
  /** Write one every this many steps (and always at the end). */
  readonly intervalSteps: number
  /** Keep the latest this many interval checkpoints… */
  readonly keepLast: number
  /** …and also the one with the lowest validation loss. */
  readonly keepBest: boolean
}
export const checkpointDefaults: CheckpointPolicy = { intervalSteps: 1000, keepLast: 3, keepBest: true }

export interface ValidationConfig {
  /** Evaluate on the held-out split every this many steps (and at the end). */
  readonly intervalSteps: number
  /** At most this many validation batches per evaluation; null: the whole split. */
  readonly maxBatches: number | null
}
export const validationDefaults: ValidationConfig = { intervalSteps: 500, maxBatches: 50 }

export interface TrainConfig {
  readonly optimizer: AdamWConfig
  readonly schedule: ScheduleConfig
  /** Clip gradients to this global norm before each update; 0 disables clipping. */
  readonly maxGradNorm: number
  /** Examples per optimizer update. */
  readonly batchSize: number
  /** Examples per forward/backward pass; batchSize / microBatchSize passes are accumulated per update. */
  readonly microBatchSize: number
  /** Length of the run in updates, or null when `epochs` sets it. */
  readonly steps: number | null
  /** Length of the run in passes over the training instances, or null when `steps` sets it. */
  readonly epochs: number | null
  /** Seeds data order, masking and dropout (an unsigned 32-bit integer). */
  readonly seed: number
  readonly checkpoint: CheckpointPolicy
  readonly validation: ValidationConfig
}

/** The loop's own defaults; the sections come from their components. */
export const trainDefaults: TrainConfig = {
  optimizer: adamWDefaults,
  schedule: scheduleDefaults,
  maxGradNorm: 1.0,
  batchSize: 32,
  microBatchSize: 32,
  steps: 10_000,
  epochs: null,
  seed: 42,
  checkpoint: checkpointDefaults,
  validation: validationDefaults,
}

export function defaultTrainConfig(): TrainConfig {
  return parseTrainConfig({})
}

const invalid = (message: string) => new StudioError('VALIDATION', message)

type Rule = (value: number, path: string) => void
const positive: Rule = (value, path) => {
  if (!(value > 0)) throw invalid(`${path} is ${value}, expected a number > 0`)
}
const nonNegative: Rule = (value, path) => {
  if (!(value >= 0)) throw invalid(`${path} is ${value}, expected a number ≥ 0`)
}
const unitInterval: Rule = (value, path) => {
  if (!(value >= 0 && value < 1)) throw invalid(`${path} is ${value}, expected a number in [0, 1)`)
}
const positiveInteger: Rule = (value, path) => {
  if (!Number.isInteger(value) || value < 1) throw invalid(`${path} is ${value}, expected an integer ≥ 1`)
}
const uint32: Rule = (value, path) => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw invalid(`${path} is ${value}, expected an integer in [0, 4294967295]`)
}

type Field<T> = { kind: 'number'; rule: Rule; nullable?: boolean; default: T } | { kind: 'boolean'; default: T }

function readSection<T extends object>(
  input: unknown,
  path: string,
  fields: { [K in keyof T]: Field<T[K]> },
  sections: readonly string[] = [],
): T {
  const where = path === '' ? 'The train config' : path
  if (input === undefined) input = {}
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(`${where} is ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}, expected an object`)
  }
  const record = input as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!(key in fields) && !sections.includes(key)) {
      const expected = [...Object.keys(fields), ...sections].join(', ')
      throw invalid(`Unknown key ${path === '' ? key : `${path}.${key}`} in the train config; expected one of ${expected}`)
    }
  }
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(fields) as [string, Field<unknown>][]) {
    const fieldPath = path === '' ? key : `${path}.${key}`
    const value = key in record ? record[key] : field.default
    if (field.kind === 'boolean') {
      if (typeof value !== 'boolean') throw invalid(`${fieldPath} is ${JSON.stringify(value)}, expected true or false`)
    } else if (value === null) {
      if (!field.nullable) throw invalid(`${fieldPath} is null, expected a number`)
    } else {
      if (typeof value !== 'number') throw invalid(`${fieldPath} is ${JSON.stringify(value)}, expected a number${field.nullable ? ' or null' : ''}`)
      field.rule(value, fieldPath)
    }
    out[key] = value
  }
  return out as T
}

const num = <T>(rule: Rule, value: T, nullable = false): Field<T> => ({ kind: 'number', rule, nullable, default: value })

/** A config from JSON-shaped input, missing fields from the defaults. Throws VALIDATION naming the field. */
export function parseTrainConfig(input: unknown): TrainConfig {
  const record = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>
  const d = trainDefaults
  // Naming only epochs means an epoch-length run: the steps default steps aside.
  const stepsDefault = record.epochs !== undefined && record.epochs !== null && record.steps === undefined ? null : d.steps
  const top = readSection<Omit<TrainConfig, 'optimizer' | 'schedule' | 'checkpoint' | 'validation'>>(
    input,
    '',
    {
      maxGradNorm: num(nonNegative, d.maxGradNorm),
      batchSize: num(positiveInteger, d.batchSize),
      microBatchSize: num(positiveInteger, record.batchSize !== undefined && record.microBatchSize === undefined ? (record.batchSize as number) : d.microBatchSize),
      steps: num(positiveInteger, stepsDefault, true),
      epochs: num(positive, d.epochs, true),
      seed: num(uint32, d.seed),
    },
    ['optimizer', 'schedule', 'checkpoint', 'validation'],
  )
  const o = d.optimizer
  const optimizer = readSection<AdamWConfig>(record.optimizer, 'optimizer', {
    learningRate: num(positive, o.learningRate),
    beta1: num(unitInterval, o.beta1),
    beta2: num(unitInterval, o.beta2),
    epsilon: num(positive, o.epsilon),
    weightDecay: num(nonNegative, o.weightDecay),
  })
  const schedule = readSection<ScheduleConfig>(record.schedule, 'schedule', {
    warmupFraction: num(unitInterval, d.schedule.warmupFraction),
  })
  const checkpoint = readSection<CheckpointPolicy>(record.checkpoint, 'checkpoint', {
    intervalSteps: num(positiveInteger, d.checkpoint.intervalSteps),
    keepLast: num(positiveInteger, d.checkpoint.keepLast),
    keepBest: { kind: 'boolean', default: d.checkpoint.keepBest },
  })
  const validation = readSection<ValidationConfig>(record.validation, 'validation', {
    intervalSteps: num(positiveInteger, d.validation.intervalSteps),
    maxBatches: num(positiveInteger, d.validation.maxBatches, true),
  })
  const config: TrainConfig = {
    optimizer,
    schedule,
    maxGradNorm: top.maxGradNorm,
    batchSize: top.batchSize,
    microBatchSize: top.microBatchSize,
    steps: top.steps,
    epochs: top.epochs,
    seed: top.seed,
    checkpoint,
    validation,
  }
  if (config.microBatchSize > config.batchSize || config.batchSize % config.microBatchSize !== 0) {
    throw invalid(`batchSize (${config.batchSize}) is not a multiple of microBatchSize (${config.microBatchSize}); expected microBatchSize to divide batchSize`)
  }
  if ((config.steps === null) === (config.epochs === null)) {
    throw invalid(`steps is ${config.steps} and epochs is ${config.epochs}; expected exactly one of them to be set`)
  }
  return deepFreeze(config)
}

export function trainConfigToJson(config: TrainConfig): string {
  return JSON.stringify(config, null, 2)
}

export function trainConfigFromJson(text: string): TrainConfig {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw invalid(`The train config is not valid JSON (${(error as Error).message})`)
  }
  return parseTrainConfig(parsed)
}

/** Micro-batches accumulated into each update. */
export const accumulationSteps = (config: TrainConfig): number => config.batchSize / config.microBatchSize

/** The run's length in updates; an epoch-length run needs the number of training instances per epoch. */
export function totalSteps(config: TrainConfig, instancesPerEpoch?: number): number {
  if (config.steps !== null) return config.steps
  if (instancesPerEpoch === undefined || !(instancesPerEpoch > 0)) {
    throw invalid(`epochs is ${config.epochs}, and the number of training instances per epoch is ${instancesPerEpoch}; expected a count ≥ 1 to turn epochs into steps`)
  }
  return Math.max(1, Math.ceil(((config.epochs ?? 0) * instancesPerEpoch) / config.batchSize))
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) deepFreeze(child)
  return Object.freeze(value)
}
