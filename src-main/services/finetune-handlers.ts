import { StudioError } from '../core/errors.ts'
import type { Handlers } from './handlers.ts'
import type { Studio } from './studio.ts'

export type FinetuneChannel = 'runs.finetune' | 'runs.evaluate' | 'runs.evaluation' | 'runs.evaluationExamples' | 'runs.predict' | 'runs.predictFile'
  | 'datasets.predict'

/** The fine-tuning, evaluation and prediction channels over the fine-tuning service. */
export function finetuneHandlers(studio: Studio): Pick<Handlers, FinetuneChannel> {
  const { finetune, files } = studio
  return {
    'runs.finetune': (request) => finetune.finetune(request),
    'runs.evaluate': ({ runId, checkpoint }) => finetune.evaluate({ runId, checkpoint }),
    'runs.evaluation': ({ runId }) => finetune.evaluation(runId),
    'runs.evaluationExamples': (request) => finetune.evaluationExamples(request),
    'runs.predict': (request) => finetune.predict(request),
    'runs.predictFile': ({ runId, fileId, jobId, options, checkpoint }) => {
      const file = files.get(fileId)
      if (file.kind !== 'file') throw new StudioError('VALIDATION', 'runs.predictFile: pick a text, CSV, TSV or JSONL file, not a folder')
      return finetune.predictFile({ runId, path: file.path, displayName: file.name, jobId, options, checkpoint })
    },
    'datasets.predict': (request) => finetune.predictDataset(request),
  }
}
