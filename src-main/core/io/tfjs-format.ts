/**
 * The TensorFlow.js export: `model.json` holding a tfjs weights manifest (what
 * `tf.io.loadWeights(manifest, pathPrefix)` reads) plus the BERT config, and the weights as
 * little-endian float32 concatenated in manifest order and cut into shards of at most 4 MB,
 * as tfjs' own converter does (a weight may straddle two shards). Dense kernels stay [in, out],
 * the orientation a tfjs matMul uses. The reader refuses weight paths that leave the folder.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { isAbsolute, join, posix, relative, resolve, sep, win32 } from 'node:path'
import { StudioError } from '../errors.ts'
import { bertConfigFromJson, type BertConfig } from '../model/config.ts'
import { saveTokenizer } from '../tokenizer/files.ts'
import type { TokenizerSpec } from '../tokenizer/format.ts'
import { assertLittleEndian, elementCount, shapeOf, valuesOf, weightEntries, writeExtraFiles, writeFolderAtomic, type ExtraFile, type WeightArray, type WeightSource } from './files.ts'
import { BERT_ARCHITECTURES, type BertArchitecture, type ProblemType } from './huggingface.ts'

export const TFJS_FORMAT = 'bert-studio'
export const TFJS_FORMAT_VERSION = 1
export const TFJS_SHARD_BYTES = 4 * 1024 * 1024

export interface TfjsWeightSpec {
  name: string
  shape: number[]
  dtype: 'float32'
}

export interface TfjsWeightsGroup {
  paths: string[]
  weights: TfjsWeightSpec[]
}

export interface TfjsModelJson {
  format: typeof TFJS_FORMAT
  formatVersion: number
  generatedBy: string
  convertedBy: null
  modelTopology: null
  weightsManifest: TfjsWeightsGroup[]
  bertConfig: BertConfig
  architecture: BertArchitecture
  id2label: string[] | null
  /** Sequence classification: single- or multi-label (absent in files written before it was added). */
  problemType?: ProblemType | null
  /** Dense kernels are [in, out] (Hugging Face's files hold [out, in]). */
  weightLayout: 'dense-in-out'
}

export interface TfjsExportOptions {
  /** By Hugging Face name, dense kernels [in, out]. */
  readonly weights: WeightSource
  readonly bertConfig: BertConfig
  readonly architecture: BertArchitecture
  readonly id2label?: readonly string[]
  readonly problemType?: ProblemType
  /** Written beside model.json when given (vocab.txt, tokenizer.json, …). */
  readonly tokenizerSpec?: TokenizerSpec
  /** More files for the folder (the example page, its module, reference outputs). */
  readonly extraFiles?: readonly ExtraFile[]
  /** At most 4 MB (tfjs' converter default). */
  readonly shardBytes?: number
}

export interface TfjsImport {
  readonly bertConfig: BertConfig
  readonly architecture: BertArchitecture
  readonly id2label: string[] | null
  readonly problemType: ProblemType | null
  readonly weights: Map<string, WeightArray>
  readonly modelJson: TfjsModelJson
}

const invalid = (message: string) => new StudioError('VALIDATION', message)
const badInput = (message: string) => new StudioError('BAD_INPUT', message)
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Writes `dir` (which must not exist): model.json, group1-shard{i}of{n}.bin and, when given, the
 * tokenizer files; through a temp folder beside it renamed at the end. Weights are sorted by name.
 */
