/**
 * Pure helpers of the labelling workspace: word tokens that spans snap to, span edits, the filter
 * choices of the toolbar, and short descriptions of a label. No Svelte, no api: unit-tested.
 */
import type { Example, ExampleFilter, LabelClass, LabelValue, TaskKind } from '../../../src-main/contract/index.ts'

export interface TokenRange {
  /** [start, end) UTF-16 offsets into the text. */
  start: number
  end: number
}

export interface Span {
  start: number
  end: number
  classId: number
}

// A word (letters, digits, joined by an apostrophe) or one other visible character.
const TOKEN = /[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*|[^\s]/gu

/** The words and punctuation marks of a text: what a selection snaps to. */
export function wordTokens(text: string): TokenRange[] {
  const tokens: TokenRange[] = []
  for (const match of text.matchAll(TOKEN)) tokens.push({ start: match.index, end: match.index + match[0].length })
  return tokens
}

/** The tokens a character range touches, as an inclusive index range; null when it touches none. */
export function tokensTouching(tokens: readonly TokenRange[], start: number, end: number): { from: number; to: number } | null {
  let from = -1
  let to = -1
  tokens.forEach((token, index) => {
    if (token.end > start && token.start < Math.max(end, start + 1)) {
      if (from < 0) from = index
      to = index
    }
  })
  return from < 0 ? null : { from, to }
}

export const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end

/**
 * `spans` with `added` in, in reading order. Without overlap the spans it overlaps give way (the
 * analyst's latest choice wins; undo brings them back); an identical span is not added twice.
 */
export function addSpan(spans: readonly Span[], added: Span, allowOverlap: boolean): Span[] {
  const kept = spans.filter((span) => {
    if (span.start === added.start && span.end === added.end && (span.classId === added.classId || !allowOverlap)) return false
    return allowOverlap || !overlaps(span, added)
  })
  return sortSpans([...kept, added])
}

export function removeSpan(spans: readonly Span[], removed: Span): Span[] {
  return spans.filter((span) => !(span.start === removed.start && span.end === removed.end && span.classId === removed.classId))
}

export const sortSpans = (spans: Span[]) => spans.sort((a, b) => a.start - b.start || a.end - b.end || a.classId - b.classId)

/** The toolbar's filter choice as one string: `all`, `class:12`, `confidence`, … */
export type FilterChoice =
  | 'all'
  | 'unlabelled'
  | 'labelled'
  | 'disagreement'
  | 'uncertain'
  | 'suspect'
  | 'confidence'
  | `class:${number}`

export function filterOf(choice: FilterChoice, range: { min: number; max: number } = { min: 0, max: 1 }): ExampleFilter {
  if (choice.startsWith('class:')) return { kind: 'class', classId: Number(choice.slice('class:'.length)) }
  switch (choice) {
    case 'uncertain':
      return { kind: 'uncertain', by: 'entropy' }
    case 'suspect':
      return { kind: 'suspect', minConfidence: 0.8 }
    case 'confidence':
      return { kind: 'confidence', min: Math.min(range.min, range.max), max: Math.max(range.min, range.max) }
    default:
      return { kind: choice as 'all' | 'unlabelled' | 'labelled' | 'disagreement' }
  }
}

/** An example's label by one annotator. */
export const labelBy = (example: Example, annotator: string): LabelValue | null =>
  example.labels.find((label) => label.annotator === annotator)?.value ?? null

/**
 * Whether an example still belongs in the list a filter made, after a label changed here. Filters
 * the page cannot judge (model confidence, disagreement) keep what they listed.
 */
export function stillMatches(filter: ExampleFilter, example: Example, annotator: string | null): boolean {
  const labels = annotator === null ? example.labels : example.labels.filter((label) => label.annotator === annotator)
  switch (filter.kind) {
    case 'unlabelled':
    case 'uncertain':
      return labels.length === 0
    case 'labelled':
      return labels.length > 0
    case 'class':
      return labels.some((label) => label.value.kind === 'classes' && label.value.classIds.includes(filter.classId))
    default:
      return true
  }
}

/** What a label says, in a few words: class names, or how many spans, answers, sentences. */
export function describeValue(value: LabelValue | null, classes: readonly LabelClass[]): string {
  if (value === null) return '—'
  const nameOf = (id: number) => classes.find((item) => item.id === id)?.name ?? `class ${id}`
  switch (value.kind) {
    case 'classes':
      return value.classIds.length === 0 ? 'none' : value.classIds.map(nameOf).join(', ')
    case 'spans': {
      if (value.spans.length === 0) return 'no spans'
      const counts = new Map<string, number>()
      for (const span of value.spans) counts.set(nameOf(span.classId), (counts.get(nameOf(span.classId)) ?? 0) + 1)
      return [...counts].map(([name, count]) => (count > 1 ? `${name} ×${count}` : name)).join(', ')
    }
    case 'qa':
      return value.items.length === 1 ? '1 answer' : `${value.items.length} answers`
    case 'summary':
      return value.sentences.length === 1 ? '1 sentence' : `${value.sentences.length} sentences`
  }
}

/** Landis and Koch's words for a kappa. */
export function kappaWords(kappa: number | null): string {
  if (kappa === null || !Number.isFinite(kappa)) return 'not defined'
  if (kappa < 0) return 'worse than chance'
  if (kappa <= 0.2) return 'slight'
  if (kappa <= 0.4) return 'fair'
  if (kappa <= 0.6) return 'moderate'
  if (kappa <= 0.8) return 'substantial'
  return 'almost perfect'
}

export const TASKS: readonly { id: TaskKind; title: string; detail: string }[] = [
  { id: 'classify', title: 'Classify', detail: 'One class per document (e.g. positive, negative, neutral).' },
  { id: 'multilabel', title: 'Multi-label', detail: 'Any number of classes per document.' },
  { id: 'tag', title: 'Tag spans', detail: 'Mark entities or phrases in the text, each with a type.' },
  { id: 'qa', title: 'Question answering', detail: 'Ask a question about the text; mark its answer in it.' },
  { id: 'summarize', title: 'Summarise', detail: 'Mark the sentences that belong in a summary.' },
]

export const taskTitle = (task: TaskKind) => TASKS.find((item) => item.id === task)?.title ?? task

/** Tasks whose labels name classes from the schema. */
export const usesClasses = (task: TaskKind) => task === 'classify' || task === 'multilabel' || task === 'tag'

// Readable as text colour and as a tint on both themes.
const PALETTE = ['#2458c6', '#c2410c', '#15803d', '#7e22ce', '#a16207', '#be123c', '#0e7490', '#4d7c0f', '#9333ea', '#b45309']

/** A colour for the n-th label when the schema gives none (the playground's own labels). */
export const paletteColor = (index: number) => PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length]!

/** A colour of a class by name, from the schema when it is known. */
export function colorOfName(name: string, classes: readonly LabelClass[], names: readonly string[]): string {
  return classes.find((item) => item.name === name)?.color ?? paletteColor(Math.max(0, names.indexOf(name)))
}

/**
 * Rows of a CSV text (RFC 4180: quoted cells may hold commas, quotes doubled, and line breaks), for
 * previewing a batch prediction; at most `limit` rows.
 */
export function parseCsv(text: string, limit = Number.POSITIVE_INFINITY): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let index = 0; index < text.length && rows.length < limit; index++) {
    const char = text[index]!
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"'
        index++
      } else if (char === '"') quoted = false
      else cell += char
    } else if (char === '"' && cell === '') quoted = true
    else if (char === ',') {
      row.push(cell)
      cell = ''
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[index + 1] === '\n') index++
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
    } else cell += char
  }
  if ((cell !== '' || row.length > 0) && rows.length < limit) rows.push([...row, cell])
  return rows
}
