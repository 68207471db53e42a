/**
 * Hugging Face transformers folders: export a model as the files `AutoModel*.from_pretrained(dir)`
 * and `AutoTokenizer.from_pretrained(dir)` load (model.safetensors, config.json, the tokenizer
 * files, README.md), and import such a folder back into the studio's layout.
 *
 * Names are transformers' own (the studio's variables already carry them). Dense kernels are
 * [in, out] in the studio and [out, in] (nn.Linear) in the files. The MLM decoder is tied to the
 * word embeddings, and `save_pretrained` writes shared tensors once: transformers lists
 * `cls.predictions.decoder.weight` and `cls.predictions.decoder.bias` in `_tied_weights_keys`,
 * so neither is written and both are re-tied on load. BertForTokenClassification and
 * BertForQuestionAnswering are built with add_pooling_layer=False: no pooler weights.
 */
import * as tf from '@tensorflow/tfjs'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { StudioError } from '../errors.ts'
import { isDenseKernel, parameterShapes } from '../model/bert.ts'
import { DEFAULT_BERT_CONFIG, makeBertConfig, type BertConfig } from '../model/config.ts'
import { readTokenizerFile, readTokenizerJson, saveTokenizer } from '../tokenizer/files.ts'
import type { TokenizerSpec } from '../tokenizer/format.ts'
import { elementCount, shapeOf, transpose2d, valuesOf, weightEntries, writeExtraFiles, writeFolderAtomic, type ExtraFile, type WeightArray, type WeightSource } from './files.ts'
import { SafetensorsFile, writeSafetensors } from './safetensors.ts'

export type BertArchitecture = 'BertForPreTraining' | 'BertForSequenceClassification' | 'BertForTokenClassification' | 'BertForQuestionAnswering'

export const BERT_ARCHITECTURES: readonly BertArchitecture[] = ['BertForPreTraining', 'BertForSequenceClassification', 'BertForTokenClassification', 'BertForQuestionAnswering']

/** Classes whose weights import reads besides the four the studio exports. */
export type ImportedArchitecture = BertArchitecture | 'BertModel' | 'BertForMaskedLM' | 'BertForNextSentencePrediction'

const IMPORTABLE: readonly ImportedArchitecture[] = [...BERT_ARCHITECTURES, 'BertModel', 'BertForMaskedLM', 'BertForNextSentencePrediction']

export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression'

/** The transformers release whose config.json layout this writes. */
export const TRANSFORMERS_VERSION = '4.44.2'

const PIPELINE_TAGS: Record<BertArchitecture, string> = {
  BertForPreTraining: 'fill-mask',
  BertForSequenceClassification: 'text-classification',
  BertForTokenClassification: 'token-classification',
  BertForQuestionAnswering: 'question-answering',
}

const AUTO_CLASSES: Record<BertArchitecture, string> = {
  BertForPreTraining: 'AutoModelForPreTraining',
  BertForSequenceClassification: 'AutoModelForSequenceClassification',
  BertForTokenClassification: 'AutoModelForTokenClassification',
  BertForQuestionAnswering: 'AutoModelForQuestionAnswering',
}

export interface ModelCardData {
  readonly name: string
  readonly description?: string
  /** e.g. "12,000 documents" */
  readonly size?: string
}

export interface ModelCard {
  readonly title?: string
  readonly description?: string
  /** What the model does, in words ("classifies support tickets by urgency"). */
  readonly task?: string
  readonly language?: string | readonly string[]
  readonly license?: string
  readonly data?: readonly ModelCardData[]
  readonly metrics?: Readonly<Record<string, number | string>>
  /** The run's configuration, printed as JSON. */
  readonly trainingConfig?: unknown
  readonly date?: Date | string
  readonly baseModel?: string
  readonly tags?: readonly string[]
}

export interface HuggingFaceExportOptions {
  /** By Hugging Face name, dense kernels [in, out] (the studio's variables as they are). */
  readonly weights: WeightSource
  readonly bertConfig: BertConfig
  readonly architecture: BertArchitecture
  /** Label names by id, for the classification heads. */
  readonly id2label?: readonly string[]
  readonly problemType?: ProblemType
  readonly tokenizerSpec: TokenizerSpec
  readonly modelCard?: ModelCard
  readonly transformersVersion?: string
  /** More files for the folder (e.g. the studio's reference outputs); transformers ignores them. */
  readonly extraFiles?: readonly ExtraFile[]
}

