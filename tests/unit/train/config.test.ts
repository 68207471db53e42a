import { describe, expect, it } from 'vitest'
import {
  accumulationSteps,
  defaultTrainConfig,
  parseTrainConfig,
  totalSteps,
  trainConfigFromJson,
  trainConfigToJson,
} from '../../../src-main/core/train/config.ts'
import { learningRateAt, warmupSteps } from '../../../src-main/core/train/schedule.ts'

describe('TrainConfig', () => {
  it('composes each component’s defaults', () => {
    const config = defaultTrainConfig()
    expect(config.optimizer).toEqual({ learningRate: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-6, weightDecay: 0.01 })
    expect(config.schedule).toEqual({ warmupFraction: 0.1 })
    expect(config.maxGradNorm).toBe(1)
    expect(config.checkpoint).toEqual({ intervalSteps: 1000, keepLast: 3, keepBest: true })
    expect(accumulationSteps(config)).toBe(1)
    expect(Object.isFrozen(config.optimizer)).toBe(true)
  })

  it('round-trips through JSON and fills a partial config from the defaults', () => {
    const config = parseTrainConfig({ batchSize: 64, microBatchSize: 16, optimizer: { learningRate: 5e-4 }, seed: 7, validation: { maxBatches: null } })
    expect(config.optimizer.beta2).toBe(0.999)
    expect(accumulationSteps(config)).toBe(4)
    expect(trainConfigFromJson(trainConfigToJson(config))).toEqual(config)
    // A batch size alone means no accumulation.
    expect(parseTrainConfig({ batchSize: 8 }).microBatchSize).toBe(8)
  })

  it('rejects unknown keys by their path', () => {
    expect(() => parseTrainConfig({ optimizer: { learningRat: 1 } })).toThrow(/Unknown key optimizer\.learningRat in the train config; expected one of learningRate, /)
    expect(() => parseTrainConfig({ warmup: 3 })).toThrow(/Unknown key warmup/)
  })

  it('says what was found against what was expected', () => {
    expect(() => parseTrainConfig({ batchSize: 32, microBatchSize: 12 })).toThrow(
      'batchSize (32) is not a multiple of microBatchSize (12); expected microBatchSize to divide batchSize',
    )
    expect(() => parseTrainConfig({ optimizer: { beta1: 1 } })).toThrow('optimizer.beta1 is 1, expected a number in [0, 1)')
    expect(() => parseTrainConfig({ steps: 2.5 })).toThrow('steps is 2.5, expected an integer ≥ 1')
    expect(() => parseTrainConfig({ seed: '42' })).toThrow('seed is "42", expected a number')
    expect(() => parseTrainConfig({ checkpoint: { keepBest: 1 } })).toThrow('checkpoint.keepBest is 1, expected true or false')
    expect(() => parseTrainConfig({ steps: 10, epochs: 2 })).toThrow('steps is 10 and epochs is 2; expected exactly one of them to be set')
    expect(() => trainConfigFromJson('{')).toThrow(/not valid JSON/)
  })

  it('turns epochs into steps from the number of instances', () => {
    const config = parseTrainConfig({ epochs: 2, batchSize: 10 })
    expect(config.steps).toBeNull()
    expect(totalSteps(config, 95)).toBe(19)
    expect(() => totalSteps(config)).toThrow(/expected a count ≥ 1/)
    expect(totalSteps(parseTrainConfig({ steps: 5 }))).toBe(5)
  })
})

describe('learning-rate schedule', () => {
  const schedule = { warmupFraction: 0.1 }
  const peak = 1e-4
  it('warms up linearly from 0, peaks at the end of warm-up, decays linearly to 0 at the end', () => {
    expect(warmupSteps(schedule, 100)).toBe(10)
    expect(learningRateAt(peak, schedule, 100, 0)).toBe(0)
    expect(learningRateAt(peak, schedule, 100, 5)).toBeCloseTo(5e-5, 15)
    expect(learningRateAt(peak, schedule, 100, 10)).toBeCloseTo(peak, 15)
    expect(learningRateAt(peak, schedule, 100, 55)).toBeCloseTo(5e-5, 15)
    expect(learningRateAt(peak, schedule, 100, 99)).toBeCloseTo(peak / 90, 15)
    expect(learningRateAt(peak, schedule, 100, 100)).toBe(0)
    expect(learningRateAt(peak, schedule, 100, 150)).toBe(0)
  })

  it('starts at the peak without warm-up', () => {
    expect(learningRateAt(peak, { warmupFraction: 0 }, 4, 0)).toBe(peak)
    expect(learningRateAt(peak, { warmupFraction: 0 }, 4, 2)).toBeCloseTo(peak / 2, 15)
  })
})
