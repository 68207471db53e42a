/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian u64 header length N,
 * N bytes of UTF-8 JSON padded with spaces so that 8 + N is a multiple of 8, then the tensors'
 * bytes. The header maps each name to {dtype, shape, data_offsets: [begin, end]} (offsets into
 * the data region) and may hold "__metadata__", a map of strings to strings.
 *
 * The writer streams: header first, then each tensor in turn, into a temp file that is fsynced
 * and renamed. The reader checks the whole header against the file's size before it allocates
 * anything a header claims, and reads tensors lazily, by name, at their offsets.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { StudioError } from '../errors.ts'
import { assertLittleEndian, elementCount, fsyncPath } from './files.ts'

/** The reference implementation's limit on the header. */
export const MAX_HEADER_BYTES = 100_000_000

/** Bytes per element of each dtype this reader understands. */
export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES

const FLOAT_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F64']

export interface SafetensorsTensorInfo {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: readonly number[]
  /** Offsets into the data region (which starts at 8 + header length). */
  readonly begin: number
  readonly end: number
}

export interface SafetensorsHeader {
  readonly headerLength: number
  readonly metadata: Readonly<Record<string, string>>
  /** In the order the header lists them. */
  readonly tensors: readonly SafetensorsTensorInfo[]
}

/** A tensor to write: float32 values (or a function producing them, called when its turn comes). */
export interface SafetensorsWriteEntry {
  readonly name: string
  readonly shape: readonly number[]
  readonly data: Float32Array | (() => Float32Array)
}

const malformed = (source: string, message: string) => new StudioError('BAD_INPUT', `${source}: ${message}`)

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

// ---------------------------------------------------------------------------------------------
// Writing

/** The 8-byte length prefix and the padded JSON header for tensors laid out in the given order. */
export function encodeSafetensorsHeader(tensors: readonly { name: string; shape: readonly number[] }[], metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const parts: string[] = []
  const metadataEntries = Object.entries(metadata)
  for (const [key, value] of metadataEntries) {
    if (typeof value !== 'string') throw new StudioError('VALIDATION', `safetensors metadata "${key}" is ${typeof value}, expected a string`)
  }
  // Built by hand: a JS object would move integer-like names ahead of the others.
  if (metadataEntries.length > 0) parts.push(`"__metadata__":{${metadataEntries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`)
  let offset = 0
  const seen = new Set<string>()
  for (const { name, shape } of tensors) {
    if (name === '__metadata__' || name.length === 0) throw new StudioError('VALIDATION', `safetensors tensor name ${JSON.stringify(name)} is reserved or empty`)
    if (seen.has(name)) throw new StudioError('VALIDATION', `safetensors tensor ${name} is listed twice`)
    seen.add(name)
    for (const size of shape) {
      if (!Number.isSafeInteger(size) || size < 0) throw new StudioError('VALIDATION', `Tensor ${name} has shape [${shape.join(', ')}], expected non-negative integers`)
    }
    const end = offset + elementCount(shape) * SAFETENSORS_DTYPE_BYTES.F32
    parts.push(`${JSON.stringify(name)}:{"dtype":"F32","shape":[${shape.join(',')}],"data_offsets":[${offset},${end}]}`)
    offset = end
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8')
  const length = Math.ceil(json.length / 8) * 8
  const header = Buffer.alloc(8 + length, 0x20)
  header.writeBigUInt64LE(BigInt(length), 0)
  json.copy(header, 8)
  return header
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0
  while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written)
}

/**
 * Writes `path` as F32 safetensors, tensors sorted by name (so equal weights give equal files),
 * through a temp file in the same folder: fsynced, then renamed over `path`.
 */
