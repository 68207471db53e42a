import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { type MatMulStrategy, setMatMulStrategy } from '../../../src-main/core/model/ops.ts'
import { makeBatch, random, tinyConfig } from './fixtures.ts'

/**
 * Every variable's gradient against central finite differences, dropout off. Float32 losses make
 * differences noisy, so each variable is checked along (a) its coordinate with the largest
 * gradient and (b) a random unit direction over all its coordinates, with a relative tolerance
 * plus a small absolute floor for the float32 noise (≈ loss · 1e-7 / eps).
 */
async function gradientCheck(backend: 'cpu' | 'wasm', strategy: MatMulStrategy) {
  await initBackend(backend, {})
  setMatMulStrategy(strategy)
  // A wider initialisation than BERT's 0.02, so attention and deep layers get gradients well above float32 noise.
  const config = tinyConfig({ initializer_range: 0.2 })
  const model = new BertForPreTraining(config, { seed: 3 })
  const batch = makeBatch(config, 2, 8, 3)
  const loss = () => model.forward(batch, { training: false }).loss
  const evaluate = () => tf.tidy(() => loss().dataSync()[0]!)
  const variables = [...model.variables]
  const { value, grads } = tf.variableGrads(loss, variables.map(([, v]) => v))
  value.dispose()
  const next = random(11)
  const failures: string[] = []
  const eps = 1e-2
  for (const [name, variable] of variables) {
    const gradient = grads[variable.name]!.dataSync() as Float32Array
    const original = variable.dataSync().slice() as Float32Array
    const along = (direction: Float32Array) => {
      const shifted = (sign: number) => {
        const values = original.map((w, i) => w + sign * eps * direction[i]!)
        variable.assign(tf.tensor(values, variable.shape))
        return evaluate()
      }
      const numeric = (shifted(1) - shifted(-1)) / (2 * eps)
      variable.assign(tf.tensor(original, variable.shape))
      let analytic = 0
      for (let i = 0; i < direction.length; i++) analytic += gradient[i]! * direction[i]!
      return { numeric, analytic }
    }
    let largest = 0
    for (let i = 1; i < gradient.length; i++) if (Math.abs(gradient[i]!) > Math.abs(gradient[largest]!)) largest = i
    const coordinate = new Float32Array(gradient.length)
    coordinate[largest] = 1
    const randomDirection = Float32Array.from({ length: gradient.length }, () => next() - 0.5)
    const norm = Math.hypot(...randomDirection)
    for (let i = 0; i < randomDirection.length; i++) randomDirection[i]! /= norm
    for (const [kind, direction] of [['largest coordinate', coordinate], ['random direction', randomDirection]] as const) {
      const { numeric, analytic } = along(direction)
      const error = Math.abs(numeric - analytic)
      if (!(error <= 1e-2 * Math.max(Math.abs(numeric), Math.abs(analytic)) + 3e-4)) failures.push(`${name} (${kind}): analytic ${analytic}, numeric ${numeric}`)
    }
  }
  for (const g of Object.values(grads)) g.dispose()
  model.dispose()
  setMatMulStrategy(undefined)
  return { failures, checked: variables.length }
}

describe('BertForPreTraining gradients match finite differences', () => {
  afterAll(() => setMatMulStrategy(undefined))
  for (const [backend, strategy] of [
    ['cpu', 'untransposed'],
    ['cpu', 'native'],
    ['wasm', 'untransposed'],
  ] as const) {
    it(`on ${backend} with ${strategy} products`, async () => {
      const { failures, checked } = await gradientCheck(backend, strategy)
      expect(checked).toBe(5 + 16 * 2 + 9)
      expect(failures).toEqual([])
    })
  }
})
