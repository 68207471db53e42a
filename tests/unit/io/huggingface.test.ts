import * as tf from '@tensorflow/tfjs'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assignWeights, exportHuggingFace, importHuggingFace } from '../../../src-main/core/io/huggingface.ts'
import { readSafetensors, writeSafetensors } from '../../../src-main/core/io/safetensors.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { defaultSettings, type TokenizerSpec } from '../../../src-main/core/tokenizer/format.ts'
import { tempDir } from '../helpers.ts'
import { makeBatch, tinyConfig } from '../model/fixtures.ts'

const temp = tempDir('studio-hf-')
afterAll(() => temp.cleanup())

const config = tinyConfig()
const H = config.hidden_size
const tokenizerSpec: TokenizerSpec = {
  vocab: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: config.vocab_size - 5 }, (_, i) => `w${i}`)],
  settings: defaultSettings(true),
}

let model: BertForPreTraining
beforeAll(async () => {
  await initBackend('cpu', {})
  model = new BertForPreTraining(config, { seed: 3 })
})
afterAll(() => model.dispose())

/** Values seeded by name, for heads the pre-training model lacks. */
function head(shape: number[], seed: number): { shape: number[]; data: Float32Array } {
  const count = shape.reduce((a, b) => a * b, 1)
  return { shape, data: Float32Array.from({ length: count }, (_, i) => Math.sin(seed * 1000 + i)) }
}

