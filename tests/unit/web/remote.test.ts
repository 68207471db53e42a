/**
 * The remote studio (issue #9): web mode bound beyond loopback only when --host asks, the token
 * required on every address, Host names checked against what was bound, clear errors for a bad
 * --host. Uses a real non-loopback address of this machine where it has one.
 */
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer, connect, type AddressInfo } from 'node:net'
import { hostname, networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createHandlers } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { bracket, exposureWarning, isLoopback, isWildcard, linkAddresses, parseHost, servedAddresses } from '../../../src-main/web/address.ts'
import { parseWebArgs } from '../../../src-main/web/args.ts'
import { startWebServer, type WebServer } from '../../../src-main/web/server.ts'
import { repoRoot, tempDir } from '../helpers.ts'

// IPv6 link-local addresses need a zone to connect to; the tests want a plainly routable one.
const external = Object.values(networkInterfaces())
  .flat()
  .filter((entry) => entry !== undefined && !entry.internal && !entry.address.startsWith('fe80'))
  .sort((a, b) => Number(a!.family !== 'IPv4') - Number(b!.family !== 'IPv4'))[0]?.address
const noExternal = external === undefined
if (noExternal) console.log('skip: binding to a non-loopback address — this machine has no non-loopback interface address')

let home: ReturnType<typeof tempDir>
let renderer: ReturnType<typeof tempDir>
let studio: Studio

interface Reply {
  status: number
  body: string
}

/** A raw request to `connectTo`, so Host and Origin can be anything (fetch forbids that). */
function send(
  connectTo: string,
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: connectTo, port, path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The status a WebSocket upgrade gets: 101 when it opens. */
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

/** The error code a connection attempt ends with, or 'connected'. */
function connectOutcome(connectTo: string, port: number): Promise<string> {
  return send(connectTo, port, '/').then(
    () => 'connected',
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  )
}

const start = (host?: string, port?: number) => startWebServer({ studio, handlers: createHandlers(studio), rendererDir: renderer.path, host, port })

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

describe('--host and --port values', () => {
  it('takes IP literals (brackets allowed) and host names, in the form listen takes', () => {
    expect(parseHost('127.0.0.1')).toBe('127.0.0.1')
    expect(parseHost('0.0.0.0')).toBe('0.0.0.0')
    expect(parseHost('::')).toBe('::')
    expect(parseHost('[::1]')).toBe('::1')
    expect(parseHost('FD00::2')).toBe('fd00::2')
    expect(parseHost('GPU-Box.lab.')).toBe('gpu-box.lab')
    expect(parseHost(' localhost ')).toBe('localhost')
  })

  it('refuses garbage with an error that quotes the value and says what was expected', () => {
    const cases: [string, RegExp][] = [
      ['', /got nothing/],
      ['not a host!', /not an IP address, and not a host name/],
      ['-box', /not an IP address, and not a host name/],
      ['a..b', /not an IP address, and not a host name/],
      ['x'.repeat(64), /1 to 63 characters/],
      ['http://gpu-box:8080/', /a URL, not an address/],
      ['gpu-box:8080', /give the port with --port/],
      ['[gpu-box]', /brackets hold an IPv6 address/],
      ['10.0.0.300', /not a valid IPv4 address/],
      ['192.168.1', /not a valid IPv4 address/],
      ['1:2:3:4:5:6:7:8:9', /not an IP address/],
    ]
    for (const [value, message] of cases) {
      expect(() => parseHost(value), value).toThrow(message)
      expect(() => parseHost(value), value).toThrow(`--host "${value}"`)
    }
  })

  it('reads the command line: loopback and a free port by default; bad ports and unknown options refused', () => {
    expect(parseWebArgs([])).toEqual({ home: undefined, port: 0, host: '127.0.0.1' })
    expect(parseWebArgs(['--host', '0.0.0.0', '--port', '8765', '--home', '/data'])).toEqual({ home: '/data', port: 8765, host: '0.0.0.0' })
    expect(() => parseWebArgs(['--host', 'gpu box'])).toThrow(/--host "gpu box"/)
    for (const port of ['', ' 80', '0x50', '1e3', '65536', '-1', 'eighty']) {
      expect(() => parseWebArgs([`--port=${port}`]), port).toThrow(`--port must be a whole number from 0 to 65535 (0: a free one), got "${port}"`)
    }
    expect(() => parseWebArgs(['--hots', '0.0.0.0'])).toThrow(/Unknown option '--hots'[\s\S]*Usage: npm run web -- /)
    expect(() => parseWebArgs(['--host'])).toThrow(/--host/)
  })

  it('tells loopback, wildcard and other addresses apart in any spelling', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::1]', 'localhost']) {
      expect(isLoopback(address), address).toBe(true)
    }
    for (const address of ['0.0.0.0', '::', '192.0.2.2', 'fd00::2', '::ffff:10.0.0.1', 'gpu-box']) expect(isLoopback(address), address).toBe(false)
    for (const address of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0', '[::]']) expect(isWildcard(address), address).toBe(true)
    for (const address of ['127.0.0.1', '::1', '0.0.0.1']) expect(isWildcard(address), address).toBe(false)
  })

  it('links a wildcard bind by each reachable address, the host name, then 127.0.0.1', () => {
    const interfaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: '10.1.2.3', family: 'IPv4', internal: false },
        { address: 'FD00::2', family: 'IPv6', internal: false },
        { address: 'fe80::1', family: 'IPv6', internal: false },
      ],
    } as unknown as ReturnType<typeof networkInterfaces>
    expect(linkAddresses('0.0.0.0', interfaces, 'GPU-Box')).toEqual(['10.1.2.3', 'gpu-box', '127.0.0.1'])
    expect(linkAddresses('::', interfaces, 'gpu-box')).toEqual(['10.1.2.3', 'fd00::2', 'gpu-box', '127.0.0.1'])
    expect(linkAddresses('0.0.0.0', { lo: interfaces.lo }, 'localhost')).toEqual(['127.0.0.1'])
    expect(linkAddresses('10.1.2.3', interfaces, 'gpu-box')).toEqual(['10.1.2.3'])
    // A host name answers to itself and to the address it resolved to.
    expect(servedAddresses('gpu-box.lab', interfaces, 'gpu-box', '10.1.2.3')).toEqual(['gpu-box.lab', '10.1.2.3'])
  })

  it('warns about the token and points to the SSH tunnel', () => {
    const warning = exposureWarning('0.0.0.0', 8765)
    expect(warning).toMatch(/^Warning: serving on 0\.0\.0\.0, beyond this machine's loopback/)
    expect(warning).toMatch(/has the link's token/)
    expect(warning).toContain('ssh -L 8765:127.0.0.1:8765')
  })
})

