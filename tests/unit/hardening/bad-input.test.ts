/**
 * The bad-input catalogue (issue #8 point 5): each file in tests/fixtures/bad/ with what must
 * happen to it, imported through the same handler the UI calls. Refused files name the file and
 * the line or field and store nothing; accepted ones store exactly the expected texts. Big inputs
 * (a 200 MB single line, 20 MB records) are generated into a temp folder, never committed.
 */
import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { parse } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_DOCUMENT_CHARS, type ImportOptions } from '../../../src-main/contract/index.ts'
import { splitLines, type Line } from '../../../src-main/core/import/lines.ts'
import { huggingFaceConfigJson, importHuggingFace, readSafetensors, readTfjsModel } from '../../../src-main/core/io/index.ts'
import { toCsv } from '../../../src-main/core/io/safe-csv.ts'
import { bertConfigToJson, presetConfig } from '../../../src-main/core/model/config.ts'
import { CorporaService } from '../../../src-main/services/corpora.ts'
import { createHandlers, dispatch, type Handlers } from '../../../src-main/services/handlers.ts'
import { folderName } from '../../../src-main/services/models.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { openConnection } from '../../../src-main/store/index.ts'
import { repoRoot, tempDir } from '../helpers.ts'

const fixtures = join(repoRoot, 'tests', 'fixtures', 'bad')
let home: ReturnType<typeof tempDir>
let scratch: ReturnType<typeof tempDir>
let studio: Studio
let handlers: Handlers
let projectId: number
let jobs = 0

beforeAll(() => {
  home = tempDir()
  scratch = tempDir('bad-input-')
  studio = new Studio({ home: home.path })
  handlers = createHandlers(studio)
  projectId = studio.projects.create('catalogue').id
})
afterAll(() => {
  studio.close()
  home.cleanup()
  scratch.cleanup()
})

const counts = () =>
  studio.db.prepare('SELECT (SELECT count(*) FROM corpora) AS corpora, (SELECT count(*) FROM documents) AS documents').get() as { corpora: number; documents: number }

/** Imports a file the way the page does (a picked file id, then corpora.import). */
async function importThroughHandler(path: string, options: ImportOptions = {}) {
  const { fileId } = studio.files.register(path, 'file')
  return dispatch(handlers, 'corpora.import', { projectId, fileId, name: `c${++jobs}`, jobId: `job-${jobs}-bad`, options }, { transport: 'test' })
}

const texts = (corpusId: number) =>
  (studio.db.prepare('SELECT text FROM documents WHERE corpus_id = ? ORDER BY ordinal').pluck().all(corpusId) as string[])

type Expectation = { refused: RegExp } | { documents: string[]; labels?: (string | null)[] }

