import { z } from 'zod'
import {
  channels,
  type ChannelName,
  type ErrorCode,
  type ParsedArgsOf,
  type Result,
  type ValueOf,
} from '../contract/index.ts'
import { asDiskFull, StudioError } from '../core/errors.ts'
import { experimentHandlers } from './experiment-handlers.ts'
import { finetuneHandlers } from './finetune-handlers.ts'
import { labellingHandlers } from './labelling-handlers.ts'
import type { Studio } from './studio.ts'

/** Who is calling: the transport says, handlers may refuse (e.g. a native dialog in web mode). */
export interface CallContext {
  transport: 'electron' | 'web' | 'cli' | 'test'
}

export type Handler<C extends ChannelName> = (
  args: ParsedArgsOf<C>,
  context: CallContext,
) => ValueOf<C> | Promise<ValueOf<C>>
export type Handlers = { [C in ChannelName]: Handler<C> }

/** Every channel's implementation, over the studio's services. The type makes a missing one a compile error. */
export function createHandlers(studio: Studio): Handlers {
  const { projects, corpora, files, jobs, tokenizers, runs } = studio
  return {
    'app.info': (_args, context) => studio.info(context.transport === 'electron' ? 'electron' : 'web'),
    'projects.list': () => projects.list(),
    'projects.create': ({ name }) => projects.create(name),
    'projects.delete': ({ projectId }) => projects.delete(projectId),
    'files.pick': async ({ kind }) => {
      if (!studio.pickFile) {
        throw new StudioError('UNSUPPORTED', 'This studio has no native file dialog: upload the file instead')
      }
      const path = await studio.pickFile(kind)
      if (path === null) return null
      const { path: _hidden, ...picked } = files.register(path, kind)
      return picked
    },
    'corpora.preview': ({ fileId, options }) => corpora.preview(studio.importSource(fileId), options, fileId),
    'corpora.import': ({ projectId, fileId, name, jobId, options }) =>
      corpora.import({ projectId, name, jobId, source: studio.importSource(fileId), options }),
    'corpora.list': ({ projectId }) => corpora.list(projectId),
    'corpora.get': ({ corpusId }) => corpora.get(corpusId),
    'corpora.documents': (args) => corpora.documents(args),
    'corpora.rename': ({ corpusId, name }) => corpora.rename(corpusId, name),
    'corpora.delete': ({ corpusId }) => corpora.delete(corpusId),
    'tokenizers.list': ({ projectId }) => tokenizers.list(projectId),
    'tokenizers.get': ({ tokenizerId }) => tokenizers.get(tokenizerId),
    'tokenizers.train': (args) => tokenizers.train(args),
    'tokenizers.import': ({ projectId, fileId, name, lowercase }) => {
      const file = files.get(fileId)
      if (file.kind !== 'file') throw new StudioError('VALIDATION', 'tokenizers.import: pick a vocab.txt or tokenizer.json file, not a folder')
      return tokenizers.import({ projectId, path: file.path, displayName: file.name, name, lowercase })
    },
    'tokenizers.files': ({ tokenizerId }) => tokenizers.files(tokenizerId),
    'tokenizers.save': async ({ tokenizerId }) => {
      tokenizers.get(tokenizerId)
      if (!studio.pickFile) throw new StudioError('UNSUPPORTED', 'This studio has no native folder dialog: download the files instead')
      const folder = await studio.pickFile('folder')
      return folder === null ? null : tokenizers.save(tokenizerId, folder)
    },
    'tokenizers.encode': (args) => tokenizers.encode(args),
    'tokenizers.diagnose': (args) => tokenizers.diagnose(args),
    'tokenizers.compare': (args) => tokenizers.compare(args),
    'tokenizers.rename': ({ tokenizerId, name }) => tokenizers.rename(tokenizerId, name),
    'tokenizers.delete': ({ tokenizerId }) => tokenizers.delete(tokenizerId),
    'runs.list': ({ projectId }) => runs.list(projectId),
    'runs.get': ({ runId }) => runs.get(runId),
    'runs.pretrain': (request) => runs.pretrain(request),
    'runs.plan': (request) => runs.plan(request),
    'runs.pause': ({ runId }) => runs.pause(runId),
    'runs.resume': ({ runId }) => runs.resume(runId),
    'runs.cancel': ({ runId }) => runs.cancel(runId),
    'runs.metrics': ({ runId }) => runs.metrics(runId),
    'runs.probes': ({ runId }) => runs.probes(runId),
    'runs.fillMask': (request) => runs.fillMask(request),
    'jobs.cancel': ({ jobId }) => jobs.cancel(jobId),
    'models.checkpoints': ({ runId }) => studio.models.checkpoints(runId),
    'models.export': async ({ runId, checkpoint, format, folder }) => {
      studio.runs.get(runId)
      // Electron: inside a folder the user picks; web mode (no dialog): under <home>/exports.
      let parent = studio.models.exportsDir
      if (studio.pickFile) {
        const picked = await studio.pickFile('folder')
        if (picked === null) return null
        parent = picked
      }
      return studio.models.exportInto({ runId, checkpoint, format, parent, name: folder })
    },
    'models.import': ({ projectId, fileId, name }) => {
      const file = files.get(fileId)
      if (file.kind !== 'folder') throw new StudioError('VALIDATION', 'models.import: pick the model folder (config.json, model.safetensors, vocab.txt), not a file')
      projects.get(projectId)
      return studio.models.import({ projectId, path: file.path, displayName: file.name, name })
    },
    'runs.bundle': ({ runId }) => studio.bundles.bundle(runId),
    'runs.bundles': ({ projectId }) => {
      projects.get(projectId)
      return studio.bundles.list(projectId)
    },
    'runs.importResults': ({ projectId, bundle, fileId, name }) => {
      projects.get(projectId)
      if (bundle !== undefined) return studio.bundles.importResults(projectId, { bundle }, name)
      const file = files.get(fileId!)
      if (file.kind !== 'folder') throw new StudioError('VALIDATION', 'runs.importResults: pick the output folder (metrics.jsonl and checkpoint-N folders), not a file')
      return studio.bundles.importResults(projectId, { path: file.path }, name)
    },
    ...labellingHandlers(studio),
    ...finetuneHandlers(studio),
    ...experimentHandlers(studio),
  }
}

