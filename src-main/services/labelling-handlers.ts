import { StudioError } from '../core/errors.ts'
import type { Handlers } from './handlers.ts'
import type { Studio } from './studio.ts'

/** datasets.predict runs a model: it belongs to the fine-tuning handlers. */
export type LabellingChannel = Exclude<Extract<keyof Handlers, `datasets.${string}` | `labels.${string}`>, 'datasets.predict'>

const pending = (): never => {
  throw new StudioError('UNSUPPORTED', 'not built yet')
}

/** The datasets.* and labels.* channels over the labelling service. */
export function labellingHandlers(_studio: Studio): Pick<Handlers, LabellingChannel> {
  return {
    'datasets.list': pending,
    'datasets.get': pending,
    'datasets.create': pending,
    'datasets.importLabelled': pending,
    'datasets.rename': pending,
    'datasets.delete': pending,
    'datasets.split': pending,
    'labels.addClass': pending,
    'labels.updateClass': pending,
    'labels.mergeClasses': pending,
    'labels.reorderClasses': pending,
    'labels.examples': pending,
    'labels.set': pending,
    'labels.clear': pending,
  }
}
