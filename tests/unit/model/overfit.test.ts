import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { makeBatch, tinyConfig } from './fixtures.ts'

describe('BertForPreTraining learns', () => {
  it('overfits one batch of 8 sequences (seq 16) on wasm with Adam', async () => {
    await initBackend('wasm', {})
    const config = tinyConfig({ hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 })
    const model = new BertForPreTraining(config, { seed: 4 })
    const batch = makeBatch(config, 8, 16, 3, 5)
    const optimizer = tf.train.adam(3e-3)
    const variables = [...model.variables.values()]
    let mlmAccuracy = 0
    let nspAccuracy = 0
    let steps = 0
    for (; steps < 300 && (mlmAccuracy <= 0.95 || nspAccuracy < 1); steps++) {
      tf.tidy(() => {
        let outputs: ReturnType<BertForPreTraining['forward']> | undefined
        const { value, grads } = tf.variableGrads(() => {
          outputs = model.forward(batch, { training: true, dropoutSeed: steps })
          tf.keep(outputs.mlmCorrect)
          tf.keep(outputs.mlmCount)
          tf.keep(outputs.nspCorrect)
          return outputs.loss
        }, variables)
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })))
        value.dispose()
        mlmAccuracy = outputs!.mlmCorrect.dataSync()[0]! / outputs!.mlmCount.dataSync()[0]!
        nspAccuracy = outputs!.nspCorrect.dataSync()[0]! / 8
        tf.dispose([outputs!.mlmCorrect, outputs!.mlmCount, outputs!.nspCorrect])
      })
    }
    optimizer.dispose()
    model.dispose()
    expect({ mlmAccuracy: mlmAccuracy > 0.95, nspAccuracy }).toEqual({ mlmAccuracy: true, nspAccuracy: 1 })
  })
})