const catalogue: [file: string, options: ImportOptions, expected: Expectation][] = [
  ['empty.txt', {}, { refused: /^empty\.txt is empty$/ }],
  ['empty.csv', {}, { refused: /^empty\.csv is empty$/ }],
  ['blank-lines.txt', {}, { refused: /^blank-lines\.txt holds no documents/ }],
  ['header-only.csv', {}, { refused: /^header-only\.csv holds no documents/ }],
  ['bom-utf8.csv', { labelColumn: 'label' }, { documents: ['café crème'], labels: ['pos'] }],
  ['utf16le-bom.txt', {}, { documents: ['première ligne', '中文行', '😀 emoji'] }],
  ['utf16be-bom.txt', {}, { documents: ['première ligne', '中文行', '😀 emoji'] }],
  ['utf16le-bom.csv', { labelColumn: 'label' }, { documents: ['quoted, with comma', 'über'], labels: ['a', 'b'] }],
  ['latin1.txt', {}, { refused: /^latin1\.txt line 2: not valid UTF-8 \(byte 0xE9 at offset 23\)\. It may be Latin-1/ }],
  ['mixed-encoding.txt', {}, { refused: /^mixed-encoding\.txt line 3: not valid UTF-8 \(byte 0xEF at offset 44\)/ }],
  [
    'quoted-newlines.csv',
    { labelColumn: 'label' },
    { documents: ['line one\nline two', 'he said "hi", then left', 'tab\there, comma, and "quotes"\r\nacross CRLF'], labels: ['a', 'b', 'd'] },
  ],
  ['unterminated-quote.csv', {}, { refused: /^unterminated-quote\.csv line 3: a quoted field opened here is never closed/ }],
  ['ragged.csv', {}, { refused: /^ragged\.csv line 3: expected 2 columns like the header, found 3/ }],
  ['duplicate-header.csv', {}, { refused: /^duplicate-header\.csv line 1: the header names the column "Text" twice \(columns 1 and 3\)/ }],
  ['empty-header.csv', { textColumn: 'text', labelColumn: 'label' }, { documents: ['hello', 'world'], labels: ['a', 'b'] }],
  ['lf.txt', {}, { documents: ['one', 'two', 'three'] }],
  ['crlf.txt', {}, { documents: ['one', 'two', 'three'] }],
  ['cr-only.txt', {}, { documents: ['one', 'two', 'three'] }],
  ['mixed-endings.txt', {}, { documents: ['one', 'two', 'three', 'four'] }],
  ['crlf.txt', { split: 'paragraph' }, { documents: ['one\ntwo', 'three'] }],
  ['binary-png.csv', {}, { refused: /^binary-png\.csv looks like a binary file \(a NUL byte at offset 8\)/ }],
  ['binary-gzip.csv', {}, { refused: /^binary-gzip\.csv looks like a binary file \(a NUL byte at offset 3\)/ }],
  ['broken.jsonl', {}, { refused: /^broken\.jsonl line 2: not valid JSON/ }],
  ['array-line.jsonl', {}, { refused: /^array-line\.jsonl line 3: expected a JSON object like \{"text": "…"\}, found an array/ }],
  ['string-line.jsonl', {}, { refused: /^string-line\.jsonl line 2: expected a JSON object .* found string/ }],
  ['null-line.jsonl', {}, { refused: /^null-line\.jsonl line 1: expected a JSON object .* found null/ }],
  ['missing-field.jsonl', { labelColumn: 'label' }, { refused: /^missing-field\.jsonl line 2: no "text" field \(fields: "body"\)/ }],
  ['proto.jsonl', {}, { documents: ['first', 'second', 'own text'] }],
  ['proto-no-text.jsonl', {}, { refused: /^proto-no-text\.jsonl line 2: no "text" field \(fields: "__proto__"\)/ }],
]

