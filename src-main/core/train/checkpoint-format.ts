/**
 * The checkpoint format, as bytes and JSON only (no tfjs, so the store reads it without loading
 * an engine): everything needed to resume bit-for-bit — weights by Hugging Face name, AdamW's moments by the same names, the optimizer and schedule steps, the data pipeline's
 * position (opaque JSON), the seed from which dropout is derived, dataset and tokenizer hashes,
 * the full run and model configs and the versions that wrote it — as (a) a JSON manifest and
 * (b) the tensors' raw little-endian float32 bytes, concatenated and cut into chunks of at most
 * 4 MiB (SQLite BLOBs). Restoring copies the bytes back, so tensors come back bit-identical.
 */
import { StudioError } from '../errors.ts'
import type { TrainConfig } from './config.ts'

export const CHECKPOINT_FORMAT = 'bert-studio-checkpoint'
export const CHECKPOINT_FORMAT_VERSION = 1
export const CHUNK_BYTES = 4 * 1024 * 1024
/** Prefixes of the optimizer's tensors; weights keep their bare Hugging Face names (which hold no '/'). */
export const ADAM_M_PREFIX = 'optimizer/m/'
export const ADAM_V_PREFIX = 'optimizer/v/'

export interface TensorRecord {
  name: string
  dtype: 'float32'
  shape: number[]
  /** Little-endian float32 bytes. */
  data: Uint8Array
}

export interface CheckpointVersions {
  studio: string
  tfjs: string
  backend: string
}

/** Where each tensor lies in the concatenated byte stream. */
export interface TensorEntry {
  name: string
  dtype: 'float32'
  shape: number[]
  offset: number
  length: number
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT
  formatVersion: number
  /** Updates applied (the run's step). */
  step: number
  optimizerStep: number
  scheduleStep: number
  epoch: number
  /** The data pipeline's resumable position, as it gave it. */
  dataPosition: unknown
  /**
   * Dropout is derived from (seed, step, micro-batch), so the seed is the whole RNG state; a run
   * trained by a bundle's train.py drew its masks from torch's generator instead.
   */
  rng: { seed: number; dropout: 'murmur3(seed, step, micro-batch)' | 'torch (train.py)' }
  datasetHash: string | null
  tokenizerHash: string | null
  trainConfig: TrainConfig
  modelConfig: unknown
  versions: CheckpointVersions
  /** Validation loss at this step, when one was measured (picks the best checkpoint). */
  validationLoss: number | null
  byteOrder: 'little'
  totalBytes: number
  tensors: TensorEntry[]
}

export interface Checkpoint {
  manifest: CheckpointManifest
  tensors: TensorRecord[]
}

/** The parts of a checkpoint the trainer does not know. */
export interface CheckpointContext {
  epoch: number
  dataPosition: unknown
  datasetHash: string | null
  tokenizerHash: string | null
  modelConfig: unknown
  versions: CheckpointVersions
  validationLoss?: number | null
}

export function layout(tensors: readonly TensorRecord[]): { totalBytes: number; tensors: TensorEntry[] } {
  let offset = 0
  const entries = tensors.map(({ name, dtype, shape, data }) => {
    const expected = shape.reduce((a, b) => a * b, 1) * 4
    if (data.byteLength !== expected) {
      throw new StudioError('INTERNAL', `${name} has ${data.byteLength} bytes, expected ${expected} for float32 shape [${shape.join(', ')}]`)
    }
    const entry = { name, dtype, shape: [...shape], offset, length: data.byteLength }
    offset += data.byteLength
    return entry
  })
  return { totalBytes: offset, tensors: entries }
}

/** The tensors' bytes, concatenated in manifest order and cut into chunks of at most `chunkBytes`. */
export function* chunkTensorBytes(tensors: readonly TensorRecord[], chunkBytes = CHUNK_BYTES): Generator<Uint8Array> {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new StudioError('VALIDATION', `chunkBytes is ${chunkBytes}, expected an integer ≥ 1`)
  let chunk = new Uint8Array(chunkBytes)
  let filled = 0
  for (const { data } of tensors) {
    let read = 0
    while (read < data.byteLength) {
      const take = Math.min(chunkBytes - filled, data.byteLength - read)
      chunk.set(data.subarray(read, read + take), filled)
      filled += take
      read += take
      if (filled === chunkBytes) {
        yield chunk
        chunk = new Uint8Array(chunkBytes)
        filled = 0
      }
    }
  }
  if (filled > 0) yield chunk.subarray(0, filled)
}