export function writeSafetensors(path: string, tensors: readonly SafetensorsWriteEntry[], metadata: Readonly<Record<string, string>> = {}): void {
  assertLittleEndian()
  const ordered = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const header = encodeSafetensorsHeader(ordered, metadata)
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(temp, 'w')
  try {
    writeAll(fd, header)
    for (const tensor of ordered) {
      const values = typeof tensor.data === 'function' ? tensor.data() : tensor.data
      const expected = elementCount(tensor.shape)
      if (values.length !== expected) {
        throw new StudioError('VALIDATION', `Tensor ${tensor.name} has ${values.length} values, expected ${expected} for shape [${tensor.shape.join(', ')}]`)
      }
      writeAll(fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    }
    fsyncSync(fd)
    closeSync(fd)
  } catch (error) {
    closeSync(fd)
    rmSync(temp, { force: true })
    throw error
  }
  try {
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
  fsyncPath(dirname(path))
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * The first repeated key of any object in a JSON text JSON.parse accepted (which would silently
 * keep the last), as a path like `"a" > "b"`, or null.
 */
export function findDuplicateJsonKey(text: string): string | null {
  let i = 0
  const skipSpace = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const readString = (): string => {
    const start = i
    i++ // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1
    i++
    return JSON.parse(text.slice(start, i)) as string
  }
  const path: string[] = []
  const value = (): string | null => {
    skipSpace()
    const c = text[i]
    if (c === '{') {
      i++
      const keys = new Set<string>()
      skipSpace()
      if (text[i] === '}') {
        i++
        return null
      }
      for (;;) {
        skipSpace()
        const key = readString()
        if (keys.has(key)) return [...path, JSON.stringify(key)].join(' > ')
        keys.add(key)
        skipSpace()
        i++ // ':'
        path.push(JSON.stringify(key))
        const found = value()
        path.pop()
        if (found) return found
        skipSpace()
        if (text[i++] === '}') return null
      }
    }
    if (c === '[') {
      i++
      skipSpace()
      if (text[i] === ']') {
        i++
        return null
      }
      for (;;) {
        const found = value()
        if (found) return found
        skipSpace()
        if (text[i++] === ']') return null
      }
    }
    if (c === '"') {
      readString()
      return null
    }
    // A number, true, false or null.
    while (i < text.length && !',]} \t\n\r'.includes(text[i]!)) i++
    return null
  }
  return value()
}

const formatShape = (shape: readonly unknown[]) => `[${shape.map((size) => JSON.stringify(size)).join(', ')}]`

/**
 * Validates a header against the size of the file it came from; every rule has its own message.
 * `headerBytes` are the N bytes after the length prefix.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, source = 'safetensors file'): SafetensorsHeader {
  const headerLength = headerBytes.length
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes)
  } catch {
    throw malformed(source, 'the header is not valid UTF-8')
  }
  if (!text.startsWith('{')) throw malformed(source, `the header starts with ${JSON.stringify(text.slice(0, 1))}, expected "{" (a JSON object)`)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw malformed(source, `the header is not JSON (${(error as Error).message})`)
  }
  if (!isRecord(parsed)) throw malformed(source, `the header is ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed}, expected a JSON object`)
  const duplicate = findDuplicateJsonKey(text)
  if (duplicate) throw malformed(source, `the header has the duplicate key ${duplicate}`)

  const metadata: Record<string, string> = {}
  const rawMetadata = parsed.__metadata__
  if (rawMetadata !== undefined) {
    if (!isRecord(rawMetadata)) throw malformed(source, `"__metadata__" is ${Array.isArray(rawMetadata) ? 'an array' : typeof rawMetadata}, expected an object of strings`)
    for (const [key, value] of Object.entries(rawMetadata)) {
      if (typeof value !== 'string') throw malformed(source, `"__metadata__" value "${key}" is ${JSON.stringify(value)}, expected a string`)
      metadata[key] = value
    }
  }

  const tensors: SafetensorsTensorInfo[] = []
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') continue
    const where = `tensor "${name}"`
    if (!isRecord(entry)) throw malformed(source, `${where} is ${JSON.stringify(entry)}, expected {dtype, shape, data_offsets}`)
    const extra = Object.keys(entry).filter((key) => key !== 'dtype' && key !== 'shape' && key !== 'data_offsets')
    if (extra.length > 0) throw malformed(source, `${where} has unknown field${extra.length > 1 ? 's' : ''} ${extra.map((key) => `"${key}"`).join(', ')}, expected only dtype, shape, data_offsets`)
    const { dtype, shape, data_offsets: offsets } = entry
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
      throw malformed(source, `${where} has unsupported dtype ${JSON.stringify(dtype)}, expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`)
    }
    if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && (size as number) >= 0)) {
      throw malformed(source, `${where} has shape ${Array.isArray(shape) ? formatShape(shape) : JSON.stringify(shape)}, expected an array of non-negative integers`)
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((offset) => Number.isSafeInteger(offset) && (offset as number) >= 0)) {
      throw malformed(source, `${where} has data_offsets ${JSON.stringify(offsets)}, expected [begin, end], two non-negative integers`)
    }
    const [begin, end] = offsets as [number, number]
    if (end < begin) throw malformed(source, `${where} has data_offsets [${begin}, ${end}]: end before begin`)
    // BigInt: the product of a hostile shape can pass 2^53.
    const bytes = (shape as number[]).reduce((product, size) => product * BigInt(size), 1n) * BigInt(SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype])
    if (bytes !== BigInt(end - begin)) {
      throw malformed(source, `${where} (${dtype}, shape ${formatShape(shape)}) needs ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`)
    }
    tensors.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end })
  }

  const byOffset = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end)
  let position = 0
  let previous: SafetensorsTensorInfo | null = null
  for (const tensor of byOffset) {
    if (tensor.begin < position) {
      throw malformed(source, `tensor "${tensor.name}" at data_offsets [${tensor.begin}, ${tensor.end}] overlaps tensor "${previous!.name}" at [${previous!.begin}, ${previous!.end}]`)
    }
    if (tensor.begin > position) {
      throw malformed(
        source,
        previous
          ? `the data is not contiguous: a gap of ${tensor.begin - position} bytes between tensor "${previous.name}" (ends at ${position}) and tensor "${tensor.name}" (begins at ${tensor.begin})`
          : `the data is not contiguous from offset 0: the first tensor, "${tensor.name}", begins at ${tensor.begin}`,
      )
    }
    position = tensor.end
    previous = tensor
  }
  const dataLength = fileSize - 8 - headerLength
  if (dataLength > position) throw malformed(source, `the data region is ${dataLength} bytes but the tensors end at ${position}: ${dataLength - position} trailing bytes`)
  if (dataLength < position) throw malformed(source, `the data region is ${dataLength} bytes but the tensors end at ${position}: the file is truncated or the header claims more data than it holds`)
  return { headerLength, metadata, tensors }
}

function readExactly(fd: number, target: Uint8Array, position: number, source: string): void {
  let read = 0
  while (read < target.length) {
    const count = readSync(fd, target, read, target.length - read, position + read)
    if (count === 0) throw malformed(source, `the file ended ${target.length - read} bytes early (was it changed while being read?)`)
    read += count
  }
}

export interface SafetensorsReadOptions {
  /** Allocates every buffer the reader fills (tests watch it); defaults to `new Uint8Array(bytes)`. */
  readonly allocate?: (bytes: number) => Uint8Array
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** IEEE half → float32. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const fraction = bits & 0x3ff
  if (exponent === 0) return sign * fraction * 2 ** -24
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15)
}

/** An open safetensors file whose header has been checked; tensors are read on demand. */
export class SafetensorsFile {
  readonly path: string
  readonly metadata: Readonly<Record<string, string>>
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>
  private readonly dataStart: number
  private readonly allocate: (bytes: number) => Uint8Array
  private fd: number | null

  private constructor(path: string, fd: number, header: SafetensorsHeader, allocate: (bytes: number) => Uint8Array) {
    this.path = path
    this.fd = fd
    this.metadata = header.metadata
    this.tensors = new Map(header.tensors.map((tensor) => [tensor.name, tensor]))
    this.dataStart = 8 + header.headerLength
    this.allocate = allocate
  }

  /** Opens and validates `path`; throws a BAD_INPUT StudioError naming the rule a malformed file breaks. */
  static open(path: string, options: SafetensorsReadOptions = {}): SafetensorsFile {
    const allocate = options.allocate ?? ((bytes: number) => new Uint8Array(bytes))
    let fd: number
    try {
      fd = openSync(path, 'r')
    } catch (error) {
      throw new StudioError('NOT_FOUND', `${path}: cannot open the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    }
    try {
      const fileSize = fstatSync(fd).size
      if (fileSize < 8) throw malformed(path, `the file is ${fileSize} bytes, shorter than the 8-byte header length`)
      const prefix = allocate(8)
      readExactly(fd, prefix, 0, path)
      const declared = Buffer.from(prefix.buffer, prefix.byteOffset, 8).readBigUInt64LE(0)
      if (declared > BigInt(MAX_HEADER_BYTES)) throw malformed(path, `the header length is ${declared} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`)
      const headerLength = Number(declared)
      if (8 + headerLength > fileSize) throw malformed(path, `the header length is ${headerLength} bytes, beyond the end of the ${fileSize}-byte file`)
      const headerBytes = allocate(headerLength)
      readExactly(fd, headerBytes, 8, path)
      const header = parseSafetensorsHeader(headerBytes, fileSize, path)
      return new SafetensorsFile(path, fd, header, allocate)
    } catch (error) {
      closeSync(fd)
      throw error
    }
  }

  names(): string[] {
    return [...this.tensors.keys()]
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.tensors.get(name)
    if (!info) throw new StudioError('NOT_FOUND', `${this.path}: no tensor named "${name}"`)
    return info
  }

  /** A tensor's bytes as stored (little-endian). */
  readBytes(name: string): Uint8Array {
    if (this.fd === null) throw new StudioError('INTERNAL', `${this.path}: the file is closed`)
    const info = this.info(name)
    const bytes = this.allocate(info.end - info.begin)
    readExactly(this.fd, bytes, this.dataStart + info.begin, this.path)
    return bytes
  }

  /** A floating-point tensor's values as float32 (F16, BF16 and F64 converted). */
  readFloat32(name: string): Float32Array {
    const info = this.info(name)
    if (!FLOAT_DTYPES.includes(info.dtype)) throw new StudioError('UNSUPPORTED', `${this.path}: tensor "${name}" has dtype ${info.dtype}, expected a floating-point dtype (${FLOAT_DTYPES.join(', ')})`)
    const bytes = this.readBytes(name)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const count = bytes.byteLength / SAFETENSORS_DTYPE_BYTES[info.dtype]
    if (info.dtype === 'F32') {
      if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count)
      const out = new Float32Array(count)
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true)
      return out
    }
    const out = new Float32Array(count)
    if (info.dtype === 'F64') {
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true)
    } else if (info.dtype === 'BF16') {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(out.buffer)
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16
    } else {
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true))
    }
    return out
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd)
    this.fd = null
  }
}

/** Reads a whole safetensors file's floating-point tensors as float32 (small files; tests and tools). */
export function readSafetensors(path: string): { metadata: Readonly<Record<string, string>>; tensors: Map<string, { dtype: SafetensorsDtype; shape: number[]; data: Float32Array }> } {
  const file = SafetensorsFile.open(path)
  try {
    const tensors = new Map<string, { dtype: SafetensorsDtype; shape: number[]; data: Float32Array }>()
    for (const info of file.tensors.values()) tensors.set(info.name, { dtype: info.dtype, shape: [...info.shape], data: file.readFloat32(info.name) })
    return { metadata: file.metadata, tensors }
  } finally {
    file.close()
  }
}
