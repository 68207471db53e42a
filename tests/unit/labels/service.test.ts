import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatasetInfo, LabelValue } from '../../../src-main/contract/index.ts'
import { createHandlers, dispatch } from '../../../src-main/services/handlers.ts'
import { hashSplit } from '../../../src-main/services/labels.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { tempDir } from '../helpers.ts'

let home: ReturnType<typeof tempDir>
let studio: Studio
let projectId: number
let fileCount = 0

beforeAll(() => {
  home = tempDir('labels-')
  studio = new Studio({ home: home.path })
  projectId = studio.projects.create('Labels').id
})
afterAll(() => {
  studio.close()
  home.cleanup()
})

function register(name: string, content: string) {
  const path = join(home.path, `${fileCount++}-${name}`)
  writeFileSync(path, content)
  const file = studio.files.register(path, 'file')
  // The registry names files by their path; tests want the short name in messages.
  file.name = name
  return file
}

async function corpus(name: string, content: string, options: { labelColumn?: string } = {}) {
  const file = register(`${name}.csv`, content)
  const result = await studio.corpora.import({
    projectId,
    name,
    jobId: `job-${name}-${fileCount}`,
    source: { path: file.path, kind: 'file', displayName: file.name },
    options: { format: 'csv', ...options },
  })
  return result.corpus
}

/** A fine-tuning run row for predictions to name (the run itself is not needed here). */
function fakeRun(): number {
  const info = studio.db
    .prepare("INSERT INTO runs (project_id, kind, name, status, config_json, model_config_json) VALUES (?, 'finetune', ?, 'done', '{}', '{}')")
    .run(projectId, `run ${fileCount++}`)
  return Number(info.lastInsertRowid)
}

const ids = (studioDocs: { documentId: number }[]) => studioDocs.map((e) => e.documentId)
const classId = (info: DatasetInfo, name: string) => info.classes.find((c) => c.name === name)!.id
const docs = (datasetId: number) => studio.labels.examples({ datasetId, filter: { kind: 'all' }, query: '', offset: 0, limit: 500 }).examples
const create = (corpusId: number, name: string, task: DatasetInfo['task'], extra: Partial<{ classes: string[]; allowOverlap: boolean; importLabels: boolean }> = {}) =>
  studio.labels.create({ projectId, corpusId, name, task, classes: [], allowOverlap: false, importLabels: true, ...extra })

describe('datasets over a corpus', () => {
  it('imports the label column as labels by "import", creating classes with distinct colours', async () => {
    const c = await corpus('reviews', 'text,label\ngreat film,pos\nawful film,neg\nfine film,pos\nno label here,\n', { labelColumn: 'label' })
    const info = create(c.id, 'Reviews', 'classify', { classes: ['neutral'] })
    expect(info.classes.map((k) => k.name)).toEqual(['neutral', 'pos', 'neg'])
    expect(new Set(info.classes.map((k) => k.color)).size).toBe(3)
    expect(info.classes.map((k) => k.position)).toEqual([0, 1, 2])
    expect(info).toMatchObject({ examples: 4, labelled: 3, annotators: [{ name: 'import', labelled: 3 }], split: null, agreement: [] })
    expect(info.perClass).toEqual([
      { classId: classId(info, 'neutral'), count: 0 },
      { classId: classId(info, 'pos'), count: 2 },
      { classId: classId(info, 'neg'), count: 1 },
    ])
    expect(docs(info.id)[0]!.labels).toEqual([{ annotator: 'import', value: { kind: 'classes', classIds: [classId(info, 'pos')] }, updatedAt: expect.any(String) }])
    expect(() => create(c.id, 'Reviews', 'classify')).toThrow(/already exists/)
    expect(studio.labels.list(projectId).map((d) => d.name)).toContain('Reviews')
  })

  it('splits multi-label cells on | and ;', async () => {
    const c = await corpus('topics', 'text,labels\na,sport|news\nb,news; tech\nc,\n', { labelColumn: 'labels' })
    const info = create(c.id, 'Topics', 'multilabel')
    expect(info.classes.map((k) => k.name)).toEqual(['sport', 'news', 'tech'])
    const [a, b] = docs(info.id)
    expect(a!.labels[0]!.value).toEqual({ kind: 'classes', classIds: [classId(info, 'sport'), classId(info, 'news')].sort((x, y) => x - y) })
    expect(b!.labels[0]!.value).toEqual({ kind: 'classes', classIds: [classId(info, 'news'), classId(info, 'tech')].sort((x, y) => x - y) })
    expect(info.labelled).toBe(2)
  })
})

