/**
 * A seeded random number generator whose whole state is four 32-bit integers (xoshiro128**,
 * Blackman & Vigna), so a run can save it as JSON and continue the same stream. Independent
 * streams come from hashing (seed, ...keys) — e.g. (seed, 'mask', epoch, document) — rather than
 * from advancing one shared stream, so any piece of the data pipeline can be recomputed alone.
 */
import { badInput } from '../errors.ts'

/** Four unsigned 32-bit integers, not all zero. */
export type RngState = readonly [number, number, number, number]

export type RngKey = number | string

const TWO_POW_32 = 4294967296

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** One murmur3 block step of `k` into `h`. */
function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** The 32-bit words a key contributes: a tag (number/string), then its content, then its length. */
function keyWords(key: RngKey, out: number[]): void {
  if (typeof key === 'number') {
    if (!Number.isSafeInteger(key)) throw badInput(`random stream key is ${key}, expected a safe integer or a string`)
    out.push(0x6e756d62, key >>> 0, Math.floor(key / TWO_POW_32) >>> 0) // negative keys wrap, still distinct
  } else {
    out.push(0x73747269)
    for (let i = 0; i < key.length; i++) out.push(key.charCodeAt(i))
    out.push(key.length)
  }
}

/**
 * A 32-bit hash of a list of keys (murmur3-style over tagged words): stable across platforms and
 * versions, used for stream derivation and for the train/validation split.
 */
export function hashKeys(...keys: readonly RngKey[]): number {
  const words: number[] = []
  for (const key of keys) keyWords(key, words)
  let h = 0x9747b28c
  for (const word of words) h = mixWord(h, word)
  return fmix32(h ^ words.length)
}

/** splitmix32: expands one 32-bit value into a well-mixed sequence (xoshiro's recommended seeding). */
function splitmix32(state: number): () => number {
  return () => {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  private constructor(state: RngState) {
    ;[this.s0, this.s1, this.s2, this.s3] = state
  }

  /** The stream for (seed, ...keys); different key lists give independent streams. */
  static derive(seed: number, ...keys: readonly RngKey[]): Rng {
    // Two differently salted hashes, so the 128-bit state is not a function of 32 bits alone.
    const first = splitmix32(hashKeys(seed, ...keys))
    const second = splitmix32(hashKeys('second', seed, ...keys))
    const state: [number, number, number, number] = [first(), second(), first(), second()]
    if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1
    return new Rng(state)
  }

  static fromState(state: RngState): Rng {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((word) => Number.isInteger(word) && word >= 0 && word < TWO_POW_32)) {
      throw badInput(`random state is ${JSON.stringify(state)}, expected four unsigned 32-bit integers`)
    }
    if (state.every((word) => word === 0)) throw badInput('random state is all zeros, which xoshiro128** never reaches')
    return new Rng(state)
  }

  /** The state as plain JSON; `Rng.fromState(rng.state())` continues the same sequence. */
  state(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0]
  }

  /** The next unsigned 32-bit integer (xoshiro128**). */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  float(): number {
    return this.next() / TWO_POW_32
  }

  /** Uniform integer in [0, n), without modulo bias (rejection). 1 ≤ n ≤ 2^32. */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= TWO_POW_32)) throw badInput(`Rng.int bound is ${n}, expected an integer in 1..2^32`)
    const limit = TWO_POW_32 - (TWO_POW_32 % n)
    let x = this.next()
    while (x >= limit) x = this.next()
    return x % n
  }

  /** Uniform integer in [low, high], both inclusive (Python's `random.randint`). */
  range(low: number, high: number): number {
    return low + this.int(high - low + 1)
  }

  /** Fisher–Yates in place; returns the same array. */
  shuffle<T extends { length: number; [index: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const swap = items[i]
      items[i] = items[j]
      items[j] = swap
    }
    return items
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