export function exportTfjs(dir: string, options: TfjsExportOptions): { dir: string; files: string[] } {
  assertLittleEndian()
  const shardBytes = options.shardBytes ?? TFJS_SHARD_BYTES
  if (!Number.isInteger(shardBytes) || shardBytes < 4 || shardBytes > TFJS_SHARD_BYTES) throw invalid(`shardBytes is ${shardBytes}, expected an integer in [4, ${TFJS_SHARD_BYTES}]`)
  if (!BERT_ARCHITECTURES.includes(options.architecture)) throw invalid(`architecture is ${JSON.stringify(options.architecture)}, expected one of ${BERT_ARCHITECTURES.join(', ')}`)
  const bertConfig = bertConfigFromJson({ ...options.bertConfig })
  const entries = weightEntries(options.weights).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  if (entries.length === 0) throw invalid('No weights to export')
  const specs: TfjsWeightSpec[] = entries.map(([name, value]) => ({ name, shape: shapeOf(value), dtype: 'float32' }))
  const totalBytes = specs.reduce((sum, spec) => sum + 4 * elementCount(spec.shape), 0)
  const shardCount = Math.max(1, Math.ceil(totalBytes / shardBytes))
  const paths = Array.from({ length: shardCount }, (_, i) => `group1-shard${i + 1}of${shardCount}.bin`)
  const modelJson: TfjsModelJson = {
    format: TFJS_FORMAT,
    formatVersion: TFJS_FORMAT_VERSION,
    generatedBy: 'bert-studio',
    convertedBy: null,
    modelTopology: null,
    weightsManifest: [{ paths, weights: specs }],
    bertConfig,
    architecture: options.architecture,
    id2label: options.id2label ? [...options.id2label] : null,
    problemType: options.problemType ?? null,
    weightLayout: 'dense-in-out',
  }
  const target = resolve(dir)
  const files = writeFolderAtomic(target, (temp) => {
    // Streamed: each weight's bytes go straight to the shard files, cut at shard boundaries.
    let shard = 0
    let inShard = 0
    let fd = openSync(join(temp, paths[0]!), 'w')
    try {
      for (const [name, value] of entries) {
        const values = valuesOf(name, value)
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
        let offset = 0
        while (offset < bytes.length) {
          if (inShard === shardBytes) {
            closeSync(fd)
            shard++
            inShard = 0
            fd = openSync(join(temp, paths[shard]!), 'w')
          }
          const count = Math.min(shardBytes - inShard, bytes.length - offset)
          let written = 0
          while (written < count) written += writeSync(fd, bytes, offset + written, count - written)
          offset += count
          inShard += count
        }
      }
    } finally {
      closeSync(fd)
    }
    writeFileSync(join(temp, 'model.json'), JSON.stringify(modelJson, null, 2) + '\n')
    const written = ['model.json', ...paths]
    if (options.tokenizerSpec) {
      saveTokenizer(temp, options.tokenizerSpec, { modelMaxLength: bertConfig.max_position_embeddings })
      written.push('vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')
    }
    written.push(...writeExtraFiles(temp, options.extraFiles ?? [], written))
    return written.map((name) => join(target, name))
  })
  return { dir: target, files }
}

/**
 * Throws unless `path` (from a manifest) names a file inside `dir`: no URL, no absolute path,
 * no `..` segment; `source` names the manifest in the message.
 */
export function checkWeightPath(dir: string, path: unknown, source: string): string {
  if (typeof path !== 'string' || path.length === 0) throw badInput(`${source}: weight path ${JSON.stringify(path)} is not a file name`)
  const refuse = (why: string) => badInput(`${source}: weight path ${JSON.stringify(path)} ${why}; expected a file name inside ${dir}`)
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(path) && !win32.isAbsolute(path)) throw refuse('is a URL')
  if (posix.isAbsolute(path) || win32.isAbsolute(path) || isAbsolute(path)) throw refuse('is an absolute path')
  if (path.split(/[\\/]/).includes('..')) throw refuse('leaves the model folder')
  const folder = resolve(dir)
  const full = resolve(folder, path)
  const inside = relative(folder, full)
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) throw refuse('leaves the model folder')
  return full
}

