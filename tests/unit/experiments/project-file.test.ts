import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exportProject, importProject } from '../../../src-main/services/project-files.ts'
import type { Studio } from '../../../src-main/services/studio.ts'
import { openConnection } from '../../../src-main/store/index.ts'
import { appendMetrics, getRun, listCheckpoints, listRuns, loadCheckpoint, saveCheckpoint, setRunStatus } from '../../../src-main/store/runs.ts'
import { tempDir } from '../helpers.ts'
import { checkpointAt, FakeLauncher, studioWithData } from './fixtures.ts'

let home: ReturnType<typeof tempDir>
let studio: Studio
let data: Awaited<ReturnType<typeof studioWithData>>

beforeEach(async () => {
  home = tempDir()
  data = await studioWithData(home.path)
  studio = data.studio
  studio.runs.registerKind('pretrain', new FakeLauncher(studio.db).launch)
})
afterEach(() => {
  studio.close()
  home.cleanup()
})

const count = (sql: string, ...args: unknown[]) => studio.db.prepare(sql).pluck().get(...args) as number

describe('project export and import', () => {
  it('exports a consistent snapshot and imports it back as a new project with every reference moved', async () => {
    const { projectId, corpusId } = data
    // A second project, so the exported file must leave it out and the import must move ids past it.
    const other = studio.projects.create('Other')
    const run = studio.runs.pretrain(data.request({ name: 'trained' }))
    setRunStatus(studio.db, run.id, 'running')
    appendMetrics(studio.db, run.id, Array.from({ length: 500 }, (_, i) => ({ step: i + 1, split: 'train' as const, name: 'loss', value: 5 - i / 100, wallTime: 1_000 + i })))
    saveCheckpoint(studio.db, run.id, 250, [], checkpointAt(250, 2.5))
    saveCheckpoint(studio.db, run.id, 500, [], checkpointAt(500, 2.0))
    setRunStatus(studio.db, run.id, 'done')
    const child = studio.runs.pretrain(data.request({ name: 'queued child' }))
    studio.db.prepare('UPDATE runs SET parent_run_id = ? WHERE id = ?').run(run.id, child.id)
    studio.db.prepare("UPDATE runs SET tags_json = '[\"baseline\"]', notes = 'first try' WHERE id = ?").run(run.id)
    const document = studio.corpora.documents({ corpusId, query: '', offset: 0, limit: 1 }).documents[0]!
    const dataset = studio.labels.create({ projectId, corpusId, name: 'sentiment', task: 'classify', classes: ['good', 'bad'], allowOverlap: false, importLabels: false })
    const bad = dataset.classes.find((item) => item.name === 'bad')!
    studio.labels.set({ datasetId: dataset.id, documentId: document.id, annotator: 'ann', value: { kind: 'classes', classIds: [bad.id] } })

    // A writer holds an open transaction while the export runs: its rows are not in the snapshot.
    const writer = openConnection(studio.databasePath)
    writer.exec('BEGIN IMMEDIATE')
    writer.prepare('INSERT INTO metrics (run_id, step, split, name, value, wall_time) VALUES (?, 9999, ?, ?, 1, 1)').run(run.id, 'train', 'loss')
    const file = join(home.path, 'exported.bertstudio')
    const exported = exportProject(studio.db, projectId, file)
    writer.exec('COMMIT')
    writer.close()
    expect(exported.bytes).toBeGreaterThan(0)
    expect(() => exportProject(studio.db, projectId, file)).toThrow(/already exists/)

    const { projectId: imported } = importProject(studio.db, file, { home: home.path })
    expect(imported).not.toBe(projectId)
    expect(studio.projects.get(imported).name).toBe('Experiments (imported)')
    expect(studio.corpora.list(other.id)).toEqual([])

    const [corpus] = studio.corpora.list(imported)
    expect(corpus!.id).not.toBe(corpusId)
    expect(corpus!.stats.documents).toBe(studio.corpora.get(corpusId).stats.documents)
    expect(count('SELECT count(*) FROM documents WHERE corpus_id = ?', corpus!.id)).toBe(corpus!.stats.documents)
    const tokenizers = studio.tokenizers.list(imported)
    expect(tokenizers).toHaveLength(1)

    const runs = listRuns(studio.db, imported)
    const trained = runs.find((item) => item.name === 'trained')!
    const queued = runs.find((item) => item.name === 'queued child')!
    expect(trained).toMatchObject({ status: 'done', tags: ['baseline'], notes: 'first try', corpusId: corpus!.id, tokenizerId: tokenizers[0]!.id })
    // Nothing imported starts training by itself.
    expect(queued).toMatchObject({ status: 'paused', queuePosition: null, parentRunId: trained.id })
    // The request inside the config names the new corpus and tokenizer (run again works on it).
    expect((trained.config as { request: { corpusId: number; tokenizerId: number; projectId: number } }).request).toMatchObject({
      projectId: imported,
      corpusId: corpus!.id,
      tokenizerId: tokenizers[0]!.id,
    })
    // The snapshot: 500 committed points, not the uncommitted 501st.
    expect(count('SELECT count(*) FROM metrics WHERE run_id = ?', trained.id)).toBe(500)
    const checkpoints = listCheckpoints(studio.db, trained.id)
    expect(checkpoints.map((checkpoint) => checkpoint.step)).toEqual([250, 500])
    const original = loadCheckpoint(studio.db, listCheckpoints(studio.db, run.id)[1]!.id)
    const copy = loadCheckpoint(studio.db, checkpoints[1]!.id)
    expect(Buffer.from(copy.checkpoint.tensors[0]!.data).equals(Buffer.from(original.checkpoint.tensors[0]!.data))).toBe(true)

    // Labels name the imported classes.
    const [importedDataset] = studio.labels.list(imported)
    const importedBad = importedDataset!.classes.find((item) => item.name === 'bad')!
    expect(importedBad.id).not.toBe(bad.id)
    const value = JSON.parse(studio.db.prepare('SELECT value_json FROM labels WHERE dataset_id = ?').pluck().get(importedDataset!.id) as string)
    expect(value).toEqual({ kind: 'classes', classIds: [importedBad.id] })
    expect(studio.db.pragma('foreign_key_check')).toEqual([])

    // The original is untouched, and search on the imported corpus is rebuilt.
    expect(getRun(studio.db, run.id)!.projectId).toBe(projectId)
    await studio.searchIndex.idle()
    expect(studio.corpora.documents({ corpusId: corpus!.id, query: document.text.split(/\s+/)[0]!, offset: 0, limit: 5 }).total).toBeGreaterThan(0)
  })

  it('refuses a file that is not a project file, naming it', () => {
    expect(() => importProject(studio.db, studio.databasePath, { home: home.path })).toThrow(/studio\.db is a studio database, not a project file/)
    expect(() => importProject(studio.db, join(home.path, 'missing.bertstudio'), { home: home.path })).toThrow(/no such file/)
  })
})