export interface HuggingFaceExportResult {
  readonly dir: string
  readonly files: string[]
  /** Weights given that the architecture has no place for (e.g. the MLM head of a classifier). */
  readonly ignoredWeights: string[]
}

export interface ImportedHeads {
  readonly pooler: boolean
  readonly mlm: boolean
  readonly nsp: boolean
  readonly classifier: boolean
  readonly qaOutputs: boolean
}

export interface HuggingFaceImport {
  readonly bertConfig: BertConfig
  readonly architecture: ImportedArchitecture
  /** By the studio's (Hugging Face) names, dense kernels [in, out]. */
  readonly weights: Map<string, WeightArray>
  readonly heads: ImportedHeads
  readonly tokenizerSpec: TokenizerSpec
  readonly id2label: string[] | null
  readonly problemType: ProblemType | null
  /** Tensors in the file that were recognised and skipped (tied decoder, position_ids buffer). */
  readonly skippedTensors: string[]
}

const invalid = (message: string) => new StudioError('VALIDATION', message)
const badInput = (message: string) => new StudioError('BAD_INPUT', message)
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const formatShape = (shape: readonly number[]) => `[${shape.join(', ')}]`

const isEncoderName = (name: string) => name.startsWith('bert.embeddings.') || name.startsWith('bert.encoder.')
const isPoolerName = (name: string) => name.startsWith('bert.pooler.')
const isMlmName = (name: string) => name.startsWith('cls.predictions.')
const isNspName = (name: string) => name.startsWith('cls.seq_relationship.')

/** A weight's shape as stored in Hugging Face's files. */
function huggingFaceShape(name: string, shape: readonly number[]): number[] {
  return isDenseKernel(name) && shape.length === 2 ? [shape[1]!, shape[0]!] : [...shape]
}

/** Every weight an architecture has, studio orientation, for a config and a label count. */
export function architectureShapes(architecture: ImportedArchitecture, config: BertConfig, numLabels: number): Map<string, number[]> {
  const all = parameterShapes(config)
  const H = config.hidden_size
  const shapes = new Map<string, number[]>(all.filter(([name]) => isEncoderName(name)))
  const add = (predicate: (name: string) => boolean) => {
    for (const [name, shape] of all) if (predicate(name)) shapes.set(name, shape)
  }
  // BertForMaskedLM has no pooler; a BertModel's is optional here (read when the file holds it).
  if (architecture === 'BertForPreTraining' || architecture === 'BertForSequenceClassification' || architecture === 'BertForNextSentencePrediction') add(isPoolerName)
  if (architecture === 'BertForPreTraining' || architecture === 'BertForMaskedLM') add(isMlmName)
  if (architecture === 'BertForPreTraining' || architecture === 'BertForNextSentencePrediction') add(isNspName)
  if (architecture === 'BertForSequenceClassification' || architecture === 'BertForTokenClassification') {
    shapes.set('classifier.weight', [H, numLabels])
    shapes.set('classifier.bias', [numLabels])
  }
  if (architecture === 'BertForQuestionAnswering') {
    shapes.set('qa_outputs.weight', [H, 2])
    shapes.set('qa_outputs.bias', [2])
  }
  return shapes
}

function labelCount(options: HuggingFaceExportOptions, weights: Map<string, number[]>): number {
  const { architecture, id2label, problemType } = options
  if (architecture !== 'BertForSequenceClassification' && architecture !== 'BertForTokenClassification') return 0
  const biasShape = weights.get('classifier.bias')
  if (!biasShape) throw invalid(`${architecture} needs the weights classifier.weight and classifier.bias; classifier.bias is missing`)
  const count = biasShape[0] ?? 0
  if (id2label && id2label.length !== count) throw invalid(`id2label has ${id2label.length} labels but classifier.bias has ${count}`)
  if (problemType === 'regression' && count !== 1) throw invalid(`problem_type "regression" needs 1 output, classifier.bias has ${count}`)
  if (count < 1) throw invalid(`classifier.bias has shape ${formatShape(biasShape)}, expected at least one label`)
  return count
}