/** Reads an export back: every path and size checked before a shard is read. */
export function readTfjsModel(dir: string): TfjsImport {
  const folder = resolve(dir)
  const source = join(folder, 'model.json')
  let json: unknown
  try {
    json = JSON.parse(readFileSync(source, 'utf8'))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw code ? new StudioError('NOT_FOUND', `${source}: cannot read the file (${code})`) : badInput(`${source}: not valid JSON (${(error as Error).message})`)
  }
  if (!isRecord(json)) throw badInput(`${source}: expected a JSON object`)
  if (json.format !== TFJS_FORMAT) throw badInput(`${source}: format is ${JSON.stringify(json.format)}, expected "${TFJS_FORMAT}"`)
  if (json.formatVersion !== TFJS_FORMAT_VERSION) throw new StudioError('UNSUPPORTED', `${source}: formatVersion is ${JSON.stringify(json.formatVersion)}, expected ${TFJS_FORMAT_VERSION}`)
  if (json.weightLayout !== 'dense-in-out') throw badInput(`${source}: weightLayout is ${JSON.stringify(json.weightLayout)}, expected "dense-in-out"`)
  if (!BERT_ARCHITECTURES.includes(json.architecture as BertArchitecture)) throw badInput(`${source}: architecture is ${JSON.stringify(json.architecture)}, expected one of ${BERT_ARCHITECTURES.join(', ')}`)
  let bertConfig: BertConfig
  try {
    bertConfig = bertConfigFromJson(json.bertConfig)
  } catch (error) {
    throw invalid(`${source}: bertConfig: ${(error as Error).message}`)
  }
  const id2label = json.id2label
  if (id2label !== null && id2label !== undefined && !(Array.isArray(id2label) && id2label.every((label) => typeof label === 'string'))) {
    throw badInput(`${source}: id2label is ${JSON.stringify(id2label)}, expected an array of label names or null`)
  }
  const problemTypes: readonly ProblemType[] = ['single_label_classification', 'multi_label_classification', 'regression']
  if (json.problemType != null && !problemTypes.includes(json.problemType as ProblemType)) {
    throw badInput(`${source}: problemType is ${JSON.stringify(json.problemType)}, expected one of ${problemTypes.join(', ')} or null`)
  }
  if (!Array.isArray(json.weightsManifest)) throw badInput(`${source}: weightsManifest is ${JSON.stringify(json.weightsManifest)}, expected an array of weight groups`)

  const realFolder = realpathSync(folder)
  const groups: { files: string[]; specs: TfjsWeightSpec[]; bytes: number }[] = []
  const names = new Set<string>()
  json.weightsManifest.forEach((group: unknown, g: number) => {
    const where = `${source}: weightsManifest[${g}]`
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw badInput(`${where} is not {paths, weights}`)
    const files = group.paths.map((path: unknown) => checkWeightPath(folder, path, source))
    const specs: TfjsWeightSpec[] = []
    for (const spec of group.weights as unknown[]) {
      if (!isRecord(spec) || typeof spec.name !== 'string') throw badInput(`${where}: a weight has no name`)
      if (spec.dtype !== 'float32') throw new StudioError('UNSUPPORTED', `${where}: weight ${spec.name} has dtype ${JSON.stringify(spec.dtype)}, expected "float32"`)
      if (spec.quantization !== undefined) throw new StudioError('UNSUPPORTED', `${where}: weight ${spec.name} is quantized, expected plain float32`)
      if (!Array.isArray(spec.shape) || !spec.shape.every((size) => Number.isSafeInteger(size) && (size as number) >= 0)) {
        throw badInput(`${where}: weight ${spec.name} has shape ${JSON.stringify(spec.shape)}, expected non-negative integers`)
      }
      if (names.has(spec.name)) throw badInput(`${where}: weight ${spec.name} is listed twice`)
      names.add(spec.name)
      specs.push({ name: spec.name, shape: spec.shape as number[], dtype: 'float32' })
    }
    const bytes = specs.reduce((sum, spec) => sum + 4 * elementCount(spec.shape), 0)
    let onDisk = 0
    for (const file of files) {
      if (!existsSync(file)) throw new StudioError('NOT_FOUND', `${where}: weight file ${relative(folder, file)} is missing`)
      // A link inside the folder may still point outside it.
      const real = realpathSync(file)
      if (!real.startsWith(realFolder + sep)) throw badInput(`${where}: weight file ${relative(folder, file)} resolves to ${real}, outside ${realFolder}`)
      onDisk += statSync(file).size
    }
    if (onDisk !== bytes) throw badInput(`${where}: the weight files hold ${onDisk} bytes, expected ${bytes} for the float32 weights listed`)
    groups.push({ files, specs, bytes })
  })

  // Each weight is read straight into its own array, across shard boundaries.
  const weights = new Map<string, WeightArray>()
  for (const group of groups) {
    const sizes = group.files.map((file) => statSync(file).size)
    let shard = 0
    let inShard = 0
    for (const spec of group.specs) {
      const data = new Float32Array(elementCount(spec.shape))
      const target = new Uint8Array(data.buffer)
      let filled = 0
      while (filled < target.length) {
        while (inShard === sizes[shard]) {
          shard++
          inShard = 0
        }
        const fd = openSync(group.files[shard]!, 'r')
        try {
          const want = Math.min(target.length - filled, sizes[shard]! - inShard)
          let read = 0
          while (read < want) {
            const count = readSync(fd, target, filled + read, want - read, inShard + read)
            if (count === 0) throw badInput(`${source}: weight file ${relative(folder, group.files[shard]!)} ended early (changed while being read?)`)
            read += count
          }
          filled += want
          inShard += want
        } finally {
          closeSync(fd)
        }
      }
      weights.set(spec.name, { shape: [...spec.shape], data })
    }
  }
  return {
    bertConfig,
    architecture: json.architecture as BertArchitecture,
    id2label: (id2label as string[] | null | undefined) ?? null,
    problemType: (json.problemType as ProblemType | null | undefined) ?? null,
    weights,
    modelJson: json as unknown as TfjsModelJson,
  }
}
