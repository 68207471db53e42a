#!/usr/bin/env node
// Import benchmark: generates a seeded plain-text corpus (one sentence-length document per line),
// imports it with the built CLI (`node out/main/cli.js import`) in a child process while sampling
// its memory, then times document pages and searches on the result. Prints one JSON object.
//
//   node bench/import.mjs [--size-mb 1024] [--dir /tmp/bert-studio-bench] [--keep]
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const root = resolve(import.meta.dirname, '..')
const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    dir: { type: 'string', default: join(tmpdir(), 'bert-studio-bench') },
    keep: { type: 'boolean', default: false },
  },
})
const sizeMb = Number(values['size-mb'])
const dir = values.dir
const cli = join(root, 'out/main/cli.js')
if (!existsSync(cli)) {
  console.error(`${cli} is missing: run \`npm run build\` first`)
  process.exit(1)
}

// ---------------------------------------------------------------- seeded corpus

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function generate(path, bytes) {
  const random = mulberry32(12345)
  const letters = 'etaoinshrdlucmfwypvbgkjqxz'
  // A Zipf-like vocabulary: short frequent words, long rare ones.
  const vocabulary = Array.from({ length: 20000 }, (_, rank) => {
    const length = 1 + Math.min(12, Math.floor(Math.log2(rank + 2) * (0.6 + random() * 0.6)))
    let word = ''
    for (let i = 0; i < length; i++) word += letters[Math.floor(Math.pow(random(), 1.8) * letters.length)]
    return word
  })
  const pick = () => vocabulary[Math.floor(Math.pow(random(), 3) * vocabulary.length)]
  const fd = openSync(path + '.partial', 'w')
  let written = 0
  let lines = 0
  while (written < bytes) {
    const parts = []
    for (let n = 0; n < 20000; n++) {
      const words = 4 + Math.floor(random() * random() * 45)
      let sentence = pick()
      sentence = sentence[0].toUpperCase() + sentence.slice(1)
      for (let w = 1; w < words; w++) sentence += (random() < 0.08 ? ', ' : ' ') + pick()
      parts.push(sentence + '.')
    }
    const chunk = Buffer.from(parts.join('\n') + '\n')
    writeSync(fd, chunk)
    written += chunk.length
    lines += parts.length
  }
  closeSync(fd)
  // Rename last, so an interrupted generation is never reused.
  rmSync(path, { force: true })
  require('node:fs').renameSync(path + '.partial', path)
  return lines
}
const require = createRequire(import.meta.url)

mkdirSync(dir, { recursive: true })
const file = join(dir, `corpus-${sizeMb}mb.txt`)
if (!existsSync(file)) {
  const started = performance.now()
  generate(file, sizeMb * 1024 * 1024)
  console.error(`generated ${file} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}
const bytes = statSync(file).size

// ---------------------------------------------------------------- import in a child

const home = join(dir, `home-${process.pid}`)
rmSync(home, { recursive: true, force: true })
const started = performance.now()
const child = spawn(process.execPath, [cli, 'import', file, '--name', 'bench', '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] })
let stdout = ''
let lastProgress = ''
child.stdout.on('data', (data) => (stdout += data))
child.stderr.on('data', (data) => {
  const lines = String(data).trim().split('\n')
  lastProgress = lines.at(-1) ?? lastProgress
})
let peakKb = 0
const sample = () => {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    const hwm = /VmHWM:\s+(\d+)/.exec(status)
    if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]))
  } catch {
    // The child has exited.
  }
}
const sampler = setInterval(sample, 100)
const code = await new Promise((done) => child.on('exit', (c) => done(c)))
clearInterval(sampler)
const seconds = (performance.now() - started) / 1000
const result = JSON.parse(stdout.trim().split('\n').at(-1) || '{}')
if (code !== 0 || result.error) {
  console.error(`import failed (exit ${code}): ${stdout} ${lastProgress}`)
  process.exit(1)
}

// ---------------------------------------------------------------- page and search latency

// The same statements CorporaService.documents runs (src-main/services/corpora.ts).
const Database = require('better-sqlite3')
const db = new Database(join(home, 'studio.db'), { readonly: true })
const corpusId = result.corpus_id
const documents = result.documents
const time = (run, repeats = 5) => {
  const times = []
  for (let i = 0; i < repeats; i++) {
    const t = performance.now()
    run()
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  return Number(times[Math.floor(times.length / 2)].toFixed(2))
}
const page = db.prepare('SELECT id, ordinal, substr(text, 1, 2000) AS text, label, source FROM documents WHERE corpus_id = ? AND ordinal > ? ORDER BY ordinal LIMIT ?')
// Search as CorporaService.documents does it: one ordered scan over the corpus' id range collecting
// up to 10,000 matching ids, then the page's rows by id.
const range = db.prepare('SELECT (SELECT id FROM documents WHERE corpus_id = ? ORDER BY ordinal LIMIT 1) AS first, (SELECT id FROM documents WHERE corpus_id = ? ORDER BY ordinal DESC LIMIT 1) AS last')
const scan = db.prepare("SELECT id FROM documents WHERE id BETWEEN ? AND ? AND corpus_id = ? AND text LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?").pluck()
const searchMs = (query) => time(() => {
  const { first, last } = range.get(corpusId, corpusId)
  const ids = scan.all(first, last, corpusId, `%${query}%`, 10000).slice(0, 50)
  if (ids.length > 0) db.prepare(`SELECT id, ordinal, substr(text, 1, 2000) AS text, label, source FROM documents WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY ordinal`).all(...ids)
}, 3)
const latency = {
  pageFirstMs: time(() => page.all(corpusId, 0, 50)),
  pageMiddleMs: time(() => page.all(corpusId, Math.floor(documents / 2), 50)),
  pageLastMs: time(() => page.all(corpusId, documents - 50, 50)),
  searchCommonMs: searchMs('the'),
  searchRareMs: searchMs('zqxj'),
  searchAbsentMs: searchMs('no such words here'),
}
db.close()
if (!values.keep) rmSync(home, { recursive: true, force: true })

console.log(
  JSON.stringify({
    bytes,
    documents,
    seconds: Number(seconds.toFixed(2)),
    mbPerSecond: Number((bytes / 1e6 / seconds).toFixed(2)),
    documentsPerSecond: Math.round(documents / seconds),
    peakRssMb: Number((peakKb / 1024).toFixed(1)),
    latency,
  }),
)