/** config.json for an architecture, keys sorted as transformers writes them. */
export function huggingFaceConfigJson(options: {
  bertConfig: BertConfig
  architecture: BertArchitecture
  id2label?: readonly string[]
  numLabels?: number
  problemType?: ProblemType
  transformersVersion?: string
}): Record<string, unknown> {
  const { bertConfig, architecture } = options
  const json: Record<string, unknown> = {
    ...bertConfig,
    architectures: [architecture],
    classifier_dropout: null,
    model_type: 'bert',
    position_embedding_type: 'absolute',
    torch_dtype: 'float32',
    transformers_version: options.transformersVersion ?? TRANSFORMERS_VERSION,
    use_cache: true,
  }
  const numLabels = options.numLabels ?? 0
  if (numLabels > 0) {
    const names = options.id2label ?? Array.from({ length: numLabels }, (_, id) => `LABEL_${id}`)
    if (new Set(names).size !== names.length) throw invalid(`id2label has repeated names (${names.join(', ')}); label2id needs each name once`)
    json.id2label = Object.fromEntries(names.map((label, id) => [String(id), label]))
    json.label2id = Object.fromEntries(names.map((label, id) => [label, id]))
  }
  if (options.problemType) json.problem_type = options.problemType
  return Object.fromEntries(Object.keys(json).sort().map((key) => [key, json[key]]))
}

const yamlString = (value: string) => JSON.stringify(value)

/** README.md with the Hub's YAML front matter. */
export function modelCardMarkdown(options: { architecture: BertArchitecture; bertConfig: BertConfig; card: ModelCard; id2label?: readonly string[]; problemType?: ProblemType }): string {
  const { architecture, bertConfig: config, card } = options
  const date = card.date === undefined ? new Date() : new Date(card.date)
  const languages = card.language === undefined ? [] : typeof card.language === 'string' ? [card.language] : card.language
  const front = ['---', 'library_name: transformers', `pipeline_tag: ${PIPELINE_TAGS[architecture]}`]
  if (card.license) front.push(`license: ${yamlString(card.license)}`)
  if (languages.length > 0) front.push('language:', ...languages.map((language) => `  - ${yamlString(language)}`))
  if (card.baseModel) front.push(`base_model: ${yamlString(card.baseModel)}`)
  front.push('tags:', ...['bert', 'bert-studio', ...(card.tags ?? [])].map((tag) => `  - ${yamlString(tag)}`), '---', '')

  const lines = [...front, `# ${card.title ?? `BERT (${architecture})`}`, '']
  if (card.description) lines.push(card.description, '')
  lines.push('## Task', '', `${card.task ?? PIPELINE_TAGS[architecture]} — \`${architecture}\`.`)
  if (options.problemType) lines.push('', `Problem type: \`${options.problemType}\`.`)
  if (options.id2label && options.id2label.length > 0) lines.push('', `Labels: ${options.id2label.map((label) => `\`${label}\``).join(', ')}.`)
  lines.push(
    '',
    '## Model',
    '',
    `${config.num_hidden_layers} layers, hidden size ${config.hidden_size}, ${config.num_attention_heads} attention heads, ` +
      `intermediate size ${config.intermediate_size}, vocabulary ${config.vocab_size}, up to ${config.max_position_embeddings} positions.`,
    '',
    '## Data',
    '',
  )
  if (card.data && card.data.length > 0) {
    for (const data of card.data) lines.push(`- **${data.name}**${data.size ? ` (${data.size})` : ''}${data.description ? `: ${data.description}` : ''}`)
  } else {
    lines.push('Not recorded.')
  }
  lines.push('', '## Evaluation', '')
  const metrics = Object.entries(card.metrics ?? {})
  if (metrics.length > 0) lines.push('| Metric | Value |', '| --- | --- |', ...metrics.map(([name, value]) => `| ${name} | ${typeof value === 'number' ? Number(value.toPrecision(6)) : value} |`))
  else lines.push('Not recorded.')
  lines.push('', '## Training', '')
  if (card.trainingConfig !== undefined) lines.push('```json', JSON.stringify(card.trainingConfig, null, 2), '```')
  else lines.push('Not recorded.')
  lines.push(
    '',
    `Trained with BERT Studio (TensorFlow.js); exported ${Number.isNaN(date.getTime()) ? String(card.date) : date.toISOString().slice(0, 10)}.`,
    '',
    '## Use',
    '',
    '```python',
    `from transformers import AutoTokenizer, ${AUTO_CLASSES[architecture]}`,
    '',
    'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
    `model = ${AUTO_CLASSES[architecture]}.from_pretrained("path/to/this/folder")`,
    '```',
    '',
  )
  return lines.join('\n')
}

