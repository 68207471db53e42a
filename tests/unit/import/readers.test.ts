import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ImportOptions } from '../../../src-main/contract/index.ts'
import { countText, firstInvalidUtf8, openDocuments, previewInput, StatsAccumulator, type ImportInput } from '../../../src-main/core/import/index.ts'

const fixtures = join(__dirname, '../../fixtures/import')
const input = (name: string, kind: 'file' | 'folder' = 'file'): ImportInput => ({ path: join(fixtures, name), kind, displayName: name })

async function documents(name: string, options: ImportOptions = {}, kind: 'file' | 'folder' = 'file') {
  const stream = await openDocuments(input(name, kind), options)
  const all = []
  for await (const batch of stream.batches) all.push(...batch)
  return { documents: all, stream }
}

const fails = (name: string, options: ImportOptions = {}) => documents(name, options).then(() => null, (error) => error as Error & { code: string })

describe('plain text', () => {
  it('makes one document per non-empty line, numbering lines as in the file', async () => {
    const { documents: docs, stream } = await documents('lines.txt')
    expect(docs).toEqual([
      { text: 'first line', label: null, source: 'lines.txt:1' },
      { text: 'second line', label: null, source: 'lines.txt:3' },
      { text: 'third line with more words', label: null, source: 'lines.txt:5' },
    ])
    expect(stream.options.format).toBe('txt')
    expect(stream.counter.bytes).toBe(stream.totalBytes)
  })

  it('splits paragraphs on blank lines', async () => {
    const { documents: docs } = await documents('paragraphs.txt', { split: 'paragraph' })
    expect(docs.map((d) => [d.text, d.source])).toEqual([
      ['para one line a\npara one line b', 'paragraphs.txt:1'],
      ['para two', 'paragraphs.txt:5'],
      ['para three', 'paragraphs.txt:7'],
    ])
  })

  it('decodes UTF-8 with a BOM and UTF-16 LE/BE with a BOM', async () => {
    expect((await documents('utf8-bom.txt')).documents.map((d) => d.text)).toEqual(['café', 'naïve'])
    for (const name of ['utf16le.txt', 'utf16be.txt']) {
      expect((await documents(name)).documents.map((d) => d.text)).toEqual(['café', '日本語の文', 'last'])
    }
  })

  it('refuses bytes that are not UTF-8, naming file, line and offset', async () => {
    const error = await fails('latin1.txt')
    expect(error?.code).toBe('BAD_INPUT')
    expect(error?.message).toMatch(/^latin1\.txt line 3: not valid UTF-8 \(byte 0xE9 at offset 15\)/)
  })

  it('finds a bad byte on a later chunk boundary', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'decode-'))
    // 3 MiB of lines, a multi-byte character straddling the 1 MiB boundary, a bad byte at line 40001.
    const line = 'x'.repeat(49) + '\n'
    const lines = Array.from({ length: 40000 }, () => line).join('')
    const body = Buffer.concat([Buffer.from('a'.repeat((1 << 20) - 1)), Buffer.from('é\n'), Buffer.from(lines), Buffer.from([0x41, 0xff, 0x0a])])
    writeFileSync(join(dir, 'big.txt'), body)
    const stream = await openDocuments({ path: join(dir, 'big.txt'), kind: 'file', displayName: 'big.txt' }, {})
    let count = 0
    const error = await (async () => {
      for await (const batch of stream.batches) count += batch.length
    })().then(() => null, (e: Error) => e)
    expect(error?.message).toMatch(new RegExp(`^big\\.txt line 40002: not valid UTF-8 \\(byte 0xFF at offset ${body.length - 2}\\)`))
    expect(count).toBeGreaterThan(0)
  })

  it('refuses binary files and empty files clearly', async () => {
    expect((await fails('binary.bin.txt'))?.message).toMatch(/^binary\.bin\.txt looks like a binary file/)
    expect((await fails('empty.txt'))?.message).toBe('empty.txt is empty')
  })
})

describe('CSV and TSV', () => {
  it('reads quoted fields with delimiters, doubled quotes and newlines; picks the review column', async () => {
    const { documents: docs, stream } = await documents('reviews.csv', { labelColumn: 'sentiment' })
    expect(stream.options).toMatchObject({ format: 'csv', textColumn: 'review', labelColumn: 'sentiment' })
    expect(docs).toEqual([
      { text: 'Great phone, really "great"', label: 'pos', source: 'reviews.csv:2' },
      { text: 'Broke after\na week', label: 'neg', source: 'reviews.csv:3' },
      { text: 'Fine', label: null, source: 'reviews.csv:5' },
      { text: 'Meh', label: 'neg', source: 'reviews.csv:7' },
    ])
  })

  it('names a missing column and lists the columns there are', async () => {
    expect((await fails('reviews.csv', { textColumn: 'body' }))?.message).toBe(
      'reviews.csv line 1: no column named "body" (columns: "id", "review", "sentiment")',
    )
  })

  it('refuses ragged rows and unterminated quotes with file and line', async () => {
    expect((await fails('ragged.csv'))?.message).toMatch(/^ragged\.csv line 4: expected 2 columns like the header, found 3/)
    expect((await fails('unterminated.csv'))?.message).toMatch(/^unterminated\.csv line 3: a quoted field opened here is never closed/)
  })

  it('reads TSV by extension', async () => {
    const { documents: docs, stream } = await documents('data.tsv', { labelColumn: 'label' })
    expect(stream.options.format).toBe('tsv')
    expect(docs.map((d) => [d.text, d.label])).toEqual([
      ['the cat', 'animal'],
      ['quoted\ttab', 'x'],
      ['the dog', 'animal'],
    ])
  })
})

