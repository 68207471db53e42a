/**
 * The primitives the model is written in, shaped for the backends it runs on.
 *
 * On wasm (and the pure-JS cpu backend) a plain 2-D `matMul(a[m,k], b[k,n])` runs 10× faster than
 * a transposed or batched one (PERFORMANCE-NOTES), and tfjs' own matmul gradients use transposed
 * products. So under the 'untransposed' strategy every product, forward and backward, is a plain
 * 2-D one: transposes are explicit `tf.transpose` calls, batched products loop over the batch.
 * Native TensorFlow (tfjs-node, CUDA) has fast transposed and batched products, so the 'native'
 * strategy uses tfjs' ops as they are.
 *
 * `gatherRows` replaces tf.gather's gradient (UnsortedSegmentSum: missing on wasm, unusably slow
 * on cpu) with a scatterND that sums duplicate indices.
 */
import * as tf from '@tensorflow/tfjs'

export type MatMulStrategy = 'untransposed' | 'native'

let forcedStrategy: MatMulStrategy | undefined

/** Overrides the per-backend choice (benchmarks, tests); undefined restores it. */
export function setMatMulStrategy(strategy: MatMulStrategy | undefined): void {
  forcedStrategy = strategy
}

export function matMulStrategy(): MatMulStrategy {
  if (forcedStrategy) return forcedStrategy
  const backend = tf.getBackend()
  return backend === 'wasm' || backend === 'cpu' ? 'untransposed' : 'native'
}

type Saved = tf.GradSaveFunc

/** a[m,k] · b[k,n], every backward product untransposed: dA = dY·transpose(B), dB = transpose(A)·dY. */
const plainMatMul = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: Saved) => {
  save([a, b])
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor2D, [sa, sb]: tf.Tensor[]) => [tf.matMul(dy, tf.transpose(sb as tf.Tensor2D)), tf.matMul(tf.transpose(sa as tf.Tensor2D), dy)],
  }
}) as never) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D

/**
 * a[m,k] · b[n,k]ᵀ: forward transposes b; backward dA = dY·B and dB = (Aᵀ·dY)ᵀ, both plain. For the
 * tied decoder (n = vocabulary) transposing the [k, n] product is far cheaper than transposing
 * dY[m, n] first.
 */
const plainMatMulBT = tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: Saved) => {
  save([a, b])
  return {
    value: tf.matMul(a, tf.transpose(b)),
    gradFunc: (dy: tf.Tensor2D, [sa, sb]: tf.Tensor[]) => [
      tf.matMul(dy, sb as tf.Tensor2D),
      tf.transpose(tf.matMul(tf.transpose(sa as tf.Tensor2D), dy)),
    ],
  }
}) as never) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D

/** Per-item 2-D products of two [N,…] stacks, stacked back: [N, m, n]. */
function eachMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [n, m, k] = a.shape
  const cols = b.shape[2]
  // Plain slices of the flat buffers instead of tf.unstack (Unpack is pathologically slow on wasm).
  const flatA = tf.reshape(a, [n * m, k]) as tf.Tensor2D
  const flatB = tf.reshape(b, [n * k, cols]) as tf.Tensor2D
  const items: tf.Tensor2D[] = []
  for (let i = 0; i < n; i++) items.push(tf.matMul(tf.slice(flatA, [i * m, 0], [m, k]), tf.slice(flatB, [i * k, 0], [k, cols])))
  return tf.reshape(tf.concat(items, 0), [n, m, cols]) as tf.Tensor3D
}

const swapLast = (x: tf.Tensor3D) => tf.transpose(x, [0, 2, 1])

/** a[N,m,k] · b[N,k,n] as N plain products. */
const loopBatchMatMul = tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: Saved) => {
  save([a, b])
  return {
    value: eachMatMul(a, b),
    gradFunc: (dy: tf.Tensor3D, [sa, sb]: tf.Tensor[]) => [eachMatMul(dy, swapLast(sb as tf.Tensor3D)), eachMatMul(swapLast(sa as tf.Tensor3D), dy)],
  }
}) as never) as unknown as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D

/** a[N,m,k] · b[N,n,k]ᵀ as N plain products. */
const loopBatchMatMulBT = tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: Saved) => {
  save([a, b])
  return {
    value: eachMatMul(a, swapLast(b)),
    gradFunc: (dy: tf.Tensor3D, [sa, sb]: tf.Tensor[]) => [eachMatMul(dy, sb as tf.Tensor3D), eachMatMul(swapLast(dy), sa as tf.Tensor3D)],
  }
}) as never) as unknown as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D