/**
 * Writes a transformers folder at `dir` (which must not exist): model.safetensors, config.json,
 * vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json and README.md,
 * through a temp folder beside it renamed at the end.
 */
export function exportHuggingFace(dir: string, options: HuggingFaceExportOptions): HuggingFaceExportResult {
  const { bertConfig: config, architecture } = options
  if (!BERT_ARCHITECTURES.includes(architecture)) throw invalid(`architecture is ${JSON.stringify(architecture)}, expected one of ${BERT_ARCHITECTURES.join(', ')}`)
  makeBertConfig(config)
  if (options.tokenizerSpec.vocab.length > config.vocab_size) {
    throw invalid(`The tokenizer has ${options.tokenizerSpec.vocab.length} tokens but the model's vocab_size is ${config.vocab_size}`)
  }
  const given = new Map(weightEntries(options.weights))
  const givenShapes = new Map([...given].map(([name, value]) => [name, shapeOf(value)]))
  const numLabels = labelCount(options, givenShapes)
  const expected = architectureShapes(architecture, config, numLabels)

  const missing = [...expected.keys()].filter((name) => !given.has(name))
  if (missing.length > 0) throw invalid(`${architecture} needs ${missing.length} weight${missing.length > 1 ? 's' : ''} not given: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`)
  for (const [name, shape] of expected) {
    const actual = givenShapes.get(name)!
    if (actual.length !== shape.length || actual.some((size, i) => size !== shape[i])) {
      throw invalid(`Weight ${name} has shape ${formatShape(actual)}, expected ${formatShape(shape)} for the model config`)
    }
  }
  const ignoredWeights = [...given.keys()].filter((name) => !expected.has(name))
  const known = (name: string) => isEncoderName(name) || isPoolerName(name) || isMlmName(name) || isNspName(name) || name.startsWith('classifier.') || name.startsWith('qa_outputs.')
  const unknown = ignoredWeights.filter((name) => !known(name))
  if (unknown.length > 0) throw invalid(`Weight${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 5).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not part of any BERT architecture`)

  const labels = numLabels > 0 ? (options.id2label ?? Array.from({ length: numLabels }, (_, id) => `LABEL_${id}`)) : undefined
  const configJson = huggingFaceConfigJson({
    bertConfig: config,
    architecture,
    ...(labels ? { id2label: labels } : {}),
    numLabels,
    ...(options.problemType ? { problemType: options.problemType } : {}),
    ...(options.transformersVersion ? { transformersVersion: options.transformersVersion } : {}),
  })
  const readme = modelCardMarkdown({
    architecture,
    bertConfig: config,
    card: options.modelCard ?? {},
    ...(labels ? { id2label: labels } : {}),
    ...(options.problemType ? { problemType: options.problemType } : {}),
  })

  const target = resolve(dir)
  const own = ['model.safetensors', 'config.json', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'README.md']
  const names = writeFolderAtomic(target, (temp) => {
    writeSafetensors(
      join(temp, 'model.safetensors'),
      [...expected].map(([name, shape]) => ({
        name,
        shape: huggingFaceShape(name, shape),
        // Read when written, so only one tensor's values are held at a time.
        data: () => {
          const values = valuesOf(name, given.get(name)!)
          return isDenseKernel(name) ? transpose2d(values, shape[0]!, shape[1]!) : values
        },
      })),
      { format: 'pt' },
    )
    writeFileSync(join(temp, 'config.json'), JSON.stringify(configJson, null, 2) + '\n')
    saveTokenizer(temp, options.tokenizerSpec, { modelMaxLength: config.max_position_embeddings })
    writeFileSync(join(temp, 'README.md'), readme)
    return [...own, ...writeExtraFiles(temp, options.extraFiles ?? [], own)]
  })
  return { dir: target, files: names.map((name) => join(target, name)), ignoredWeights }
}

// ---------------------------------------------------------------------------------------------
// Import

