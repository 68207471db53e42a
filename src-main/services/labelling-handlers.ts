import { StudioError } from '../core/errors.ts'
import type { Handlers } from './handlers.ts'
import type { Studio } from './studio.ts'

/** datasets.predict runs a model: it belongs to the fine-tuning handlers. */
export type LabellingChannel = Exclude<Extract<keyof Handlers, `datasets.${string}` | `labels.${string}`>, 'datasets.predict'>

/** The datasets.* and labels.* channels over the labelling service. */
export function labellingHandlers(studio: Studio): Pick<Handlers, LabellingChannel> {
  const { labels } = studio
  return {
    'datasets.list': ({ projectId }) => {
      studio.projects.get(projectId)
      return labels.list(projectId)
    },
    'datasets.get': ({ datasetId }) => labels.get(datasetId),
    'datasets.create': (request) => labels.create(request),
    'datasets.importLabelled': ({ projectId, fileId, name, task, jobId, options }) => {
      const file = studio.files.get(fileId)
      if (file.kind !== 'file') throw new StudioError('VALIDATION', 'datasets.importLabelled: pick a CSV, TSV or JSONL file, not a folder')
      return labels.importLabelled({ projectId, name, task, jobId, options, source: { path: file.path, displayName: file.name } })
    },
    'datasets.rename': ({ datasetId, name }) => labels.rename(datasetId, name),
    'datasets.delete': ({ datasetId }) => labels.delete(datasetId),
    'datasets.split': (request) => labels.split(request),
    'labels.addClass': (request) => labels.addClass(request),
    'labels.updateClass': (request) => labels.updateClass(request),
    'labels.mergeClasses': (request) => labels.mergeClasses(request),
    'labels.reorderClasses': (request) => labels.reorderClasses(request),
    'labels.examples': (request) => labels.examples(request),
    'labels.set': (request) => labels.set(request),
    'labels.clear': (request) => labels.clear(request),
  }
}
