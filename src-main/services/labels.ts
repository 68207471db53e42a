/**
 * The labelling store as use-cases: datasets over a corpus' documents, their label schemas, each
 * annotator's labels (one transaction per label, so a crash loses nothing the analyst saw saved),
 * fixed seeded splits, model-in-the-loop predictions, and the frozen snapshot fine-tuning reads.
 */
import { basename, extname } from 'node:path'
import type {
  DatasetInfo,
  Example,
  ExampleFilter,
  ExamplePage,
  ExamplePrediction,
  ImportOptions,
  LabelClass,
  LabelledFileOptions,
  LabelValue,
  TaskKind,
} from '../contract/index.ts'
import type { DatasetSnapshot, LabelledExample, ResolvedValue, SnapshotExample, SplitName } from '../core/data/examples.ts'
import { stratifiedSplit } from '../core/data/finetune.ts'
import { hasOverlap, labelNames, openLabelledFile, splitLabelNames, type LabelledInput } from '../core/data/labelled-file.ts'
import { hashKeys } from '../core/data/rng.ts'
import { splitSentences } from '../core/data/sentences.ts'
import { cancelled, notFound, StudioError } from '../core/errors.ts'
import { StatsAccumulator } from '../core/import/index.ts'
import { cohensKappa } from '../core/train/agreement.ts'
import { corpusStore } from '../store/corpora.ts'
import type { Db } from '../store/index.ts'
import { labelStore, type DatasetRow, type LabelRow, type PredictionRow } from '../store/labels.ts'
import { wordQuery, type CorporaService } from './corpora.ts'
import type { Jobs } from './jobs.ts'

/** The annotator of labels that came with the data (a label column, a labelled file). */
export const IMPORT_ANNOTATOR = 'import'
/** The split fine-tuning makes when the analyst made none. */
export const DEFAULT_SPLIT = { fractions: [0.8, 0.1, 0.1] as [number, number, number], seed: 12345 }
/** Tableau 10, then Tableau 20's lighter tints: distinct, and readable as highlight colours. */
export const CLASS_COLORS = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5',
]

const VALUE_KIND: Record<TaskKind, LabelValue['kind']> = { classify: 'classes', multilabel: 'classes', tag: 'spans', qa: 'qa', summarize: 'summary' }
const SPLITS: readonly SplitName[] = ['train', 'validation', 'test']

const invalid = (message: string) => new StudioError('VALIDATION', message)
/** A schema's limit (the contract's); more distinct "labels" means a free-text column was taken for the label. */
export const MAX_CLASSES = 1_000
const tooManyClasses = (where: string) =>
  new StudioError('BAD_INPUT', `${where} holds more than ${MAX_CLASSES} distinct labels: is it really a label column? Name the right one`)

export interface LabelledImportRequest {
  projectId: number
  name: string
  task: TaskKind
  jobId: string
  source: LabelledInput
  options: LabelledFileOptions
}

export interface PredictionInput {
  documentId: number
  value: LabelValue
  confidence: number
  entropy: number
  margin: number
}

export class LabelsService {
  constructor(
    private readonly db: Db,
    private readonly jobs: Jobs,
    private readonly corpora: CorporaService,
  ) {}

  // ------------------------------------------------------------ datasets

  list(projectId: number): DatasetInfo[] {
    return labelStore.datasets(this.db, projectId).map((row) => this.info(row))
  }

  get(datasetId: number): DatasetInfo {
    return this.info(this.row(datasetId))
  }

  /**
   * A dataset over a corpus. With `importLabels`, the corpus' label cells become labels by
   * "import" (classify: the cell is the class; multilabel: names split on `|` or `;`), classes
   * created as needed, all in the same transaction.
   */
  create(req: { projectId: number; corpusId: number; name: string; task: TaskKind; classes: string[]; allowOverlap: boolean; importLabels: boolean }): DatasetInfo {
    this.refuseWhileImporting()
    if (!corpusStore.projectExists(this.db, req.projectId)) throw notFound(`No project with id ${req.projectId}`)
    const corpus = this.corpora.get(req.corpusId)
    if (corpus.projectId !== req.projectId) throw invalid(`Corpus ${req.corpusId} belongs to another project`)
    const seeded = req.classes.map((name) => name.trim())
    const repeated = seeded.find((name, i) => seeded.indexOf(name) !== i)
    if (repeated !== undefined) throw invalid(`The class "${repeated}" is named twice`)
    if (seeded.length > 0 && (req.task === 'qa' || req.task === 'summarize')) throw invalid(`A ${req.task} dataset has no classes`)
    const datasetId = this.db.transaction(() => {
      if (labelStore.datasetNameTaken(this.db, req.projectId, req.name)) throw datasetConflict(req.name)
      const datasetId = labelStore.insertDataset(this.db, { ...req, allowOverlap: req.task === 'tag' && req.allowOverlap })
      const classIds = new Map<string, number>()
      const classId = (name: string) => {
        let id = classIds.get(name)
        if (id === undefined) {
          if (classIds.size >= MAX_CLASSES) throw tooManyClasses(`The label column of the corpus "${corpus.name}"`)
          id = labelStore.insertClass(this.db, datasetId, name, nextColor(this.db, datasetId))
          classIds.set(name, id)
        }
        return id
      }
      for (const name of seeded) classId(name)
      if (req.importLabels && (req.task === 'classify' || req.task === 'multilabel')) {
        const insert = labelStore.labelInserter(this.db, datasetId, IMPORT_ANNOTATOR)
        for (const document of labelStore.documentLabels(this.db, req.corpusId)) {
          const names = req.task === 'classify' ? [document.label.trim()] : splitLabelNames(document.label)
          insert(document.id, canonical({ kind: 'classes', classIds: names.map(classId) }))
        }
      }
      return datasetId
    }).immediate()
    return this.get(datasetId)
  }