describe('starting web mode on a given address', () => {
  it('refuses a bad host before listening, and names an address this machine lacks', async () => {
    await expect(start('not a host!')).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('--host "not a host!"') })
    // 203.0.113.0/24 is documentation space (RFC 5737): no machine here holds it.
    await expect(start('203.0.113.77')).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringMatching(/^--host 203\.0\.113\.77: this machine has no such address \(EADDRNOTAVAIL\)/),
    })
  })

  it('names the port when it is taken', async () => {
    const first = await start()
    try {
      await expect(start('127.0.0.1', first.port)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(`--port ${first.port}: already in use`) })
    } finally {
      await first.close()
    }
  })

  it('works through an SSH-style tunnel that keeps the port number, and refuses one that changes it', async () => {
    const web = await start()
    // Stands in for `ssh -L LOCAL:127.0.0.1:PORT`: bytes forwarded as they are, Host included.
    const tunnel = createServer((local) => {
      const remote = connect(web.port, '127.0.0.1')
      local.pipe(remote).pipe(local)
      local.on('error', () => remote.destroy())
      remote.on('error', () => local.destroy())
    })
    await new Promise<void>((resolve) => tunnel.listen(0, '127.0.0.1', resolve))
    const tunnelPort = (tunnel.address() as AddressInfo).port
    try {
      const through = (host: string, path: string) => send('127.0.0.1', tunnelPort, path, { headers: { Host: host } })
      expect((await through(`localhost:${web.port}`, `/?token=${web.token}`)).status).toBe(200)
      expect((await through(`localhost:${web.port}`, '/')).status).toBe(401)
      expect((await through(`localhost:${tunnelPort}`, `/?token=${web.token}`)).status).toBe(403)
    } finally {
      await web.close()
      await new Promise((resolve) => tunnel.close(resolve))
    }
  })

  it.skipIf(noExternal)('binds only 127.0.0.1 by default: the non-loopback address is closed', async () => {
    const web = await start()
    try {
      expect(web.server.address()).toMatchObject({ address: '127.0.0.1' })
      expect(web).toMatchObject({ address: '127.0.0.1', exposed: false })
      expect(web.urls).toEqual([`http://127.0.0.1:${web.port}/?token=${web.token}`])
      expect(await connectOutcome(external!, web.port)).toBe('ECONNREFUSED')
      expect(await connectOutcome('127.0.0.1', web.port)).toBe('connected')
    } finally {
      await web.close()
    }
  })

  describe.skipIf(noExternal)(`bound to this machine's non-loopback address (${external ?? 'none'})`, () => {
    let web: WebServer
    let hostHeader: string
    beforeAll(async () => {
      web = await start(external)
      hostHeader = `${bracket(external!)}:${web.port}`
    })
    afterAll(() => web.close())
    const headers = (extra: Record<string, string> = {}) => ({ Host: hostHeader, ...extra })

    it('listens there only, and prints a link on that address', async () => {
      expect(web).toMatchObject({ address: external, exposed: true })
      expect(web.urls).toEqual([`http://${hostHeader}/?token=${web.token}`])
      expect(await connectOutcome('127.0.0.1', web.port)).toBe('ECONNREFUSED')
    })

    it('answers 401 without the token, 200 with it', async () => {
      expect((await send(external!, web.port, '/', { headers: headers() })).status).toBe(401)
      expect((await send(external!, web.port, '/?token=wrong', { headers: headers() })).status).toBe(401)
      const invoke = (extra: Record<string, string>) =>
        send(external!, web.port, '/api/invoke/projects.list', { method: 'POST', headers: headers({ 'Content-Type': 'application/json', ...extra }), body: '{}' })
      expect((await invoke({})).status).toBe(401)

      const page = await send(external!, web.port, `/?token=${web.token}`, { headers: headers() })
      expect(page).toMatchObject({ status: 200, body: expect.stringContaining('BERT Studio') })
      const listed = await invoke({ Authorization: `Bearer ${web.token}`, Origin: `http://${hostHeader}` })
      expect(listed.status).toBe(200)
      expect(JSON.parse(listed.body)).toMatchObject({ ok: true })
    })

    it('asks the token of the event WebSocket too', async () => {
      const url = `ws://${hostHeader}/api/events`
      expect(await upgrade(url, {})).toBe(401)
      expect(await upgrade(url, { Cookie: `studio_token=${web.token}` })).toBe(101)
    })

    it('refuses a foreign Host or Origin (DNS rebinding) with the token, WebSocket included', async () => {
      const token = `/?token=${web.token}`
      for (const foreign of [`rebind.evil.example:${web.port}`, `127.0.0.1:${web.port}`, `localhost:${web.port}`, `${hostname()}:${web.port}`, `${bracket(external!)}:${web.port + 1}`]) {
        expect((await send(external!, web.port, token, { headers: { Host: foreign } })).status, foreign).toBe(403)
      }
      for (const oddity of [`${external}@evil.example:${web.port}`, `${hostHeader}/x`]) {
        expect((await send(external!, web.port, token, { headers: { Host: oddity } })).status, oddity).toBe(403)
      }
      for (const origin of ['http://rebind.evil.example', `https://${hostHeader}`, 'null']) {
        expect((await send(external!, web.port, token, { headers: headers({ Origin: origin }) })).status, origin).toBe(403)
      }
      const cookie = { Cookie: `studio_token=${web.token}` }
      expect(await upgrade(`ws://${hostHeader}/api/events`, { ...cookie, Host: `rebind.evil.example:${web.port}` })).toBe(403)
      expect(await upgrade(`ws://${hostHeader}/api/events`, { ...cookie, Origin: 'http://rebind.evil.example' })).toBe(403)
    })
  })

  it.skipIf(noExternal)('bound to a wildcard, links each address and needs the token on every one', async () => {
    const web = await start('0.0.0.0')
    try {
      expect(web.exposed).toBe(true)
      expect(web.urls[0]).toBe(`http://${bracket(external!)}:${web.port}/?token=${web.token}`)
      expect(web.urls.at(-1)).toBe(`http://127.0.0.1:${web.port}/?token=${web.token}`)
      if (external!.includes(':')) return
      for (const connectTo of [external!, '127.0.0.1']) {
        const host = { Host: `${connectTo}:${web.port}` }
        expect((await send(connectTo, web.port, '/', { headers: host })).status, connectTo).toBe(401)
        expect((await send(connectTo, web.port, `/?token=${web.token}`, { headers: host })).status, connectTo).toBe(200)
      }
      expect((await send(external!, web.port, `/?token=${web.token}`, { headers: { Host: `${hostname()}:${web.port}` } })).status).toBe(200)
      expect((await send(external!, web.port, `/?token=${web.token}`, { headers: { Host: `evil.example:${web.port}` } })).status).toBe(403)
    } finally {
      await web.close()
    }
  })
})

