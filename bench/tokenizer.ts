/**
 * Tokenizer benchmark: assembles an English corpus from the machine's own documentation (man pages
 * in /usr/share/man/man1..8 with roff markup stripped, plus /usr/share/doc READMEs, NEWS,
 * changelogs and copyright files), falling back to seeded Zipf-sampled pseudo-words where there is
 * none; trains a 30,000-token vocabulary with our trainer and with the native `tokenizers` trainer,
 * compares time and pieces per word on the corpus (both encoded natively), times an 8,000-token
 * training, and measures native batch-encoding throughput. Returns one JSON-able object.
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { gunzipSync } from 'node:zlib'
import { Tokenizer as NativeTokenizer } from 'tokenizers'
import { BertTokenizer } from '../src-main/core/tokenizer/encoder.ts'
import { SPECIAL_TOKENS } from '../src-main/core/tokenizer/format.ts'
import { countWords, trainFromCounts } from '../src-main/core/tokenizer/trainer.ts'

export interface TokenizerBenchOptions {
  corpusMb?: number
  workDir?: string
  /** Log phases to stderr. */
  verbose?: boolean
}

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function* walk(dir: string, depth = 0): Generator<string> {
  if (depth > 6) return
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path, depth + 1)
    else if (entry.isFile()) yield path
  }
}