  /**
   * A labelled file becomes a new corpus (searchable like any import) and a dataset whose labels
   * are by "import". The file is parsed whole first, then written in one synchronous transaction:
   * a bad line stores nothing, and nothing else the app writes can land inside the transaction.
   */
  async importLabelled(req: LabelledImportRequest): Promise<DatasetInfo> {
    if (!corpusStore.projectExists(this.db, req.projectId)) throw notFound(`No project with id ${req.projectId}`)
    if (labelStore.datasetNameTaken(this.db, req.projectId, req.name)) throw datasetConflict(req.name)
    const job = this.jobs.start(req.jobId, 'import', `Import ${req.source.displayName}`)
    try {
      const stream = await openLabelledFile(req.source, req.task, req.options)
      const examples: LabelledExample[] = []
      try {
        job.progress(0, stream.totalBytes, 0, 'Reading')
        for await (const batch of stream.batches) {
          if (job.signal.aborted) throw cancelled('Import cancelled')
          examples.push(...batch)
          job.progress(stream.counter.bytes, stream.totalBytes, examples.length, 'Reading')
        }
      } finally {
        await stream.batches.return(undefined)
      }
      if (examples.length === 0) throw new StudioError('BAD_INPUT', `${req.source.displayName} holds no labelled examples`)
      // A corpus import holds the write lock on its own connection: a synchronous write here would block on it.
      while (this.corpora.isImporting) {
        if (job.signal.aborted) throw cancelled('Import cancelled')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      if (job.signal.aborted) throw cancelled('Import cancelled')
      job.progress(stream.totalBytes, stream.totalBytes, examples.length, 'Saving')
      const { datasetId, corpusId } = this.db.transaction(() =>
        this.storeLabelled(req, examples, { format: stream.format, bytes: stream.totalBytes }),
      ).immediate()
      this.corpora.afterImport(corpusId)
      job.finish('done')
      return this.get(datasetId)
    } catch (error) {
      const aborted = error instanceof StudioError && error.code === 'CANCELLED'
      job.finish(aborted ? 'cancelled' : 'failed', (error as Error).message)
      throw error
    }
  }

  /**
   * A labelled file on disk (the CLI's `label-import`, and `finetune --data`) → corpus + dataset.
   * Without a name, the file's base name, made unique in the project (`reviews`, `reviews 2`, …).
   */
  importFile(req: { projectId: number; path: string; task: TaskKind; jobId: string; name?: string | undefined; options?: LabelledFileOptions }): Promise<DatasetInfo> {
    const displayName = basename(req.path)
    let name = req.name
    if (name === undefined) {
      const base = basename(req.path, extname(req.path)) || 'dataset'
      name = base
      for (let i = 2; labelStore.datasetNameTaken(this.db, req.projectId, name) || corpusStore.nameTaken(this.db, req.projectId, name); i++) name = `${base} ${i}`
    }
    return this.importLabelled({ projectId: req.projectId, name, task: req.task, jobId: req.jobId, options: req.options ?? {}, source: { path: req.path, displayName } })
  }

  private storeLabelled(
    req: LabelledImportRequest,
    examples: LabelledExample[],
    file: { format: 'csv' | 'tsv' | 'jsonl'; bytes: number },
  ): { datasetId: number; corpusId: number } {
    if (labelStore.datasetNameTaken(this.db, req.projectId, req.name)) throw datasetConflict(req.name)
    let corpusName = req.name
    for (let i = 2; corpusStore.nameTaken(this.db, req.projectId, corpusName); i++) corpusName = `${req.name} ${i}`
    const options: ImportOptions = {
      format: file.format,
      ...(req.options.textColumn !== undefined ? { textColumn: req.options.textColumn } : {}),
      ...(req.options.labelColumn !== undefined ? { labelColumn: req.options.labelColumn } : {}),
    }
    const stats = new StatsAccumulator()
    const corpusId = corpusStore.insert(this.db, {
      projectId: req.projectId,
      name: corpusName,
      sourceName: req.source.displayName,
      format: file.format,
      options,
      stats: stats.result(0),
    })
    const datasetId = labelStore.insertDataset(this.db, {
      projectId: req.projectId,
      corpusId,
      name: req.name,
      task: req.task,
      allowOverlap: req.task === 'tag' && examples.some(hasOverlap),
    })
    const classIds = new Map<string, number>()
    const names = labelNames(examples)
    if (names.length > MAX_CLASSES) throw tooManyClasses(req.source.displayName)
    for (const name of names) classIds.set(name, labelStore.insertClass(this.db, datasetId, name, nextColor(this.db, datasetId)))
    const insertDocument = labelStore.documentInserter(this.db, corpusId)
    const insertLabel = labelStore.labelInserter(this.db, datasetId, IMPORT_ANNOTATOR)
    examples.forEach((example, i) => {
      // Class names go in the corpus' label column too, so its stats and search show them.
      const label = example.value.kind === 'classes' && example.value.labels.length > 0 ? example.value.labels.join('|') : null
      const documentId = insertDocument(i + 1, example.text, label, example.source)
      stats.add(example.text, label)
      insertLabel(documentId, canonical(toLabelValueWith(classIds, example.value, example.source)))
    })
    corpusStore.setStats(this.db, corpusId, stats.result(file.bytes))
    return { datasetId, corpusId }
  }

  rename(datasetId: number, name: string): DatasetInfo {
    const dataset = this.row(datasetId)
    this.refuseWhileImporting()
    if (dataset.name === name) return this.info(dataset)
    if (labelStore.datasetNameTaken(this.db, dataset.project_id, name, datasetId)) throw datasetConflict(name)
    labelStore.renameDataset(this.db, datasetId, name)
    return this.get(datasetId)
  }

  delete(datasetId: number): void {
    this.row(datasetId)
    this.refuseWhileImporting()
    labelStore.deleteDataset(this.db, datasetId)
  }

  /**
   * The stratified, seeded split of the examples labelled now; later ones join by a seeded hash of
   * their document when a snapshot is taken. Made once: CONFLICT after.
   */
  split(req: { datasetId: number; fractions: [number, number, number]; seed: number }): DatasetInfo {
    this.refuseWhileImporting()
    this.db.transaction(() => this.makeSplit(this.row(req.datasetId), req.fractions, req.seed)).immediate()
    return this.get(req.datasetId)
  }

  private makeSplit(dataset: DatasetRow, fractions: [number, number, number], seed: number): void {
    if (dataset.split_seed !== null) {
      throw new StudioError('CONFLICT', `The dataset "${dataset.name}" is already split (seed ${dataset.split_seed}); a split stays fixed once made`)
    }
    const total = fractions[0] + fractions[1] + fractions[2]
    if (Math.abs(total - 1) > 1e-6 || fractions.some((f) => f < 0)) throw invalid(`The split fractions [${fractions.join(', ')}] must be ≥ 0 and sum to 1`)
    const chosen = chooseLabels(labelStore.allLabels(this.db, dataset.id))
    const documentIds = [...chosen.keys()]
    // Stratify by the resolved class (multilabel: the first), so every split keeps the class mix.
    const strata = documentIds.map((id) => {
      const value = JSON.parse(chosen.get(id)!.value_json) as LabelValue
      return dataset.task === 'classify' || dataset.task === 'multilabel' ? (value.kind === 'classes' ? (value.classIds[0] ?? 0) : 0) : 0
    })
    const parts = stratifiedSplit(strata, fractions, seed)
    const insert = labelStore.splitInserter(this.db, dataset.id)
    parts.forEach((indices, s) => {
      for (const index of indices) insert(documentIds[index]!, SPLITS[s]!)
    })
    labelStore.setSplit(this.db, dataset.id, seed, fractions)
  }

  // ------------------------------------------------------------ classes

  addClass(req: { datasetId: number; name: string; color?: string | undefined }): DatasetInfo {
    const dataset = this.row(req.datasetId)
    this.refuseWhileImporting()
    if (dataset.task === 'qa' || dataset.task === 'summarize') throw invalid(`A ${dataset.task} dataset has no classes`)
    this.db.transaction(() => {
      if (labelStore.classNameTaken(this.db, dataset.id, req.name)) throw classConflict(req.name)
      labelStore.insertClass(this.db, dataset.id, req.name, req.color ?? nextColor(this.db, dataset.id))
    }).immediate()
    return this.get(dataset.id)
  }

  updateClass(req: { classId: number; name?: string | undefined; color?: string | undefined }): DatasetInfo {
    const found = this.classRow(req.classId)
    this.refuseWhileImporting()
    this.db.transaction(() => {
      if (req.name !== undefined && labelStore.classNameTaken(this.db, found.datasetId, req.name, found.id)) throw classConflict(req.name)
      labelStore.updateClass(this.db, found.id, { ...(req.name !== undefined ? { name: req.name } : {}), ...(req.color !== undefined ? { color: req.color } : {}) })
    }).immediate()
    return this.get(found.datasetId)
  }

  /** Every label (and prediction) naming `fromId` names `intoId` instead; `fromId` goes. One transaction. */
  mergeClasses(req: { fromId: number; intoId: number }): DatasetInfo {
    const from = this.classRow(req.fromId)
    const into = this.classRow(req.intoId)
    if (from.datasetId !== into.datasetId) throw invalid(`The classes "${from.name}" and "${into.name}" belong to different datasets`)
    if (from.id === into.id) throw invalid(`Cannot merge the class "${from.name}" into itself`)
    this.refuseWhileImporting()
    const datasetId = from.datasetId
    this.db.transaction(() => {
      const replace = (value: LabelValue): LabelValue | null => {
        if (value.kind === 'classes' && value.classIds.includes(from.id)) {
          return canonical({ kind: 'classes', classIds: [...new Set(value.classIds.map((id) => (id === from.id ? into.id : id)))] })
        }
        if (value.kind === 'spans' && value.spans.some((span) => span.classId === from.id)) {
          const spans = value.spans.map((span) => (span.classId === from.id ? { ...span, classId: into.id } : span))
          // Two spans over the same characters now name the same class: keep one.
          const unique = spans.filter((span, i) => spans.findIndex((s) => s.start === span.start && s.end === span.end && s.classId === span.classId) === i)
          return canonical({ kind: 'spans', spans: unique })
        }
        return null
      }
      for (const label of labelStore.allLabels(this.db, datasetId)) {
        const value = replace(JSON.parse(label.value_json) as LabelValue)
        if (value) labelStore.rewriteLabel(this.db, datasetId, label.document_id, label.annotator, value)
      }
      for (const prediction of labelStore.allPredictions(this.db, datasetId)) {
        const value = replace(JSON.parse(prediction.value_json) as LabelValue)
        if (value) labelStore.rewritePrediction(this.db, datasetId, prediction.document_id, value)
      }
      labelStore.deleteClass(this.db, from.id)
      labelStore.setPositions(this.db, labelStore.classes(this.db, datasetId).map((c) => c.id))
    }).immediate()
    return this.get(datasetId)
  }

  reorderClasses(req: { datasetId: number; classIds: number[] }): DatasetInfo {
    this.row(req.datasetId)
    this.refuseWhileImporting()
    const current = labelStore.classes(this.db, req.datasetId).map((c) => c.id)
    const given = new Set(req.classIds)
    if (given.size !== req.classIds.length || given.size !== current.length || current.some((id) => !given.has(id))) {
      throw invalid(`Reordering needs every class of the dataset once: it has [${current.join(', ')}], got [${req.classIds.join(', ')}]`)
    }
    this.db.transaction(() => labelStore.setPositions(this.db, req.classIds)).immediate()
    return this.get(req.datasetId)
  }

  // ------------------------------------------------------------ labels

  /** Validates, then saves one label in its own transaction (synchronous=FULL) and answers the stored example. */
  set(req: { datasetId: number; documentId: number; annotator: string; value: LabelValue }): Example {
    const dataset = this.row(req.datasetId)
    this.refuseWhileImporting()
    this.db.transaction(() => {
      const document = this.document(dataset, req.documentId)
      const classes = labelStore.classes(this.db, dataset.id)
      const value = validateValue(dataset, classes, document.text, req.value)
      labelStore.upsertLabel(this.db, dataset.id, document.id, req.annotator, value)
    }).immediate()
    return this.example(dataset, req.documentId)
  }

  clear(req: { datasetId: number; documentId: number; annotator: string }): Example {
    const dataset = this.row(req.datasetId)
    this.refuseWhileImporting()
    this.document(dataset, req.documentId)
    this.db.transaction(() => labelStore.deleteLabel(this.db, dataset.id, req.documentId, req.annotator)).immediate()
    return this.example(dataset, req.documentId)
  }

  /** A page of the dataset's examples under a filter, an optional annotator and an optional text query. */
  examples(req: { datasetId: number; filter: ExampleFilter; annotator?: string | undefined; query: string; offset: number; limit: number }): ExamplePage {
    const dataset = this.row(req.datasetId)
    const corpus = this.corpora.get(dataset.corpus_id)
    const where: string[] = ['d.corpus_id = ?']
    const params: unknown[] = [dataset.corpus_id]
    const byAnnotator = req.annotator === undefined ? '' : ' AND l.annotator = ?'
    const annotatorParams = req.annotator === undefined ? [] : [req.annotator]
    const labelled = `EXISTS (SELECT 1 FROM labels l WHERE l.dataset_id = ? AND l.document_id = d.id${byAnnotator})`
    let order = 'd.ordinal'
    let predictions = false
    const filter = req.filter
    switch (filter.kind) {
      case 'all':
        break
      case 'unlabelled':
        where.push(`NOT ${labelled}`)
        params.push(dataset.id, ...annotatorParams)
        break
      case 'labelled':
        where.push(labelled)
        params.push(dataset.id, ...annotatorParams)
        break
      case 'class': {
        const found = this.classRow(filter.classId)
        if (found.datasetId !== dataset.id) throw invalid(`The class ${filter.classId} is not a class of the dataset "${dataset.name}"`)
        where.push(
          `EXISTS (SELECT 1 FROM labels l WHERE l.dataset_id = ? AND l.document_id = d.id${byAnnotator} AND (
             EXISTS (SELECT 1 FROM json_each(l.value_json, '$.classIds') j WHERE j.value = ?) OR
             EXISTS (SELECT 1 FROM json_each(l.value_json, '$.spans') j WHERE json_extract(j.value, '$.classId') = ?)))`,
        )
        params.push(dataset.id, ...annotatorParams, filter.classId, filter.classId)
        break
      }
      case 'disagreement':
        where.push('(SELECT count(DISTINCT l.value_json) FROM labels l WHERE l.dataset_id = ? AND l.document_id = d.id) > 1')
        params.push(dataset.id)
        break
      case 'uncertain':
        predictions = true
        where.push(`NOT ${labelled}`)
        params.push(dataset.id, ...annotatorParams)
        order = filter.by === 'entropy' ? 'p.entropy DESC, d.ordinal' : 'p.margin ASC, d.ordinal'
        break
      case 'suspect':
        predictions = true
        where.push(labelled, 'p.confidence >= ?')
        params.push(dataset.id, ...annotatorParams, filter.minConfidence)
        order = 'p.confidence DESC, d.ordinal'
        break
      case 'confidence':
        if (filter.min > filter.max) throw invalid(`The confidence range [${filter.min}, ${filter.max}] is empty: min must be ≤ max`)
        predictions = true
        where.push('p.confidence BETWEEN ? AND ?')
        params.push(filter.min, filter.max)
        order = 'p.confidence ASC, d.ordinal'
        break
    }
    const query = req.query.trim()
    if (query !== '') {
      const match = corpus.searchReady ? wordQuery(corpus.id, query) : null
      if (match !== null) {
        where.push('d.id IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?)')
        params.push(match)
      } else {
        where.push(`d.text LIKE ? ESCAPE '\\'`)
        params.push(`%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
      }
    }
    const from = `FROM documents d${predictions ? ' JOIN predictions p ON p.dataset_id = ? AND p.document_id = d.id' : ''} WHERE ${where.join(' AND ')}`
    const allParams = predictions ? [dataset.id, ...params] : params
    if (filter.kind === 'suspect') {
      // Whether the model disagrees depends on which label wins: decided here, not in SQL.
      const ids = this.db.prepare(`SELECT d.id ${from} ORDER BY ${order}`).pluck().all(...allParams) as number[]
      const suspects: number[] = []
      for (let at = 0; at < ids.length; at += 500) {
        const chunk = ids.slice(at, at + 500)
        const chosen = chooseLabels(labelStore.labelsOf(this.db, dataset.id, chunk).filter((l) => req.annotator === undefined || l.annotator === req.annotator))
        const predicted = labelStore.predictionsOf(this.db, dataset.id, chunk)
        for (const id of chunk) {
          const label = chosen.get(id)
          const prediction = predicted.get(id)
          if (label && prediction && label.value_json !== canonicalJson(prediction.value_json)) suspects.push(id)
        }
      }
      const page = suspects.slice(req.offset, req.offset + req.limit)
      return { total: suspects.length, offset: req.offset, examples: this.examplesFor(dataset, page) }
    }
    const total = this.db.prepare(`SELECT count(*) ${from}`).pluck().get(...allParams) as number
    const ids = this.db.prepare(`SELECT d.id ${from} ORDER BY ${order} LIMIT ? OFFSET ?`).pluck().all(...allParams, req.limit, req.offset) as number[]
    return { total, offset: req.offset, examples: this.examplesFor(dataset, ids) }
  }

  /** One example as stored now. */
  example(dataset: DatasetRow | number, documentId: number): Example {
    const row = typeof dataset === 'number' ? this.row(dataset) : dataset
    this.document(row, documentId)
    return this.examplesFor(row, [documentId])[0]!
  }

  private examplesFor(dataset: DatasetRow, ids: number[]): Example[] {
    if (ids.length === 0) return []
    const documents = new Map(labelStore.documents(this.db, ids).map((d) => [d.id, d]))
    const labels = new Map<number, LabelRow[]>()
    for (const label of labelStore.labelsOf(this.db, dataset.id, ids)) {
      const list = labels.get(label.document_id)
      if (list) list.push(label)
      else labels.set(label.document_id, [label])
    }
    const splits = labelStore.splitsOf(this.db, dataset.id, ids)
    const predictions = labelStore.predictionsOf(this.db, dataset.id, ids)
    const fractions = splitFractions(dataset)
    return ids.map((id) => {
      const document = documents.get(id)!
      const own = labels.get(id) ?? []
      const prediction = predictions.get(id)
      // A labelled document without a stored split will get this one at the next snapshot.
      const split = splits.get(id) ?? (fractions && own.length > 0 ? hashSplit(dataset.split_seed!, id, fractions) : null)
      return {
        documentId: id,
        ordinal: document.ordinal,
        text: document.text,
        source: document.source,
        labels: own.map((l) => ({ annotator: l.annotator, value: JSON.parse(l.value_json) as LabelValue, updatedAt: l.updated_at })),
        split,
        prediction: prediction ? toPrediction(prediction) : null,
      }
    })
  }

  // ------------------------------------------------------------ fine-tuning's side

  /**
   * The dataset frozen for fine-tuning: its labelled examples with one resolved label each (a
   * person's over "import"; among people the latest), and their splits. Makes the default split
   * when there is none, and stores the hash-assigned split of every example labelled since, so an
   * example never changes split.
   */
  snapshot(datasetId: number): DatasetSnapshot {
    this.refuseWhileImporting()
    return this.db.transaction(() => {
      let dataset = this.row(datasetId)
      if (dataset.split_seed === null) {
        this.makeSplit(dataset, DEFAULT_SPLIT.fractions, DEFAULT_SPLIT.seed)
        dataset = this.row(datasetId)
      }
      const fractions = splitFractions(dataset)!
      const insert = labelStore.splitInserter(this.db, dataset.id)
      for (const id of labelStore.labelledWithoutSplit(this.db, dataset.id)) insert(id, hashSplit(dataset.split_seed!, id, fractions))
      const classes = labelStore.classes(this.db, dataset.id)
      const chosen = chooseLabels(labelStore.allLabels(this.db, dataset.id))
      const splits = labelStore.allSplits(this.db, dataset.id)
      const examples: (SnapshotExample & { ordinal: number })[] = []
      const ids = [...chosen.keys()]
      for (let at = 0; at < ids.length; at += 500) {
        for (const document of labelStore.documents(this.db, ids.slice(at, at + 500))) {
          const label = chosen.get(document.id)!
          examples.push({
            ordinal: document.ordinal,
            documentId: document.id,
            text: document.text,
            value: resolveValue(classes, JSON.parse(label.value_json) as LabelValue),
            source: `document ${document.id} (${document.source})`,
            split: splits.get(document.id)!,
          })
        }
      }
      examples.sort((a, b) => a.ordinal - b.ordinal)
      return {
        datasetId: dataset.id,
        task: dataset.task,
        labels: dataset.task === 'qa' || dataset.task === 'summarize' ? [] : classes.map((c) => c.name),
        examples: examples.map(({ ordinal: _ordinal, ...example }) => example),
      }
    }).immediate()
  }

  /** Replaces the dataset's model-in-the-loop predictions with one run's, in one transaction. */
  storePredictions(datasetId: number, runId: number, rows: readonly PredictionInput[]): void {
    const dataset = this.row(datasetId)
    this.refuseWhileImporting()
    const kind = VALUE_KIND[dataset.task]
    if (this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(runId) === undefined) throw notFound(`No run with id ${runId}`)
    this.db.transaction(() => {
      labelStore.deletePredictions(this.db, dataset.id)
      const insert = labelStore.predictionInserter(this.db, dataset.id)
      for (const row of rows) {
        if (row.value.kind !== kind) throw invalid(`A ${dataset.task} dataset's predictions are "${kind}" values, got "${row.value.kind}" for document ${row.documentId}`)
        insert({
          document_id: row.documentId,
          run_id: runId,
          value_json: JSON.stringify(canonical(row.value)),
          confidence: row.confidence,
          entropy: row.entropy,
          margin: row.margin,
        })
      }
      const stray = this.db
        .prepare('SELECT p.document_id FROM predictions p JOIN documents d ON d.id = p.document_id WHERE p.dataset_id = ? AND d.corpus_id <> ? LIMIT 1')
        .pluck()
        .get(dataset.id, dataset.corpus_id) as number | undefined
      if (stray !== undefined) throw invalid(`Document ${stray} is not in the dataset "${dataset.name}"'s corpus`)
    }).immediate()
  }

  /** Class names → a LabelValue of this dataset (predictions). Unknown names are an error. */
  toLabelValue(datasetId: number, value: ResolvedValue): LabelValue {
    const classIds = new Map(labelStore.classes(this.db, this.row(datasetId).id).map((c) => [c.name, c.id]))
    return canonical(toLabelValueWith(classIds, value, `dataset ${datasetId}`))
  }

  /** A stored LabelValue with class ids → names. */
  resolve(datasetId: number, value: LabelValue): ResolvedValue {
    return resolveValue(labelStore.classes(this.db, this.row(datasetId).id), value)
  }

  /** The class names of a dataset in the schema's order. */
  classNames(datasetId: number): string[] {
    return labelStore.classes(this.db, this.row(datasetId).id).map((c) => c.name)
  }

  // ------------------------------------------------------------ helpers

  private row(datasetId: number): DatasetRow {
    const row = labelStore.dataset(this.db, datasetId)
    if (!row) throw notFound(`No dataset with id ${datasetId}`)
    return row
  }

  private classRow(classId: number): LabelClass & { datasetId: number } {
    const row = labelStore.classRow(this.db, classId)
    if (!row) throw notFound(`No label class with id ${classId}`)
    return row
  }

  private document(dataset: DatasetRow, documentId: number) {
    const document = labelStore.document(this.db, dataset.corpus_id, documentId)
    if (!document) throw notFound(`No document ${documentId} in the corpus of the dataset "${dataset.name}"`)
    return document
  }

  /** A corpus import holds the write lock on its own connection; a write here would block the event loop on it. */
  private refuseWhileImporting(): void {
    if (this.corpora.isImporting) throw new StudioError('CONFLICT', 'An import is running: labels and datasets can be changed when it has finished')
  }

  private info(row: DatasetRow): DatasetInfo {
    const classes = labelStore.classes(this.db, row.id)
    const corpus = corpusStore.get(this.db, row.corpus_id)
    const perClass = labelStore.perClass(this.db, row.id)
    const pairs = new Map<string, { first: string; second: string; a: number[]; b: number[]; common: number }>()
    for (const pair of labelStore.labelPairs(this.db, row.id)) {
      const key = `${pair.first}\u0000${pair.second}`
      let entry = pairs.get(key)
      if (!entry) pairs.set(key, (entry = { first: pair.first, second: pair.second, a: [], b: [], common: 0 }))
      entry.common++
      if (row.task === 'classify') {
        entry.a.push((JSON.parse(pair.firstValue) as { classIds: number[] }).classIds[0] ?? 0)
        entry.b.push((JSON.parse(pair.secondValue) as { classIds: number[] }).classIds[0] ?? 0)
      }
    }
    const fractions = splitFractions(row)
    let split: DatasetInfo['split'] = null
    if (fractions) {
      const counts = labelStore.labelledSplitCounts(this.db, row.id)
      for (const id of labelStore.labelledWithoutSplit(this.db, row.id)) counts[hashSplit(row.split_seed!, id, fractions)]++
      split = { seed: row.split_seed!, fractions, counts }
    }
    return {
      id: row.id,
      projectId: row.project_id,
      corpusId: row.corpus_id,
      name: row.name,
      task: row.task,
      allowOverlap: row.allow_overlap === 1,
      classes,
      examples: corpus?.stats.documents ?? 0,
      labelled: labelStore.labelledCount(this.db, row.id),
      perClass: row.task === 'qa' || row.task === 'summarize' ? [] : classes.map((c) => ({ classId: c.id, count: perClass.get(c.id) ?? 0 })),
      annotators: labelStore.annotators(this.db, row.id),
      agreement: [...pairs.values()].map((p) => ({
        first: p.first,
        second: p.second,
        common: p.common,
        kappa: row.task === 'classify' ? cohensKappa(p.a, p.b) : null,
      })),
      split,
      createdAt: row.created_at,
    }
  }
}

// ---------------------------------------------------------------- pure helpers

const datasetConflict = (name: string) => new StudioError('CONFLICT', `A dataset named "${name}" already exists in this project`)
const classConflict = (name: string) => new StudioError('CONFLICT', `The dataset already has a class named "${name}"`)

/** The first palette colour no class of the dataset uses; past the palette, golden-angle hues. */
function nextColor(db: Db, datasetId: number): string {
  const used = new Set(labelStore.classes(db, datasetId).map((c) => c.color.toLowerCase()))
  const free = CLASS_COLORS.find((color) => !used.has(color))
  if (free) return free
  for (let i = used.size; ; i++) {
    const color = hslToHex((i * 137.508) % 360, 0.55, 0.5)
    if (!used.has(color)) return color
  }
}

function hslToHex(hue: number, saturation: number, lightness: number): string {
  const a = saturation * Math.min(lightness, 1 - lightness)
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12
    const value = lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(value * 255)
      .toString(16)
      .padStart(2, '0')
  }
  return `#${channel(0)}${channel(8)}${channel(4)}`
}

