/**
 * What the exporters share: weights as plain float32 arrays, a 2-D transpose, and writing a whole
 * folder atomically (a temp folder beside the target, each file fsynced, one rename at the end).
 */
import * as tf from '@tensorflow/tfjs'
import { randomBytes } from 'node:crypto'
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { StudioError } from '../errors.ts'

/** A weight as the exporters take it: a tf tensor (a model's variable) or its values and shape. */
export type WeightValue = tf.Tensor | { readonly shape: readonly number[]; readonly data: Float32Array }

/** A weight as the readers return it. */
export interface WeightArray {
  readonly shape: number[]
  readonly data: Float32Array
}

export type WeightSource = ReadonlyMap<string, WeightValue> | Readonly<Record<string, WeightValue>>

export function weightEntries(weights: WeightSource): [string, WeightValue][] {
  return weights instanceof Map ? [...weights.entries()] : Object.entries(weights as Record<string, WeightValue>)
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((product, size) => product * size, 1)

export function shapeOf(value: WeightValue): number[] {
  return [...value.shape]
}

/** A weight's float32 values, checked against its shape; tf tensors are read synchronously. */
export function valuesOf(name: string, value: WeightValue): Float32Array {
  if (value instanceof tf.Tensor) {
    if (value.dtype !== 'float32') throw new StudioError('VALIDATION', `Weight ${name} has dtype ${value.dtype}, expected float32`)
    return value.dataSync() as Float32Array
  }
  if (!(value.data instanceof Float32Array)) throw new StudioError('VALIDATION', `Weight ${name} is not a Float32Array`)
  const expected = elementCount(value.shape)
  if (value.data.length !== expected) {
    throw new StudioError('VALIDATION', `Weight ${name} has ${value.data.length} values, expected ${expected} for shape [${value.shape.join(', ')}]`)
  }
  return value.data
}

/** [rows, columns] → [columns, rows], as a new array. */
export function transpose2d(data: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(data.length)
  for (let r = 0; r < rows; r++) {
    const base = r * columns
    for (let c = 0; c < columns; c++) out[c * rows + r] = data[base + c]!
  }
  return out
}

export function fsyncPath(path: string): void {
  try {
    const fd = openSync(path, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some platforms (Windows) cannot open a folder for fsync; the rename is still atomic.
  }
}

/** Float32Array bytes are written as they lie in memory, which the formats require to be little-endian. */
export function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new StudioError('UNSUPPORTED', 'This machine is big-endian; the export formats need little-endian float32')
}

/**
 * Creates `dir` with the files `write` puts into the folder it is given: a temp folder beside
 * `dir`, renamed to `dir` once every file is written and fsynced. Never replaces an existing
 * folder; on any error the temp folder is removed.
 */
export function writeFolderAtomic<T>(dir: string, write: (tempDir: string) => T): T {
  const target = resolve(dir)
  if (existsSync(target)) throw new StudioError('CONFLICT', `${target} already exists; choose a new folder (export never overwrites)`)
  const parent = dirname(target)
  mkdirSync(parent, { recursive: true })
  const temp = join(parent, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
  mkdirSync(temp)
  try {
    const result = write(temp)
    for (const name of readdirSync(temp)) fsyncPath(join(temp, name))
    fsyncPath(temp)
    // Checked again: renaming over an existing empty folder would succeed silently.
    if (existsSync(target)) throw new StudioError('CONFLICT', `${target} already exists; choose a new folder (export never overwrites)`)
    renameSync(temp, target)
    fsyncPath(parent)
    return result
  } catch (error) {
    rmSync(temp, { recursive: true, force: true })
    throw error
  }
}

/** A file an export adds beside its format's own: given text, or a copy of a file on disk. */
export type ExtraFile = { readonly name: string; readonly text: string } | { readonly name: string; readonly copyFrom: string }

/**
 * Writes `files` into `folder` (an export's temp folder); each name must be a plain file name
 * that none of the format's own files (`taken`) uses. Returns the names written.
 */
export function writeExtraFiles(folder: string, files: readonly ExtraFile[], taken: readonly string[]): string[] {
  const used = new Set(taken)
  for (const file of files) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(file.name)) throw new StudioError('VALIDATION', `Extra file name ${JSON.stringify(file.name)} is not a plain file name`)
    if (used.has(file.name)) throw new StudioError('VALIDATION', `Extra file ${file.name} would replace a file the export writes itself`)
    used.add(file.name)
  }
  for (const file of files) {
    const target = join(folder, file.name)
    if ('text' in file) writeFileSync(target, file.text)
    else {
      if (!existsSync(file.copyFrom)) throw new StudioError('NOT_FOUND', `${file.copyFrom} is missing (needed for ${file.name})`)
      copyFileSync(file.copyFrom, target)
    }
  }
  return files.map((file) => file.name)
}
