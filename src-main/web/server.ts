import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Result } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'
import { newFileId } from '../services/files.ts'
import { dispatch, toFailure, type Handlers } from '../services/handlers.ts'
import type { Studio } from '../services/studio.ts'
import { bracket, DEFAULT_HOST, isLoopback, linkAddresses, parseHost, servedAddresses } from './address.ts'
import { CONTENT_SECURITY_POLICY } from './csp.ts'

export interface WebServerOptions {
  studio: Studio
  handlers: Handlers
  /** The built renderer (out/renderer). */
  rendererDir: string
  /** An IP address or host name (checked by parseHost); 127.0.0.1 when absent. */
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** Per-launch secret; generated when absent. */
  token?: string
}

export interface WebServer {
  /** The first of `urls`. */
  url: string
  /** Links with the token, best first: for a wildcard bind, one per reachable address, then the host name and 127.0.0.1. */
  urls: string[]
  /** The address the socket is bound to, as the system reports it. */
  address: string
  /** Bound beyond loopback: other machines can reach it. */
  exposed: boolean
  port: number
  token: string
  server: Server
  close(): Promise<void>
}

const COOKIE = 'studio_token'
const MAX_JSON_BYTES = 1 << 20

export { CONTENT_SECURITY_POLICY, servedAddresses }

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
}

/**
 * Web mode: the built renderer and the same handlers as Electron's IPC, on loopback unless
 * `host` names another address, behind a per-launch token. Every request and WebSocket upgrade,
 * on every address, must carry the token (query, `Authorization: Bearer`, or the HttpOnly cookie
 * the first page load sets) and name this server in Host (and Origin, when sent), which defeats
 * DNS rebinding.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const { studio, handlers } = options
  const host = parseHost(options.host ?? DEFAULT_HOST)
  const port = options.port ?? 0
  const token = options.token ?? randomBytes(24).toString('base64url')
  const tokenDigest = digest(token)
  const rendererDir = resolve(options.rendererDir)
  let allowedHosts = new Set<string>()

  const authorised = (request: IncomingMessage, url: URL): boolean => {
    const candidates = [
      url.searchParams.get('token'),
      bearer(request.headers.authorization),
      cookie(request.headers.cookie, COOKIE),
    ]
    return candidates.some((candidate) => candidate !== null && timingSafeEqual(digest(candidate), tokenDigest))
  }

  // Host and Origin are compared as the URL parser writes them (lower case, IPv6 compressed, no :80),
  // so each spelling a browser may send of an allowed name matches and nothing else does.
  const sameSite = (request: IncomingMessage): boolean => {
    const hostHeader = request.headers.host
    if (!hostHeader || !/^[a-z0-9.\-]+(:\d+)?$|^\[[0-9a-f:.]+\](:\d+)?$/i.test(hostHeader)) return false
    if (!allowedHosts.has(urlHost(`http://${hostHeader}`) ?? '')) return false
    const origin = request.headers.origin
    if (origin === undefined) return true
    return origin.toLowerCase().startsWith('http://') && allowedHosts.has(urlHost(origin) ?? '')
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, toFailure(error))
      else response.destroy()
    })
  })

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://placeholder')
    if (!sameSite(request)) return sendText(response, 403, 'Forbidden: unexpected Host or Origin')
    if (!authorised(request, url)) return sendText(response, 401, 'Unauthorized: open the address the studio printed, with its token')

    if (url.pathname.startsWith('/api/')) {
      if (request.method !== 'POST') return sendText(response, 405, 'Method Not Allowed')
      if (url.pathname.startsWith('/api/invoke/')) {
        const channel = decodeURIComponent(url.pathname.slice('/api/invoke/'.length))
        let args: unknown
        try {
          args = JSON.parse((await readBody(request, MAX_JSON_BYTES)) || '{}')
        } catch (error) {
          return sendJson(response, 200, failure('VALIDATION', `${channel}: the request body is not JSON (${(error as Error).message})`))
        }
        return sendJson(response, 200, await dispatch(handlers, channel, args, { transport: 'web' }))
      }
      if (url.pathname === '/api/upload') return sendJson(response, 200, await upload(request, url))
      return sendText(response, 404, 'Not Found')
    }

    if (request.method !== 'GET' && request.method !== 'HEAD') return sendText(response, 405, 'Method Not Allowed')
    const relative = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1))
    const file = resolve(rendererDir, normalize(relative))
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) return sendText(response, 404, 'Not Found')
    let size: number
    try {
      const stat = statSync(file)
      if (!stat.isFile()) return sendText(response, 404, 'Not Found')
      size = stat.size
    } catch {
      return sendText(response, 404, 'Not Found')
    }
    const headers: Record<string, string | string[]> = {
      ...SECURITY_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(size),
      'Cache-Control': 'no-store',
    }
    if (relative === 'index.html') {
      headers['Set-Cookie'] = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`
    }
    response.writeHead(200, headers)
    if (request.method === 'HEAD') return void response.end()
    await pipeline(createReadStream(file), response)
  }

  /** Streams an uploaded file to the session's uploads folder and registers it as picked. */
  async function upload(request: IncomingMessage, url: URL): Promise<Result<unknown>> {
    try {
      const folder = url.searchParams.get('folder')
      if (folder === null) {
        const fileId = newFileId()
        const name = safeSegment(url.searchParams.get('name') ?? '')
        const dir = join(studio.uploadsDir, fileId)
        mkdirSync(dir, { recursive: true })
        const path = join(dir, name)
        await pipeline(request, createWriteStream(path))
        const { path: _hidden, ...picked } = studio.files.register(path, 'file', fileId)
        return { ok: true, value: picked }
      }
      const relative = (url.searchParams.get('path') ?? '').split(/[\\/]+/).filter(Boolean).map(safeSegment)
      if (relative.length === 0) throw new StudioError('VALIDATION', 'upload: a folder upload needs path=')
      let fileId: string
      let root: string
      if (folder === 'new') {
        fileId = newFileId()
        // The folder keeps the name the user picked (the first segment of its relative paths).
        root = join(studio.uploadsDir, fileId, relative.length > 1 ? relative.shift()! : 'folder')
        mkdirSync(root, { recursive: true })
        studio.files.register(root, 'folder', fileId)
      } else {
        const existing = studio.files.get(folder)
        if (existing.kind !== 'folder' || !existing.path.startsWith(resolve(studio.uploadsDir) + sep)) {
          throw new StudioError('FORBIDDEN', 'upload: that id is not an uploaded folder')
        }
        fileId = folder
        root = existing.path
        if (relative.length > 1 && relative[0] === safeSegment(existing.name)) relative.shift()
      }
      const path = join(root, ...relative)
      mkdirSync(join(path, '..'), { recursive: true })
      await pipeline(request, createWriteStream(path))
      const { path: _hidden, ...picked } = studio.files.refresh(fileId)
      return { ok: true, value: picked }
    } catch (error) {
      request.resume()
      return toFailure(error)
    }
  }

  const sockets = new WebSocketServer({ noServer: true, maxPayload: 4096 })
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://placeholder')
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (!sameSite(request)) return refuse('403 Forbidden')
    if (!authorised(request, url)) return refuse('401 Unauthorized')
    if (url.pathname !== '/api/events') return refuse('404 Not Found')
    sockets.handleUpgrade(request, socket, head, (ws) => attach(ws))
  })

  function attach(ws: WebSocket): void {
    const unsubscribe = studio.bus.subscribe((event, payload) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event, payload }))
    })
    ws.on('close', unsubscribe)
    ws.on('error', unsubscribe)
    // The page only listens; anything it sends is ignored.
  }

  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', (error) => reject(listenError(error as NodeJS.ErrnoException, host, port)))
    server.listen(port, host, () => resolvePromise())
  })
  const bound = server.address() as AddressInfo
  const served = servedAddresses(host, undefined, undefined, bound.address)
  allowedHosts = new Set(served.map((name) => urlHost(`http://${bracket(name)}:${bound.port}`)).filter((name) => name !== null))
  const urls = linkAddresses(host).map((name) => `http://${bracket(name)}:${bound.port}/?token=${token}`)
  return {
    url: urls[0]!,
    urls,
    address: bound.address,
    exposed: !isLoopback(bound.address),
    port: bound.port,
    token,
    server,
    close: () =>
      new Promise<void>((resolvePromise) => {
        for (const client of sockets.clients) client.terminate()
        sockets.close()
        server.closeAllConnections()
        server.close(() => resolvePromise())
      }),
  }
}

