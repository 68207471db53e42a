import { mkdirSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createHandlers } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { startWebServer, type WebServer } from '../../../src-main/web/server.ts'
import { tempDir } from '../helpers.ts'

let home: ReturnType<typeof tempDir>
let renderer: ReturnType<typeof tempDir>
let studio: Studio
let web: WebServer
let base: string

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A raw HTTP request, so Host and Origin can be set to anything (fetch forbids that). */
function send(path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: web.port, path, method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

const auth = () => ({ Authorization: `Bearer ${web.token}` })
const invoke = async (channel: string, args: unknown, headers: Record<string, string> = auth()) => {
  const reply = await send(`/api/invoke/${channel}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(args),
  })
  return { status: reply.status, json: reply.status === 200 ? JSON.parse(reply.body) : null }
}

beforeAll(async () => {
  home = tempDir()
  renderer = tempDir()
  writeFileSync(join(renderer.path, 'index.html'), '<!doctype html><title>BERT Studio</title>')
  mkdirSync(join(renderer.path, 'assets'))
  writeFileSync(join(renderer.path, 'assets', 'app.js'), 'console.log(1)')
  writeFileSync(join(home.path, 'secret.txt'), 'do not serve')
  studio = new Studio({ home: home.path })
  web = await startWebServer({ studio, handlers: createHandlers(studio), rendererDir: renderer.path })
  base = `http://127.0.0.1:${web.port}`
})
afterAll(async () => {
  await web.close()
  studio.close()
  home.cleanup()
  renderer.cleanup()
})

describe('web mode', () => {
  it('prints a loopback URL with a token', () => {
    expect(web.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/)
    expect(web.server.address()).toMatchObject({ address: '127.0.0.1' })
  })

  it('answers the URL with its token 200, no redirect, with CSP and an HttpOnly SameSite=Strict cookie', async () => {
    const reply = await send(`/?token=${web.token}`)
    expect(reply.status).toBe(200)
    expect(reply.body).toContain('BERT Studio')
    expect(reply.headers['content-security-policy']).toContain("script-src 'self'")
    expect(reply.headers['content-security-policy']).toContain("object-src 'none'")
    expect(reply.headers['x-content-type-options']).toBe('nosniff')
    const cookie = String(reply.headers['set-cookie'])
    expect(cookie).toContain(`studio_token=${web.token}`)
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
  })

  it('answers 401 to every request without the token, GET / included', async () => {
    for (const path of ['/', '/index.html', '/assets/app.js', '/?token=wrong', `/?token=${web.token.slice(0, -1)}`]) {
      expect((await send(path)).status, path).toBe(401)
    }
    expect((await invoke('projects.list', {}, {})).status).toBe(401)
    expect((await invoke('projects.list', {}, { Authorization: 'Bearer nope' })).status).toBe(401)
    expect((await send('/api/upload?name=x.txt', { method: 'POST', body: 'x' })).status).toBe(401)
  })

  it('accepts the token from the cookie alone', async () => {
    const reply = await invoke('projects.list', {}, { Cookie: `studio_token=${web.token}` })
    expect(reply).toMatchObject({ status: 200, json: { ok: true, value: [] } })
  })

  it('refuses a foreign Host or Origin (DNS rebinding), even with the token', async () => {
    expect((await send(`/?token=${web.token}`, { headers: { Host: `evil.example:${web.port}` } })).status).toBe(403)
    expect((await invoke('projects.list', {}, { ...auth(), Origin: 'http://evil.example' })).status).toBe(403)
    expect((await invoke('projects.list', {}, { ...auth(), Origin: base })).status).toBe(200)
  })

  it('serves only files inside the renderer folder', async () => {
    expect((await send('/assets/app.js', { headers: auth() })).headers['content-type']).toContain('text/javascript')
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/nope.js']) {
      expect((await send(path, { headers: auth() })).status, path).toBe(404)
    }
  })

  it('runs the same handlers: results, validation errors and unknown channels', async () => {
    expect(await invoke('projects.create', { name: 'Web' })).toMatchObject({ json: { ok: true, value: { name: 'Web' } } })
    expect(await invoke('projects.create', { name: 42 })).toMatchObject({ json: { ok: false, code: 'VALIDATION' } })
    expect(await invoke('nope.nothing', {})).toMatchObject({ json: { ok: false, code: 'NOT_FOUND' } })
    const notJson = await send('/api/invoke/projects.list', { method: 'POST', headers: auth(), body: '{oops' })
    expect(JSON.parse(notJson.body)).toMatchObject({ ok: false, code: 'VALIDATION' })
    const huge = await send('/api/invoke/projects.create', { method: 'POST', headers: auth(), body: JSON.stringify({ name: 'x'.repeat(2_000_000) }) })
    expect(JSON.parse(huge.body)).toMatchObject({ ok: false, code: 'VALIDATION' })
    expect((await send('/api/invoke/projects.list', { headers: auth() })).status).toBe(405)
  })

  it('takes uploads of files and folders and hands back file ids, never paths', async () => {
    const file = await send('/api/upload?name=..%2F..%2Freviews.txt', { method: 'POST', headers: auth(), body: 'one\ntwo\n' })
    const picked = JSON.parse(file.body)
    expect(picked).toMatchObject({ ok: true, value: { kind: 'file', size: 8 } })
    expect(JSON.stringify(picked)).not.toContain(home.path)
    expect(studio.files.get(picked.value.fileId).path.startsWith(join(home.path, 'uploads'))).toBe(true)

    const first = JSON.parse(
      (await send('/api/upload?folder=new&path=letters%2Fa.txt', { method: 'POST', headers: auth(), body: 'alpha' })).body,
    )
    expect(first).toMatchObject({ ok: true, value: { kind: 'folder', name: 'letters', size: 5 } })
    const second = JSON.parse(
      (await send(`/api/upload?folder=${first.value.fileId}&path=letters%2Fsub%2Fb.txt`, { method: 'POST', headers: auth(), body: 'beta!' })).body,
    )
    expect(second).toMatchObject({ ok: true, value: { fileId: first.value.fileId, kind: 'folder', size: 10 } })
    const bogus = JSON.parse((await send('/api/upload?folder=AAAAAAAAAAAA&path=x.txt', { method: 'POST', headers: auth(), body: 'x' })).body)
    expect(bogus).toMatchObject({ ok: false, code: 'NOT_FOUND' })
  })

  it('streams events over a WebSocket that needs the token', async () => {
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/events`)
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', () => resolve(-1))
    })
    expect(refused).toBe(401)
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api/events`, { headers: { Cookie: `studio_token=${web.token}` } })
    await new Promise((resolve, reject) => {
      ws.on('open', resolve)
      ws.on('error', reject)
    })
    const received = new Promise<unknown>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))))
    const job = studio.jobs.start('abcdef123', 'import', 'probe')
    expect(await received).toMatchObject({ event: 'job.progress', payload: { jobId: 'abcdef123', state: 'running' } })
    job.finish('done')
    ws.close()
  })
})
