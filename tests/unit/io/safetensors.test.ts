import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeSafetensorsHeader, findDuplicateJsonKey, readSafetensors, SafetensorsFile, writeSafetensors } from '../../../src-main/core/io/safetensors.ts'
import { tempDir } from '../helpers.ts'

const temp = tempDir('studio-safetensors-')
afterAll(() => temp.cleanup())

let fileCount = 0
/** A file of the 8-byte length (the header's, unless `declaredLength`), the header bytes and `data`. */
function craft(header: string | Uint8Array, data: Uint8Array | number = 0, declaredLength?: bigint): string {
  const headerBytes = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header)
  const prefix = Buffer.alloc(8)
  prefix.writeBigUInt64LE(declaredLength ?? BigInt(headerBytes.length))
  const path = join(temp.path, `crafted-${++fileCount}.safetensors`)
  writeFileSync(path, Buffer.concat([prefix, headerBytes, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]))
  return path
}

const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets })
const header = (tensors: Record<string, unknown>) => JSON.stringify(tensors)

/** The message a malformed file is refused with; every buffer the reader asked for is pushed to `allocations`. */
function refusal(path: string, allocations: number[] = []): string {
  try {
    SafetensorsFile.open(path, { allocate: (bytes) => (allocations.push(bytes), new Uint8Array(bytes)) }).close()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error(`${path} was accepted`)
}

describe('writeSafetensors', () => {
  it('writes the exact layout: u64 length, space-padded JSON (metadata first, names sorted, offsets contiguous), then data', () => {
    const path = join(temp.path, 'known.safetensors')
    writeSafetensors(
      path,
      [
        { name: 'b', shape: [2], data: new Float32Array([1, 2]) },
        { name: 'a', shape: [1, 1], data: () => new Float32Array([3]) },
      ],
      { format: 'pt' },
    )
    const bytes = readFileSync(path)
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    const padded = Math.ceil(json.length / 8) * 8
    expect(bytes.readBigUInt64LE(0)).toBe(BigInt(padded))
    expect((8 + padded) % 8).toBe(0)
    expect(bytes.subarray(8, 8 + padded).toString('utf8')).toBe(json + ' '.repeat(padded - json.length))
    expect([...new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + padded, bytes.byteOffset + bytes.length))]).toEqual([3, 1, 2])
    // Nothing but the file is left in the folder (the temp file was renamed).
    expect(readdirSync(temp.path).filter((name) => name.includes('known'))).toEqual(['known.safetensors'])

    const read = readSafetensors(path)
    expect(read.metadata).toEqual({ format: 'pt' })
    expect([...read.tensors.keys()]).toEqual(['a', 'b'])
    expect(read.tensors.get('b')).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) })
  })

  it('keeps integer-like names in sorted order and refuses a length that does not match the shape', () => {
    expect(Buffer.from(encodeSafetensorsHeader([{ name: 'x', shape: [] }, { name: '0', shape: [0] }])).subarray(8).toString()).toMatch(/^\{"x":.*"0":/)
    expect(() => writeSafetensors(join(temp.path, 'bad.safetensors'), [{ name: 'w', shape: [3], data: new Float32Array(2) }])).toThrow('Tensor w has 2 values, expected 3 for shape [3]')
    expect(readdirSync(temp.path).some((name) => name.includes('bad.safetensors'))).toBe(false)
  })
})