/** a[m,k] · b[k,n] */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulStrategy() === 'untransposed' ? plainMatMul(a, b) : tf.matMul(a, b)
}

/** a[m,k] · b[n,k]ᵀ (the tied decoder: hidden · embeddingsᵀ) */
export function matMulTransposeB(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulStrategy() === 'untransposed' ? plainMatMulBT(a, b) : tf.matMul(a, b, false, true)
}

/** a[N,m,k] · b[N,k,n] */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return matMulStrategy() === 'untransposed' ? loopBatchMatMul(a, b) : tf.matMul(a, b)
}

/** a[N,m,k] · b[N,n,k]ᵀ (attention scores: Q · Kᵀ) */
export function batchMatMulTransposeB(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return matMulStrategy() === 'untransposed' ? loopBatchMatMulBT(a, b) : tf.matMul(a, b, false, true)
}

/** x[N,in] · kernel[in,out] + bias[out] */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  return tf.add(matMul(x, kernel), bias)
}

/**
 * table[R,C] rows at `indices` (int32 [N]) → [N,C]. The gradient with respect to the table is
 * scatterND of dY at the indices (duplicates summed); indices get none.
 */
export function gatherRows(table: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  const rows = table.shape[0]
  const columns = table.shape[1]
  // Saved, not closed over: the tape keeps saved tensors alive past the forward pass's tidy.
  const op = tf.customGrad(((t: tf.Tensor2D, save: Saved) => {
    save([indices])
    return {
      value: tf.gather(t, indices),
      gradFunc: (dy: tf.Tensor2D, [savedIndices]: tf.Tensor[]) => tf.scatterND(tf.reshape(savedIndices!, [-1, 1]), dy, [rows, columns]),
    }
  }) as never) as unknown as (t: tf.Tensor2D) => tf.Tensor2D
  return op(table)
}

const SQRT_HALF = Math.SQRT1_2
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI)

/**
 * BERT's exact GELU, 0.5·x·(1 + erf(x/√2)), with its analytic gradient
 * Φ(x) + x·φ(x) = 0.5·(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π) (fewer taped ops than autodiff).
 */
export const gelu = tf.customGrad(((x: tf.Tensor, save: Saved) => {
  save([x])
  return {
    value: tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT_HALF)), 1))),
    gradFunc: (dy: tf.Tensor, [sx]: tf.Tensor[]) =>
      tf.tidy(() => {
        const v = sx as tf.Tensor
        const cdf = tf.mul(tf.add(tf.erf(tf.mul(v, SQRT_HALF)), 1), 0.5)
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(v), -0.5)), INV_SQRT_2PI)
        return tf.mul(dy, tf.add(cdf, tf.mul(v, pdf)))
      }),
  }
}) as never) as unknown as <T extends tf.Tensor>(x: T) => T

/** LayerNorm over the last axis of x[N,H]: (x − mean)/√(var + ε)·γ + β, biased variance as BERT. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): tf.Tensor2D {
  const mean = tf.mean(x, -1, true)
  const centered = tf.sub(x, mean)
  const variance = tf.mean(tf.square(centered), -1, true)
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, epsilon))), gamma), beta)
}

/** Dropout whose mask is a function of `seed` alone; identity when rate is 0 or seed is undefined. */
export function seededDropout<T extends tf.Tensor>(x: T, rate: number, seed: number | undefined): T {
  if (seed === undefined || rate === 0) return x
  return tf.dropout(x, rate, undefined, seed) as T
}

/**
 * Per-row cross-entropy of logits[N,C] against int32 labels[N] → [N]. One exp over the logits,
 * and the backward reuses the saved softmax: dLogits = (softmax − onehot)·dLoss, which matters
 * when C is the vocabulary.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const classes = logits.shape[1]
  const op = tf.customGrad(((x: tf.Tensor2D, save: Saved) => {
    const shifted = tf.sub(x, tf.max(x, -1, true))
    const exps = tf.exp(shifted)
    const total = tf.sum(exps, -1, true)
    const oneHot = tf.oneHot(labels, classes)
    const softmax = tf.div(exps, total)
    save([softmax, oneHot])
    // log Σ exp − shifted logit of the label
    const value = tf.sub(tf.reshape(tf.log(total), [-1]), tf.sum(tf.mul(shifted, oneHot), -1))
    return {
      value,
      gradFunc: (dy: tf.Tensor1D, [savedSoftmax, savedOneHot]: tf.Tensor[]) => tf.mul(tf.sub(savedSoftmax!, savedOneHot!), tf.reshape(dy, [-1, 1])),
    }
  }) as never) as unknown as (x: tf.Tensor2D) => tf.Tensor1D
  return op(logits)
}
