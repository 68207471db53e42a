import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { channels, type RunSummary } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'
import type { RunKind } from '../store/runs.ts'
import type { CreateRun } from './experiments.ts'
import { createHandlers, dispatch, type CallContext, type Handlers } from './handlers.ts'
import { exportProject, importProject, PROJECT_FILE_EXTENSION } from './project-files.ts'
import type { Studio } from './studio.ts'

export type ExperimentChannel =
  | 'runs.experiments'
  | 'runs.update'
  | 'runs.delete'
  | 'runs.queue'
  | 'runs.reorder'
  | 'runs.again'
  | 'runs.config'
  | 'runs.curves'
  | 'runs.metricsAt'
  | 'runs.lineage'
  | 'runs.sweep'
  | 'runs.sweeps'
  | 'runs.disk'
  | 'runs.prune'
  | 'projects.compact'
  | 'projects.exportFile'
  | 'projects.importFile'

/** The channel that creates a run of each kind from its request. */
const CREATE_CHANNEL = { pretrain: 'runs.pretrain', finetune: 'runs.finetune' } as const

/** The Runs view's channels over the experiments and runs services. */
export function experimentHandlers(studio: Studio): Pick<Handlers, ExperimentChannel> {
  const { experiments, runs } = studio
  /** Run again and sweeps create runs exactly as the analyst's own request would: same schema, same handler. */
  const create =
    (context: CallContext): CreateRun =>
    async (kind, request) => {
      const result = await dispatch(createHandlers(studio), CREATE_CHANNEL[kind], request, context)
      if (!result.ok) throw new StudioError(result.code, result.message)
      return result.value as RunSummary
    }
  const validate = (kind: RunKind, request: Record<string, unknown>) => {
    const parsed = channels[CREATE_CHANNEL[kind]].args.safeParse(request)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new StudioError('VALIDATION', `${String(request.name)}: ${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'invalid request'}`)
    }
  }
  return {
    'runs.experiments': ({ projectId }) => {
      studio.projects.get(projectId)
      return experiments.list(projectId)
    },
    'runs.update': ({ runId, ...update }) => experiments.update({ runId, ...update }),
    'runs.delete': ({ runId }) => experiments.delete(runId),
    'runs.queue': () => runs.queueState(),
    'runs.reorder': ({ runIds }) => runs.reorder(runIds),
    'runs.again': ({ runId, name }, context) => experiments.again(runId, name, create(context)),
    'runs.config': ({ runId }) => experiments.config(runId),
    'runs.curves': (request) => experiments.curves(request),
    'runs.metricsAt': ({ runIds, step }) => experiments.metricsAt(runIds, step),
    'runs.lineage': ({ runId }) => experiments.lineage(runId),
    'runs.sweep': (request, context) => experiments.sweep(request, create(context), validate),
    'runs.sweeps': ({ projectId }) => experiments.sweeps(projectId),
    'runs.disk': ({ projectId }) => {
      studio.projects.get(projectId)
      return experiments.disk(projectId)
    },
    'runs.prune': ({ projectId, runId }) => experiments.prune(projectId, runId),
    'projects.compact': () => experiments.compact(),
    'projects.exportFile': async ({ projectId }) => {
      const project = studio.projects.get(projectId)
      // Electron: beside where the analyst points; web mode (no dialog): under <home>/exports.
      let folder = join(studio.home, 'exports')
      if (studio.pickFile) {
        const picked = await studio.pickFile('folder')
        if (picked === null) return null
        folder = picked
      }
      mkdirSync(folder, { recursive: true })
      return exportProject(studio.db, projectId, freePath(folder, project.name), studio.openOptions)
    },
    'projects.importFile': ({ fileId, name }) => {
      const file = studio.files.get(fileId)
      if (file.kind !== 'file') throw new StudioError('VALIDATION', `projects.importFile: pick a ${PROJECT_FILE_EXTENSION} file, not a folder`)
      const { projectId } = importProject(studio.db, file.path, { ...studio.openOptions, name, home: studio.home })
      // The imported corpora's word index is built again in the background.
      studio.searchIndex.resumeUnfinished()
      return studio.projects.get(projectId)
    },
  }
}

/** `<folder>/<project>.bertstudio`, numbered when that name is taken. */
function freePath(folder: string, projectName: string): string {
  const base = projectName.normalize('NFC').replace(/[\\/:*?"<>|\u0000-\u001f]+/g, '-').replace(/^[\s.-]+|[\s.]+$/g, '').slice(0, 100) || 'project'
  let path = join(folder, `${base}${PROJECT_FILE_EXTENSION}`)
  for (let count = 2; existsSync(path); count++) path = join(folder, `${base}-${count}${PROJECT_FILE_EXTENSION}`)
  return path
}