/**
 * One stored form per meaning, so equal labels are equal JSON (the disagreement filter compares
 * value_json): class ids ascending, spans by position, summary sentences ascending.
 */
export function canonical(value: LabelValue): LabelValue {
  switch (value.kind) {
    case 'classes':
      return { kind: 'classes', classIds: [...value.classIds].sort((a, b) => a - b) }
    case 'spans':
      return {
        kind: 'spans',
        spans: value.spans.map(({ start, end, classId }) => ({ start, end, classId })).sort((a, b) => a.start - b.start || a.end - b.end || a.classId - b.classId),
      }
    case 'qa':
      return { kind: 'qa', items: value.items.map(({ question, start, end }) => ({ question, start, end })) }
    case 'summary':
      return { kind: 'summary', sentences: [...value.sentences].sort((a, b) => a - b) }
  }
}

function canonicalJson(json: string): string {
  return JSON.stringify(canonical(JSON.parse(json) as LabelValue))
}

/** Checks a label against its dataset and document; answers its canonical form. */
export function validateValue(dataset: Pick<DatasetRow, 'name' | 'task' | 'allow_overlap'>, classes: readonly LabelClass[], text: string, value: LabelValue): LabelValue {
  const expected = VALUE_KIND[dataset.task]
  if (value.kind !== expected) throw invalid(`A ${dataset.task} label is a "${expected}" value, got "${value.kind}"`)
  const known = new Set(classes.map((c) => c.id))
  const checkClass = (id: number, where: string) => {
    if (!known.has(id)) {
      throw invalid(`${where}names class ${id}, which is not a class of the dataset "${dataset.name}" (classes: ${classes.map((c) => `${c.id} ${c.name}`).join(', ') || 'none'})`)
    }
  }
  switch (value.kind) {
    case 'classes': {
      if (dataset.task === 'classify' && value.classIds.length !== 1) {
        throw invalid(`A single-label example takes exactly one class, got ${value.classIds.length}`)
      }
      if (new Set(value.classIds).size !== value.classIds.length) throw invalid(`The classes [${value.classIds.join(', ')}] name one class twice`)
      for (const id of value.classIds) checkClass(id, 'The label ')
      break
    }
    case 'spans': {
      value.spans.forEach((span, i) => {
        if (!(span.start < span.end && span.end <= text.length)) {
          throw invalid(`Span ${i + 1} is [${span.start}, ${span.end}), expected 0 ≤ start < end ≤ ${text.length} (the text's length)`)
        }
        checkClass(span.classId, `Span ${i + 1} `)
      })
      const sorted = (canonical(value) as Extract<LabelValue, { kind: 'spans' }>).spans
      for (let i = 1; i < sorted.length; i++) {
        const previous = sorted[i - 1]!
        const span = sorted[i]!
        if (previous.start === span.start && previous.end === span.end && previous.classId === span.classId) {
          throw invalid(`The span [${span.start}, ${span.end}) is given twice`)
        }
      }
      if (dataset.allow_overlap !== 1) {
        let end = -1
        for (const span of sorted) {
          if (span.start < end) throw invalid(`The span [${span.start}, ${span.end}) overlaps another; the dataset "${dataset.name}" does not allow overlapping spans`)
          end = Math.max(end, span.end)
        }
      }
      break
    }
    case 'qa':
      value.items.forEach((item, i) => {
        if (!(item.start < item.end && item.end <= text.length)) {
          throw invalid(`The answer to question ${i + 1} is [${item.start}, ${item.end}), expected 0 ≤ start < end ≤ ${text.length} (the passage's length)`)
        }
      })
      break
    case 'summary': {
      const count = splitSentences(text).length
      if (new Set(value.sentences).size !== value.sentences.length) throw invalid('A summary names one sentence twice')
      for (const index of value.sentences) {
        if (index >= count) throw invalid(`A summary names sentence ${index}, but the document has ${count} sentences (indices 0 to ${count - 1})`)
      }
      break
    }
  }
  return canonical(value)
}