/**
 * Hashing first gives timingSafeEqual two buffers of equal length whatever the caller sent, so
 * neither the comparison nor a length check leaks how much of the token was right.
 */
const digest = (value: string) => createHash('sha256').update(value).digest()

/** `host[:port]` of an http URL as the WHATWG parser normalises it, or null when it does not parse. */
function urlHost(url: string): string | null {
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'http:' ? parsed.host : null
  } catch {
    return null
  }
}

/** Turns listen's system errors into ones that name the --host or --port at fault. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const cause = `(${error.code ?? error.message})`
  switch (error.code) {
    case 'EADDRNOTAVAIL':
      return new StudioError('BAD_INPUT', `--host ${host}: this machine has no such address ${cause}; use one of its own addresses, 0.0.0.0 for all of them, or the default 127.0.0.1`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new StudioError('BAD_INPUT', `--host ${host}: the name does not resolve to an address ${cause}`)
    case 'EAFNOSUPPORT':
      return new StudioError('BAD_INPUT', `--host ${host}: this machine has no network of that address family ${cause}`)
    case 'EADDRINUSE':
      return new StudioError('CONFLICT', `--port ${port}: already in use on ${host} ${cause}; pick another or leave --port out for a free one`)
    case 'EACCES':
      return new StudioError('FORBIDDEN', `--port ${port}: not allowed to listen there ${cause}; ports below 1024 need privileges`)
    default:
      return error
  }
}


function bearer(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)$/i)
  return match?.[1] ?? null
}

function cookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=')
    if (key === name) return rest.join('=')
  }
  return null
}

/** A file or folder name from the page, reduced to one safe path segment. */
function safeSegment(name: string): string {
  const cleaned = name.replace(/[\\/\0-\x1f]/g, '_').slice(0, 200)
  if (cleaned === '' || cleaned === '.' || cleaned === '..') return 'upload'
  return cleaned
}

const failure = (code: 'VALIDATION', message: string): Result<never> => ({ ok: false, code, message })

/** Reads a small body. An oversized one is drained, not cut off, so the caller still gets an answer. */
async function readBody(request: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size <= limit) chunks.push(chunk as Buffer)
  }
  if (size > limit) throw new Error(`${size} bytes, more than the ${limit} allowed`)
  return Buffer.concat(chunks).toString('utf8')
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  })
  response.end(text)
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  })
  response.end(text)
}
