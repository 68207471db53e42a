import * as tf from '@tensorflow/tfjs'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { initBackend, wasmDistFolder } from '../../../src-main/core/model/backend.ts'

// tfjs-node(-gpu) are optional dependencies whose native library is not installed here.
const nativeInstalled = (() => {
  try {
    require.resolve('@tensorflow/tfjs-node')
    return true
  } catch {
    return false
  }
})()

describe('initBackend', () => {
  it.skipIf(nativeInstalled)('falls through native TensorFlow to wasm, saying why each failed', async () => {
    const selection = await initBackend(undefined, {})
    expect(selection.backend).toBe('wasm')
    expect(selection.tfBackend).toBe('wasm')
    expect(selection.tried.map((t) => [t.name, t.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['wasm', true],
    ])
    expect(selection.tried[0]!.reason).toMatch(/tfjs-node-gpu/)
    // The studio's UnsortedSegmentSum is registered for wasm.
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined()
  })

  it('honours STUDIO_BACKEND and a preferred backend', async () => {
    expect((await initBackend('wasm', { STUDIO_BACKEND: 'cpu' })).tried).toEqual([{ name: 'cpu', ok: true, reason: 'loaded' }])
    expect(tf.getBackend()).toBe('cpu')
    expect((await initBackend('cpu', {})).backend).toBe('cpu')
    expect((await initBackend('wasm', {})).tfBackend).toBe('wasm')
  })

  it('rejects an unknown STUDIO_BACKEND and fails when the forced one does not load', async () => {
    await expect(initBackend(undefined, { STUDIO_BACKEND: 'webgpu' })).rejects.toThrow('STUDIO_BACKEND is "webgpu", expected one of tensorflow-gpu, tensorflow, wasm, cpu')
    if (!nativeInstalled) await expect(initBackend(undefined, { STUDIO_BACKEND: 'tensorflow' })).rejects.toMatchObject({ code: 'UNSUPPORTED' })
  })

  it('finds the wasm binaries through Node resolution', () => {
    expect(existsSync(join(wasmDistFolder(), 'tfjs-backend-wasm-simd.wasm'))).toBe(true)
  })
})
