/**
 * The renderer's one way to reach the studio: `api[channel](args)` for every contract channel,
 * `api.on(event, listener)` for events, and uploads for web mode. In Electron it goes through the
 * preload's `window.studio`; in a browser (web mode) over HTTP + WebSocket to the same handlers.
 *
 * Arguments must be plain data: callers in `*.svelte.ts` pass `$state.snapshot(...)` of anything
 * reactive, because Electron's structured clone rejects Svelte's proxies.
 */
import {
  channelNames,
  type AppInfo,
  type ChannelName,
  type ErrorCode,
  type EventName,
  type EventPayload,
  type PickedFile,
  type Result,
  type StudioApi,
} from '../../../src-main/contract/index.ts'

export type ApiErrorCode = ErrorCode | 'NETWORK'

export class StudioApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'StudioApiError'
  }
}

type Listener<E extends EventName> = (payload: EventPayload<E>) => void
type Unsubscribe = () => void

/** What the preload exposes: one function per channel, plus `on`. */
type ElectronBridge = {
  [C in ChannelName]?: (args: unknown) => Promise<Result<unknown>>
} & {
  invoke?: (channel: ChannelName, args: unknown) => Promise<Result<unknown>>
  on: <E extends EventName>(event: E, listener: Listener<E>) => Unsubscribe
}

declare global {
  interface Window {
    studio?: ElectronBridge
  }
}

interface Transport {
  invoke(channel: ChannelName, args: unknown): Promise<Result<unknown>>
  on<E extends EventName>(event: E, listener: Listener<E>): Unsubscribe
}

export interface UploadProgress {
  /** Bytes sent so far and in all. */
  done: number
  total: number
}

export interface UploadOptions {
  onProgress?: (progress: UploadProgress) => void
  signal?: AbortSignal
}

// ---------------------------------------------------------------- Electron

function electronTransport(bridge: ElectronBridge): Transport {
  return {
    invoke(channel, args) {
      const method = bridge[channel]
      if (typeof method === 'function') return method(args)
      if (typeof bridge.invoke === 'function') return bridge.invoke(channel, args)
      return Promise.resolve({ ok: false, code: 'UNSUPPORTED', message: `The preload has no channel ${channel}` })
    },
    on: (event, listener) => bridge.on(event, listener),
  }
}

// ---------------------------------------------------------------- web mode