describe('the built web-mode entry', () => {
  const entry = join(repoRoot, 'out', 'main', 'web.js')

  /** Runs the entry until it prints its links (or exits), then stops it. */
  async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first (npm test does)`)
    const child = spawn(process.execPath, [entry, '--home', home.path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk
        if (/\n$/.test(stdout)) resolve()
      })
      void exited.then(() => resolve())
    })
    if (child.exitCode === null) child.kill('SIGTERM')
    return { code: await exited, stdout, stderr }
  }

  it('exits 1 with a clear message for a bad --host, opening nothing', async () => {
    const result = await run(['--host', '10.0.0.300'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^--host "10\.0\.0\.300": not a valid IPv4 address/)
  }, 30_000)

  it.skipIf(noExternal)('prints the link on the address asked for, with the warning on stderr', async () => {
    const result = await run(['--host', external!])
    expect(result.stdout).toMatch(new RegExp(`^http://${bracket(external!).replace(/[.[\]]/g, '\\$&')}:\\d+/\\?token=[A-Za-z0-9_-]{20,}\\n$`))
    expect(result.stderr).toContain(`Warning: serving on ${external}, beyond this machine's loopback`)
    expect(result.stderr).toMatch(/ssh -L \d+:127\.0\.0\.1:\d+/)
  }, 30_000)

  it('prints one loopback link and no warning by default', async () => {
    const result = await run([])
    expect(result.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}\n$/)
    expect(result.stderr).not.toMatch(/Warning/)
  }, 30_000)
})