function readJsonFile(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new StudioError('NOT_FOUND', `${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw badInput(`${path}: not valid JSON (${(error as Error).message})`)
  }
}

/** The studio's BertConfig from a transformers config.json (other keys are transformers' own and ignored). */
export function bertConfigFromHuggingFace(json: unknown, source = 'config.json'): BertConfig {
  if (!isRecord(json)) throw badInput(`${source}: expected a JSON object`)
  if (json.model_type !== 'bert') throw new StudioError('UNSUPPORTED', `${source}: model_type is ${JSON.stringify(json.model_type)}, expected "bert"`)
  if (json.position_embedding_type !== undefined && json.position_embedding_type !== 'absolute') {
    throw new StudioError('UNSUPPORTED', `${source}: position_embedding_type is ${JSON.stringify(json.position_embedding_type)}, expected "absolute"`)
  }
  if (json.is_decoder === true || json.add_cross_attention === true) throw new StudioError('UNSUPPORTED', `${source}: is_decoder/add_cross_attention is true, expected an encoder-only BERT`)
  const picked: Record<string, unknown> = {}
  for (const key of Object.keys(DEFAULT_BERT_CONFIG)) if (json[key] !== undefined && json[key] !== null) picked[key] = json[key]
  try {
    return makeBertConfig(picked as Partial<BertConfig>)
  } catch (error) {
    throw invalid(`${source}: ${(error as Error).message}`)
  }
}

function labelsFromConfig(json: Record<string, unknown>, source: string): string[] | null {
  const raw = json.id2label
  if (raw === undefined || raw === null) return null
  if (!isRecord(raw)) throw badInput(`${source}: id2label is ${JSON.stringify(raw)}, expected an object from id to label`)
  const count = Object.keys(raw).length
  const labels: string[] = []
  for (let id = 0; id < count; id++) {
    const label = raw[String(id)]
    if (typeof label !== 'string') throw badInput(`${source}: id2label has no string label for id ${id}; expected ids 0…${count - 1}`)
    labels.push(label)
  }
  return labels
}

/** A tensor name from any BERT checkpoint → the studio's name (adds `bert.`, renames gamma/beta). */
export function canonicalBertName(name: string): string {
  let canonical = /^(embeddings|encoder|pooler)\./.test(name) ? `bert.${name}` : name
  // TF-converted checkpoints named LayerNorm's parameters gamma and beta.
  canonical = canonical.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias')
  return canonical
}

function tokenizerFromFolder(dir: string): TokenizerSpec {
  const tokenizerJson = join(dir, 'tokenizer.json')
  if (existsSync(tokenizerJson)) return readTokenizerJson(tokenizerJson)
  const vocabTxt = join(dir, 'vocab.txt')
  if (!existsSync(vocabTxt)) throw new StudioError('NOT_FOUND', `${dir}: no tokenizer.json or vocab.txt; expected one of them beside config.json`)
  const configPath = join(dir, 'tokenizer_config.json')
  const tokenizerConfig = existsSync(configPath) ? readJsonFile(configPath) : null
  const lowercase = isRecord(tokenizerConfig) && typeof tokenizerConfig.do_lower_case === 'boolean' ? tokenizerConfig.do_lower_case : undefined
  return readTokenizerFile(vocabTxt, lowercase === undefined ? {} : { lowercase })
}

/**
 * Reads a transformers BERT folder: config.json, model.safetensors and vocab.txt or
 * tokenizer.json. Accepts names with or without `bert.`, LayerNorm gamma/beta, and skips the
 * tied decoder and the position_ids buffer. Errors name the file and say actual vs expected.
 */
export function importHuggingFace(dir: string): HuggingFaceImport {
  const folder = resolve(dir)
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new StudioError('NOT_FOUND', `${folder} is not a folder`)
  const configPath = join(folder, 'config.json')
  const configJson = readJsonFile(configPath)
  const bertConfig = bertConfigFromHuggingFace(configJson, configPath)
  const json = configJson as Record<string, unknown>
  const id2label = labelsFromConfig(json, configPath)
  const problemTypes: readonly ProblemType[] = ['single_label_classification', 'multi_label_classification', 'regression']
  if (json.problem_type != null && !problemTypes.includes(json.problem_type as ProblemType)) {
    throw badInput(`${configPath}: problem_type is ${JSON.stringify(json.problem_type)}, expected one of ${problemTypes.join(', ')} or null`)
  }
  const problemType = (json.problem_type as ProblemType | undefined) ?? null
  const tied = json.tie_word_embeddings !== false

  const modelPath = join(folder, 'model.safetensors')
  if (!existsSync(modelPath)) throw new StudioError('NOT_FOUND', `${folder}: no model.safetensors (pytorch_model.bin and sharded checkpoints are not read; save with safe_serialization=True)`)
  const file = SafetensorsFile.open(modelPath)
  try {
    const byName = new Map<string, string>() // canonical → name in the file
    const skippedTensors: string[] = []
    let decoderBias: string | null = null
    for (const name of file.names()) {
      if (name.endsWith('embeddings.position_ids')) {
        skippedTensors.push(name)
        continue
      }
      if (name === 'cls.predictions.decoder.weight') {
        if (!tied) throw new StudioError('UNSUPPORTED', `${configPath}: tie_word_embeddings is false, but the studio's MLM decoder is tied to the word embeddings`)
        skippedTensors.push(name)
        continue
      }
      if (name === 'cls.predictions.decoder.bias') {
        decoderBias = name
        continue
      }
      const canonical = canonicalBertName(name)
      const previous = byName.get(canonical)
      if (previous) throw badInput(`${modelPath}: tensors "${previous}" and "${name}" are both ${canonical}`)
      byName.set(canonical, name)
    }
    // The decoder's bias is the same parameter as cls.predictions.bias; older files hold only it.
    if (decoderBias) {
      if (byName.has('cls.predictions.bias')) skippedTensors.push(decoderBias)
      else byName.set('cls.predictions.bias', decoderBias)
    }

    const has = (predicate: (name: string) => boolean) => [...byName.keys()].some(predicate)
    const present: ImportedHeads = {
      pooler: has(isPoolerName),
      mlm: has(isMlmName),
      nsp: has(isNspName),
      classifier: has((name) => name.startsWith('classifier.')),
      qaOutputs: has((name) => name.startsWith('qa_outputs.')),
    }
    const declared = Array.isArray(json.architectures) && typeof json.architectures[0] === 'string' ? (json.architectures[0] as string) : null
    let architecture: ImportedArchitecture
    if (declared !== null) {
      if (!(IMPORTABLE as readonly string[]).includes(declared)) throw new StudioError('UNSUPPORTED', `${configPath}: architectures[0] is "${declared}", expected one of ${IMPORTABLE.join(', ')}`)
      architecture = declared as ImportedArchitecture
    } else if (present.qaOutputs) architecture = 'BertForQuestionAnswering'
    else if (present.classifier) architecture = present.pooler ? 'BertForSequenceClassification' : 'BertForTokenClassification'
    else if (present.mlm && present.nsp) architecture = 'BertForPreTraining'
    else if (present.mlm) architecture = 'BertForMaskedLM'
    else architecture = 'BertModel'

    const labelTensor = byName.get('classifier.bias') ?? byName.get('classifier.weight')
    const numLabels = labelTensor ? (file.info(labelTensor).shape[0] ?? 0) : 0
    if ((architecture === 'BertForSequenceClassification' || architecture === 'BertForTokenClassification') && !labelTensor) {
      throw badInput(`${modelPath}: ${architecture} has no classifier.weight or classifier.bias`)
    }
    if (id2label && labelTensor && id2label.length !== numLabels) throw badInput(`${configPath}: id2label has ${id2label.length} labels but the classifier in model.safetensors has ${numLabels}`)
    const expected = architectureShapes(architecture, bertConfig, numLabels)
    // Heads the class does not build but the file holds are read too, each whole (bert-base-uncased
    // says BertForMaskedLM and carries the pooler and NSP head). transformers builds
    // BertForTokenClassification and BertForQuestionAnswering without a pooler, so theirs is skipped.
    const poolerless = architecture === 'BertForTokenClassification' || architecture === 'BertForQuestionAnswering'
    const everyHead = [
      ...architectureShapes('BertForPreTraining', bertConfig, 0),
      ...architectureShapes('BertForTokenClassification', bertConfig, numLabels),
      ...architectureShapes('BertForQuestionAnswering', bertConfig, 0),
    ]
    const groups = [isMlmName, isNspName, (name: string) => name.startsWith('classifier.'), (name: string) => name.startsWith('qa_outputs.')]
    if (!poolerless) groups.push(isPoolerName)
    for (const inGroup of groups) {
      if (has(inGroup)) for (const [name, shape] of everyHead) if (inGroup(name)) expected.set(name, shape)
    }

    for (const canonical of byName.keys()) {
      if (expected.has(canonical)) continue
      const layer = /^bert\.encoder\.layer\.(\d+)\./.exec(canonical)
      if (layer && Number(layer[1]) >= bertConfig.num_hidden_layers) {
        throw invalid(`${modelPath} has encoder layer ${layer[1]}, but ${configPath} says num_hidden_layers is ${bertConfig.num_hidden_layers}`)
      }
      // transformers ignores a pooler that BertForTokenClassification/BertForQuestionAnswering do not build.
      if (isPoolerName(canonical)) {
        skippedTensors.push(byName.get(canonical)!)
        continue
      }
      throw badInput(`${modelPath}: tensor "${byName.get(canonical)}" is not part of ${architecture}`)
    }
    const missing = [...expected.keys()].filter((name) => !byName.has(name))
    if (missing.length > 0) throw badInput(`${modelPath}: ${architecture} needs ${missing.length} tensor${missing.length > 1 ? 's' : ''} the file lacks: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`)

    const heads: ImportedHeads = {
      pooler: expected.has('bert.pooler.dense.weight'),
      mlm: expected.has('cls.predictions.bias'),
      nsp: expected.has('cls.seq_relationship.weight'),
      classifier: expected.has('classifier.weight'),
      qaOutputs: expected.has('qa_outputs.weight'),
    }

    // Every shape checked before any tensor is read.
    const sizes = `vocab_size ${bertConfig.vocab_size}, hidden_size ${bertConfig.hidden_size}, intermediate_size ${bertConfig.intermediate_size}, max_position_embeddings ${bertConfig.max_position_embeddings}, type_vocab_size ${bertConfig.type_vocab_size}`
    for (const [canonical, shape] of expected) {
      const stored = byName.get(canonical)!
      const actual = file.info(stored).shape
      const wanted = huggingFaceShape(canonical, shape)
      if (actual.length !== wanted.length || actual.some((size, i) => size !== wanted[i])) {
        throw invalid(`${modelPath}: tensor "${stored}" has shape ${formatShape(actual)}, expected ${formatShape(wanted)} from ${configPath} (${sizes})`)
      }
    }

    const weights = new Map<string, WeightArray>()
    for (const [canonical, shape] of expected) {
      const values = file.readFloat32(byName.get(canonical)!)
      // Stored [out, in] = [shape[1], shape[0]]; the studio keeps [in, out].
      weights.set(canonical, { shape: [...shape], data: isDenseKernel(canonical) ? transpose2d(values, shape[1]!, shape[0]!) : values })
    }

    const tokenizerSpec = tokenizerFromFolder(folder)
    if (tokenizerSpec.vocab.length > bertConfig.vocab_size) {
      throw invalid(`${folder}: the tokenizer has ${tokenizerSpec.vocab.length} tokens but ${configPath} says vocab_size is ${bertConfig.vocab_size}`)
    }
    return { bertConfig, architecture, weights, heads, tokenizerSpec, id2label, problemType, skippedTensors }
  } finally {
    file.close()
  }
}

/**
 * Copies imported weights into a model's variables (e.g. `BertForPreTraining.variables`), every
 * name and shape checked first. Returns the weights the model has no variable for.
 */
export function assignWeights(variables: ReadonlyMap<string, tf.Variable>, weights: ReadonlyMap<string, WeightArray>): string[] {
  for (const [name, variable] of variables) {
    const weight = weights.get(name)
    if (!weight) throw invalid(`No weight for the model's variable ${name}`)
    if (weight.shape.length !== variable.shape.length || weight.shape.some((size, i) => size !== variable.shape[i])) {
      throw invalid(`Weight ${name} has shape ${formatShape(weight.shape)}, expected ${formatShape(variable.shape)}`)
    }
    if (weight.data.length !== elementCount(weight.shape)) throw invalid(`Weight ${name} has ${weight.data.length} values, expected ${elementCount(weight.shape)}`)
  }
  for (const [name, variable] of variables) {
    const weight = weights.get(name)!
    tf.tidy(() => variable.assign(tf.tensor(weight.data, weight.shape, 'float32')))
  }
  return [...weights.keys()].filter((name) => !variables.has(name))
}