function webTransport(): Transport {
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>()
  let socket: WebSocket | null = null
  let retryMs = 500
  let retryTimer: ReturnType<typeof setTimeout> | null = null

  const connect = () => {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    socket = new WebSocket(`${scheme}://${location.host}/api/events`)
    socket.onopen = () => {
      retryMs = 500
    }
    socket.onmessage = (message) => {
      if (typeof message.data !== 'string') return
      let frame: { event?: EventName; payload?: unknown }
      try {
        frame = JSON.parse(message.data)
      } catch {
        return
      }
      if (!frame.event) return
      for (const listener of listeners.get(frame.event) ?? []) listener(frame.payload)
    }
    socket.onclose = () => {
      socket = null
      if (listenerCount() === 0) return
      // Back off so a stopped server is not hammered; reset once a connection holds.
      retryTimer = setTimeout(connect, retryMs)
      retryMs = Math.min(retryMs * 2, 10_000)
    }
  }
  const listenerCount = () => [...listeners.values()].reduce((sum, set) => sum + set.size, 0)

  return {
    async invoke(channel, args) {
      let response: Response
      try {
        response = await fetch(`/api/invoke/${encodeURIComponent(channel)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(args ?? {}),
          credentials: 'same-origin',
        })
      } catch (error) {
        return { ok: false, code: 'NETWORK' as ErrorCode, message: `The studio did not answer (${String(error)})` }
      }
      return readResult(response)
    },
    on(event, listener) {
      let set = listeners.get(event)
      if (!set) listeners.set(event, (set = new Set()))
      const untyped = listener as (payload: unknown) => void
      set.add(untyped)
      if (!socket && !retryTimer) connect()
      return () => {
        set.delete(untyped)
        if (listenerCount() === 0) {
          if (retryTimer) clearTimeout(retryTimer)
          retryTimer = null
          socket?.close()
          socket = null
        }
      }
    },
  }
}

async function readResult(response: Response): Promise<Result<unknown>> {
  const text = await response.text()
  try {
    const parsed = JSON.parse(text) as Result<unknown>
    if (parsed && typeof parsed === 'object' && 'ok' in parsed) return parsed
  } catch {
    // fall through: not a Result
  }
  const code: ErrorCode = response.status === 401 || response.status === 403 ? 'FORBIDDEN' : 'INTERNAL'
  const hint = code === 'FORBIDDEN' ? ': open the address the studio printed, with its token' : ''
  return { ok: false, code, message: `The studio answered HTTP ${response.status}${hint}` }
}

/** POST raw bytes with upload progress (fetch cannot report it; XMLHttpRequest can). */
function postBytes(url: string, file: Blob, onProgress: (sent: number) => void, signal?: AbortSignal) {
  return new Promise<Result<PickedFile>>((resolve) => {
    const request = new XMLHttpRequest()
    request.open('POST', url)
    request.withCredentials = true
    request.setRequestHeader('content-type', 'application/octet-stream')
    request.upload.onprogress = (event) => onProgress(event.loaded)
    request.onload = () => {
      onProgress(file.size)
      void readResult(new Response(request.responseText, { status: request.status })).then((result) =>
        resolve(result as Result<PickedFile>),
      )
    }
    request.onerror = () => resolve({ ok: false, code: 'NETWORK' as ErrorCode, message: 'The upload failed: the studio did not answer' })
    request.onabort = () => resolve({ ok: false, code: 'CANCELLED', message: 'Upload cancelled' })
    signal?.addEventListener('abort', () => request.abort(), { once: true })
    request.send(file)
  })
}

// ---------------------------------------------------------------- the api object

const transport: Transport = window.studio ? electronTransport(window.studio) : webTransport()

async function call(channel: ChannelName, args: unknown): Promise<unknown> {
  const result = await transport.invoke(channel, args)
  if (!result.ok) throw new StudioApiError(result.code, result.message)
  return result.value
}

function unwrap<V>(result: Result<V>): V {
  if (!result.ok) throw new StudioApiError(result.code, result.message)
  return result.value
}

const channelMethods = Object.fromEntries(
  channelNames.map((channel) => [channel, (args: unknown) => call(channel, args ?? {})]),
) as StudioApi

let info: AppInfo | null = null

export interface StudioClient extends StudioApi {
  on<E extends EventName>(event: E, listener: Listener<E>): Unsubscribe
  /** `app.info`, fetched once. */
  info(): Promise<AppInfo>
  /** Whether `files.pick` opens a native dialog; false until `info()` has resolved. */
  readonly nativeFileDialog: boolean
  readonly transport: 'electron' | 'web'
  /** Web mode: upload one file, or a folder's files (each with its `webkitRelativePath`). */
  upload(files: File | File[], options?: UploadOptions): Promise<PickedFile>
}

export const api: StudioClient = {
  ...channelMethods,
  on: (event, listener) => transport.on(event, listener),
  async info() {
    info ??= await channelMethods['app.info']({})
    return info
  },
  get nativeFileDialog() {
    return info?.nativeFileDialog ?? false
  },
  transport: window.studio ? 'electron' : 'web',

  async upload(files, options = {}) {
    const list = Array.isArray(files) ? files : [files]
    if (list.length === 0) throw new StudioApiError('BAD_INPUT', 'Nothing to upload: the folder holds no files')
    const total = list.reduce((sum, file) => sum + file.size, 0)
    let before = 0
    const report = (sent: number) => options.onProgress?.({ done: Math.min(total, before + sent), total })
    report(0)
    if (!Array.isArray(files)) {
      return unwrap(await postBytes(`/api/upload?name=${encodeURIComponent(files.name)}`, files, report, options.signal))
    }
    let folder = 'new'
    let picked: PickedFile | null = null
    for (const file of list) {
      const path = file.webkitRelativePath || file.name
      const url =
        `/api/upload?name=${encodeURIComponent(file.name)}` +
        `&folder=${encodeURIComponent(folder)}&path=${encodeURIComponent(path)}`
      picked = unwrap(await postBytes(url, file, report, options.signal))
      folder = picked.fileId
      before += file.size
    }
    return picked as PickedFile
  },
}
