import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { LabelledFileOptions, TaskKind } from '../../../src-main/contract/index.ts'
import { readLabelledFile, readTextFile, splitLabelNames } from '../../../src-main/core/data/labelled-file.ts'
import { splitSentences } from '../../../src-main/core/data/sentences.ts'
import { cohensKappa } from '../../../src-main/core/train/agreement.ts'
import { tempDir } from '../helpers.ts'

const dir = tempDir('labelled-')
afterAll(() => dir.cleanup())

let counter = 0
function file(name: string, content: string): { path: string; displayName: string } {
  const path = join(dir.path, `${counter++}-${name}`)
  writeFileSync(path, content)
  return { path, displayName: name }
}
const jsonl = (...records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'
const read = (name: string, content: string, task: TaskKind, options: LabelledFileOptions = {}) => readLabelledFile(file(name, content), task, options)

describe('splitSentences', () => {
  it('cuts by Unicode sentence rules, trims, keeps exact offsets and drops empty ones', () => {
    const text = '  The cat sat.  It purred!\n\nWhy? \n  '
    const spans = splitSentences(text)
    expect(spans.map((s) => s.text)).toEqual(['The cat sat.', 'It purred!', 'Why?'])
    for (const span of spans) expect(text.slice(span.start, span.end)).toBe(span.text)
    expect(splitSentences('')).toEqual([])
    expect(splitSentences('   \n ')).toEqual([])
  })

  it('is deterministic and keeps offsets exact past astral characters', () => {
    const text = 'Emoji 😀 here. Next one.'
    const spans = splitSentences(text)
    expect(spans).toEqual(splitSentences(text))
    expect(spans.map((s) => [s.start, s.end])).toEqual([
      [0, 14],
      [15, 24],
    ])
    expect(text.slice(spans[1]!.start, spans[1]!.end)).toBe('Next one.')
  })
})

describe("Cohen's kappa", () => {
  it('matches hand-computed values', () => {
    // 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 → pₒ 0.7, pₑ 0.5·0.6 + 0.5·0.4 = 0.5, κ 0.4.
    const first = [...Array(25).fill('yes'), ...Array(25).fill('no')]
    const second = [...Array(20).fill('yes'), ...Array(5).fill('no'), ...Array(10).fill('yes'), ...Array(15).fill('no')]
    expect(cohensKappa(first, second)).toBeCloseTo(0.4, 12)
    // Three classes: pₒ 4/6, pₑ (2·2 + 2·3 + 2·1)/36 = 1/3, κ 0.5.
    expect(cohensKappa(['a', 'a', 'b', 'b', 'c', 'c'], ['a', 'b', 'b', 'b', 'c', 'a'])).toBeCloseTo(0.5, 12)
    expect(cohensKappa([1, 2, 1, 2], [1, 2, 1, 2])).toBe(1)
    expect(cohensKappa(['a', 'b'], ['b', 'a'])).toBeCloseTo(-1, 12)
  })

  it('is null where undefined: no items, or one class throughout', () => {
    expect(cohensKappa([], [])).toBeNull()
    expect(cohensKappa(['x', 'x', 'x'], ['x', 'x', 'x'])).toBeNull()
    expect(() => cohensKappa(['a'], ['a', 'b'])).toThrow(/same items/)
  })
})

describe('labelled files: classify and multilabel', () => {
  it('reads CSV text and label columns by their default names, quoted cells included', async () => {
    const result = await read('reviews.csv', 'id,Review,Sentiment\n1,"Great, really",pos\n2,"Bad ""very""",neg\n', 'classify')
    expect(result.examples).toEqual([
      { text: 'Great, really', value: { kind: 'classes', labels: ['pos'] }, source: 'reviews.csv:2' },
      { text: 'Bad "very"', value: { kind: 'classes', labels: ['neg'] }, source: 'reviews.csv:3' },
    ])
    expect(result.labels).toEqual(['pos', 'neg'])
  })

  it('reads TSV and JSONL with named columns; numbers become class names', async () => {
    const tsv = await read('a.tsv', 'body\ttopic\nhello\tsport\n', 'classify', { textColumn: 'body', labelColumn: 'topic' })
    expect(tsv.examples[0]!.value).toEqual({ kind: 'classes', labels: ['sport'] })
    const json = await read('a.jsonl', jsonl({ sentence: 'one', label: 1 }, { sentence: 'two', label: 0 }), 'classify')
    expect(json.examples.map((e) => e.value)).toEqual([
      { kind: 'classes', labels: ['1'] },
      { kind: 'classes', labels: ['0'] },
    ])
  })

  it('names the file and line of an empty label, a missing column and bad JSON', async () => {
    const rows = ['text,label', ...Array.from({ length: 10 }, (_, i) => `t${i},a`), 'orphan,', 'x,b'].join('\n')
    await expect(read('reviews.csv', rows, 'classify')).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: 'reviews.csv line 12: the label column "label" is empty',
    })
    await expect(read('r.csv', 'text,label\na,b\n', 'classify', { labelColumn: 'tag' })).rejects.toThrow(/r\.csv line 2: no column named "tag"/)
    await expect(read('r.csv', 'words,x\na,b\n', 'classify')).rejects.toThrow(/r\.csv line 2: no text column \(looked for "text"/)
    await expect(read('r.jsonl', '{"text":"a","label":"x"}\n{"text": oops}\n', 'classify')).rejects.toThrow(/r\.jsonl line 2: not valid JSON/)
    await expect(read('r.jsonl', jsonl({ text: 'a', label: ['x', 'y'] }), 'classify')).rejects.toThrow(/line 1: .*holds 2 labels.*multilabel/)
    await expect(read('r.txt', 'a\n', 'classify')).rejects.toThrow(/CSV, TSV or JSONL/)
    await expect(read('r.csv', 'text,label\n', 'classify')).rejects.toThrow(/holds no labelled examples/)
  })

  it('reads multi-label arrays and cells split on | or ;', async () => {
    const csv = await read('m.csv', 'text,labels\na,"x|y"\nb, y ; z ;y\nc,\n', 'multilabel')
    expect(csv.examples.map((e) => e.value)).toEqual([
      { kind: 'classes', labels: ['x', 'y'] },
      { kind: 'classes', labels: ['y', 'z'] },
      { kind: 'classes', labels: [] },
    ])
    const json = await read('m.jsonl', jsonl({ text: 'a', labels: ['p', 'q', 'p'] }), 'multilabel')
    expect(json.examples[0]!.value).toEqual({ kind: 'classes', labels: ['p', 'q'] })
    await expect(read('m.jsonl', jsonl({ text: 'a', labels: [{}] }), 'multilabel')).rejects.toThrow(/m\.jsonl line 1: .*class names/)
    expect(splitLabelNames(' a | b;a ')).toEqual(['a', 'b'])
  })
})