/**
 * The one label per document fine-tuning learns from: a person's over "import"; among people the
 * most recently updated (then the annotator's name, for a deterministic tie-break).
 */
export function chooseLabels(labels: readonly LabelRow[]): Map<number, LabelRow> {
  const chosen = new Map<number, LabelRow>()
  const rank = (l: LabelRow) => (l.annotator === IMPORT_ANNOTATOR ? 0 : 1)
  for (const label of labels) {
    const current = chosen.get(label.document_id)
    if (
      !current ||
      rank(label) > rank(current) ||
      (rank(label) === rank(current) && (label.updated_at > current.updated_at || (label.updated_at === current.updated_at && label.annotator < current.annotator)))
    ) {
      chosen.set(label.document_id, label)
    }
  }
  return chosen
}

/** Class ids → names; classify and multilabel names in the schema's order. */
export function resolveValue(classes: readonly LabelClass[], value: LabelValue): ResolvedValue {
  const byId = new Map(classes.map((c) => [c.id, c]))
  const name = (id: number) => {
    const found = byId.get(id)
    if (!found) throw new StudioError('INTERNAL', `A label names class ${id}, which the dataset no longer has`)
    return found.name
  }
  switch (value.kind) {
    case 'classes':
      return {
        kind: 'classes',
        labels: [...value.classIds].sort((a, b) => byId.get(a)!.position - byId.get(b)!.position || a - b).map(name),
      }
    case 'spans':
      return { kind: 'spans', spans: value.spans.map((s) => ({ start: s.start, end: s.end, label: name(s.classId) })) }
    case 'qa':
      return { kind: 'qa', items: value.items.map((i) => ({ question: i.question, start: i.start, end: i.end })) }
    case 'summary':
      return { kind: 'summary', sentences: [...value.sentences] }
  }
}