describe('SafetensorsFile.open refuses each malformed file with its own message', () => {
  const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer)
  const cases: [string, () => string, RegExp][] = [
    ['shorter than 8 bytes', () => {
      const path = join(temp.path, 'short.safetensors')
      writeFileSync(path, Buffer.from([1, 2, 3]))
      return path
    }, /the file is 3 bytes, shorter than the 8-byte header length/],
    ['header length over 100 MB', () => craft('{}', 0, 200_000_000n), /header length is 200000000 bytes, more than the 100000000-byte limit/],
    ['header length beyond the file', () => craft('{}', 0, 1000n), /header length is 1000 bytes, beyond the end of the 10-byte file/],
    ['header not UTF-8', () => craft(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /the header is not valid UTF-8/],
    ['header not JSON', () => craft('{"a": '), /the header is not JSON/],
    ['header not an object', () => craft('[1, 2]'), /the header starts with "\[", expected "\{" \(a JSON object\)/],
    ['duplicate top-level key', () => craft(`{"w":${JSON.stringify(entry('F32', [1], [0, 4]))},"w":${JSON.stringify(entry('F32', [1], [0, 4]))}}`, 4), /duplicate key "w"/],
    ['duplicate nested key', () => craft(`{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, 4), /duplicate key "w" > "dtype"/],
    ['unknown dtype', () => craft(header({ w: entry('F8_E4M3', [1], [0, 1]) }), 1), /tensor "w" has unsupported dtype "F8_E4M3", expected one of F64, F32/],
    ['unknown field', () => craft(header({ w: { ...entry('F32', [1], [0, 4]), strides: [1] } }), 4), /tensor "w" has unknown field "strides"/],
    ['negative shape', () => craft(header({ w: entry('F32', [-1], [0, 4]) }), 4), /tensor "w" has shape \[-1\], expected an array of non-negative integers/],
    ['fractional shape', () => craft(header({ w: entry('F32', [1.5], [0, 4]) }), 4), /tensor "w" has shape \[1.5\], expected an array of non-negative integers/],
    ['shape not an array', () => craft(header({ w: entry('F32', '3', [0, 12]) }), 12), /tensor "w" has shape "3", expected an array/],
    ['bad data_offsets', () => craft(header({ w: entry('F32', [1], [0]) }), 4), /tensor "w" has data_offsets \[0\], expected \[begin, end\]/],
    ['end before begin', () => craft(header({ w: entry('F32', [1], [8, 4]) }), 8), /tensor "w" has data_offsets \[8, 4\]: end before begin/],
    ['byte size ≠ offsets', () => craft(header({ w: entry('F32', [2], [0, 4]) }), 4), /tensor "w" \(F32, shape \[2\]\) needs 8 bytes but data_offsets \[0, 4\] span 4/],
    ['not from 0', () => craft(header({ w: entry('F32', [1], [4, 8]) }), 8), /not contiguous from offset 0: the first tensor, "w", begins at 4/],
    ['overlap', () => craft(header({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }), 12), /tensor "b" at data_offsets \[4, 12\] overlaps tensor "a" at \[0, 8\]/],
    ['gap', () => craft(header({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }), 12), /a gap of 4 bytes between tensor "a" \(ends at 4\) and tensor "b" \(begins at 8\)/],
    ['trailing bytes', () => craft(header({ w: entry('F32', [1], [0, 4]) }), f32(2)), /the data region is 8 bytes but the tensors end at 4: 4 trailing bytes/],
    ['truncated data', () => craft(header({ w: entry('F32', [4], [0, 16]) }), f32(1)), /the data region is 4 bytes but the tensors end at 16: the file is truncated/],
    ['metadata not strings', () => craft(header({ __metadata__: { format: 1 } })), /"__metadata__" value "format" is 1, expected a string/],
    ['metadata not an object', () => craft(header({ __metadata__: ['pt'] })), /"__metadata__" is an array, expected an object of strings/],
  ]

  it.each(cases)('%s', (_, make, message) => {
    const path = make()
    const allocations: number[] = []
    const text = refusal(path, allocations)
    expect(text).toMatch(message)
    expect(text.startsWith(path)).toBe(true)
    // Refused before anything a header claims is allocated: never more than the file itself holds.
    expect(Math.max(0, ...allocations)).toBeLessThanOrEqual(statSync(path).size)
  })

  it('gives every rule a different message', () => {
    const messages = cases.map(([, make]) => refusal(make()).replace(/^[^:]*: /, ''))
    expect(new Set(messages).size).toBe(messages.length)
  })

  it('refuses a 1 KB file claiming a 100 GB tensor before allocating more than the file holds', () => {
    const path = craft(header({ huge: entry('F32', [25_000_000_000], [0, 100_000_000_000]) }), 900)
    const size = statSync(path).size
    expect(size).toBeLessThan(1100)
    const allocations: number[] = []
    expect(() => SafetensorsFile.open(path, { allocate: (bytes) => (allocations.push(bytes), new Uint8Array(bytes)) })).toThrow(
      /the data region is 900 bytes but the tensors end at 100000000000/,
    )
    expect(allocations.length).toBeGreaterThan(0)
    expect(Math.max(...allocations)).toBeLessThanOrEqual(size)
    // A shape whose product overflows 2^53 is still compared exactly.
    expect(refusal(craft(header({ w: entry('F32', [2 ** 40, 2 ** 40], [0, 4]) }), 4))).toMatch(/needs 4835703278458516698824704 bytes/)
  })
})

describe('reading tensors', () => {
  it('converts F16, BF16 and F64 to float32, reads lazily by name and refuses integer tensors as floats', () => {
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00]).buffer) // 1, -2, ≈0.333, 2^-24, +Inf
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc0a0]).buffer) // 1, -5
    const f64 = new Uint8Array(new Float64Array([0.1, -3]).buffer)
    const i64 = new Uint8Array(new BigInt64Array([0n, 1n]).buffer)
    const data = Buffer.concat([half, bf16, f64, i64])
    const path = craft(
      header({
        half: entry('F16', [5], [0, 10]),
        brain: entry('BF16', [2], [10, 14]),
        double: entry('F64', [2], [14, 30]),
        'bert.embeddings.position_ids': entry('I64', [1, 2], [30, 46]),
      }) + '   ',
      data,
    )
    const file = SafetensorsFile.open(path)
    try {
      expect(file.names()).toEqual(['half', 'brain', 'double', 'bert.embeddings.position_ids'])
      expect([...file.readFloat32('half')]).toEqual([1, -2, Math.fround(0.333251953125), 2 ** -24, Infinity])
      expect([...file.readFloat32('brain')]).toEqual([1, -5])
      expect([...file.readFloat32('double')]).toEqual([Math.fround(0.1), -3])
      expect(file.info('bert.embeddings.position_ids').shape).toEqual([1, 2])
      expect(() => file.readFloat32('bert.embeddings.position_ids')).toThrow('has dtype I64, expected a floating-point dtype (F32, F16, BF16, F64)')
      expect(() => file.readFloat32('missing')).toThrow('no tensor named "missing"')
    } finally {
      file.close()
    }
  })

  it('accepts tensors listed out of offset order (offsets are sorted before the contiguity check)', () => {
    const path = craft(header({ b: entry('F32', [1], [4, 8]), a: entry('F32', [1], [0, 4]) }), new Uint8Array(new Float32Array([1.5, -2]).buffer))
    const file = SafetensorsFile.open(path)
    try {
      expect(file.names()).toEqual(['b', 'a'])
      expect([...file.readFloat32('a')]).toEqual([1.5])
      expect([...file.readFloat32('b')]).toEqual([-2])
    } finally {
      file.close()
    }
  })

  it('finds duplicate keys at any depth, and none in clean JSON', () => {
    expect(findDuplicateJsonKey('{"a":[{"x":1},{"x":2}],"b":{"c":"}\\"{","d":null}}')).toBeNull()
    expect(findDuplicateJsonKey('{"a":1,"b":{"c":[1,{"k":true,"k":false}]}}')).toBe('"b" > "c" > "k"')
    expect(findDuplicateJsonKey('{"\\u0061":1,"a":2}')).toBe('"a"')
  })
})
