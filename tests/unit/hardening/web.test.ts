/**
 * Web mode's defences beyond tests/unit/web/server.test.ts: the address it binds and the Host names
 * it answers (loopback by default, --host for another), token checks that cannot throw or leak
 * on odd lengths, and the WebSocket's Origin and token checks.
 */
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createHandlers } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { servedAddresses, startWebServer, type WebServer } from '../../../src-main/web/server.ts'
import { repoRoot, tempDir } from '../helpers.ts'

let home: ReturnType<typeof tempDir>
let renderer: ReturnType<typeof tempDir>
let studio: Studio

function send(port: number, path: string, headers: Record<string, string> = {}, connectTo = '127.0.0.1'): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: connectTo, port, path, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The status a WebSocket upgrade gets (101 when it opens). */
function upgrade(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.on('open', () => {
      ws.close()
      resolve(101)
    })
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    ws.on('error', () => resolve(-1))
  })
}

beforeAll(() => {
  home = tempDir()
  renderer = tempDir()
  writeFileSync(join(renderer.path, 'index.html'), '<!doctype html><title>BERT Studio</title>')
  studio = new Studio({ home: home.path })
})
afterAll(() => {
  studio.close()
  home.cleanup()
  renderer.cleanup()
})

describe('the address web mode serves', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }, { address: '::1', family: 'IPv6', internal: true }],
    eth0: [{ address: '10.1.2.3', family: 'IPv4', internal: false }, { address: 'fe80::1%eth0', family: 'IPv6', internal: false }],
  } as unknown as ReturnType<typeof networkInterfaces>

  it('answers loopback names only on loopback', () => {
    expect(servedAddresses('127.0.0.1', interfaces, 'box')).toEqual(['127.0.0.1', 'localhost', '::1'])
    expect(servedAddresses('::1', interfaces, 'box')[0]).toBe('::1')
  })

  it('answers a chosen address by that address only, and a wildcard by the machine’s addresses and name', () => {
    expect(servedAddresses('10.1.2.3', interfaces, 'box')).toEqual(['10.1.2.3'])
    const wildcard = servedAddresses('0.0.0.0', interfaces, 'Box')
    expect(wildcard[0]).toBe('10.1.2.3')
    expect(wildcard).toEqual(expect.arrayContaining(['127.0.0.1', 'box', 'localhost']))
    expect(wildcard).not.toContain('fe80::1')
    expect(servedAddresses('::', interfaces, 'box')).toContain('fe80::1')
  })

  it('binds to 127.0.0.1 unless told otherwise', async () => {
    const web = await startWebServer({ studio, handlers: createHandlers(studio), rendererDir: renderer.path })
    try {
      expect(web.server.address()).toMatchObject({ address: '127.0.0.1' })
      expect(web.url.startsWith(`http://127.0.0.1:${web.port}/?token=`)).toBe(true)
    } finally {
      await web.close()
    }
  })

  it('binds to the address --host names and still checks Host and token there', async () => {
    const external = Object.values(networkInterfaces()).flat().find((entry) => entry && entry.family === 'IPv4' && !entry.internal)
    const web = await startWebServer({ studio, handlers: createHandlers(studio), rendererDir: renderer.path, host: '0.0.0.0' })
    try {
      expect(web.server.address()).toMatchObject({ address: '0.0.0.0' })
      expect((await send(web.port, `/?token=${web.token}`, { Host: `127.0.0.1:${web.port}` })).status).toBe(200)
      expect((await send(web.port, `/?token=${web.token}`, { Host: `rebind.evil.example:${web.port}` })).status).toBe(403)
      expect((await send(web.port, '/', { Host: `127.0.0.1:${web.port}` })).status).toBe(401)
      if (external) {
        expect(web.url.startsWith(`http://${external.address}:${web.port}/`)).toBe(true)
        expect((await send(web.port, `/?token=${web.token}`, { Host: `${external.address}:${web.port}` }, external.address)).status).toBe(200)
      } else {
        console.log('skip: reaching web mode on an external address — this machine has no external IPv4 interface')
      }
    } finally {
      await web.close()
    }
  })

  it('prints the address and warns on stderr when --host leaves loopback (the built entry)', async () => {
    const entry = join(repoRoot, 'out', 'main', 'web.js')
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first (npm test does)`)
    const child = spawn(process.execPath, [entry, '--home', home.path, '--host', '0.0.0.0', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk
          const match = /^(http:\/\/\S+)$/m.exec(stdout)
          if (match) resolve(match[1]!)
        })
        child.on('exit', (code) => reject(new Error(`web mode exited ${code}: ${stderr}`)))
      })
      expect(url).toMatch(/^http:\/\/[^/]+:\d+\/\?token=[A-Za-z0-9_-]{20,}$/)
      expect(stderr).toMatch(/Warning: serving on 0\.0\.0\.0, beyond this machine's loopback/)
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  }, 60_000)
})

describe('token and origin checks', () => {
  let web: WebServer
  beforeAll(async () => {
    web = await startWebServer({ studio, handlers: createHandlers(studio), rendererDir: renderer.path })
  })
  afterAll(() => web.close())

  it('refuses tokens of any length or shape with 401, never an error', async () => {
    for (const token of ['', 'a', web.token.slice(0, -1), `${web.token}x`, web.token.toUpperCase() === web.token ? 'zz' : web.token.toUpperCase(), 'x'.repeat(6000), '%00', encodeURIComponent('é€😀')]) {
      expect((await send(web.port, `/?token=${token}`)).status, token.slice(0, 20)).toBe(401)
      expect((await send(web.port, '/', { Authorization: `Bearer ${token || 'none'}` })).status).toBe(401)
    }
    expect((await send(web.port, '/', { Cookie: `studio_token=${'y'.repeat(4000)}` })).status).toBe(401)
  })

  it('sets CSP, nosniff and no-framing on every answer, refusals included', async () => {
    for (const reply of [await send(web.port, `/?token=${web.token}`), await send(web.port, '/'), await send(web.port, '/', { Host: 'evil.example' })]) {
      expect(reply.headers['content-security-policy']).toMatch(/script-src 'self'/)
      expect(reply.headers['x-content-type-options']).toBe('nosniff')
      expect(reply.headers['x-frame-options']).toBe('DENY')
    }
  })

  it('opens the event WebSocket only with the token, the right Host and no foreign Origin', async () => {
    const url = `ws://127.0.0.1:${web.port}/api/events`
    const cookie = { Cookie: `studio_token=${web.token}` }
    expect(await upgrade(url, cookie)).toBe(101)
    expect(await upgrade(`${url}?token=${web.token}`, {})).toBe(101)
    expect(await upgrade(url, { ...cookie, Origin: `http://127.0.0.1:${web.port}` })).toBe(101)
    expect(await upgrade(url, {})).toBe(401)
    expect(await upgrade(`${url}?token=nope`, {})).toBe(401)
    expect(await upgrade(url, { ...cookie, Origin: 'http://evil.example' })).toBe(403)
    expect(await upgrade(url, { ...cookie, Origin: 'null' })).toBe(403)
    expect(await upgrade(url, { ...cookie, Host: `evil.example:${web.port}` })).toBe(403)
    expect(await upgrade(`ws://127.0.0.1:${web.port}/elsewhere`, cookie)).toBe(404)
  })
})
