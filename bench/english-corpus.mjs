#!/usr/bin/env node
// Builds a corpus of real English text from this machine's documentation, for pre-training
// experiments: every English manual page (rendered to plain text by man/groff when present, else
// with its roff requests stripped) and the README/NEWS/changelog files under /usr/share/doc, one
// document per page or file, written as JSONL ({"text": …}) so paragraphs and sentences survive.
//
//   node bench/english-corpus.mjs OUT.jsonl [--mb 12]
import { createWriteStream, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

const [out, ...rest] = process.argv.slice(2)
if (!out) {
  console.error('Usage: node bench/english-corpus.mjs OUT.jsonl [--mb 12]')
  process.exit(2)
}
const mbIndex = rest.indexOf('--mb')
const targetBytes = (mbIndex >= 0 ? Number(rest[mbIndex + 1]) : 12) * 1024 * 1024

const read = (path) => {
  const raw = readFileSync(path)
  return (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
}

/** roff → text, roughly: drop requests and comments, font escapes and the common specials. */
function stripRoff(source) {
  return source
    .split('\n')
    .filter((line) => !line.startsWith('.') && !line.startsWith("'") && !line.startsWith('\\"'))
    .join('\n')
    .replace(/\\f[BIRPC]|\\f\(..|\\f\[[^\]]*\]/g, '')
    .replace(/\\\(em|\\\(en/g, '—')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\((lq|rq)/g, '"')
    .replace(/\\-/g, '-')
    .replace(/\\&|\\e|\\c|\\:|\\%/g, '')
    .replace(/\\\*\[[^\]]*\]|\\\*\(..|\\\*./g, '')
    .replace(/\\[ ~0|^]/g, ' ')
}

/**
 * Paragraphs of a text that read as prose: lines joined, whitespace collapsed, and kept only when
 * at least 8 words and 75% of them are plain words (letters, an apostrophe or hyphen, trailing
 * punctuation), which drops code, option tables and changelog bullet noise.
 */
function paragraphs(text) {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => {
      const words = p.split(' ')
      if (words.length < 8) return false
      const plain = words.filter((w) => /^[("]?[A-Za-z][a-z'-]*[)"]?[.,;:!?]?$/.test(w)).length
      return plain / words.length >= 0.75
    })
}

const output = createWriteStream(out)
let written = 0
let documents = 0
const emit = (text) => {
  const line = `${JSON.stringify({ text })}\n`
  output.write(line)
  written += Buffer.byteLength(line)
  documents++
}

// Sample across every manual section and the documentation files, at most PER_PREFIX pages for one
// command family (16,000 of man1's pages here are `gcloud …`), in a fixed pseudo-random order, so
// the corpus is varied English rather than one tool's reference.
const PER_PREFIX = 25
const candidates = []
for (const n of ['1', '8', '5', '3', '7', '6', '4', '2']) {
  const dir = `/usr/share/man/man${n}`
  let names = []
  try {
    names = readdirSync(dir).sort()
  } catch {
    continue
  }
  for (const name of names) candidates.push({ path: join(dir, name), roff: true, prefix: name.split(/[._:-]/)[0].toLowerCase() })
}
for (const dir of readdirSync('/usr/share/doc').sort()) {
  for (const name of ['README', 'README.md', 'README.txt', 'NEWS.gz', 'README.gz', 'changelog.gz', 'README.md.gz']) {
    const path = join('/usr/share/doc', dir, name)
    try {
      if (statSync(path).isFile()) candidates.push({ path, roff: false, prefix: `doc:${dir}` })
    } catch {}
  }
}
const perPrefix = new Map()
const chosen = candidates.filter(({ prefix }) => {
  const seen = perPrefix.get(prefix) ?? 0
  perPrefix.set(prefix, seen + 1)
  return seen < PER_PREFIX
})
// Deterministic shuffle (mulberry32) so two runs build the same corpus.
let seed = 0x5eed
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
for (let i = chosen.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1))
  ;[chosen[i], chosen[j]] = [chosen[j], chosen[i]]
}
for (const { path, roff } of chosen) {
  if (written >= targetBytes) break
  let text
  try {
    text = roff ? stripRoff(read(path)) : read(path)
  } catch {
    continue
  }
  // A changelog can be megabytes of one package's history: keep its first 200 kB.
  const kept = paragraphs(text.slice(0, 200_000))
  if (kept.length >= 2) emit(kept.join('\n\n'))
}
output.end(() => console.log(JSON.stringify({ out, documents, bytes: written })))
