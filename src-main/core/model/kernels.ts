/**
 * Kernels the studio adds to TensorFlow.js backends that lack them.
 *
 * The wasm backend has no `UnsortedSegmentSum`, which tf.gather's gradient uses; it is built here
 * from the backend's own Reshape and ScatterNd kernels (scatterND sums duplicate indices). The
 * model's lookups go through ops.gatherRows and do not need it; this keeps plain tf.gather
 * differentiable on wasm for any other code. Segment ids must lie in [0, numSegments): unlike
 * TensorFlow's, negative ids are not dropped.
 */
import * as tf from '@tensorflow/tfjs'

type KernelFunc = (params: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[]

function kernelOf(name: string, backend: string): KernelFunc {
  const kernel = tf.getKernel(name, backend)
  if (!kernel) throw new Error(`The ${backend} backend has no ${name} kernel`)
  return kernel.kernelFunc as unknown as KernelFunc
}

function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return
  const reshape = kernelOf('Reshape', 'wasm')
  const scatterNd = kernelOf('ScatterNd', 'wasm')
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo }
      const numSegments = (attrs as { numSegments: number }).numSegments
      const count = tf.util.sizeFromShape(segmentIds.shape)
      const slice = x.shape.slice(segmentIds.shape.length)
      // (count, 1) indices and (count, …slice) updates: one scattered row per segment id.
      const indices = reshape({ inputs: { x: segmentIds }, backend, attrs: { shape: [count, 1] } }) as tf.TensorInfo
      const updates = reshape({ inputs: { x }, backend, attrs: { shape: [count, ...slice] } }) as tf.TensorInfo
      const out = scatterNd({ inputs: { indices, updates }, backend, attrs: { shape: [numSegments, ...slice] } }) as tf.TensorInfo
      const owner = backend as { disposeData(dataId: object): void }
      owner.disposeData(indices.dataId)
      owner.disposeData(updates.dataId)
      return out
    },
  })
}

/** Registers the studio's kernels for every backend that is registered and lacks them (idempotent). */
export function registerStudioKernels(): void {
  if (tf.findBackendFactory('wasm')) registerWasmUnsortedSegmentSum()
}