/** Roff to plain text, roughly: drop requests and comments, unescape fonts and specials. */
function stripRoff(text: string): string[] {
  const lines: string[] = []
  for (const raw of text.split('\n')) {
    if (raw.startsWith('.') || raw.startsWith("'") || raw.startsWith('\\"')) continue
    const line = raw
      .replace(/\\f(\[[^\]]*\]|\(..|.)/g, '')
      .replace(/\\\(em|\\\(en/g, '—')
      .replace(/\\\(..|\\\[[^\]]*\]/g, '')
      .replace(/\\[-e]/g, (m) => (m === '\\-' ? '-' : '\\'))
      .replace(/\\[&|^,/:%]/g, '')
      .replace(/\\\*\(..|\\\*./g, '')
      .replace(/\\s[-+]?\d/g, '')
      .trim()
    if (line.split(/\s+/).length >= 4) lines.push(line)
  }
  return lines
}

function readMaybeGzip(path: string): string | null {
  try {
    const bytes = readFileSync(path)
    const data = path.endsWith('.gz') ? gunzipSync(bytes) : bytes
    if (data.length > 4_000_000) return null
    const text = data.toString('utf8')
    return text.includes('\u0000') ? null : text
  } catch {
    return null
  }
}

/** Unique lines of real English documentation found on this machine. */
function realLines(limitBytes: number): string[] {
  const seen = new Set<string>()
  const lines: string[] = []
  let bytes = 0
  const add = (line: string) => {
    if (!seen.has(line)) {
      seen.add(line)
      lines.push(line)
      bytes += Buffer.byteLength(line) + 1
    }
  }
  const manRoots = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `/usr/share/man/man${n}`)
  for (const root of manRoots) {
    for (const path of walk(root)) {
      const text = readMaybeGzip(path)
      if (text) stripRoff(text).forEach(add)
      if (bytes > limitBytes) return lines
    }
  }
  for (const path of walk('/usr/share/doc')) {
    if (!/(README|NEWS|changelog|copyright|\.txt)/i.test(path) || /\.(html|png|svg|js|css)$/i.test(path)) continue
    const text = readMaybeGzip(path)
    if (!text) continue
    for (const raw of text.split('\n')) {
      const line = raw.trim()
      if (line.split(/\s+/).length >= 4 && /[a-z]{3}/.test(line)) add(line)
    }
    if (bytes > limitBytes) return lines
  }
  return lines
}

/** Seeded pseudo-English: morphology-rich pseudo-words sampled Zipf-style. */
function syntheticLines(count: number, random: () => number): string[] {
  const syllables = ['ka', 'ter', 'ion', 'al', 'ed', 'ing', 're', 'con', 'st', 'ment', 'ous', 'ly', 'pre', 'un', 'ab', 'or', 'is', 'an', 'th', 'er']
  const words = Array.from({ length: 50_000 }, (_, rank) => {
    const n = 1 + Math.min(5, Math.floor(Math.log10(rank + 10) * random() * 2))
    return Array.from({ length: n }, () => syllables[Math.floor(random() * syllables.length)]).join('')
  })
  return Array.from({ length: count }, () => {
    const n = 5 + Math.floor(random() * 20)
    return Array.from({ length: n }, () => words[Math.floor(Math.pow(random(), 3) * words.length)]).join(' ') + '.'
  })
}

function buildCorpus(path: string, bytes: number): { source: string; uniqueLines: number } {
  const random = mulberry32(20_251_129)
  let lines = realLines(bytes)
  let source = 'real: man pages (/usr/share/man/man1-8, roff stripped) + /usr/share/doc README/NEWS/changelog/copyright'
  if (lines.length < 1000) {
    lines = syntheticLines(200_000, random)
    source = 'synthetic: seeded Zipf sample of pseudo-words'
  }
  // Shuffle once (seeded), then repeat the shuffled lines until the size is reached.
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[lines[i], lines[j]] = [lines[j]!, lines[i]!]
  }
  const parts: string[] = []
  let written = 0
  for (let i = 0; written < bytes; i++) {
    const line = lines[i % lines.length]!
    parts.push(line)
    written += Buffer.byteLength(line) + 1
  }
  writeFileSync(path, parts.join('\n') + '\n')
  return { source, uniqueLines: lines.length }
}

async function* fileLines(path: string): AsyncGenerator<string> {
  const reader = createInterface({ input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity })
  for await (const line of reader) yield line
}

/** Lines of the corpus in batches, for the native encoder. */
async function* batches(path: string, size: number): AsyncGenerator<string[]> {
  let batch: string[] = []
  for await (const line of fileLines(path)) {
    batch.push(line)
    if (batch.length === size) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
}

async function encodeCorpus(tokenizer: BertTokenizer, path: string) {
  let tokens = 0
  let unknown = 0
  const unk = tokenizer.tokenToId('[UNK]')
  const started = performance.now()
  for await (const batch of batches(path, 4096)) {
    for (const ids of await tokenizer.encodeIdsBatch(batch)) {
      tokens += ids.length
      for (const id of ids) if (id === unk) unknown++
    }
  }
  return { tokens, unknown, seconds: (performance.now() - started) / 1000 }
}

const seconds = (since: number) => Math.round((performance.now() - since) / 10) / 100

export async function tokenizerBench(options: TokenizerBenchOptions = {}): Promise<object> {
  const corpusMb = options.corpusMb ?? 50
  const workDir = options.workDir ?? join(tmpdir(), 'bert-studio-tokenizer-bench')
  const log = (message: string) => options.verbose && process.stderr.write(`[tokenizer bench] ${message}\n`)
  mkdirSync(workDir, { recursive: true })
  const corpusPath = join(workDir, `corpus-${corpusMb}mb.txt`)
  let corpusInfo: { source: string; uniqueLines: number | null } = { source: 'reused from an earlier run', uniqueLines: null }
  if (!existsSync(corpusPath)) {
    log(`building ${corpusMb} MB corpus`)
    corpusInfo = buildCorpus(corpusPath, corpusMb * 1024 * 1024)
  }
  const corpusBytes = statSync(corpusPath).size

  // Ours, 30,000: settings as the native trainer's defaults (min frequency 0, no alphabet limit).
  log('our trainer, 30k')
  const oursOptions = { lowercase: true, vocabSize: 30_000, minFrequency: 0, limitAlphabet: null }
  let started = performance.now()
  const counter = await countWords(fileLines(corpusPath), oursOptions)
  const countSeconds = seconds(started)
  const mergeStarted = performance.now()
  const ours = await trainFromCounts(counter, oursOptions)
  const mergeSeconds = seconds(mergeStarted)
  const oursSeconds = seconds(started)

  log('native trainer, 30k')
  const empty = BertTokenizer.fromVocab([...SPECIAL_TOKENS], { lowercase: true }).json
  const native = NativeTokenizer.fromString(JSON.stringify({ ...empty, added_tokens: [], post_processor: null, model: { ...empty.model, vocab: {} } }))
  started = performance.now()
  native.train([corpusPath])
  const nativeSeconds = seconds(started)
  const nativeVocabMap = native.getVocab(false)
  const nativeTrained = Object.entries(nativeVocabMap)
    .sort((a, b) => a[1] - b[1])
    .map(([token]) => token)
  // The native trainer adds no special tokens by default: put them first so it can encode.
  const nativeVocab = [...SPECIAL_TOKENS, ...nativeTrained.filter((token) => !(SPECIAL_TOKENS as readonly string[]).includes(token))]

  log('our trainer, 8k')
  started = performance.now()
  const counter8k = await countWords(fileLines(corpusPath), { ...oursOptions, vocabSize: 8_000 })
  const ours8k = await trainFromCounts(counter8k, { ...oursOptions, vocabSize: 8_000 })
  const ours8kSeconds = seconds(started)

  log('encoding the corpus with both vocabularies')
  const oursTokenizer = BertTokenizer.fromVocab(ours.vocab, { lowercase: true })
  const nativeTokenizer = BertTokenizer.fromVocab(nativeVocab, { lowercase: true })
  const oursEncoded = await encodeCorpus(oursTokenizer, corpusPath)
  const nativeEncoded = await encodeCorpus(nativeTokenizer, corpusPath)
  const words = counter.totalWords
  const oursPiecesPerWord = oursEncoded.tokens / words
  const nativePiecesPerWord = nativeEncoded.tokens / words
  const shared = new Set(nativeTrained)

  return {
    corpus: {
      path: corpusPath,
      megabytes: Math.round((corpusBytes / 1024 / 1024) * 100) / 100,
      ...corpusInfo,
      documents: counter.documents,
      words,
      uniqueWords: counter.counts.size,
    },
    train30k: {
      ours: { seconds: oursSeconds, countSeconds, mergeSeconds, vocabSize: ours.vocab.length, ...ours.stats },
      native: { seconds: nativeSeconds, vocabSize: nativeTrained.length },
      ratioOursToNative: Math.round((oursSeconds / nativeSeconds) * 100) / 100,
      targetRatio: 3,
      sharedTokens: ours.vocab.filter((token) => shared.has(token)).length,
    },
    train8k: { ours: { seconds: ours8kSeconds, vocabSize: ours8k.vocab.length } },
    piecesPerWord: {
      ours: Math.round(oursPiecesPerWord * 10_000) / 10_000,
      native: Math.round(nativePiecesPerWord * 10_000) / 10_000,
      relativeDifference: Math.round(((oursPiecesPerWord - nativePiecesPerWord) / nativePiecesPerWord) * 10_000) / 10_000,
      target: 0.02,
      unknownRate: { ours: oursEncoded.unknown / oursEncoded.tokens, native: nativeEncoded.unknown / nativeEncoded.tokens },
    },
    encode: {
      vocab: 'ours (30k)',
      seconds: Math.round(oursEncoded.seconds * 100) / 100,
      megabytesPerSecond: Math.round((corpusBytes / 1024 / 1024 / oursEncoded.seconds) * 100) / 100,
      tokensPerSecond: Math.round(oursEncoded.tokens / oursEncoded.seconds),
      batchSize: 4096,
    },
  }
}
