/**
 * Picks the fastest TensorFlow.js backend that loads: tfjs-node-gpu (CUDA) → tfjs-node
 * (libtensorflow) → wasm (XNNPACK, SIMD) → cpu (pure JS). The native packages are optional
 * dependencies whose library may be missing, so each is required inside try/catch.
 * `STUDIO_BACKEND` forces one (and fails if it does not load).
 */
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { StudioError } from '../errors.ts'
import { registerStudioKernels } from './kernels.ts'

export type BackendChoice = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu'

export const BACKEND_ORDER: readonly BackendChoice[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']

export interface BackendAttempt {
  readonly name: BackendChoice
  readonly ok: boolean
  /** Why it was not used (or 'loaded'). */
  readonly reason: string
}

export interface BackendSelection {
  /** The choice in use; 'tensorflow-gpu' and 'tensorflow' both run as tfjs backend 'tensorflow'. */
  readonly backend: BackendChoice
  /** tf.getBackend() after selection. */
  readonly tfBackend: string
  readonly tried: BackendAttempt[]
}

// The main process is bundled as CommonJS (require exists); under ESM test runners it does not.
const nodeRequire: NodeJS.Require = typeof require === 'function' ? require : createRequire(import.meta.url)

/** The folder holding the wasm backend's .wasm files, found through Node's resolution so it works from a bundle and in Electron. */
export function wasmDistFolder(): string {
  return dirname(nodeRequire.resolve('@tensorflow/tfjs-backend-wasm'))
}

async function tryBackend(name: BackendChoice): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      // Loading either package registers the native backend as 'tensorflow'.
      nodeRequire(name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node')
      if (!(await tf.setBackend('tensorflow'))) throw new Error('tf.setBackend("tensorflow") returned false')
      return
    }
    case 'wasm': {
      setWasmPaths(join(wasmDistFolder(), '/'))
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false')
      return
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false')
      return
    }
  }
}

function parseChoice(value: string, source: string): BackendChoice {
  if ((BACKEND_ORDER as readonly string[]).includes(value)) return value as BackendChoice
  throw new StudioError('VALIDATION', `${source} is "${value}", expected one of ${BACKEND_ORDER.join(', ')}`)
}

/**
 * Sets the backend and registers the studio's kernels. With `STUDIO_BACKEND` set only that backend
 * is tried; otherwise `preferred` (if any) first, then the rest in order.
 */
export async function initBackend(preferred?: BackendChoice, env: Record<string, string | undefined> = process.env): Promise<BackendSelection> {
  const forced = env.STUDIO_BACKEND ? parseChoice(env.STUDIO_BACKEND, 'STUDIO_BACKEND') : undefined
  const order = forced ? [forced] : preferred ? [preferred, ...BACKEND_ORDER.filter((name) => name !== preferred)] : [...BACKEND_ORDER]
  const tried: BackendAttempt[] = []
  for (const name of order) {
    try {
      await tryBackend(name)
      await tf.ready()
      registerStudioKernels()
      tried.push({ name, ok: true, reason: 'loaded' })
      return { backend: name, tfBackend: tf.getBackend(), tried }
    } catch (error) {
      tried.push({ name, ok: false, reason: (error as Error).message.split('\n')[0] ?? String(error) })
    }
  }
  throw new StudioError('UNSUPPORTED', `No TensorFlow.js backend loaded: ${tried.map((attempt) => `${attempt.name} (${attempt.reason})`).join('; ')}`)
}