describe('exportHuggingFace', () => {
  it('writes BertForPreTraining as transformers saves it and imports back bit-exact, with identical forward outputs', () => {
    const dir = join(temp.path, 'pretraining')
    const result = exportHuggingFace(dir, {
      weights: model.variables,
      bertConfig: config,
      architecture: 'BertForPreTraining',
      tokenizerSpec,
      modelCard: { title: 'Tiny test BERT', task: 'masked language modelling', data: [{ name: 'demo corpus', size: '3 documents' }], metrics: { mlm_accuracy: 0.123456789 }, trainingConfig: { steps: 10 }, date: '2025-01-02' },
    })
    expect(result.ignoredWeights).toEqual([])
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'])
    expect(readdirSync(temp.path).filter((name) => name.endsWith('.tmp'))).toEqual([])

    const configJson = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    expect(configJson).toMatchObject({ architectures: ['BertForPreTraining'], model_type: 'bert', hidden_size: H, vocab_size: 99, pad_token_id: 0, torch_dtype: 'float32', position_embedding_type: 'absolute' })
    expect(typeof configJson.transformers_version).toBe('string')
    expect(configJson.id2label).toBeUndefined()
    expect(Object.keys(configJson)).toEqual([...Object.keys(configJson)].sort())

    const file = readSafetensors(join(dir, 'model.safetensors'))
    expect(file.metadata).toEqual({ format: 'pt' })
    const names = [...file.tensors.keys()]
    expect(names).toEqual([...names].sort())
    expect(names).toEqual([...model.variables.keys()].sort())
    expect(names.some((name) => name.startsWith('cls.predictions.decoder'))).toBe(false)
    // nn.Linear orientation: [out, in].
    const intermediate = file.tensors.get('bert.encoder.layer.0.intermediate.dense.weight')!
    expect(intermediate.shape).toEqual([config.intermediate_size, H])
    const kernel = model.variables.get('bert.encoder.layer.0.intermediate.dense.weight')!.arraySync() as number[][]
    expect(intermediate.data[1 * H + 2]).toBe(kernel[2]![1])
    expect(file.tensors.get('cls.seq_relationship.weight')!.shape).toEqual([2, H])
    expect(file.tensors.get('bert.embeddings.word_embeddings.weight')!.shape).toEqual([99, H])

    const readme = readFileSync(join(dir, 'README.md'), 'utf8')
    expect(readme).toMatch(/^---\nlibrary_name: transformers\npipeline_tag: fill-mask\n/)
    expect(readme).toContain('# Tiny test BERT')
    expect(readme).toContain('demo corpus')
    expect(readme).toContain('| mlm_accuracy | 0.123457 |')
    expect(readme).toContain('"steps": 10')
    expect(readme).toContain('2025-01-02')

    const imported = importHuggingFace(dir)
    expect(imported.architecture).toBe('BertForPreTraining')
    expect(imported.heads).toEqual({ pooler: true, mlm: true, nsp: true, classifier: false, qaOutputs: false })
    expect(imported.bertConfig).toEqual(config)
    expect(imported.tokenizerSpec).toEqual(tokenizerSpec)
    expect(imported.id2label).toBeNull()
    expect([...imported.weights.keys()].sort()).toEqual([...model.variables.keys()].sort())
    for (const [name, variable] of model.variables) {
      const weight = imported.weights.get(name)!
      expect(weight.shape, name).toEqual(variable.shape)
      expect(Buffer.from(weight.data.buffer, weight.data.byteOffset, weight.data.byteLength).equals(Buffer.from((variable.dataSync() as Float32Array).buffer)), name).toBe(true)
    }

    const loaded = new BertForPreTraining(imported.bertConfig, { seed: 99 })
    try {
      expect(assignWeights(loaded.variables, imported.weights)).toEqual([])
      const batch = makeBatch(config, 2, 8, 2)
      const before = model.forward(batch, { training: false })
      const after = loaded.forward(batch, { training: false })
      expect(after.loss.dataSync()[0]).toBe(before.loss.dataSync()[0])
      expect(after.mlmLoss.dataSync()[0]).toBe(before.mlmLoss.dataSync()[0])
      expect(after.nspLoss.dataSync()[0]).toBe(before.nspLoss.dataSync()[0])
      const encoded = tf.tidy(() => {
        const ids = tf.tensor2d(batch.inputIds, [2, 8], 'int32')
        const types = tf.tensor2d(batch.tokenTypeIds, [2, 8], 'int32')
        const mask = tf.tensor2d(batch.attentionMask, [2, 8], 'int32')
        return [model.encode(ids, types, mask).sequenceOutput.dataSync(), loaded.encode(ids, types, mask).sequenceOutput.dataSync()]
      })
      expect(encoded[1]).toEqual(encoded[0])
      for (const output of [before, after]) for (const tensor of Object.values(output)) tensor.dispose()
    } finally {
      loaded.dispose()
    }
  })

  it('never overwrites an existing folder and leaves no temp folder behind', () => {
    const dir = join(temp.path, 'exists')
    mkdirSync(dir)
    expect(() => exportHuggingFace(dir, { weights: model.variables, bertConfig: config, architecture: 'BertForPreTraining', tokenizerSpec })).toThrow(`${dir} already exists`)
    expect(readdirSync(dir)).toEqual([])
    // A failure midway (a missing weight) cleans up.
    const partial = new Map([...model.variables].filter(([name]) => name !== 'cls.predictions.bias'))
    expect(() => exportHuggingFace(join(temp.path, 'partial'), { weights: partial, bertConfig: config, architecture: 'BertForPreTraining', tokenizerSpec })).toThrow(
      'BertForPreTraining needs 1 weight not given: cls.predictions.bias',
    )
    expect(existsSync(join(temp.path, 'partial'))).toBe(false)
    expect(readdirSync(temp.path).filter((name) => name.endsWith('.tmp'))).toEqual([])
  })

  it('writes the classifier heads with labels, without a pooler for token classification and QA', () => {
    const encoderAndPooler = new Map([...model.variables].filter(([name]) => name.startsWith('bert.')))

    const sequence = join(temp.path, 'sequence')
    exportHuggingFace(sequence, {
      weights: new Map<string, tf.Tensor | { shape: number[]; data: Float32Array }>([...encoderAndPooler, ['classifier.weight', head([H, 3], 1)], ['classifier.bias', head([3], 2)]]),
      bertConfig: config,
      architecture: 'BertForSequenceClassification',
      id2label: ['billing', 'bug', 'praise'],
      problemType: 'multi_label_classification',
      tokenizerSpec,
    })
    const sequenceConfig = JSON.parse(readFileSync(join(sequence, 'config.json'), 'utf8'))
    expect(sequenceConfig.architectures).toEqual(['BertForSequenceClassification'])
    expect(sequenceConfig.id2label).toEqual({ 0: 'billing', 1: 'bug', 2: 'praise' })
    expect(Object.keys(sequenceConfig.id2label)).toEqual(['0', '1', '2'])
    expect(sequenceConfig.label2id).toEqual({ billing: 0, bug: 1, praise: 2 })
    expect(sequenceConfig.problem_type).toBe('multi_label_classification')
    const sequenceTensors = readSafetensors(join(sequence, 'model.safetensors')).tensors
    expect(sequenceTensors.get('classifier.weight')!.shape).toEqual([3, H])
    expect(sequenceTensors.has('bert.pooler.dense.weight')).toBe(true)
    const sequenceImport = importHuggingFace(sequence)
    expect(sequenceImport.architecture).toBe('BertForSequenceClassification')
    expect(sequenceImport.id2label).toEqual(['billing', 'bug', 'praise'])
    expect(sequenceImport.problemType).toBe('multi_label_classification')
    expect(sequenceImport.weights.get('classifier.weight')).toEqual(head([H, 3], 1))

    const token = join(temp.path, 'token')
    const tokenResult = exportHuggingFace(token, {
      weights: new Map<string, tf.Tensor | { shape: number[]; data: Float32Array }>([...model.variables, ['classifier.weight', head([H, 2], 3)], ['classifier.bias', head([2], 4)]]),
      bertConfig: config,
      architecture: 'BertForTokenClassification',
      id2label: ['O', 'B-ORG'],
      tokenizerSpec,
    })
    expect(tokenResult.ignoredWeights).toContain('bert.pooler.dense.weight')
    expect(tokenResult.ignoredWeights).toContain('cls.predictions.bias')
    const tokenNames = [...readSafetensors(join(token, 'model.safetensors')).tensors.keys()]
    expect(tokenNames.some((name) => name.startsWith('bert.pooler') || name.startsWith('cls.'))).toBe(false)
    expect(importHuggingFace(token).heads).toEqual({ pooler: false, mlm: false, nsp: false, classifier: true, qaOutputs: false })

    const qa = join(temp.path, 'qa')
    exportHuggingFace(qa, {
      weights: new Map<string, tf.Tensor | { shape: number[]; data: Float32Array }>([...encoderAndPooler, ['qa_outputs.weight', head([H, 2], 5)], ['qa_outputs.bias', head([2], 6)]]),
      bertConfig: config,
      architecture: 'BertForQuestionAnswering',
      tokenizerSpec,
    })
    const qaConfig = JSON.parse(readFileSync(join(qa, 'config.json'), 'utf8'))
    expect(qaConfig.id2label).toBeUndefined()
    const qaTensors = readSafetensors(join(qa, 'model.safetensors')).tensors
    expect(qaTensors.get('qa_outputs.weight')!.shape).toEqual([2, H])
    expect(qaTensors.has('bert.pooler.dense.bias')).toBe(false)
    expect(importHuggingFace(qa).weights.get('qa_outputs.weight')).toEqual(head([H, 2], 5))
  })

  it('says actual vs expected for a wrong head shape or label count', () => {
    const encoder = [...model.variables].filter(([name]) => name.startsWith('bert.'))
    expect(() =>
      exportHuggingFace(join(temp.path, 'labels'), {
        weights: new Map<string, tf.Tensor | { shape: number[]; data: Float32Array }>([...encoder, ['classifier.weight', head([H, 3], 1)], ['classifier.bias', head([3], 2)]]),
        bertConfig: config,
        architecture: 'BertForSequenceClassification',
        id2label: ['a', 'b'],
        tokenizerSpec,
      }),
    ).toThrow('id2label has 2 labels but classifier.bias has 3')
    expect(() =>
      exportHuggingFace(join(temp.path, 'shape'), {
        weights: new Map<string, tf.Tensor | { shape: number[]; data: Float32Array }>([...encoder, ['qa_outputs.weight', head([H, 3], 1)], ['qa_outputs.bias', head([2], 2)]]),
        bertConfig: config,
        architecture: 'BertForQuestionAnswering',
        tokenizerSpec,
      }),
    ).toThrow(`Weight qa_outputs.weight has shape [${H}, 3], expected [${H}, 2] for the model config`)
  })
})

