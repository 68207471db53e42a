/**
 * Equivalence against an independent implementation (STYLE 10): the exported folder is read by
 * a Python script that parses model.safetensors by hand and runs transformers' BertForPreTraining
 * forward pass in plain PyTorch by state-dict name. Skipped where python3 has no torch.
 */
import * as tf from '@tensorflow/tfjs'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportHuggingFace } from '../../../src-main/core/io/huggingface.ts'
import { initBackend } from '../../../src-main/core/model/backend.ts'
import { BertForPreTraining } from '../../../src-main/core/model/bert.ts'
import { defaultSettings } from '../../../src-main/core/tokenizer/format.ts'
import { repoRoot, tempDir } from '../helpers.ts'
import { makeBatch, tinyConfig } from '../model/fixtures.ts'

// The first interpreter with torch (Debian's python3-torch lives under /usr/bin, not in a pyenv shim).
const python = [process.env.STUDIO_PYTHON, 'python3', '/usr/bin/python3']
  .filter((candidate): candidate is string => Boolean(candidate))
  .find((candidate) => spawnSync(candidate, ['-c', 'import torch, numpy'], { timeout: 60_000 }).status === 0)
const torchAvailable = python !== undefined
if (!torchAvailable) {
  process.stderr.write('skip: PyTorch reference check — no python3 with torch and numpy here (apt-get install python3-torch; .ci/run installs it)\n')
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string) {
  expect(actual.length, what).toBe(expected.length)
  let worst = 0
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
  expect(worst, `${what}: largest difference`).toBeLessThan(tolerance)
}

describe.skipIf(!torchAvailable)('a Hugging Face export read by an independent PyTorch BERT', () => {
  const temp = tempDir('studio-hf-reference-')
  const config = tinyConfig()
  let model: BertForPreTraining
  beforeAll(async () => {
    await initBackend('cpu', {})
    model = new BertForPreTraining(config, { seed: 11 })
  })
  afterAll(() => {
    model.dispose()
    temp.cleanup()
  })

  it('gives the same encoder outputs, MLM probabilities and losses', async () => {
    const dir = join(temp.path, 'export')
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: config.vocab_size - 5 }, (_, i) => `w${i}`)]
    exportHuggingFace(dir, { weights: model.variables, bertConfig: config, architecture: 'BertForPreTraining', tokenizerSpec: { vocab, settings: defaultSettings(true) } })
    const B = 2
    const T = 10
    const P = 3
    const batch = makeBatch(config, B, T, P)
    const input = join(temp.path, 'input.json')
    writeFileSync(
      input,
      JSON.stringify({
        batch: B,
        seq: T,
        input_ids: [...batch.inputIds],
        token_type_ids: [...batch.tokenTypeIds],
        attention_mask: [...batch.attentionMask],
        masked_positions: [...batch.maskedPositions],
        masked_ids: [...batch.maskedIds],
        masked_weights: [...batch.maskedWeights],
        nsp_labels: [...batch.nextSentenceLabels],
      }),
    )
    const run = spawnSync(python!, [join(repoRoot, 'tests', 'fixtures', 'io', 'hf_reference.py'), dir, input], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })
    expect(run.stderr + (run.error?.message ?? ''), 'hf_reference.py failed').toBe('')
    const reference = JSON.parse(run.stdout) as { sequence_output: number[]; pooled_output: number[]; mlm_probabilities: number[]; mlm_loss: number; nsp_loss: number }

    const [sequence, pooled] = tf.tidy(() => {
      const outputs = model.encode(tf.tensor2d(batch.inputIds, [B, T], 'int32'), tf.tensor2d(batch.tokenTypeIds, [B, T], 'int32'), tf.tensor2d(batch.attentionMask, [B, T], 'int32'))
      return [outputs.sequenceOutput.dataSync(), outputs.pooledOutput.dataSync()]
    })
    expectClose(sequence!, reference.sequence_output, 1e-4, 'sequence output')
    expectClose(pooled!, reference.pooled_output, 1e-4, 'pooled output')

    const predictions = await model.fillMask(batch, config.vocab_size)
    const rows = [...batch.maskedWeights.keys()].filter((row) => batch.maskedWeights[row] !== 0)
    expect(predictions).toHaveLength(rows.length)
    predictions.forEach((prediction, i) => {
      const byId = new Float32Array(config.vocab_size)
      for (const candidate of prediction.candidates) byId[candidate.tokenId] = candidate.probability
      const row = rows[i]!
      expectClose(byId, reference.mlm_probabilities.slice(row * config.vocab_size, (row + 1) * config.vocab_size), 1e-5, `MLM probabilities, row ${row}`)
    })

    const outputs = model.forward(batch, { training: false })
    expect(outputs.mlmLoss.dataSync()[0]).toBeCloseTo(reference.mlm_loss, 4)
    expect(outputs.nspLoss.dataSync()[0]).toBeCloseTo(reference.nsp_loss, 4)
    tf.dispose(Object.values(outputs))
  })
})
