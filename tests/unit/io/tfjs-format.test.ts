import * as tf from '@tensorflow/tfjs'
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkWeightPath, exportTfjs, readTfjsModel, TFJS_SHARD_BYTES } from '../../../src-main/core/io/tfjs-format.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { defaultSettings } from '../../../src-main/core/tokenizer/format.ts'
import { tempDir } from '../helpers.ts'
import { tinyConfig } from '../model/fixtures.ts'

const temp = tempDir('studio-tfjs-')
afterAll(() => temp.cleanup())

const config = tinyConfig()
let model: BertForPreTraining
beforeAll(async () => {
  await initBackend('cpu', {})
  model = new BertForPreTraining(config, { seed: 5 })
})
afterAll(() => model.dispose())

/** A copy of `dir` whose model.json is changed by `patch`. */
function withManifest(dir: string, name: string, patch: (json: any) => void): string {
  const copy = join(temp.path, name)
  mkdirSync(copy)
  for (const file of readdirSync(dir)) writeFileSync(join(copy, file), readFileSync(join(dir, file)))
  const json = JSON.parse(readFileSync(join(copy, 'model.json'), 'utf8'))
  patch(json)
  writeFileSync(join(copy, 'model.json'), JSON.stringify(json))
  return copy
}

describe('exportTfjs', () => {
  let dir: string
  const shardBytes = 20_000

  beforeAll(() => {
    dir = join(temp.path, 'tfjs')
    const tokenizerSpec = { vocab: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a'], settings: defaultSettings(true) }
    exportTfjs(dir, { weights: model.variables, bertConfig: config, architecture: 'BertForPreTraining', tokenizerSpec, shardBytes })
  })

  it('writes a weights manifest with shards no larger than the limit, weights straddling shard boundaries', () => {
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    expect(json).toMatchObject({ format: 'bert-studio', modelTopology: null, architecture: 'BertForPreTraining', bertConfig: { ...config }, weightLayout: 'dense-in-out' })
    expect(json.weightsManifest).toHaveLength(1)
    const { paths, weights } = json.weightsManifest[0]
    const total = weights.reduce((sum: number, w: { shape: number[] }) => sum + 4 * w.shape.reduce((a, b) => a * b, 1), 0)
    expect(paths.length).toBe(Math.ceil(total / shardBytes))
    expect(paths[0]).toBe(`group1-shard1of${paths.length}.bin`)
    const sizes = paths.map((path: string) => statSync(join(dir, path)).size)
    expect(sizes.every((size: number) => size <= shardBytes)).toBe(true)
    expect(sizes.reduce((a: number, b: number) => a + b, 0)).toBe(total)
    expect(weights.map((w: { name: string }) => w.name)).toEqual([...model.variables.keys()].sort())
    expect(weights.every((w: { dtype: string }) => w.dtype === 'float32')).toBe(true)
    expect(readdirSync(dir)).toContain('vocab.txt')
    expect(TFJS_SHARD_BYTES).toBe(4 * 1024 * 1024)
  })

  it('loads with tf.io.loadWeights (files served through the platform fetch) and tf.io.decodeWeights', async () => {
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    const platform = tf.env().platform as unknown as { fetch: (path: string) => Promise<Response> }
    const originalFetch = platform.fetch
    const fetched: string[] = []
    platform.fetch = async (path: string) => {
      fetched.push(path)
      return new Response(readFileSync(path.replace(/^file:\/\//, '')))
    }
    let loaded: tf.NamedTensorMap
    try {
      loaded = await tf.io.loadWeights(json.weightsManifest, `file://${dir}/`)
    } finally {
      platform.fetch = originalFetch
    }
    expect(fetched).toHaveLength(json.weightsManifest[0].paths.length)
    for (const [name, variable] of model.variables) {
      expect(loaded[name]!.shape, name).toEqual(variable.shape)
      expect(loaded[name]!.dataSync(), name).toEqual(variable.dataSync())
    }
    tf.dispose(Object.values(loaded))

    const concatenated = Buffer.concat(json.weightsManifest[0].paths.map((path: string) => readFileSync(join(dir, path))))
    const decoded = tf.io.decodeWeights(concatenated.buffer.slice(concatenated.byteOffset, concatenated.byteOffset + concatenated.length), json.weightsManifest[0].weights)
    expect(decoded['cls.predictions.bias']!.dataSync()).toEqual(model.variables.get('cls.predictions.bias')!.dataSync())
    tf.dispose(Object.values(decoded))
  })

  it('reads back bit-exact', () => {
    const read = readTfjsModel(dir)
    expect(read.bertConfig).toEqual(config)
    expect(read.architecture).toBe('BertForPreTraining')
    for (const [name, variable] of model.variables) {
      const weight = read.weights.get(name)!
      expect(weight.shape).toEqual(variable.shape)
      expect(Buffer.from(weight.data.buffer).equals(Buffer.from((variable.dataSync() as Float32Array).buffer)), name).toBe(true)
    }
  })

  it('refuses weight paths that leave the folder, with a clear message', () => {
    for (const [path, why] of [
      ['../x.bin', 'leaves the model folder'],
      ['shards/../../x.bin', 'leaves the model folder'],
      ['..\\x.bin', 'leaves the model folder'],
      ['/etc/passwd', 'is an absolute path'],
      ['C:\\weights.bin', 'is an absolute path'],
      ['\\\\server\\share\\x.bin', 'is an absolute path'],
      ['https://example.com/x.bin', 'is a URL'],
      ['file:///etc/passwd', 'is a URL'],
      ['.', 'leaves the model folder'],
    ] as const) {
      expect(() => checkWeightPath(dir, path, 'model.json'), path).toThrow(`model.json: weight path ${JSON.stringify(path)} ${why}; expected a file name inside ${dir}`)
    }
    expect(checkWeightPath(dir, 'shards/group1-shard1of1.bin', 'model.json')).toBe(join(dir, 'shards', 'group1-shard1of1.bin'))

    const firstShard = json0(dir).weightsManifest[0].paths[0]
    const escaping = withManifest(dir, 'escaping', (json) => {
      json.weightsManifest[0].paths[0] = `../tfjs/${firstShard}`
    })
    expect(() => readTfjsModel(escaping)).toThrow(`weight path "../tfjs/${firstShard}" leaves the model folder`)

    const linked = withManifest(dir, 'linked', (json) => {
      json.weightsManifest[0].paths[0] = 'link.bin'
    })
    symlinkSync(join(dir, firstShard), join(linked, 'link.bin'))
    expect(() => readTfjsModel(linked)).toThrow(/weight file link.bin resolves to .*, outside/)
  })

  it('refuses sizes that disagree with the manifest, other dtypes, and an existing target', () => {
    const short = withManifest(dir, 'short', (json) => {
      json.weightsManifest[0].weights[0].shape = [99, 33]
    })
    expect(() => readTfjsModel(short)).toThrow(/the weight files hold \d+ bytes, expected \d+ for the float32 weights listed/)
    const int = withManifest(dir, 'int', (json) => {
      json.weightsManifest[0].weights[0].dtype = 'int32'
    })
    expect(() => readTfjsModel(int)).toThrow('has dtype "int32", expected "float32"')
    expect(() => exportTfjs(dir, { weights: model.variables, bertConfig: config, architecture: 'BertForPreTraining' })).toThrow('already exists')
  })
})

function json0(dir: string) {
  return JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
}