describe('importHuggingFace', () => {
  /** A copy of the pre-training export whose model.safetensors holds `tensors` instead. */
  function variant(name: string, rename: (name: string) => string | null, extra: { name: string; shape: number[]; data: Float32Array }[] = [], configPatch: Record<string, unknown> = {}): string {
    const source = join(temp.path, 'pretraining')
    const dir = join(temp.path, name)
    mkdirSync(dir)
    for (const file of readdirSync(source)) if (file !== 'model.safetensors') writeFileSync(join(dir, file), readFileSync(join(source, file)))
    const configJson = { ...JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')), ...configPatch }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(configJson))
    const tensors = readSafetensors(join(source, 'model.safetensors')).tensors
    const entries = [...tensors].flatMap(([tensorName, tensor]) => {
      const renamed = rename(tensorName)
      return renamed === null ? [] : [{ name: renamed, shape: tensor.shape, data: tensor.data }]
    })
    writeSafetensors(join(dir, 'model.safetensors'), [...entries, ...extra])
    return dir
  }

  it('accepts old names (no bert. prefix, LayerNorm gamma/beta) and a tied decoder written out', () => {
    const original = readSafetensors(join(temp.path, 'pretraining', 'model.safetensors')).tensors
    const dir = variant(
      'old-names',
      (name) => name.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
      [
        { name: 'cls.predictions.decoder.weight', shape: [99, H], data: original.get('bert.embeddings.word_embeddings.weight')!.data },
        { name: 'cls.predictions.decoder.bias', shape: [99], data: original.get('cls.predictions.bias')!.data },
      ],
    )
    const imported = importHuggingFace(dir)
    expect(imported.skippedTensors.sort()).toEqual(['cls.predictions.decoder.bias', 'cls.predictions.decoder.weight'])
    const reference = importHuggingFace(join(temp.path, 'pretraining'))
    expect([...imported.weights.keys()].sort()).toEqual([...reference.weights.keys()].sort())
    for (const [name, weight] of reference.weights) expect(imported.weights.get(name), name).toEqual(weight)
  })

  it('reads a checkpoint declared BertForMaskedLM that also carries the pooler and NSP head (as bert-base-uncased), and one without them', () => {
    const full = importHuggingFace(variant('masked-lm-full', (name) => name, [], { architectures: ['BertForMaskedLM'] }))
    expect(full.architecture).toBe('BertForMaskedLM')
    expect(full.heads).toEqual({ pooler: true, mlm: true, nsp: true, classifier: false, qaOutputs: false })
    const bare = importHuggingFace(variant('masked-lm-bare', (name) => (name.startsWith('bert.pooler') || name.startsWith('cls.seq_relationship') ? null : name), [], { architectures: ['BertForMaskedLM'] }))
    expect(bare.heads).toEqual({ pooler: false, mlm: true, nsp: false, classifier: false, qaOutputs: false })
    expect(bare.weights.has('bert.pooler.dense.weight')).toBe(false)
    // No architectures: inferred from the heads present.
    expect(importHuggingFace(variant('undeclared', (name) => name, [], { architectures: undefined })).architecture).toBe('BertForPreTraining')
    expect(() => importHuggingFace(variant('multiple-choice', (name) => name, [], { architectures: ['BertForMultipleChoice'] }))).toThrow('architectures[0] is "BertForMultipleChoice", expected one of')
    expect(() => importHuggingFace(variant('half-head', (name) => (name === 'cls.seq_relationship.weight' ? null : name), [], { architectures: ['BertForMaskedLM'] }))).toThrow(
      'BertForMaskedLM needs 1 tensor the file lacks: cls.seq_relationship.weight',
    )
  })

  it('skips the int64 position_ids buffer older checkpoints hold', () => {
    const dir = variant('position-ids', (name) => name)
    // Append an I64 tensor by rewriting the header: the writer only writes F32.
    const bytes = readFileSync(join(dir, 'model.safetensors'))
    const length = Number(bytes.readBigUInt64LE(0))
    const json = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'))
    const dataLength = bytes.length - 8 - length
    json['bert.embeddings.position_ids'] = { dtype: 'I64', shape: [1, 16], data_offsets: [dataLength, dataLength + 128] }
    const text = Buffer.from(JSON.stringify(json))
    const prefix = Buffer.alloc(8)
    prefix.writeBigUInt64LE(BigInt(text.length))
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([prefix, text, bytes.subarray(8 + length), Buffer.from(new BigInt64Array(16).map((_, i) => BigInt(i)).buffer)]))
    const imported = importHuggingFace(dir)
    expect(imported.skippedTensors).toEqual(['bert.embeddings.position_ids'])
    expect(imported.weights.has('bert.embeddings.position_ids')).toBe(false)
  })

  it('refuses a non-BERT model, sizes that disagree with the tensors, and an untied decoder', () => {
    expect(() => importHuggingFace(variant('roberta', (name) => name, [], { model_type: 'roberta' }))).toThrow('model_type is "roberta", expected "bert"')
    expect(() => importHuggingFace(variant('intermediate', (name) => name, [], { intermediate_size: 64 }))).toThrow(
      /tensor "bert.encoder.layer.0.intermediate.dense.weight" has shape \[37, 32\], expected \[64, 32\] from .*config.json \(vocab_size 99, hidden_size 32, intermediate_size 64/,
    )
    expect(() => importHuggingFace(variant('layers', (name) => name, [], { num_hidden_layers: 1 }))).toThrow(/has encoder layer 1, but .*config.json says num_hidden_layers is 1/)
    expect(() => importHuggingFace(variant('missing', (name) => (name === 'cls.seq_relationship.bias' ? null : name)))).toThrow('BertForPreTraining needs 1 tensor the file lacks: cls.seq_relationship.bias')
    const untied = variant('untied', (name) => name, [{ name: 'cls.predictions.decoder.weight', shape: [99, H], data: new Float32Array(99 * H) }], { tie_word_embeddings: false })
    expect(() => importHuggingFace(untied)).toThrow('tie_word_embeddings is false')
    const noTokenizer = variant('no-tokenizer', (name) => name)
    rmSync(join(noTokenizer, 'tokenizer.json'))
    expect(importHuggingFace(noTokenizer).tokenizerSpec.vocab).toEqual(tokenizerSpec.vocab)
    rmSync(join(noTokenizer, 'vocab.txt'))
    expect(() => importHuggingFace(noTokenizer)).toThrow('no tokenizer.json or vocab.txt')
  })
})
