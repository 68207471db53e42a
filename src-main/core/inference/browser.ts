/**
 * The standalone ES module a TensorFlow.js export ships as `bert-studio-model.js`: the studio's
 * own model and tokenizer code, bundled at build time (vite.inference.config.ts), with
 * `@tensorflow/tfjs` left as an import the page maps (the export's index.html maps it to the
 * tf.fesm.min.js copied beside it).
 *
 *   import { loadModel } from './bert-studio-model.js'
 *   const model = await loadModel()            // the folder this file sits in
 *   const { reading } = await model.predict('A sentence to classify.')
 *
 * For question answering `predict(question, passage)`; for a pre-trained model, put [MASK] where
 * a word should be guessed.
 */
import * as tf from '@tensorflow/tfjs'
import { bertConfigFromJson } from '../model/config.ts'
import type { Encoded } from '../tokenizer/template.ts'
import { checkExamples, parseStudioExamples, STUDIO_EXAMPLES_FILE, type ExamplesCheck, type StudioExamples } from './examples.ts'
import { MODEL_ARCHITECTURES, readOutputs, StudioModel, type ClassificationProblem, type EncodedInput, type ModelArchitecture, type ModelSpec, type RawOutputs, type Reading } from './model.ts'
import { PageTokenizer } from './tokenizer.ts'

export { joinPieces, outputsDifference, outputsSummary, readOutputs, softmax, storeOutputs } from './model.ts'
export type { ModelSpec, RawOutputs, Reading, StoredOutputs } from './model.ts'
export type { ExamplesCheck, StudioExamples } from './examples.ts'

export const MODEL_FORMAT = 'bert-studio'
export const MODEL_FORMAT_VERSION = 1

export interface LoadOptions {
  /** A tfjs backend to use ('cpu', 'webgl', 'wasm' where registered); default: tfjs' own choice. */
  readonly backend?: string
  readonly requestInit?: RequestInit
}

export interface Prediction {
  readonly tokens: string[]
  readonly inputIds: number[]
  readonly outputs: RawOutputs
  readonly reading: Reading
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

async function fetchJson(url: URL, init: RequestInit | undefined): Promise<unknown> {
  const response = await fetch(url, init)
  if (!response.ok) throw new Error(`${url.href}: HTTP ${response.status}`)
  try {
    return await response.json()
  } catch (error) {
    throw new Error(`${url.href}: not valid JSON (${(error as Error).message})`)
  }
}

/** A manifest path must name a file in the model's folder: no URL, no absolute path, no `..`. */
function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path === '' || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(path) || /^[\\/]/.test(path) || path.split(/[\\/]/).includes('..')) {
    throw new Error(`model.json: weight path ${JSON.stringify(path)} is not a file name inside the model's folder`)
  }
  return path
}

/** The model in a TensorFlow.js export, with its tokenizer, ready to predict in a page. */
export class BertStudioModel {
  readonly spec: ModelSpec
  readonly tokenizer: PageTokenizer
  readonly backend: string
  readonly base: URL
  private readonly model: StudioModel

  constructor(spec: ModelSpec, model: StudioModel, tokenizer: PageTokenizer, base: URL) {
    this.spec = spec
    this.model = model
    this.tokenizer = tokenizer
    this.backend = tf.getBackend()
    this.base = base
  }

  /** Token ids for a text (and a second segment: a QA passage or an NSP pair), cut to the model's length. */
  encode(text: string, pair: string | null = null, maxLength = this.spec.bertConfig.max_position_embeddings): Encoded {
    return this.tokenizer.encode(text, pair, { maxLength })
  }

  /** The heads' raw outputs for already encoded ids. */
  async outputs(encoded: EncodedInput): Promise<RawOutputs> {
    const [outputs] = await this.model.run([encoded], { maskTokenId: this.tokenizer.tokenToId('[MASK]') })
    return outputs!
  }

  /** What the model says about a text: raw logits and their reading (labels, tags, an answer, guesses). */
  async predict(text: string, pair: string | null = null): Promise<Prediction> {
    const encoded = this.encode(text, pair)
    const outputs = await this.outputs(encoded)
    return { tokens: encoded.tokens, inputIds: encoded.inputIds, outputs, reading: readOutputs(this.spec, outputs, encoded, { vocab: this.tokenizer.vocab }) }
  }

  /** The studio's examples (studio-examples.json beside model.json unless given) run here and compared. */
  async check(examples?: StudioExamples): Promise<ExamplesCheck> {
    const file = examples ?? parseStudioExamples(await fetchJson(new URL(STUDIO_EXAMPLES_FILE, this.base), undefined))
    return checkExamples(
      file,
      (text, pair, maxLength) => this.encode(text, pair, maxLength),
      (input) => this.outputs(input),
      this.tokenizer.vocab,
    )
  }

  dispose(): void {
    this.model.dispose()
  }
}

/**
 * Loads model.json, its weight shards and tokenizer.json from `base` (a folder URL; default: the
 * folder this module was loaded from).
 */
export async function loadModel(base: string | URL = new URL(/* @vite-ignore */ './', import.meta.url), options: LoadOptions = {}): Promise<BertStudioModel> {
  if (options.backend) {
    if (!(await tf.setBackend(options.backend))) throw new Error(`The tfjs backend "${options.backend}" could not start here`)
  }
  await tf.ready()
  const folder = new URL(String(base).endsWith('/') ? String(base) : `${String(base)}/`, typeof location === 'undefined' ? undefined : location.href)
  const json = await fetchJson(new URL('model.json', folder), options.requestInit)
  if (!isRecord(json) || json.format !== MODEL_FORMAT) throw new Error(`model.json: format is ${JSON.stringify(isRecord(json) ? json.format : json)}, expected "${MODEL_FORMAT}"`)
  if (json.formatVersion !== MODEL_FORMAT_VERSION) throw new Error(`model.json: formatVersion is ${JSON.stringify(json.formatVersion)}, expected ${MODEL_FORMAT_VERSION}`)
  if (json.weightLayout !== 'dense-in-out') throw new Error(`model.json: weightLayout is ${JSON.stringify(json.weightLayout)}, expected "dense-in-out"`)
  if (!MODEL_ARCHITECTURES.includes(json.architecture as ModelArchitecture)) throw new Error(`model.json: architecture is ${JSON.stringify(json.architecture)}, expected one of ${MODEL_ARCHITECTURES.join(', ')}`)
  if (!Array.isArray(json.weightsManifest)) throw new Error('model.json: weightsManifest is not an array')
  const manifest = json.weightsManifest as tf.io.WeightsManifestConfig
  for (const group of manifest) group.paths.forEach(checkPath)
  const spec: ModelSpec = {
    architecture: json.architecture as ModelArchitecture,
    bertConfig: bertConfigFromJson(json.bertConfig),
    id2label: Array.isArray(json.id2label) ? (json.id2label as string[]) : null,
    problemType: typeof json.problemType === 'string' ? (json.problemType as ClassificationProblem) : null,
  }
  const [weights, tokenizerJson, tokenizerConfig] = await Promise.all([
    tf.io.loadWeights(manifest, folder.href, undefined, options.requestInit),
    fetchJson(new URL('tokenizer.json', folder), options.requestInit),
    fetchJson(new URL('tokenizer_config.json', folder), options.requestInit).catch(() => ({})),
  ])
  try {
    const model = new StudioModel(spec, new Map(Object.entries(weights)))
    return new BertStudioModel(spec, model, new PageTokenizer(tokenizerJson, tokenizerConfig), folder)
  } finally {
    tf.dispose(Object.values(weights))
  }
}
