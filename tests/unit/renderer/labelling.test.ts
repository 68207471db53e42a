import { describe, expect, it } from 'vitest'
import type { Example, LabelClass } from '../../../src-main/contract/index.ts'
import { ExampleFilter } from '../../../src-main/contract/index.ts'
import {
  addSpan,
  describeValue,
  filterOf,
  kappaWords,
  parseCsv,
  removeSpan,
  stillMatches,
  tokensTouching,
  wordTokens,
} from '../../../src-renderer/src/lib/labelling.ts'

const classes: LabelClass[] = [
  { id: 1, name: 'person', color: '#2458c6', position: 0 },
  { id: 2, name: 'place', color: '#c2410c', position: 1 },
]

const example = (labels: Example['labels']): Example => ({
  documentId: 7,
  ordinal: 0,
  text: 'x',
  source: 'doc:1',
  labels,
  split: null,
  prediction: null,
})

describe('labelling workspace helpers', () => {
  it('cuts words and punctuation with exact offsets, apostrophes inside words', () => {
    const text = "Ada's cat, in  Zürich!"
    const tokens = wordTokens(text)
    expect(tokens.map((token) => text.slice(token.start, token.end))).toEqual(["Ada's", 'cat', ',', 'in', 'Zürich', '!'])
    expect(wordTokens('   ')).toEqual([])
  })

  it('snaps a character range to the whole words it touches', () => {
    const tokens = wordTokens('New York City is big')
    // "w Yo" → New … York
    expect(tokensTouching(tokens, 2, 6)).toEqual({ from: 0, to: 1 })
    // A caret inside "City" is that word.
    expect(tokensTouching(tokens, 10, 10)).toEqual({ from: 2, to: 2 })
    expect(tokensTouching(tokens, 100, 120)).toBeNull()
  })

  it('adds spans in reading order; without overlap the newest wins', () => {
    const first = { start: 0, end: 8, classId: 2 }
    const inner = { start: 4, end: 8, classId: 1 }
    expect(addSpan([first], inner, false)).toEqual([inner])
    expect(addSpan([first], inner, true)).toEqual([first, inner])
    // The same span twice is one span; with overlap another class on the same words is kept.
    expect(addSpan([first], { ...first }, true)).toEqual([first])
    expect(addSpan([first], { ...first, classId: 1 }, true)).toHaveLength(2)
    expect(addSpan([first], { ...first, classId: 1 }, false)).toEqual([{ ...first, classId: 1 }])
    expect(removeSpan([first, inner], inner)).toEqual([first])
  })

  it('turns the toolbar choice into filters the contract accepts', () => {
    for (const choice of ['all', 'unlabelled', 'labelled', 'disagreement', 'uncertain', 'suspect', 'class:3'] as const) {
      expect(() => ExampleFilter.parse(filterOf(choice))).not.toThrow()
    }
    expect(filterOf('class:12')).toEqual({ kind: 'class', classId: 12 })
    expect(filterOf('confidence', { min: 0.9, max: 0.2 })).toEqual({ kind: 'confidence', min: 0.2, max: 0.9 })
  })

  it('knows when a relabelled example has left the filter that listed it', () => {
    const labelled = example([{ annotator: 'me', value: { kind: 'classes', classIds: [1] }, updatedAt: '' }])
    const bare = example([])
    expect(stillMatches({ kind: 'unlabelled' }, labelled, null)).toBe(false)
    expect(stillMatches({ kind: 'unlabelled' }, bare, null)).toBe(true)
    // Judged by another annotator's labels only, it is still unlabelled.
    expect(stillMatches({ kind: 'unlabelled' }, labelled, 'ann')).toBe(true)
    expect(stillMatches({ kind: 'class', classId: 2 }, labelled, null)).toBe(false)
    expect(stillMatches({ kind: 'class', classId: 1 }, labelled, null)).toBe(true)
    expect(stillMatches({ kind: 'disagreement' }, bare, null)).toBe(true)
  })

  it('describes labels in a few words', () => {
    expect(describeValue(null, classes)).toBe('—')
    expect(describeValue({ kind: 'classes', classIds: [2, 1] }, classes)).toBe('place, person')
    expect(
      describeValue(
        { kind: 'spans', spans: [{ start: 0, end: 1, classId: 1 }, { start: 2, end: 3, classId: 1 }, { start: 4, end: 5, classId: 2 }] },
        classes,
      ),
    ).toBe('person ×2, place')
    expect(describeValue({ kind: 'qa', items: [{ question: 'q', start: 0, end: 1 }] }, classes)).toBe('1 answer')
    expect(describeValue({ kind: 'summary', sentences: [0, 2] }, classes)).toBe('2 sentences')
  })

  it("names Cohen's kappa as Landis and Koch do", () => {
    expect(kappaWords(null)).toBe('not defined')
    expect(kappaWords(-0.1)).toBe('worse than chance')
    expect(kappaWords(0.5)).toBe('moderate')
    expect(kappaWords(0.85)).toBe('almost perfect')
  })

  it('reads CSV with quoted commas, doubled quotes and line breaks', () => {
    const csv = 'text,label\r\n"a, b",x\n"say ""hi""\nthere",y\n\'=1+1,z'
    expect(parseCsv(csv)).toEqual([
      ['text', 'label'],
      ['a, b', 'x'],
      ['say "hi"\nthere', 'y'],
      ["'=1+1", 'z'],
    ])
    expect(parseCsv(csv, 2)).toHaveLength(2)
  })
})
