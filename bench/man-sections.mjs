#!/usr/bin/env node
// A real text-classification task from this machine's manual pages, for the fine-tuning quality
// benchmark when no other held-out task is at hand: prose paragraphs labelled by the manual section
// their page is in (user command, library function, file format, administration). Also writes
// unlabelled related text for pre-training, from pages the task does not use.
//
//   node bench/man-sections.mjs OUT_DIR [--per-class 400] [--corpus-mb 3]
//   npm run bench -- finetune --data OUT_DIR/man-sections.csv --corpus OUT_DIR/man-corpus.txt
//
// Writes OUT_DIR/man-sections.csv (text,label) and OUT_DIR/man-corpus.txt (one paragraph a line).
// Deterministic for one machine's set of manual pages; another machine has other pages.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { gunzipSync } from 'node:zlib'

const SECTIONS = { 1: 'command', 3: 'library', 5: 'file-format', 8: 'admin' }
// One command family can own thousands of pages (gcloud has 16,000 in man1): cap pages per prefix
// and paragraphs per page so a class is many pages' prose, not one tool's reference.
const PAGES_PER_PREFIX = 6
const PARAGRAPHS_PER_PAGE = 3

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'per-class': { type: 'string', default: '400' }, 'corpus-mb': { type: 'string', default: '3' } },
})
if (positionals.length !== 1) {
  console.error('Usage: node bench/man-sections.mjs OUT_DIR [--per-class 400] [--corpus-mb 3]')
  process.exit(2)
}
const out = resolve(positionals[0])
const perClass = Number(values['per-class'])
const corpusBytes = Number(values['corpus-mb']) * 1024 * 1024

let seed = 0x6d616e
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const shuffle = (list) => {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[list[i], list[j]] = [list[j], list[i]]
  }
  return list
}

/** A font request's words as text (".BR ls (1)" → "ls(1)"; ".B name" → "name"): they are the names in the prose. */
function fontRequest(line) {
  const match = /^[.'](B|I|SM|SB|BR|RB|IR|RI|BI|IB)\s+(.*)$/.exec(line)
  if (!match) return line
  const args = match[2].match(/"[^"]*"|\S+/g) ?? []
  const words = args.map((a) => a.replace(/^"|"$/g, ''))
  // Alternating-font requests join their arguments without spaces.
  return match[1].length === 2 ? words.join('') : words.join(' ')
}

/**
 * roff → paragraphs of prose: paragraph and section requests (.PP, .SH, .TP, …) end a paragraph,
 * other requests and comments are dropped, font escapes and common specials removed. Kept: 12–120
 * words, 80% of them plain words (which drops synopses, option lists and code).
 */
function manParagraphs(source) {
  const text = source
    .split('\n')
    .map((line) => (/^[.'](SH|SS|PP|LP|P|TP|IP|HP|sp|br|TH|RS|RE|nf|fi|EX|EE|in)\b/.test(line) ? '' : fontRequest(line)))
    .filter((line) => !/^[.']/.test(line) && !line.startsWith('\\"'))
    .join('\n')
    .replace(/\\f[BIRPC]|\\f\(..|\\f\[[^\]]*\]/g, '')
    .replace(/\\\(em|\\\(en/g, '—')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\((lq|rq)/g, '"')
    .replace(/\\-/g, '-')
    .replace(/\\&|\\e|\\c|\\:|\\%/g, '')
    .replace(/\\\*\[[^\]]*\]|\\\*\(..|\\\*./g, '')
    .replace(/\\[ ~0|^]/g, ' ')
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => {
      const words = p.split(' ')
      if (words.length < 12 || words.length > 120) return false
      const plain = words.filter((w) => /^[("]?[A-Za-z][a-z'-]*[)"]?[.,;:!?]?$/.test(w)).length
      return plain / words.length >= 0.8
    })
}

function pages(section) {
  const dir = `/usr/share/man/man${section}`
  let names = []
  try {
    names = readdirSync(dir).sort()
  } catch {
    return []
  }
  const perPrefix = new Map()
  return names
    .filter((name) => {
      const prefix = name.split(/[._:-]/)[0].toLowerCase()
      const seen = perPrefix.get(prefix) ?? 0
      perPrefix.set(prefix, seen + 1)
      return seen < PAGES_PER_PREFIX
    })
    .map((name) => join(dir, name))
}

function read(path) {
  try {
    const raw = readFileSync(path)
    return (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
  } catch {
    return ''
  }
}

const rows = []
const unused = []
for (const [section, label] of Object.entries(SECTIONS)) {
  const candidates = shuffle(pages(section))
  let taken = 0
  for (const path of candidates) {
    const paragraphs = manParagraphs(read(path))
    if (taken >= perClass || paragraphs.length === 0) {
      unused.push(...paragraphs)
      continue
    }
    for (const paragraph of shuffle(paragraphs).slice(0, Math.min(PARAGRAPHS_PER_PAGE, perClass - taken))) {
      rows.push([paragraph, label])
      taken++
    }
  }
  if (taken < perClass) console.error(`man${section}: only ${taken} paragraphs (wanted ${perClass})`)
}
// Pages of the other sections are related text too.
for (const section of ['7', '2', '4', '6']) for (const path of pages(section)) unused.push(...manParagraphs(read(path)))

const field = (value) => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'man-sections.csv'), ['text,label', ...shuffle(rows).map((r) => r.map(field).join(','))].join('\n') + '\n')
const corpus = []
let bytes = 0
for (const paragraph of shuffle(unused)) {
  if (bytes >= corpusBytes) break
  corpus.push(paragraph)
  bytes += Buffer.byteLength(paragraph) + 1
}
writeFileSync(join(out, 'man-corpus.txt'), corpus.join('\n') + '\n')
const counts = {}
for (const [, label] of rows) counts[label] = (counts[label] ?? 0) + 1
console.log(JSON.stringify({ out, rows: rows.length, classes: counts, corpus_paragraphs: corpus.length, corpus_bytes: bytes }))