describe('labels.set and labels.clear', () => {
  let corpusId: number
  beforeAll(async () => {
    corpusId = (await corpus('texts', 'text\nAda met Bob in Paris.\nThe cat sat. It purred. Then it slept.\nthird one\n')).id
  })

  it('validates a label against its dataset and document', () => {
    const info = create(corpusId, 'Validate classify', 'classify', { classes: ['a', 'b'] })
    const other = create(corpusId, 'Other', 'classify', { classes: ['x'] })
    const [first] = docs(info.id)
    const set = (value: LabelValue, datasetId = info.id, documentId = first!.documentId) => studio.labels.set({ datasetId, documentId, annotator: 'ann', value })
    expect(() => set({ kind: 'classes', classIds: [] })).toThrow(/exactly one class, got 0/)
    expect(() => set({ kind: 'classes', classIds: [classId(info, 'a'), classId(info, 'b')] })).toThrow(/exactly one class, got 2/)
    expect(() => set({ kind: 'classes', classIds: [classId(other, 'x')] })).toThrow(/not a class of the dataset "Validate classify"/)
    expect(() => set({ kind: 'spans', spans: [] })).toThrow(/"classes" value, got "spans"/)
    expect(() => set({ kind: 'classes', classIds: [classId(info, 'a')] }, info.id, 999_999)).toThrow(/No document 999999/)
    const stored = set({ kind: 'classes', classIds: [classId(info, 'b')] })
    expect(stored.labels).toEqual([{ annotator: 'ann', value: { kind: 'classes', classIds: [classId(info, 'b')] }, updatedAt: expect.any(String) }])
    const cleared = studio.labels.clear({ datasetId: info.id, documentId: first!.documentId, annotator: 'ann' })
    expect(cleared.labels).toEqual([])
  })

  it('validates multi-label, tag, qa and summary values', () => {
    const [first, second] = docs(create(corpusId, 'probe', 'classify').id)
    const text = first!.text // "Ada met Bob in Paris."
    const multi = create(corpusId, 'Validate multi', 'multilabel', { classes: ['p', 'q'] })
    const p = classId(multi, 'p')
    const q = classId(multi, 'q')
    const set = (datasetId: number, value: LabelValue, documentId = first!.documentId) => studio.labels.set({ datasetId, documentId, annotator: 'ann', value })
    expect(() => set(multi.id, { kind: 'classes', classIds: [p, p] })).toThrow(/twice/)
    expect(set(multi.id, { kind: 'classes', classIds: [q, p] }).labels[0]!.value).toEqual({ kind: 'classes', classIds: [p, q].sort((a, b) => a - b) })
    expect(set(multi.id, { kind: 'classes', classIds: [] }).labels[0]!.value).toEqual({ kind: 'classes', classIds: [] })

    const tag = create(corpusId, 'Validate tag', 'tag', { classes: ['PER', 'LOC'] })
    const per = classId(tag, 'PER')
    const loc = classId(tag, 'LOC')
    expect(() => set(tag.id, { kind: 'spans', spans: [{ start: 3, end: 3, classId: per }] })).toThrow(/Span 1 is \[3, 3\)/)
    expect(() => set(tag.id, { kind: 'spans', spans: [{ start: 15, end: 99, classId: loc }] })).toThrow(/≤ 21/)
    expect(() => set(tag.id, { kind: 'spans', spans: [{ start: 0, end: 7, classId: per }, { start: 4, end: 11, classId: per }] })).toThrow(/overlaps/)
    const spans = set(tag.id, { kind: 'spans', spans: [{ start: 15, end: 20, classId: loc }, { start: 0, end: 3, classId: per }] })
    expect(spans.labels[0]!.value).toEqual({ kind: 'spans', spans: [{ start: 0, end: 3, classId: per }, { start: 15, end: 20, classId: loc }] })
    expect(text.slice(15, 20)).toBe('Paris')
    const overlapping = create(corpusId, 'Overlap tag', 'tag', { classes: ['E'], allowOverlap: true })
    const e = classId(overlapping, 'E')
    expect(set(overlapping.id, { kind: 'spans', spans: [{ start: 0, end: 7, classId: e }, { start: 4, end: 11, classId: e }] }).labels).toHaveLength(1)

    const qa = create(corpusId, 'Validate qa', 'qa')
    expect(() => set(qa.id, { kind: 'qa', items: [{ question: 'Where?', start: 15, end: 30 }] })).toThrow(/passage's length/)
    expect(set(qa.id, { kind: 'qa', items: [{ question: 'Where?', start: 15, end: 20 }] }).labels).toHaveLength(1)

    const summary = create(corpusId, 'Validate summary', 'summarize')
    expect(() => set(summary.id, { kind: 'summary', sentences: [3] }, second!.documentId)).toThrow(/has 3 sentences/)
    expect(set(summary.id, { kind: 'summary', sentences: [2, 0] }, second!.documentId).labels[0]!.value).toEqual({ kind: 'summary', sentences: [0, 2] })
    expect(() => studio.labels.addClass({ datasetId: summary.id, name: 'x' })).toThrow(/no classes/)
  })
})

describe('agreement, filters and the model in the loop', () => {
  let info: DatasetInfo
  let documentIds: number[]
  beforeAll(async () => {
    const rows = Array.from({ length: 10 }, (_, i) => `${i % 2 === 0 ? 'apple' : 'banana'} number ${i}`)
    const c = await corpus('fruit', `text\n${rows.join('\n')}\n`)
    info = create(c.id, 'Fruit', 'classify', { classes: ['yes', 'no'] })
    documentIds = ids(docs(info.id))
    const yes = classId(info, 'yes')
    const no = classId(info, 'no')
    // alice and bob on documents 0..5: they agree on 0, 1, 2, 3 and differ on 4, 5.
    const alice = [yes, yes, no, no, yes, no]
    const bob = [yes, yes, no, no, no, yes]
    alice.forEach((c, i) => studio.labels.set({ datasetId: info.id, documentId: documentIds[i]!, annotator: 'alice', value: { kind: 'classes', classIds: [c] } }))
    // Timestamps have millisecond resolution: bob's labels must be the later ones.
    await new Promise((resolve) => setTimeout(resolve, 5))
    bob.forEach((c, i) => studio.labels.set({ datasetId: info.id, documentId: documentIds[i]!, annotator: 'bob', value: { kind: 'classes', classIds: [c] } }))
    studio.labels.set({ datasetId: info.id, documentId: documentIds[6]!, annotator: 'alice', value: { kind: 'classes', classIds: [yes] } })
    info = studio.labels.get(info.id)
  })
  const page = (filter: Parameters<typeof studio.labels.examples>[0]['filter'], extra: { annotator?: string; query?: string } = {}) =>
    studio.labels.examples({ datasetId: info.id, filter, query: extra.query ?? '', annotator: extra.annotator, offset: 0, limit: 50 })

  it("reports annotators and their Cohen's kappa", () => {
    // pₒ 4/6; alice yes 3/6, bob yes 3/6 → pₑ 0.5; κ = (2/3 − 1/2) / (1/2) = 1/3.
    expect(info.annotators).toEqual([
      { name: 'alice', labelled: 7 },
      { name: 'bob', labelled: 6 },
    ])
    expect(info.agreement).toHaveLength(1)
    expect(info.agreement[0]).toMatchObject({ first: 'alice', second: 'bob', common: 6 })
    expect(info.agreement[0]!.kappa).toBeCloseTo(1 / 3, 12)
    expect(info.labelled).toBe(7)
  })

  it('filters by labelled state, annotator, class, disagreement and text', () => {
    expect(page({ kind: 'all' }).total).toBe(10)
    expect(ids(page({ kind: 'labelled' }).examples)).toEqual(documentIds.slice(0, 7))
    expect(ids(page({ kind: 'unlabelled' }).examples)).toEqual(documentIds.slice(7))
    expect(page({ kind: 'unlabelled' }, { annotator: 'bob' }).total).toBe(4)
    expect(ids(page({ kind: 'disagreement' }).examples)).toEqual(documentIds.slice(4, 6))
    expect(ids(page({ kind: 'class', classId: classId(info, 'no') }, { annotator: 'alice' }).examples)).toEqual([documentIds[2], documentIds[3], documentIds[5]])
    expect(ids(page({ kind: 'class', classId: classId(info, 'no') }).examples)).toEqual([documentIds[2], documentIds[3], documentIds[4], documentIds[5]])
    expect(ids(page({ kind: 'all' }, { query: 'banana' }).examples)).toEqual(documentIds.filter((_, i) => i % 2 === 1))
    expect(ids(page({ kind: 'labelled' }, { query: 'apple' }).examples)).toEqual([documentIds[0], documentIds[2], documentIds[4], documentIds[6]])
    const two = studio.labels.examples({ datasetId: info.id, filter: { kind: 'all' }, query: '', offset: 8, limit: 5 })
    expect(two).toMatchObject({ total: 10, offset: 8 })
    expect(ids(two.examples)).toEqual(documentIds.slice(8))
  })

  it('searches through the word index once it is ready', async () => {
    studio.searchIndex.schedule(info.corpusId)
    await studio.searchIndex.idle()
    expect(studio.corpora.get(info.corpusId).searchReady).toBe(true)
    expect(ids(page({ kind: 'unlabelled' }, { query: 'BANANA' }).examples)).toEqual([documentIds[7], documentIds[9]])
  })

  it('stores predictions and lists the uncertain, the suspect and a confidence range', () => {
    const yes = classId(info, 'yes')
    const no = classId(info, 'no')
    const rows = documentIds.map((documentId, i) => ({
      documentId,
      value: { kind: 'classes', classIds: [i % 3 === 0 ? no : yes] } as LabelValue,
      confidence: 0.5 + i * 0.05,
      entropy: 1 - i * 0.1,
      margin: i % 4,
    }))
    const runId = fakeRun()
    expect(() => studio.labels.storePredictions(info.id, 999_999, rows)).toThrow(/No run with id 999999/)
    studio.labels.storePredictions(info.id, runId, rows)
    // Unlabelled 7, 8, 9: entropy 0.3, 0.2, 0.1; margins 3, 0, 1.
    expect(ids(page({ kind: 'uncertain', by: 'entropy' }).examples)).toEqual([documentIds[7], documentIds[8], documentIds[9]])
    expect(ids(page({ kind: 'uncertain', by: 'margin' }).examples)).toEqual([documentIds[8], documentIds[9], documentIds[7]])
    // Labelled with confidence ≥ 0.7: documents 4, 5, 6. Their winning labels (bob labelled after
    // alice): no, yes, yes; the model says yes, yes, no → 4 and 6 are suspect, most confident first.
    const suspect = page({ kind: 'suspect', minConfidence: 0.7 })
    expect(ids(suspect.examples)).toEqual([documentIds[6], documentIds[4]])
    expect(suspect.total).toBe(2)
    expect(page({ kind: 'suspect', minConfidence: 0.79 }).total).toBe(1)
    expect(ids(page({ kind: 'confidence', min: 0.6, max: 0.71 }).examples)).toEqual([documentIds[2], documentIds[3], documentIds[4]])
    const example = page({ kind: 'all' }).examples[1]!
    expect(example.prediction).toEqual({ runId, value: { kind: 'classes', classIds: [yes] }, confidence: 0.55, entropy: 0.9, margin: 1 })
    expect(() => studio.labels.storePredictions(info.id, runId, [{ ...rows[0]!, value: { kind: 'summary', sentences: [] } }])).toThrow(/"classes" values/)
    expect(page({ kind: 'all' }).examples[0]!.prediction).not.toBeNull()
  })
})

describe('splits and snapshots', () => {
  it('makes a stratified, seeded split once; later labels join by hash and never move', async () => {
    const rows = Array.from({ length: 60 }, (_, i) => `row ${i},${i < 40 ? 'big' : 'small'}`)
    const c = await corpus('split', `text,label\n${rows.join('\n')}\nlater one,\nlater two,\nlater three,\n`, { labelColumn: 'label' })
    const info = create(c.id, 'Split', 'classify')
    const split = studio.labels.split({ datasetId: info.id, fractions: [0.5, 0.25, 0.25], seed: 7 })
    expect(split.split).toEqual({ seed: 7, fractions: [0.5, 0.25, 0.25], counts: { train: 30, validation: 15, test: 15 } })
    expect(() => studio.labels.split({ datasetId: info.id, fractions: [0.8, 0.1, 0.1], seed: 1 })).toThrow(/already split/)
    const all = docs(info.id)
    // Stratified: each class keeps its share in each split (40 big → 20/10/10, 20 small → 10/5/5).
    const big = classId(info, 'big')
    const count = (name: string, cls: number) =>
      all.filter((e) => e.split === name && e.labels[0]?.value.kind === 'classes' && e.labels[0].value.classIds[0] === cls).length
    expect([count('train', big), count('validation', big), count('test', big)]).toEqual([20, 10, 10])
    const before = new Map(all.filter((e) => e.split !== null).map((e) => [e.documentId, e.split]))
    const later = all.slice(60).map((e) => e.documentId)
    expect(all.slice(60).every((e) => e.split === null)).toBe(true)
    for (const documentId of later) studio.labels.set({ datasetId: info.id, documentId, annotator: 'ann', value: { kind: 'classes', classIds: [big] } })
    const first = studio.labels.snapshot(info.id)
    expect(first.examples).toHaveLength(63)
    for (const documentId of later) {
      expect(first.examples.find((e) => e.documentId === documentId)!.split).toBe(hashSplit(7, documentId, [0.5, 0.25, 0.25]))
    }
    // Relabel everything differently: no example changes split.
    const small = classId(info, 'small')
    for (const e of all.slice(0, 10)) studio.labels.set({ datasetId: info.id, documentId: e.documentId, annotator: 'ann', value: { kind: 'classes', classIds: [small] } })
    const second = studio.labels.snapshot(info.id)
    for (const example of second.examples) {
      expect(example.split).toBe(first.examples.find((e) => e.documentId === example.documentId)!.split)
      if (before.has(example.documentId!)) expect(example.split).toBe(before.get(example.documentId!))
    }
    const stored = studio.db.prepare('SELECT count(*) FROM splits WHERE dataset_id = ?').pluck().get(info.id)
    expect(stored).toBe(63)
  })

  it('resolves one label per example (a person over import, the latest person) and makes the default split', async () => {
    const c = await corpus('snap', 'text,label\none,a\ntwo,a\nthree,b\nfour,\n', { labelColumn: 'label' })
    const info = create(c.id, 'Snap', 'classify')
    const [one, two, three] = docs(info.id)
    const a = classId(info, 'a')
    const b = classId(info, 'b')
    studio.labels.set({ datasetId: info.id, documentId: one!.documentId, annotator: 'zoe', value: { kind: 'classes', classIds: [b] } })
    studio.labels.set({ datasetId: info.id, documentId: two!.documentId, annotator: 'zoe', value: { kind: 'classes', classIds: [b] } })
    await new Promise((resolve) => setTimeout(resolve, 5))
    studio.labels.set({ datasetId: info.id, documentId: two!.documentId, annotator: 'amy', value: { kind: 'classes', classIds: [a] } })
    const snapshot = studio.labels.snapshot(info.id)
    expect(snapshot).toMatchObject({ datasetId: info.id, task: 'classify', labels: ['a', 'b'] })
    expect(snapshot.examples.map((e) => [e.text, e.value])).toEqual([
      ['one', { kind: 'classes', labels: ['b'] }],
      ['two', { kind: 'classes', labels: ['a'] }],
      ['three', { kind: 'classes', labels: ['b'] }],
    ])
    expect(snapshot.examples[0]!.source).toMatch(/^document \d+ \(snap\.csv:2\)$/)
    expect(studio.labels.get(info.id).split).toMatchObject({ seed: 12345, fractions: [0.8, 0.1, 0.1] })
    expect(three!.labels[0]!.annotator).toBe('import')
    expect(studio.labels.toLabelValue(info.id, { kind: 'classes', labels: ['b'] })).toEqual({ kind: 'classes', classIds: [b] })
    expect(() => studio.labels.toLabelValue(info.id, { kind: 'classes', labels: ['zzz'] })).toThrow(/"zzz" is not a class/)
  })
})

describe('class schema changes', () => {
  it('merges classes in every label and prediction, then renumbers positions', async () => {
    const c = await corpus('merge', 'text,label\na,x\nb,y\nc,z\n', { labelColumn: 'label' })
    const info = create(c.id, 'Merge', 'classify')
    const [x, y, z] = ['x', 'y', 'z'].map((n) => classId(info, n))
    const [first] = docs(info.id)
    studio.labels.storePredictions(info.id, fakeRun(), [{ documentId: first!.documentId, value: { kind: 'classes', classIds: [y!] }, confidence: 0.9, entropy: 0.1, margin: 0.8 }])
    const merged = studio.labels.mergeClasses({ fromId: y!, intoId: x! })
    expect(merged.classes.map((k) => [k.name, k.position])).toEqual([
      ['x', 0],
      ['z', 1],
    ])
    expect(merged.perClass).toEqual([
      { classId: x, count: 2 },
      { classId: z, count: 1 },
    ])
    expect(docs(info.id).map((e) => e.labels[0]!.value)).toEqual([
      { kind: 'classes', classIds: [x] },
      { kind: 'classes', classIds: [x] },
      { kind: 'classes', classIds: [z] },
    ])
    expect(docs(info.id)[0]!.prediction!.value).toEqual({ kind: 'classes', classIds: [x] })
    expect(() => studio.labels.mergeClasses({ fromId: x!, intoId: x! })).toThrow(/into itself/)
    expect(() => studio.labels.mergeClasses({ fromId: y!, intoId: x! })).toThrow(/No label class/)
  })

  it('dedupes multi-label ids and spans after a merge', async () => {
    const c = await corpus('merge2', 'text,label\nAda and Bob,p|q\n', { labelColumn: 'label' })
    const multi = create(c.id, 'Merge multi', 'multilabel')
    const merged = studio.labels.mergeClasses({ fromId: classId(multi, 'q'), intoId: classId(multi, 'p') })
    expect(docs(merged.id)[0]!.labels[0]!.value).toEqual({ kind: 'classes', classIds: [classId(multi, 'p')] })
    const tag = create(c.id, 'Merge tag', 'tag', { classes: ['A', 'B'], allowOverlap: true })
    const [doc] = docs(tag.id)
    studio.labels.set({
      datasetId: tag.id,
      documentId: doc!.documentId,
      annotator: 'ann',
      value: { kind: 'spans', spans: [{ start: 0, end: 3, classId: classId(tag, 'A') }, { start: 0, end: 3, classId: classId(tag, 'B') }, { start: 8, end: 11, classId: classId(tag, 'B') }] },
    })
    studio.labels.mergeClasses({ fromId: classId(tag, 'B'), intoId: classId(tag, 'A') })
    const a = classId(tag, 'A')
    expect(docs(tag.id)[0]!.labels[0]!.value).toEqual({ kind: 'spans', spans: [{ start: 0, end: 3, classId: a }, { start: 8, end: 11, classId: a }] })
  })

  it('adds, renames, recolours and reorders classes', async () => {
    const c = await corpus('schema', 'text\nsome text\n')
    let info = create(c.id, 'Schema', 'classify', { classes: ['one', 'two'] })
    info = studio.labels.addClass({ datasetId: info.id, name: 'three' })
    expect(info.classes.map((k) => k.name)).toEqual(['one', 'two', 'three'])
    expect(() => studio.labels.addClass({ datasetId: info.id, name: 'two' })).toThrow(/already has a class named "two"/)
    info = studio.labels.updateClass({ classId: classId(info, 'one'), name: 'uno', color: '#000000' })
    expect(info.classes[0]).toMatchObject({ name: 'uno', color: '#000000' })
    expect(() => studio.labels.updateClass({ classId: classId(info, 'uno'), name: 'two' })).toThrow(/already has/)
    const order = [classId(info, 'three'), classId(info, 'uno'), classId(info, 'two')]
    info = studio.labels.reorderClasses({ datasetId: info.id, classIds: order })
    expect(info.classes.map((k) => k.name)).toEqual(['three', 'uno', 'two'])
    expect(() => studio.labels.reorderClasses({ datasetId: info.id, classIds: order.slice(0, 2) })).toThrow(/every class of the dataset once/)
    expect(studio.labels.rename(info.id, 'Schema 2').name).toBe('Schema 2')
    studio.labels.delete(info.id)
    expect(() => studio.labels.get(info.id)).toThrow(/No dataset/)
  })
})

describe('datasets.importLabelled', () => {
  it('makes a searchable corpus and a dataset labelled by "import"', async () => {
    const file = register('spans.jsonl', ['{"text":"Ada met Bob","spans":[[0,3,"PER"],[8,11,"PER"]]}', '{"text":"in Paris","spans":[{"start":3,"end":8,"label":"LOC"}]}'].join('\n'))
    const info = await studio.labels.importLabelled({ projectId, name: 'Spans', task: 'tag', jobId: 'import-spans', options: {}, source: { path: file.path, displayName: file.name } })
    expect(info).toMatchObject({ task: 'tag', examples: 2, labelled: 2, allowOverlap: false, annotators: [{ name: 'import', labelled: 2 }] })
    expect(info.classes.map((k) => k.name)).toEqual(['PER', 'LOC'])
    const corpusInfo = studio.corpora.get(info.corpusId)
    expect(corpusInfo).toMatchObject({ name: 'Spans', sourceName: 'spans.jsonl', stats: { documents: 2 } })
    await studio.searchIndex.idle()
    expect(studio.corpora.documents({ corpusId: info.corpusId, query: 'paris', offset: 0, limit: 10 }).total).toBe(1)
    expect(docs(info.id)[1]!.labels[0]!.value).toEqual({ kind: 'spans', spans: [{ start: 3, end: 8, classId: classId(info, 'LOC') }] })
    const snapshot = studio.labels.snapshot(info.id)
    expect(snapshot.examples.map((e) => e.value)).toEqual([
      { kind: 'spans', spans: [{ start: 0, end: 3, label: 'PER' }, { start: 8, end: 11, label: 'PER' }] },
      { kind: 'spans', spans: [{ start: 3, end: 8, label: 'LOC' }] },
    ])
  })

  it('imports qa passages grouped by context and summaries as sentence indices', async () => {
    const context = 'Ada was born in London. She wrote notes.'
    const qaFile = register(
      'qa.jsonl',
      [
        { context, question: 'Where was Ada born?', answers: { text: ['London'], answer_start: [16] } },
        { context, question: 'What did she write?', answer: 'notes', answer_start: 34 },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    )
    const qa = await studio.labels.importLabelled({ projectId, name: 'QA', task: 'qa', jobId: 'import-qa', options: {}, source: { path: qaFile.path, displayName: qaFile.name } })
    expect(qa).toMatchObject({ task: 'qa', examples: 1, labelled: 1, classes: [], perClass: [] })
    expect(studio.labels.snapshot(qa.id).examples[0]).toMatchObject({
      text: context,
      value: { kind: 'qa', items: [{ question: 'Where was Ada born?', start: 16, end: 22 }, { question: 'What did she write?', start: 34, end: 39 }] },
    })
    const sumFile = register('sum.jsonl', JSON.stringify({ sentences: ['One here.', 'Two there.', 'Three.'], labels: [0, 1, 1] }))
    const summary = await studio.labels.importFile({ projectId, path: sumFile.path, task: 'summarize', jobId: 'import-sum' })
    expect(summary.name).toMatch(/sum$/)
    const example = docs(summary.id)[0]!
    expect(example.text).toBe('One here. Two there. Three.')
    expect(example.labels[0]!.value).toEqual({ kind: 'summary', sentences: [1, 2] })
  })

  it('stores nothing when a line is bad, and says which', async () => {
    const lines = ['text,label', ...Array.from({ length: 2000 }, (_, i) => `row ${i},c${i % 3}`), 'broken row,']
    const file = register('bad.csv', `${lines.join('\n')}\n`)
    const corpora = studio.corpora.list(projectId).length
    const datasets = studio.labels.list(projectId).length
    await expect(
      studio.labels.importLabelled({ projectId, name: 'Bad', task: 'classify', jobId: 'import-bad', options: {}, source: { path: file.path, displayName: file.name } }),
    ).rejects.toMatchObject({ code: 'BAD_INPUT', message: 'bad.csv line 2002: the label column "label" is empty' })
    expect(studio.corpora.list(projectId)).toHaveLength(corpora)
    expect(studio.labels.list(projectId)).toHaveLength(datasets)
    expect(studio.db.prepare("SELECT count(*) FROM documents WHERE source LIKE 'bad.csv:%'").pluck().get()).toBe(0)
  })
})

describe('through dispatch', () => {
  it('validates arguments and answers results for datasets.* and labels.*', async () => {
    const handlers = createHandlers(studio)
    const call = (channel: string, args: unknown) => dispatch(handlers, channel, args, { transport: 'test' })
    const c = await corpus('dispatch', 'text,label\nhello,hi\n', { labelColumn: 'label' })
    const created = await call('datasets.create', { projectId, corpusId: c.id, name: 'Dispatch', task: 'classify' })
    expect(created).toMatchObject({ ok: true, value: { name: 'Dispatch', labelled: 1, classes: [{ name: 'hi' }] } })
    const info = (created as { value: DatasetInfo }).value
    const page = await call('labels.examples', { datasetId: info.id })
    expect(page).toMatchObject({ ok: true, value: { total: 1, offset: 0 } })
    const documentId = (page as { value: { examples: { documentId: number }[] } }).value.examples[0]!.documentId
    expect(await call('labels.set', { datasetId: info.id, documentId, annotator: '', value: { kind: 'classes', classIds: [1] } })).toMatchObject({
      ok: false,
      code: 'VALIDATION',
    })
    expect(await call('labels.set', { datasetId: info.id, documentId, annotator: 'me', value: { kind: 'classes', classIds: [123_456] } })).toMatchObject({
      ok: false,
      code: 'VALIDATION',
      message: expect.stringContaining('not a class of the dataset "Dispatch"'),
    })
    const set = await call('labels.set', { datasetId: info.id, documentId, annotator: 'me', value: { kind: 'classes', classIds: [info.classes[0]!.id] } })
    expect(set).toMatchObject({ ok: true, value: { documentId, labels: [{ annotator: 'import' }, { annotator: 'me' }] } })
    expect(await call('datasets.split', { datasetId: info.id, fractions: [0.5, 0.5, 0.5] })).toMatchObject({ ok: false, code: 'VALIDATION' })
    expect(await call('datasets.split', { datasetId: info.id })).toMatchObject({ ok: true, value: { split: { seed: 12345 } } })
    expect(await call('datasets.split', { datasetId: info.id })).toMatchObject({ ok: false, code: 'CONFLICT' })
    expect(await call('datasets.get', { datasetId: 999_999 })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await call('datasets.list', { projectId })).toMatchObject({ ok: true })
  })
})