/**
 * The one place a call crosses into the main process: the channel must exist, the arguments must
 * match its schema, and whatever happens the caller gets a Result, never a thrown error.
 */
export async function dispatch(
  handlers: Handlers,
  channel: string,
  rawArgs: unknown,
  context: CallContext,
): Promise<Result<unknown>> {
  if (!Object.hasOwn(channels, channel)) {
    return { ok: false, code: 'NOT_FOUND', message: `Unknown channel "${String(channel).slice(0, 100)}"` }
  }
  const name = channel as ChannelName
  const parsed = channels[name].args.safeParse(rawArgs ?? {})
  if (!parsed.success) {
    return { ok: false, code: 'VALIDATION', message: `${name}: ${formatIssues(parsed.error)}` }
  }
  try {
    const handler = handlers[name] as (args: unknown, context: CallContext) => unknown
    const value = await handler(parsed.data, context)
    return { ok: true, value: value === undefined ? null : value }
  } catch (error) {
    return toFailure(error)
  }
}

export function toFailure(thrown: unknown): { ok: false; code: ErrorCode; message: string } {
  const error = asDiskFull(thrown)
  if (error instanceof StudioError) return { ok: false, code: error.code, message: error.message }
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof Error && /^SQLITE_/.test((error as { code?: string }).code ?? '')) {
    return { ok: false, code: 'DATABASE', message }
  }
  return { ok: false, code: 'INTERNAL', message }
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : 'arguments'}: ${issue.message}`)
    .join('; ')
}