describe('labelled files: tag, qa, summarize', () => {
  it('reads character spans (objects or triples), sorted, and rejects spans outside the text', async () => {
    const result = await read(
      't.jsonl',
      jsonl({ text: 'Ada met Bob in Paris', spans: [{ start: 15, end: 20, label: 'LOC' }, [0, 3, 'PER']] }, { text: 'nothing', spans: [] }),
      'tag',
    )
    expect(result.examples[0]!.value).toEqual({
      kind: 'spans',
      spans: [
        { start: 0, end: 3, label: 'PER' },
        { start: 15, end: 20, label: 'LOC' },
      ],
    })
    expect(result.labels).toEqual(['PER', 'LOC'])
    expect(result.overlapping).toBe(false)
    await expect(read('t.jsonl', jsonl({ text: 'short', spans: [{ start: 2, end: 9, label: 'X' }] }), 'tag')).rejects.toThrow(
      /t\.jsonl line 1: span 1 of "spans" is \[2, 9\), expected 0 ≤ start < end ≤ 5/,
    )
    const overlapping = await read('o.jsonl', jsonl({ text: 'New York City', spans: [[0, 8, 'LOC'], [4, 13, 'LOC']] }), 'tag')
    expect(overlapping.overlapping).toBe(true)
  })

  it('turns tokens and BIO tags into spans over the tokens joined by spaces', async () => {
    const result = await read(
      'conll.jsonl',
      jsonl({ tokens: ['John', 'Smith', 'lives', 'in', 'New', 'York', '.'], tags: ['B-PER', 'I-PER', 'O', 'O', 'B-LOC', 'I-LOC', 'O'] }),
      'tag',
    )
    const example = result.examples[0]!
    expect(example.text).toBe('John Smith lives in New York .')
    expect(example.value).toEqual({
      kind: 'spans',
      spans: [
        { start: 0, end: 10, label: 'PER' },
        { start: 20, end: 28, label: 'LOC' },
      ],
    })
    const spans = example.value.kind === 'spans' ? example.value.spans : []
    expect(spans.map((s) => example.text.slice(s.start, s.end))).toEqual(['John Smith', 'New York'])
    // B- right after B- of the same type starts a new entity; I- of another type too.
    const adjacent = await read('b.jsonl', jsonl({ tokens: ['a', 'b', 'c'], tags: ['B-X', 'B-X', 'I-Y'] }), 'tag')
    expect(adjacent.examples[0]!.value).toEqual({
      kind: 'spans',
      spans: [
        { start: 0, end: 1, label: 'X' },
        { start: 2, end: 3, label: 'X' },
        { start: 4, end: 5, label: 'Y' },
      ],
    })
    await expect(read('b.jsonl', jsonl({ tokens: ['a', 'b'], tags: ['O'] }), 'tag')).rejects.toThrow(/line 1: "tokens" has 2 tokens but "tags" has 1 tags/)
    await expect(read('b.jsonl', jsonl({ tokens: ['a'], tags: ['PER'] }), 'tag')).rejects.toThrow(/tag 1 of "tags" is "PER"/)
  })

  it('groups SQuAD-like questions by context and checks each answer is where it says', async () => {
    const context = 'The Eiffel Tower is in Paris. It was built in 1889.'
    const result = await read(
      'squad.jsonl',
      jsonl(
        { context, question: 'Where is the tower?', answers: { text: ['Paris'], answer_start: [23] } },
        { context: 'Other passage.', question: 'What?', answer: 'Other', answer_start: 0 },
        { context, question: 'When was it built?', answer: '1889', answer_start: 46 },
      ),
      'qa',
    )
    expect(result.examples).toEqual([
      {
        text: context,
        value: {
          kind: 'qa',
          items: [
            { question: 'Where is the tower?', start: 23, end: 28 },
            { question: 'When was it built?', start: 46, end: 50 },
          ],
        },
        source: 'squad.jsonl:1',
      },
      { text: 'Other passage.', value: { kind: 'qa', items: [{ question: 'What?', start: 0, end: 5 }] }, source: 'squad.jsonl:2' },
    ])
    await expect(
      read('squad.jsonl', jsonl({ context, question: 'Where?', answers: { text: ['Paris'], answer_start: [0] } }), 'qa'),
    ).rejects.toThrow(/squad\.jsonl line 1: the answer "Paris" is not at answer_start 0 of the context \(found "The E" there\)/)
    await expect(read('q.jsonl', jsonl({ context, question: 'Where?', answers: { text: [], answer_start: [] } }), 'qa')).rejects.toThrow(/has no answer/)
  })

  it('reads summaries as sentences with 0/1 labels or as a text with sentence indices', async () => {
    const result = await read(
      's.jsonl',
      jsonl(
        { sentences: ['First point.', 'Filler here.', 'Second point!'], labels: [1, 0, 1] },
        { text: 'One. Two. Three.', summary_sentences: [2, 0] },
      ),
      'summarize',
    )
    expect(result.examples.map((e) => [e.text, e.value])).toEqual([
      ['First point. Filler here. Second point!', { kind: 'summary', sentences: [0, 2] }],
      ['One. Two. Three.', { kind: 'summary', sentences: [0, 2] }],
    ])
    // "Mr. Smith" re-splits into two sentences: the labels would point at the wrong ones.
    await expect(
      read('s.jsonl', jsonl({ sentences: ['Fine.', 'Mr. Smith left.'], labels: [0, 1] }), 'summarize'),
    ).rejects.toThrow(/s\.jsonl line 1: the sentences do not re-split as given/)
    await expect(read('s.jsonl', jsonl({ sentences: ['A.', 'B.'], labels: [1] }), 'summarize')).rejects.toThrow(/2 sentences but "labels" has 1/)
    await expect(read('s.jsonl', jsonl({ text: 'One. Two.', summary_sentences: [2] }), 'summarize')).rejects.toThrow(
      /line 1: "summary_sentences" names sentence number 2, expected an index from 0 to 1/,
    )
  })
})

describe('prediction inputs (texts only)', () => {
  it('reads one text per line, or the text column, keeping lines and other fields', async () => {
    const txt = await readTextFile(file('in.txt', 'first text\n\nsecond text\n'))
    expect(txt.records.map((r) => [r.text, r.line])).toEqual([
      ['first text', 1],
      ['second text', 3],
    ])
    const csv = await readTextFile(file('in.csv', 'id,review\n7,"good, fine"\n8,bad\n'))
    expect(csv.textField).toBe('review')
    expect(csv.records.map((r) => [r.text, r.fields.id, r.source])).toEqual([
      ['good, fine', '7', 'in.csv:2'],
      ['bad', '8', 'in.csv:3'],
    ])
    const qa = await readTextFile(file('q.jsonl', jsonl({ question: 'Who?', context: 'Ada did.' })))
    expect(qa.records[0]).toMatchObject({ text: 'Ada did.', fields: { question: 'Who?' } })
    await expect(readTextFile(file('none.csv', 'a,b\n1,2\n'))).rejects.toThrow(/none\.csv line 2: no text column/)
  })
})
