/**
 * Small learnable tasks for the fine-tuning tests, written as the labelled files the studio reads
 * (CSV for classification, JSONL for the rest), from a seeded generator so every run sees the same
 * data. Each is learnable from random weights by a Tiny model in a few epochs: topic words decide
 * the class, a closed list of names and places are the entities, and each question asks for the
 * one word of its kind in the passage.
 */
import { writeFileSync } from 'node:fs'

/** mulberry32: a tiny seeded generator (test data only). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!

const TOPICS: Record<string, string[]> = {
  sport: ['football', 'goal', 'match', 'team', 'coach', 'league', 'striker', 'referee', 'stadium', 'tennis'],
  cooking: ['recipe', 'oven', 'butter', 'flour', 'garlic', 'simmer', 'sauce', 'onion', 'bake', 'pepper'],
  finance: ['stock', 'bank', 'market', 'interest', 'loan', 'investor', 'bond', 'profit', 'shares', 'budget'],
}
const FILLER = ['the', 'a', 'was', 'very', 'today', 'and', 'this', 'new', 'after', 'with', 'about', 'good', 'week']

/** Sentences of filler and three words of their topic, `perClass` of each of the three topics. */
export function topicRows(perClass: number, seed = 1): { text: string; label: string }[] {
  const random = seeded(seed)
  const rows: { text: string; label: string }[] = []
  for (let i = 0; i < perClass; i++) {
    for (const [label, words] of Object.entries(TOPICS)) {
      const sentence = Array.from({ length: 7 }, () => pick(random, FILLER))
      for (let k = 0; k < 3; k++) sentence.splice(Math.floor(random() * sentence.length), 0, pick(random, words))
      rows.push({ text: sentence.join(' '), label })
    }
  }
  return rows
}

/** CSV `text,label` of topicRows. */
export function classifyCsv(path: string, perClass: number, seed = 1): void {
  writeFileSync(path, `${['text,label', ...topicRows(perClass, seed).map((row) => `${row.text},${row.label}`)].join('\n')}\n`)
}

const PEOPLE = ['john smith', 'mary', 'peter jones', 'anna', 'lucas brown', 'sofia', 'omar', 'lena white', 'david', 'grace lee']
const PLACES = ['paris', 'london', 'new york', 'berlin', 'tokyo', 'madrid', 'cairo', 'oslo', 'lima', 'rome']
const TAG_TEMPLATES = [
  '{PER} lives in {LOC} .',
  'yesterday {PER} visited {LOC} with {PER} .',
  'in {LOC} , {PER} opened a small shop .',
  '{PER} and {PER} flew to {LOC} last week .',
  'the letter from {LOC} reached {PER} today .',
  'we met {PER} near the station in {LOC} .',
]

export interface SpanRecord {
  text: string
  spans: { start: number; end: number; label: string }[]
}

/** A sentence from a template with its entity spans as character offsets. */
function tagRecord(random: () => number): SpanRecord {
  const template = pick(random, TAG_TEMPLATES)
  let text = ''
  const spans: SpanRecord['spans'] = []
  for (const part of template.split(/(\{PER\}|\{LOC\})/)) {
    if (part === '{PER}' || part === '{LOC}') {
      const label = part === '{PER}' ? 'PER' : 'LOC'
      const value = pick(random, label === 'PER' ? PEOPLE : PLACES)
      spans.push({ start: text.length, end: text.length + value.length, label })
      text += value
    } else text += part
  }
  return { text, spans }
}

export function tagJsonl(path: string, count: number, seed = 2): SpanRecord[] {
  const random = seeded(seed)
  const records = Array.from({ length: count }, () => tagRecord(random))
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
  return records
}

const COLORS = ['red', 'blue', 'green', 'yellow', 'white', 'black', 'orange', 'purple']
const OWNERS = ['anna', 'omar', 'peter', 'grace', 'lucas', 'sofia', 'david', 'mary']
const EXTRA = ['the garden is quiet .', 'a dog sleeps by the door .', 'it was built long ago .', 'the roof is new .', 'many people walk past it .']

export interface QaRecord {
  context: string
  question: string
  answer: string
  answer_start: number
}

/**
 * A passage naming a house's colour, town and owner (sentences in random order, with a filler
 * sentence), and one question about it: of the first `kinds` kinds (colour, owner, town).
 */
export function qaRecords(count: number, seed = 3, kinds = 3): QaRecord[] {
  const random = seeded(seed)
  const records: QaRecord[] = []
  for (let i = 0; i < count; i++) {
    const color = pick(random, COLORS)
    const city = pick(random, PLACES.filter((p) => !p.includes(' ')))
    const owner = pick(random, OWNERS)
    const sentences = [`the house is ${color} .`, `it stands in ${city} .`, `${owner} owns the house .`, pick(random, EXTRA)]
    for (let k = sentences.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1))
      ;[sentences[k], sentences[j]] = [sentences[j]!, sentences[k]!]
    }
    const context = sentences.join(' ')
    const kind = Math.floor(random() * kinds)
    const [question, answer] = kind === 0 ? ['what color is the house ?', color] : kind === 1 ? ['who owns the house ?', owner] : ['where is the house ?', city]
    const marker = kind === 0 ? `is ${color} .` : kind === 1 ? `${owner} owns` : `in ${city} .`
    const start = context.indexOf(marker) + (kind === 1 ? 0 : marker.indexOf(answer))
    records.push({ context, question, answer, answer_start: start })
  }
  return records
}

export function qaJsonl(path: string, count: number, seed = 3, kinds = 3): QaRecord[] {
  const records = qaRecords(count, seed, kinds)
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
  return records
}

/** Documents whose summary is the sentence carrying the news word (`announced`), in any position. */
export function summaryJsonl(path: string, count: number, seed = 4): void {
  const random = seeded(seed)
  const lines: string[] = []
  for (let i = 0; i < count; i++) {
    const filler = Array.from({ length: 3 }, () => `${pick(random, FILLER)} ${pick(random, FILLER)} ${pick(random, FILLER)} ${pick(random, FILLER)} .`)
    const key = `the council announced a ${pick(random, ['new', 'big', 'small'])} plan for ${pick(random, PLACES)} .`
    const at = Math.floor(random() * 4)
    // Capitals start sentences: Unicode's segmentation does not break before a lowercase word.
    const sentences = [...filler.slice(0, at), key, ...filler.slice(at)].map((s) => s.charAt(0).toUpperCase() + s.slice(1))
    lines.push(JSON.stringify({ sentences, labels: sentences.map((_, s) => (s === at ? 1 : 0)) }))
  }
  writeFileSync(path, `${lines.join('\n')}\n`)
}

/** JSONL `{text, labels: [...]}`: a sentence holding words of one or two topics. */
export function multilabelJsonl(path: string, count: number, seed = 5): void {
  const random = seeded(seed)
  const names = Object.keys(TOPICS)
  const lines: string[] = []
  for (let i = 0; i < count; i++) {
    const chosen = names.filter(() => random() < 0.45)
    if (chosen.length === 0) chosen.push(pick(random, names))
    const sentence = Array.from({ length: 6 }, () => pick(random, FILLER))
    for (const name of chosen) for (let k = 0; k < 2; k++) sentence.splice(Math.floor(random() * sentence.length), 0, pick(random, TOPICS[name]!))
    lines.push(JSON.stringify({ text: sentence.join(' '), labels: chosen }))
  }
  writeFileSync(path, `${lines.join('\n')}\n`)
}
