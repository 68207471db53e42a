/**
 * AdamW with PyTorch's `torch.optim.AdamW` semantics (what Hugging Face's Trainer uses), and
 * global-norm gradient clipping as `torch.nn.utils.clip_grad_norm_`.
 *
 * Per variable p with gradient g, at update t (1-based), learning rate lr:
 *   p ← p · (1 − lr·wd)                      decoupled weight decay, skipped for excluded names
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 *
 * BERT's own `AdamWeightDecayOptimizer` had no bias correction and decayed after the Adam step;
 * we keep the bias correction (PyTorch/Hugging Face), so runs compare with theirs. A variable with
 * no gradient this step is left alone entirely (no decay, no moment update), as in PyTorch.
 */
import * as tf from '@tensorflow/tfjs'
import { StudioError } from '../errors.ts'
import { excludedFromWeightDecay } from './types.ts'

export interface AdamWConfig {
  readonly learningRate: number
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
  readonly weightDecay: number
}

/** BERT's pre-training optimizer settings. */
export const adamWDefaults: AdamWConfig = { learningRate: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-6, weightDecay: 0.01 }

/** The optimizer's checkpointable state: the update count and both moments per variable name. */
export interface AdamWState {
  readonly step: number
  readonly m: ReadonlyMap<string, tf.Variable>
  readonly v: ReadonlyMap<string, tf.Variable>
}

export class AdamW {
  /** Updates applied so far (PyTorch's per-parameter `step`, shared by all parameters). */
  private updates = 0
  private readonly m = new Map<string, tf.Variable>()
  private readonly v = new Map<string, tf.Variable>()

  constructor(
    private readonly variables: ReadonlyMap<string, tf.Variable>,
    readonly config: AdamWConfig = adamWDefaults,
    private readonly excluded: (name: string) => boolean = excludedFromWeightDecay,
  ) {
    // Slots exist from the start (zeros) so a checkpoint always has them and memory stays flat.
    for (const [name, variable] of variables) {
      this.m.set(name, tf.variable(tf.zerosLike(variable), false))
      this.v.set(name, tf.variable(tf.zerosLike(variable), false))
    }
  }

  get step(): number {
    return this.updates
  }

  state(): AdamWState {
    return { step: this.updates, m: this.m, v: this.v }
  }

  /** Restores a checkpoint's moments (by variable name, same shapes) and update count. */
  load(step: number, m: ReadonlyMap<string, Float32Array>, v: ReadonlyMap<string, Float32Array>): void {
    if (!Number.isInteger(step) || step < 0) throw new StudioError('VALIDATION', `The optimizer step is ${step}, expected an integer ≥ 0`)
    for (const [kind, source, target] of [['m', m, this.m], ['v', v, this.v]] as const) {
      for (const [name, slot] of target) {
        const values = source.get(name)
        if (!values) throw new StudioError('VALIDATION', `The checkpoint has no Adam ${kind} for ${name}`)
        if (values.length !== slot.size) {
          throw new StudioError('VALIDATION', `Adam ${kind} for ${name} has ${values.length} values, expected ${slot.size} (shape [${slot.shape.join(', ')}])`)
        }
        slot.assign(tf.tensor(values, slot.shape, 'float32'))
      }
      for (const name of source.keys()) {
        if (!target.has(name)) throw new StudioError('VALIDATION', `The checkpoint has Adam ${kind} for ${name}, which the model does not have`)
      }
    }
    this.updates = step
  }

  /**
   * One update from `grads` (by variable name), each first multiplied by `gradientScale` (the
   * trainer folds gradient averaging and clipping into it).
   */
  apply(grads: ReadonlyMap<string, tf.Tensor>, learningRate: number, gradientScale = 1): void {
    const { beta1, beta2, epsilon, weightDecay } = this.config
    const t = this.updates + 1
    const stepSize = learningRate / (1 - beta1 ** t)
    const sqrtBiasCorrection2 = Math.sqrt(1 - beta2 ** t)
    const decayFactor = 1 - learningRate * weightDecay
    for (const [name, grad] of grads) {
      const variable = this.variables.get(name)
      const m = this.m.get(name)
      const v = this.v.get(name)
      if (!variable || !m || !v) throw new StudioError('INTERNAL', `A gradient for ${name}, which the optimizer does not know`)
      tf.tidy(() => {
        const g = gradientScale === 1 ? grad : tf.mul(grad, gradientScale)
        const nextM = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1))
        const nextV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2))
        const decayed = weightDecay !== 0 && !this.excluded(name) ? tf.mul(variable, decayFactor) : variable
        const denominator = tf.add(tf.div(tf.sqrt(nextV), sqrtBiasCorrection2), epsilon)
        m.assign(nextM)
        v.assign(nextV)
        variable.assign(tf.sub(decayed, tf.mul(tf.div(nextM, denominator), stepSize)))
      })
    }
    this.updates = t
  }

  dispose(): void {
    for (const slot of [...this.m.values(), ...this.v.values()]) slot.dispose()
    this.m.clear()
    this.v.clear()
  }
}

/** √(Σ‖g‖²) over every gradient, as a scalar tensor (the caller disposes it). */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const squares = [...grads].map((g) => tf.sum(tf.square(g)))
    return squares.length === 0 ? tf.scalar(0) : (tf.sqrt(tf.addN(squares)) as tf.Scalar)
  })
}

/**
 * The factor `clip_grad_norm_` multiplies every gradient by: maxNorm / (norm + 1e-6) when that is
 * below 1, else 1. A maxNorm of 0 disables clipping.
 */
export function clipCoefficient(norm: number, maxNorm: number): number {
  if (maxNorm <= 0) return 1
  return Math.min(1, maxNorm / (norm + 1e-6))
}
