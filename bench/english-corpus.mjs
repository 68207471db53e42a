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

/** Paragraphs of a text: lines joined, whitespace collapsed, code-like and short ones dropped. */
function paragraphs(text) {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p.length >= 40 && /[a-z]{3,}/.test(p) && (p.match(/[A-Za-z]/g)?.length ?? 0) / p.length > 0.6)
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

const sections = ['1', '8', '5', '3', '7', '6', '4', '2'].map((n) => `/usr/share/man/man${n}`)
const docFiles = []
for (const dir of readdirSync('/usr/share/doc')) {
  for (const name of ['README', 'README.md', 'README.txt', 'NEWS.gz', 'README.gz', 'changelog.gz', 'README.md.gz']) {
    const path = join('/usr/share/doc', dir, name)
    try {
      if (statSync(path).isFile()) docFiles.push(path)
    } catch {}
  }
}
outer: for (const dir of sections) {
  let names = []
  try {
    names = readdirSync(dir).sort()
  } catch {
    continue
  }
  for (const name of names) {
    if (written >= targetBytes) break outer
    let text
    try {
      text = stripRoff(read(join(dir, name)))
    } catch {
      continue
    }
    const kept = paragraphs(text)
    if (kept.length >= 2) emit(kept.join('\n\n'))
  }
}
for (const path of docFiles) {
  if (written >= targetBytes) break
  try {
    const kept = paragraphs(read(path))
    if (kept.length >= 2) emit(kept.join('\n\n'))
  } catch {}
}
output.end(() => console.log(JSON.stringify({ out, documents, bytes: written })))