describe('JSONL', () => {
  it('takes the text field and an optional label field', async () => {
    const { documents: docs } = await documents('records.jsonl', { labelColumn: 'label' })
    expect(docs).toEqual([
      { text: 'alpha beta', label: 'a', source: 'records.jsonl:1' },
      { text: 'gamma', label: 'b', source: 'records.jsonl:3' },
      { text: 'delta epsilon zeta', label: null, source: 'records.jsonl:4' },
    ])
  })

  it('names the bad line', async () => {
    expect((await fails('bad.jsonl'))?.message).toMatch(/^bad\.jsonl line 3: not valid JSON/)
    expect((await fails('records.jsonl', { textColumn: 'body' }))?.message).toMatch(/^records\.jsonl line 1: no "body" field \(fields: "text", "label", "n"\)/)
  })
})

describe('folders', () => {
  it('reads .txt files recursively in path order, sources relative', async () => {
    const { documents: docs, stream } = await documents('folder', {}, 'folder')
    expect(stream.files).toBe(3)
    expect(docs.map((d) => d.source)).toEqual(['a.txt:1', 'a.txt:3', 'b.txt:1', 'b.txt:2', 'sub/c.txt:1'])
    expect(docs[4]!.text).toBe('c one')
  })
})

describe('preview', () => {
  it('shows columns, rows and the documents they become', async () => {
    const preview = await previewInput(input('reviews.csv'), { labelColumn: 'sentiment' })
    expect(preview.columns).toEqual(['id', 'review', 'sentiment'])
    expect(preview.rows[1]).toEqual(['2', 'Broke after\na week', 'neg'])
    expect(preview.documents[0]).toEqual({ text: 'Great phone, really "great"', label: 'pos' })
    expect(preview).toMatchObject({ format: 'csv', textColumn: 'review', labelColumn: 'sentiment', bytes: 110, files: 1 })
  })

  it('shows JSONL fields and a folder file count', async () => {
    const jsonl = await previewInput(input('records.jsonl'), {})
    expect(jsonl.columns).toEqual(['text', 'label', 'n'])
    expect(jsonl.rows[0]).toEqual(['alpha beta', 'a', '1'])
    const folder = await previewInput(input('folder', 'folder'), {})
    expect(folder).toMatchObject({ format: 'folder', files: 3, split: 'line' })
    expect(folder.documents).toHaveLength(5)
  })

  it('fails like the import when the bad part is within the preview', async () => {
    await expect(previewInput(input('ragged.csv'), {})).rejects.toThrow(/^ragged\.csv line 4/)
    await expect(previewInput(input('latin1.txt'), {})).rejects.toThrow(/^latin1\.txt line 3/)
    await expect(previewInput(input('bad.jsonl'), {})).rejects.toThrow(/^bad\.jsonl line 3/)
    await expect(previewInput(input('blank.txt'), {})).rejects.toThrow(/no documents/)
  })

  it('reads only the start of a big file', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'preview-'))
    // A quoted field that runs past the preview window is not an error; a bad tail is not read.
    const body = 'text\n' + Array.from({ length: 5000 }, (_, i) => `"row ${i}\nstill row ${i}"`).join('\n') + '\n"unterminated\n'
    writeFileSync(join(dir, 'big.csv'), body)
    const preview = await previewInput({ path: join(dir, 'big.csv'), kind: 'file', displayName: 'big.csv' }, {})
    expect(preview.documents).toHaveLength(20)
    expect(preview.documents[19]!.text).toBe('row 19\nstill row 19')
  })
})

describe('stats', () => {
  it('counts words, CJK characters as words, and code points', () => {
    expect(countText('hello  world\tagain')).toEqual({ words: 3, characters: 18 })
    expect(countText('日本語の文')).toEqual({ words: 5, characters: 5 })
    expect(countText('I like 東京。')).toEqual({ words: 4, characters: 10 })
    expect(countText('😀 ok')).toEqual({ words: 2, characters: 4 })
  })

  it('gathers min, max, mean, median, histogram and labels', () => {
    const stats = new StatsAccumulator()
    for (const [text, label] of [['a', 'x'], ['a b', 'y'], ['a b c', 'x'], ['a b c d e', null]] as const) stats.add(text, label)
    const result = stats.result(42)
    expect(result).toMatchObject({ documents: 4, words: 11, characters: 18, bytes: 42, minWords: 1, maxWords: 5, meanWords: 2.75, medianWords: 2.5 })
    expect(result.histogram.counts.slice(0, 4)).toEqual([1, 1, 1, 1])
    expect(result.histogram.edges.length).toBe(result.histogram.counts.length)
    expect(result.labels).toEqual([{ label: 'x', count: 2 }, { label: 'y', count: 1 }])
  })

  it('locates invalid UTF-8', () => {
    expect(firstInvalidUtf8(Buffer.from('abc'))).toBe(-1)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]))).toBe(-1)
  })
})