/** Class names → ids; an unknown name is an error naming where it came from. */
export function toLabelValueWith(classIds: ReadonlyMap<string, number>, value: ResolvedValue, where: string): LabelValue {
  const id = (name: string) => {
    const found = classIds.get(name)
    if (found === undefined) throw invalid(`${where}: "${name}" is not a class of the dataset (classes: ${[...classIds.keys()].join(', ') || 'none'})`)
    return found
  }
  switch (value.kind) {
    case 'classes':
      return { kind: 'classes', classIds: [...new Set(value.labels.map(id))] }
    case 'spans':
      return { kind: 'spans', spans: value.spans.map((s) => ({ start: s.start, end: s.end, classId: id(s.label) })) }
    case 'qa':
      return { kind: 'qa', items: value.items.map((i) => ({ question: i.question, start: i.start, end: i.end })) }
    case 'summary':
      return { kind: 'summary', sentences: [...value.sentences] }
  }
}

function splitFractions(dataset: DatasetRow): [number, number, number] | null {
  if (dataset.split_seed === null || dataset.split_fractions_json === null) return null
  return JSON.parse(dataset.split_fractions_json) as [number, number, number]
}

/** The split of a document labelled after the split was made: a seeded hash, with the split's fractions. */
export function hashSplit(seed: number, documentId: number, fractions: readonly [number, number, number]): SplitName {
  const u = hashKeys(seed, 'dataset-split', documentId) / 2 ** 32
  if (u < fractions[0]) return 'train'
  if (u < fractions[0] + fractions[1]) return 'validation'
  return 'test'
}

function toPrediction(row: PredictionRow): ExamplePrediction {
  return { runId: row.run_id, value: JSON.parse(row.value_json) as LabelValue, confidence: row.confidence, entropy: row.entropy, margin: row.margin }
}
