import { StudioError } from '../core/errors.ts'
import type { Handlers } from './handlers.ts'
import type { Studio } from './studio.ts'

export type FinetuneChannel = 'runs.finetune' | 'runs.evaluate' | 'runs.evaluation' | 'runs.evaluationExamples' | 'runs.predict' | 'runs.predictFile'
  | 'datasets.predict'

const pending = (): never => {
  throw new StudioError('UNSUPPORTED', 'not built yet')
}

/** The fine-tuning, evaluation and prediction channels over the fine-tuning service. */
export function finetuneHandlers(_studio: Studio): Pick<Handlers, FinetuneChannel> {
  return {
    'runs.finetune': pending,
    'runs.evaluate': pending,
    'runs.evaluation': pending,
    'runs.evaluationExamples': pending,
    'runs.predict': pending,
    'runs.predictFile': pending,
    'datasets.predict': pending,
  }
}
