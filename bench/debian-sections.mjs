#!/usr/bin/env node
// A second real text-classification task, unlike man-sections in kind: Debian packages' one-line
// descriptions (about 6 words: "light SMTP client with support for server profiles") labelled by
// the archive section their maintainers filed them in (games, science, sound, graphics, net, mail,
// text, video). Read from APT's package lists, which every Debian machine has.
//
//   node bench/debian-sections.mjs OUT.csv [--per-class 600] [--lists /var/lib/apt/lists]
//   npm run bench -- finetune --data OUT.csv --baseline-only
//
// Deterministic for one set of package lists (bookworm main, amd64, here: 4,181 rows). Duplicate
// descriptions (case-insensitive) and ones under three words are dropped; classes are capped at
// --per-class, chosen by a seeded shuffle.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { csvField, mulberry32, shuffle } from './finetune-quality.mjs'

const SECTIONS = ['games', 'science', 'sound', 'graphics', 'net', 'mail', 'text', 'video']

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'per-class': { type: 'string', default: '600' }, lists: { type: 'string', default: '/var/lib/apt/lists' } },
})
const [out] = positionals
if (!out) {
  console.error('Usage: node bench/debian-sections.mjs OUT.csv [--per-class 600] [--lists /var/lib/apt/lists]')
  process.exit(2)
}
const perClass = Number(values['per-class'])

// The main component's package list, in whatever compression APT keeps it (apt-helper reads them all).
const list = readdirSync(values.lists).find((name) => /_main_binary-[a-z0-9]+_Packages(\.\w+)?$/.test(name) && !name.includes('security') && !name.includes('updates'))
if (!list) throw new Error(`${values.lists}: no main Packages list (run apt-get update)`)
const helper = '/usr/lib/apt/apt-helper'
if (!existsSync(helper)) throw new Error(`${helper} is missing: this needs a Debian machine`)
const text = execFileSync(helper, ['cat-file', join(values.lists, list)], { maxBuffer: 1 << 30 }).toString('utf8')

const bySection = new Map(SECTIONS.map((section) => [section, []]))
const seen = new Set()
for (const stanza of text.split('\n\n')) {
  const field = (name) => stanza.match(new RegExp(`^${name}: (.*)$`, 'm'))?.[1]?.trim()
  const rows = bySection.get(field('Section') ?? '')
  if (!rows) continue
  const description = (field('Description') ?? '').replace(/\s+/g, ' ').replace(/\.$/, '')
  const key = description.toLowerCase()
  if (description.split(' ').length < 3 || seen.has(key)) continue
  seen.add(key)
  rows.push(description)
}

// Seeded: the same rows on every run.
const next = mulberry32(5)
const rows = shuffle(
  [...bySection].flatMap(([section, descriptions]) => shuffle(descriptions, next).slice(0, perClass).map((description) => ({ description, section }))),
  next,
)
writeFileSync(out, ['text,label', ...rows.map((row) => `${csvField(row.description)},${row.section}`)].join('\n') + '\n')
const counts = Object.fromEntries([...bySection].map(([section, descriptions]) => [section, Math.min(perClass, descriptions.length)]))
console.log(JSON.stringify({ out, rows: rows.length, per_class: counts, list }))