export interface SerializedCheckpoint {
  manifest: CheckpointManifest
  manifestJson: string
  /** Lazily cut; iterate once. */
  chunks: Iterable<Uint8Array>
  bytes: number
}

export function serializeCheckpoint(checkpoint: Checkpoint, chunkBytes = CHUNK_BYTES): SerializedCheckpoint {
  const manifest = { ...checkpoint.manifest, ...layout(checkpoint.tensors) }
  return { manifest, manifestJson: JSON.stringify(manifest), chunks: chunkTensorBytes(checkpoint.tensors, chunkBytes), bytes: manifest.totalBytes }
}

export function parseManifest(manifestJson: string): CheckpointManifest {
  let manifest: CheckpointManifest
  try {
    manifest = JSON.parse(manifestJson) as CheckpointManifest
  } catch (error) {
    throw new StudioError('VALIDATION', `The checkpoint manifest is not valid JSON (${(error as Error).message})`)
  }
  if (manifest?.format !== CHECKPOINT_FORMAT) {
    throw new StudioError('VALIDATION', `The checkpoint manifest's format is ${JSON.stringify(manifest?.format)}, expected "${CHECKPOINT_FORMAT}"`)
  }
  if (manifest.formatVersion > CHECKPOINT_FORMAT_VERSION) {
    throw new StudioError('UNSUPPORTED', `The checkpoint is format version ${manifest.formatVersion}, newer than this build reads (${CHECKPOINT_FORMAT_VERSION}); update BERT Studio`)
  }
  return manifest
}

/** A checkpoint from its manifest JSON and its chunks, in order. */
export function deserializeCheckpoint(manifestJson: string, chunks: readonly Uint8Array[]): Checkpoint {
  const manifest = parseManifest(manifestJson)
  const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0)
  if (total !== manifest.totalBytes) {
    throw new StudioError('VALIDATION', `The checkpoint's chunks hold ${total} bytes, expected ${manifest.totalBytes}`)
  }
  const tensors: TensorRecord[] = []
  let chunkIndex = 0
  let chunkOffset = 0
  for (const entry of manifest.tensors) {
    const data = new Uint8Array(entry.length)
    let written = 0
    while (written < entry.length) {
      const chunk = chunks[chunkIndex]!
      const take = Math.min(chunk.byteLength - chunkOffset, entry.length - written)
      data.set(chunk.subarray(chunkOffset, chunkOffset + take), written)
      written += take
      chunkOffset += take
      if (chunkOffset === chunk.byteLength) {
        chunkIndex += 1
        chunkOffset = 0
      }
    }
    tensors.push({ name: entry.name, dtype: entry.dtype, shape: entry.shape, data })
  }
  return { manifest, tensors }
}

export function toFloat32(bytes: Uint8Array): Float32Array {
  // Copy into an aligned buffer of our own (chunks may leave the bytes at any offset).
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return new Float32Array(copy.buffer)
}


/**
 * Refuses to resume from a checkpoint written over other data or another tokenizer: the data
 * position and the embeddings would mean something else.
 */
export function assertResumable(
  manifest: CheckpointManifest,
  current: {
    datasetHash: string | null
    tokenizerHash: string | null
    /** The same data's hash as earlier builds computed it (from ids), for checkpoints they wrote. */
    formerDatasetHash?: string
  },
): void {
  for (const key of ['datasetHash', 'tokenizerHash'] as const) {
    if (key === 'datasetHash' && current.formerDatasetHash !== undefined && manifest.datasetHash === current.formerDatasetHash) continue
    if (manifest[key] !== current[key]) {
      const what = key === 'datasetHash' ? 'dataset' : 'tokenizer'
      throw new StudioError('CONFLICT', `The checkpoint of step ${manifest.step} was written with ${what} hash ${manifest[key]}, but the run now has ${current[key]}; resume needs the same ${what}`)
    }
  }
}