describe('the bad-input catalogue, imported through corpora.import', () => {
  it.each(catalogue)('%s %j', async (file, options, expected) => {
    const before = counts()
    const reply = await importThroughHandler(join(fixtures, file), options)
    if ('refused' in expected) {
      expect(reply).toMatchObject({ ok: false, code: 'BAD_INPUT' })
      expect((reply as { message: string }).message).toMatch(expected.refused)
      expect(counts(), 'nothing stored').toEqual(before)
    } else {
      expect(reply, JSON.stringify(reply)).toMatchObject({ ok: true })
      const corpus = (reply as { value: { corpus: { id: number; stats: { documents: number } } } }).value.corpus
      expect(texts(corpus.id)).toEqual(expected.documents)
      if (expected.labels) {
        expect(studio.db.prepare('SELECT label FROM documents WHERE corpus_id = ? ORDER BY ordinal').pluck().all(corpus.id)).toEqual(expected.labels)
      }
      expect(corpus.stats.documents).toBe(expected.documents.length)
    }
    expect(({} as Record<string, unknown>).polluted, 'Object.prototype untouched').toBeUndefined()
  })

  it('keeps quoted newlines and doubled quotes exact through our CSV writer and back', async () => {
    const reply = await importThroughHandler(join(fixtures, 'quoted-newlines.csv'), { labelColumn: 'label' })
    const stored = texts((reply as { value: { corpus: { id: number } } }).value.corpus.id)
    const written = toCsv([['text'], ...stored.map((text) => [text])])
    expect((parse(written, { columns: true }) as { text: string }[]).map((row) => row.text)).toEqual(stored)
  })

  it('never lets __proto__ or constructor keys reach Object.prototype', async () => {
    const reply = await importThroughHandler(join(fixtures, 'proto.jsonl'), { labelColumn: '__proto__' })
    expect(reply).toMatchObject({ ok: true })
    const labels = studio.db.prepare('SELECT label FROM documents WHERE corpus_id = ? ORDER BY ordinal').pluck().all((reply as { value: { corpus: { id: number } } }).value.corpus.id)
    // The own "__proto__" fields are data like any other; the record without one has no label.
    expect(labels).toEqual(['{"polluted":"yes"}', null, '{"text":"inherited"}'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('text')
  })
})

// ---------------------------------------------------------------- long lines and limits

describe('long documents and big records', () => {
  /** A file of one line of `chars` characters (words and spaces, no newline), written in 1 MB pieces. */
  async function oneLine(name: string, chars: number, prefix = '', suffix = ''): Promise<string> {
    const path = join(scratch.path, name)
    const out = createWriteStream(path)
    const piece = 'lorem ipsum dolor sit amet '.repeat(40_000).slice(0, 1 << 20)
    out.write(prefix)
    for (let written = 0; written < chars; written += piece.length) {
      if (!out.write(piece.slice(0, Math.min(piece.length, chars - written)))) await once(out, 'drain')
    }
    out.end(suffix)
    await once(out, 'finish')
    return path
  }

  it('splits a line over the limit into parts, counted, with no text lost', async () => {
    const path = await oneLine('long.txt', 25_000, 'start ', '\nshort line\n')
    const reply = await importThroughHandler(path, { maxDocumentChars: 10_000 })
    expect(reply).toMatchObject({ ok: true, value: { corpus: { stats: { longDocuments: { count: 1, action: 'split', maxCharacters: 10_000 } } } } })
    const corpus = (reply as { value: { corpus: { id: number; options: ImportOptions } } }).value.corpus
    expect(corpus.options).toMatchObject({ maxDocumentChars: 10_000 })
    const stored = texts(corpus.id)
    expect(stored).toHaveLength(4)
    expect(stored.slice(0, 3).every((text) => text.length <= 10_000)).toBe(true)
    expect(stored.slice(0, 2).every((text) => text.length >= 9_000)).toBe(true)
    // Parts end between words, and joined again they are the line.
    expect(stored[0]!.endsWith(' ')).toBe(true)
    expect(stored.slice(0, 3).join('')).toBe(readFileSync(path, 'utf8').split('\n')[0])
    expect(stored[3]).toBe('short line')
    expect(studio.db.prepare('SELECT DISTINCT source FROM documents WHERE corpus_id = ?').pluck().all(corpus.id)).toEqual(['long.txt:1', 'long.txt:2'])
  })

  it('truncates instead when asked, and counts it', async () => {
    const path = await oneLine('long-truncate.txt', 3_000_000, '', '\nafter\n')
    const reply = await importThroughHandler(path, { maxDocumentChars: 1_000, longDocuments: 'truncate' })
    expect(reply).toMatchObject({ ok: true, value: { corpus: { stats: { documents: 2, longDocuments: { count: 1, action: 'truncate', maxCharacters: 1_000 } } } } })
    const stored = texts((reply as { value: { corpus: { id: number } } }).value.corpus.id)
    expect(stored[0]!.length).toBeLessThanOrEqual(1_000)
    expect(stored[1]).toBe('after')
  })

  it('cuts long paragraphs, CSV cells and JSONL fields the same way', async () => {
    const cell = 'word '.repeat(600) // 3,000 characters
    writeFileSync(join(scratch.path, 'paragraphs.txt'), `${cell}\n${cell}\n\nshort\n`)
    writeFileSync(join(scratch.path, 'cells.csv'), `text\n"${cell}"\nshort\n`)
    writeFileSync(join(scratch.path, 'fields.jsonl'), `${JSON.stringify({ text: cell })}\n{"text":"short"}\n`)
    for (const [file, options, parts] of [
      ['paragraphs.txt', { split: 'paragraph', maxDocumentChars: 2_500 }, 3],
      ['cells.csv', { maxDocumentChars: 1_000 }, 3],
      ['fields.jsonl', { maxDocumentChars: 1_000, longDocuments: 'truncate' }, 1],
    ] as const) {
      const reply = await importThroughHandler(join(scratch.path, file), options)
      expect(reply, file).toMatchObject({ ok: true, value: { corpus: { stats: { longDocuments: { count: 1 } } } } })
      const stored = texts((reply as { value: { corpus: { id: number } } }).value.corpus.id)
      expect(stored, file).toHaveLength(parts + 1)
      expect(stored.at(-1)).toBe('short')
      expect(stored.every((text) => text.length <= options.maxDocumentChars)).toBe(true)
    }
  })

  it('refuses a CSV record or JSONL line past the record limit, naming the line, in bounded memory', async () => {
    const csv = await oneLine('huge-cell.csv', 20_000_000, 'text\n"', '"\n')
    const jsonl = await oneLine('huge-line.jsonl', 20_000_000, '{"text":"ok"}\n{"text":"', '"}\n')
    const before = counts()
    const csvReply = await importThroughHandler(csv)
    expect(csvReply).toMatchObject({ ok: false, code: 'BAD_INPUT', message: expect.stringMatching(/^huge-cell\.csv line 2: a record longer than 16,777,216 characters/) })
    const jsonReply = await importThroughHandler(jsonl)
    expect(jsonReply).toMatchObject({ ok: false, code: 'BAD_INPUT', message: expect.stringMatching(/^huge-line\.jsonl line 2: longer than 16,777,216 characters/) })
    expect(counts()).toEqual(before)
  }, 60_000)

  it('refuses an import larger than the per-import limit before reading it', async () => {
    const path = join(scratch.path, 'big-enough.txt')
    writeFileSync(path, 'a line of text\n'.repeat(200))
    const small = new CorporaService(studio.db, studio.jobs, (file) => openConnection(file), 1_000)
    const before = counts()
    await expect(
      small.import({ projectId, name: 'too-big', jobId: 'job-too-big', source: { path, kind: 'file', displayName: 'big-enough.txt' }, options: {} }),
    ).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: 'big-enough.txt is 2.9 KB (3,000 bytes), more than the 1000 bytes one import may hold. Split it into smaller files and import each as its own corpus.',
    })
    await expect(small.preview({ path, kind: 'file', displayName: 'big-enough.txt' }, {}, 'file-id-x')).rejects.toMatchObject({ code: 'BAD_INPUT' })
    expect(counts()).toEqual(before)
  })

  it('splits lines at every kind of line end across chunk boundaries, parts and truncations included', async () => {
    const collect = async (chunks: string[], limit?: Parameters<typeof splitLines>[2]) => {
      const lines: Line[] = []
      for await (const batch of splitLines((async function* () { yield* chunks })(), () => false, limit)) lines.push(...batch)
      return lines
    }
    expect(await collect(['a\r', '\nb\r', 'c\n', 'd\r'])).toEqual([
      { text: 'a', line: 1 },
      { text: 'b', line: 2 },
      { text: 'c', line: 3 },
      { text: 'd', line: 4 },
    ])
    const split = await collect(['xxxxxxxxxx', 'xxxxx\nyy', '\n'], { maxChars: 4, action: 'split', fileName: 'f' })
    expect(split.map((l) => [l.text, l.line])).toEqual([['xxxx', 1], ['xxxx', 1], ['xxxx', 1], ['xxx', 1], ['yy', 2]])
    const truncated = await collect(['xxxxxxxxxx', 'xxxxx\r', '\nyy\nzzzzzzz'], { maxChars: 4, action: 'truncate', fileName: 'f' })
    expect(truncated.map((l) => [l.text, l.line, l.cut])).toEqual([['xxxx', 1, 'truncate'], ['yy', 2, undefined], ['zzzz', 3, 'truncate']])
    await expect(collect(['ok\n', 'xxxxxxxx'], { maxChars: 4, action: 'error', fileName: 'f.jsonl' })).rejects.toThrow(/^f\.jsonl line 2: longer than 4 characters/)
    // A surrogate pair is never cut in half.
    const emoji = await collect(['ab😀😀😀'], { maxChars: 3, action: 'split', fileName: 'f' })
    expect(emoji.map((l) => l.text).join('')).toBe('ab😀😀😀')
    expect(emoji.every((l) => !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(l.text))).toBe(true)
  })

  it('imports a 200 MB single line in bounded memory (the CLI, peak RSS measured)', async () => {
    const cli = join(repoRoot, 'out', 'main', 'cli.js')
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first (npm test does)`)
    const bytes = 200 * 1024 * 1024
    const path = await oneLine('200mb-one-line.txt', bytes)
    const cliHome = join(scratch.path, 'cli-home')
    mkdirSync(cliHome)
    const child = spawn(process.execPath, [cli, 'import', path, '--name', 'one-line', '--home', cliHome], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    // VmHWM is the process' peak resident set; read it until the process is gone.
    let peakKb = 0
    const poll = setInterval(() => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
        if (match) peakKb = Math.max(peakKb, Number(match[1]))
      } catch {
        // gone
      }
    }, 50)
    const [code] = (await once(child, 'exit')) as [number]
    clearInterval(poll)
    expect(code, stderr.slice(-1000)).toBe(0)
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!)
    const parts = Math.ceil(bytes / DEFAULT_MAX_DOCUMENT_CHARS)
    expect(result).toMatchObject({ bytes, long_documents: { count: 1, action: 'split', maxCharacters: DEFAULT_MAX_DOCUMENT_CHARS } })
    expect(result.documents).toBeGreaterThanOrEqual(parts)
    expect(result.documents).toBeLessThanOrEqual(Math.ceil(parts / 0.9))
    console.log(`200 MB single line: ${result.documents} documents in ${result.seconds.toFixed(1)} s, peak RSS ${(peakKb / 1024).toFixed(0)} MB`)
    // The whole line is 200 MB (400 MB as a JS string); the import never holds more than a few parts of it.
    expect(peakKb / 1024).toBeLessThan(400)
  }, 240_000)
})

// ---------------------------------------------------------------- exports and model files

describe('export names and model files', () => {
  it('keeps every export folder name one safe segment inside the chosen folder', async () => {
    for (const [runName, expected] of [
      ['../../etc/cron.d', 'etc-cron.d'],
      ['/absolute/path', 'absolute-path'],
      ['C:\\Windows\\System32', 'C-Windows-System32'],
      ['CON', 'CON-model'],
      ['nul', 'nul-model'],
      ['LPT1', 'LPT1-model'],
      ['...', 'model'],
      ['x'.repeat(300), 'x'.repeat(100)],
    ] as const) {
      expect(folderName(runName, 'hf'), runName).toBe(expected)
    }
    for (const folder of ['../up', '/abs', 'a/b', 'a\\b', '..', 'CON', 'aux.txt', 'com3', 'name.', 'x'.repeat(300)]) {
      const reply = await dispatch(handlers, 'models.export', { runId: 1, format: 'hf', folder }, { transport: 'test' })
      expect(reply, folder).toMatchObject({ ok: false, code: 'VALIDATION' })
    }
  })

  it.each([
    ['header-past-end.safetensors', /header/i],
    ['not-json-header.safetensors', /JSON/],
    ['offsets-outside.safetensors', /offset|bytes|end/i],
    ['shape-mismatch.safetensors', /shape|bytes/i],
    ['truncated.safetensors', /too short|bytes|header/i],
    ['duplicate-key.safetensors', /"w".*twice|duplicate/i],
  ])('refuses the malformed safetensors file %s, naming it', (file, why) => {
    let error: unknown
    try {
      readSafetensors(join(fixtures, file))
    } catch (caught) {
      error = caught
    }
    expect(error, file).toMatchObject({ code: expect.stringMatching(/BAD_INPUT|VALIDATION/) })
    expect((error as Error).message).toContain(file)
    expect((error as Error).message).toMatch(why)
  })

  it('refuses a Hugging Face folder whose weights are malformed, naming the file', () => {
    const folder = join(scratch.path, 'hf-bad')
    mkdirSync(folder)
    writeFileSync(join(folder, 'config.json'), JSON.stringify(huggingFaceConfigJson({ bertConfig: presetConfig('tiny', 50), architecture: 'BertForPreTraining' })))
    writeFileSync(join(folder, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a'].join('\n'))
    writeFileSync(join(folder, 'model.safetensors'), readFileSync(join(fixtures, 'not-json-header.safetensors')))
    expect(() => importHuggingFace(folder)).toThrow(/model\.safetensors/)
  })

  it('refuses malformed TensorFlow.js model folders: not JSON, wrong format, weight paths outside, missing shards', () => {
    const model = (name: string, json: unknown, shards: Record<string, Buffer> = {}) => {
      const dir = join(scratch.path, name)
      mkdirSync(dir)
      writeFileSync(join(dir, 'model.json'), typeof json === 'string' ? json : JSON.stringify(json))
      for (const [file, data] of Object.entries(shards)) writeFileSync(join(dir, file), data)
      return dir
    }
    const valid = {
      format: 'bert-studio',
      formatVersion: 1,
      weightLayout: 'dense-in-out',
      architecture: 'BertForPreTraining',
      bertConfig: JSON.parse(bertConfigToJson(presetConfig('tiny', 50))),
      id2label: null,
      problemType: null,
    }
    const weights = [{ name: 'w', shape: [2], dtype: 'float32' }]
    const cases: [string, unknown, Record<string, Buffer>, RegExp][] = [
      ['tfjs-not-json', '{"format": ', {}, /model\.json: not valid JSON/],
      ['tfjs-wrong-format', { ...valid, format: 'keras' }, {}, /format is "keras", expected "bert-studio"/],
      ['tfjs-escape', { ...valid, weightsManifest: [{ paths: ['../../../etc/passwd'], weights }] }, {}, /weight path "\.\.\/\.\.\/\.\.\/etc\/passwd" leaves the model folder/],
      ['tfjs-absolute', { ...valid, weightsManifest: [{ paths: ['/etc/passwd'], weights }] }, {}, /is an absolute path/],
      ['tfjs-url', { ...valid, weightsManifest: [{ paths: ['https://evil.example/w.bin'], weights }] }, {}, /is a URL/],
      ['tfjs-missing', { ...valid, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }] }, {}, /weight file group1-shard1of1\.bin is missing/],
      ['tfjs-short', { ...valid, weightsManifest: [{ paths: ['w.bin'], weights }] }, { 'w.bin': Buffer.alloc(4) }, /hold 4 bytes, expected 8/],
    ]
    for (const [name, json, shards, message] of cases) {
      expect(() => readTfjsModel(model(name, json, shards)), name).toThrow(message)
    }
  })

  it('escapes CSV cells a spreadsheet would run as formulas (batch prediction output)', () => {
    const cells = ['=1+1', '+SUM(A1:A2)', '-2+3', '@cmd', '\t=tab', '\r=cr', '=HYPERLINK("https://evil.example","x")', 'plain', 'a=b']
    const written = toCsv([cells])
    const [row] = parse(written, { relax_quotes: true }) as string[][]
    expect(row).toEqual(["'=1+1", "'+SUM(A1:A2)", "'-2+3", "'@cmd", "'\t=tab", "'\r=cr", '\'=HYPERLINK("https://evil.example","x")', 'plain', 'a=b'])
  })
})
