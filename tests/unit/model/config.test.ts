import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { BERT_PRESETS, bertConfigFromJson, bertConfigToJson, estimateTrainingMemory, makeBertConfig, parameterCount, presetConfig } from '../../../src-main/core/model/config.ts'
import { tinyConfig } from './fixtures.ts'

describe('BERT config', () => {
  it('has the published sizes as presets, intermediate 4H and BERT defaults', () => {
    expect(Object.fromEntries(Object.entries(BERT_PRESETS).map(([name, p]) => [name, `${p.layers}/${p.hidden}/${p.heads}`]))).toEqual({
      tiny: '2/128/2',
      mini: '4/256/4',
      small: '4/512/8',
      medium: '8/512/8',
      base: '12/768/12',
    })
    const small = presetConfig('small', 8000)
    expect(small).toMatchObject({ vocab_size: 8000, intermediate_size: 2048, max_position_embeddings: 512, hidden_dropout_prob: 0.1, initializer_range: 0.02, layer_norm_eps: 1e-12, type_vocab_size: 2 })
  })

  it('counts parameters as Hugging Face BertForPreTraining does (tied decoder)', () => {
    expect(parameterCount(presetConfig('tiny', 30522))).toBe(4_433_468) // ≈ 4.4M
    const base = parameterCount(presetConfig('base', 30522))
    expect(base).toBe(110_106_428) // BertModel's 109,482,240 + heads; sum(p.numel() for p in BertForPreTraining(BertConfig()).parameters())
    const config = tinyConfig()
    const model = new BertForPreTraining(config)
    expect([...model.variables.values()].reduce((sum, v) => sum + v.size, 0)).toBe(parameterCount(config))
    model.dispose()
  })

  it('estimates training memory: 16 bytes per parameter plus activations growing with batch and sequence', () => {
    const config = presetConfig('mini', 30522)
    const small = estimateTrainingMemory(config, 8, 128)
    const large = estimateTrainingMemory(config, 32, 128)
    expect(small.parameterBytes).toBe(16 * parameterCount(config))
    expect(large.activationBytes).toBeGreaterThan(3.5 * small.activationBytes)
    expect(large.totalBytes / 2 ** 30).toBeGreaterThan(2)
    expect(large.totalBytes / 2 ** 30).toBeLessThan(6)
  })

  it('says what it found against what it expected', () => {
    expect(() => makeBertConfig({ hidden_size: 100, num_attention_heads: 3 })).toThrow('The hidden size (100) is not a multiple of the number of attention heads (3)')
    expect(() => makeBertConfig({ num_hidden_layers: 0 })).toThrow('num_hidden_layers is 0, expected an integer ≥ 1')
    expect(() => makeBertConfig({ hidden_dropout_prob: 1 })).toThrow('hidden_dropout_prob is 1, expected a number in [0, 1)')
    expect(() => makeBertConfig({ vocab_size: 10, pad_token_id: 10 })).toThrow('pad_token_id is 10, expected an integer in [0, 9]')
    expect(() => makeBertConfig({ hidden_act: 'relu' as 'gelu' })).toThrow('hidden_act is "relu", expected "gelu"')
    try {
      makeBertConfig({ vocab_size: 1.5 })
    } catch (error) {
      expect((error as { code: string }).code).toBe('VALIDATION')
    }
  })

  it('round-trips through JSON and rejects unknown keys', () => {
    const config = tinyConfig({ hidden_dropout_prob: 0.05 })
    const text = bertConfigToJson(config)
    expect(Object.keys(JSON.parse(text))[0]).toBe('vocab_size')
    expect(bertConfigFromJson(text)).toEqual(config)
    expect(bertConfigFromJson(JSON.parse(text))).toEqual(config)
    expect(bertConfigFromJson('{"vocab_size": 500}')).toMatchObject({ vocab_size: 500, hidden_size: 768 })
    expect(() => bertConfigFromJson({ ...config, model_type: 'bert' })).toThrow('The model config has unknown key "model_type"')
    expect(() => bertConfigFromJson('{ nope')).toThrow('The model config is not valid JSON')
    expect(() => bertConfigFromJson('[]')).toThrow('The model config is an array, expected an object')
  })

  it('initialises deterministically from its seed', () => {
    const config = tinyConfig()
    const [a, b, c] = [new BertForPreTraining(config, { seed: 7 }), new BertForPreTraining(config, { seed: 7 }), new BertForPreTraining(config, { seed: 8 })]
    for (const [name, variable] of a.variables) expect(variable.dataSync(), name).toEqual(b.variables.get(name)!.dataSync())
    const word = 'bert.embeddings.word_embeddings.weight'
    expect(a.variables.get(word)!.dataSync()).not.toEqual(c.variables.get(word)!.dataSync())
    const values = Array.from(a.variables.get(word)!.dataSync())
    const std = Math.sqrt(values.reduce((s, x) => s + x * x, 0) / values.length)
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(0.04 + 1e-6) // truncated at 2σ
    expect(std).toBeGreaterThan(0.014)
    expect(std).toBeLessThan(0.02)
    expect(a.variables.get('bert.encoder.layer.1.output.LayerNorm.weight')!.dataSync().every((x) => x === 1)).toBe(true)
    expect(a.variables.get('cls.predictions.bias')!.dataSync().every((x) => x === 0)).toBe(true)
    for (const model of [a, b, c]) model.dispose()
    expect(tf.memory().numTensors).toBe(0)
  })
})
