/**
 * Electron's security checklist, checked without the Electron binary: the window options the app
 * builds, the navigation/new-window/permission guards and the IPC sender and argument checks, each
 * driven through fake `webContents`, `session`, `shell` and `ipcMain` objects of the narrow shapes
 * in src-main/electron/types.ts. Where the binary exists, the running window is checked too.
 */
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channelNames, ipcName } from '../../../src-main/contract/index.ts'
import { ipcListener, registerIpc } from '../../../src-main/electron/ipc.ts'
import {
  APP_ENTRY,
  APP_ORIGIN,
  CONTENT_SECURITY_POLICY,
  guardWebContents,
  isAllowedExternal,
  isTrustedSender,
  lockDownSession,
  rendererResponder,
  windowOptions,
} from '../../../src-main/electron/security.ts'
import type { IpcMainInvokeEvent, PreventableEvent, Session, Shell, WebContents, WindowOpenHandler } from '../../../src-main/electron/types.ts'
import { createHandlers, type Handlers } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { repoRoot, tempDir } from '../helpers.ts'

// ---------------------------------------------------------------- fakes

class FakeContents implements WebContents {
  id = 1
  listeners = new Map<string, ((...args: never[]) => void)[]>()
  openHandler: WindowOpenHandler | null = null
  send() {}
  isDestroyed() {
    return false
  }
  setWindowOpenHandler(handler: WindowOpenHandler) {
    this.openHandler = handler
  }
  on(event: string, listener: (...args: never[]) => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener])
  }
  /** Fires an event the way Electron does; true when a listener called preventDefault. */
  fire(event: string, url?: string): boolean {
    let prevented = false
    const object: PreventableEvent & { url?: string } = { preventDefault: () => (prevented = true), ...(url !== undefined ? { url } : {}) }
    const listeners = this.listeners.get(event) ?? []
    expect(listeners.length, `a listener for ${event}`).toBeGreaterThan(0)
    for (const listener of listeners) (listener as (e: unknown, u?: string) => void)(object, url)
    return prevented
  }
}

class FakeShell implements Shell {
  opened: string[] = []
  async openExternal(url: string) {
    this.opened.push(url)
  }
}

const event = (url: string | null): IpcMainInvokeEvent => ({ senderFrame: url === null ? null : { url } })

// ---------------------------------------------------------------- window options

describe('BrowserWindow options', () => {
  const options = windowOptions('/app/out/preload/index.js')

  it('isolate and sandbox the renderer, with no Node, web security on and nothing experimental', () => {
    expect(options.webPreferences).toEqual({
      preload: '/app/out/preload/index.js',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: true,
      safeDialogs: true,
    })
    // Nothing that widens the page's powers sneaks in under another name.
    expect(Object.keys(options.webPreferences)).not.toEqual(expect.arrayContaining(['enableBlinkFeatures']))
    expect(options.show).toBe(false)
  })

  it('load the renderer from the app:// protocol, never a remote URL', () => {
    expect(APP_ENTRY).toBe('app://studio/index.html')
    const entry = readFileSync(join(repoRoot, 'src-main', 'index.ts'), 'utf8')
    expect(entry).toContain('loadURL(APP_ENTRY)')
    expect(entry).not.toMatch(/loadURL\(\s*['"`](https?|file):/)
    expect(entry).not.toMatch(/loadFile\(/)
  })
})

// ---------------------------------------------------------------- navigation, windows, permissions

describe('web contents guards', () => {
  const contents = new FakeContents()
  const shell = new FakeShell()
  guardWebContents(contents, shell)

  it('keep navigation and redirects on the app origin', () => {
    for (const name of ['will-navigate', 'will-redirect', 'will-frame-navigate']) {
      expect(contents.fire(name, `${APP_ORIGIN}/index.html#/import`), `${name} in the app`).toBe(false)
      for (const url of ['https://evil.example/', 'http://127.0.0.1:8080/', 'file:///etc/passwd', 'app://evil/index.html', 'app://studio@evil.example/', 'javascript:alert(1)', 'data:text/html,<script>1</script>', 'not a url']) {
        expect(contents.fire(name, url), `${name} to ${url}`).toBe(true)
      }
    }
  })

  it('refuse webviews', () => {
    expect(contents.fire('will-attach-webview')).toBe(true)
  })

  it('deny every new window; only allow-listed https links reach the system browser', () => {
    const open = contents.openHandler!
    for (const url of ['https://huggingface.co/docs/transformers', 'https://evil.example/', 'http://huggingface.co/', 'file:///etc/passwd', 'javascript:alert(1)', `${APP_ORIGIN}/index.html`, 'https://user:pw@github.com/', 'https://github.com:8443/']) {
      expect(open({ url }), url).toEqual({ action: 'deny' })
    }
    expect(shell.opened).toEqual(['https://huggingface.co/docs/transformers'])
  })

  it('allow-list external links by exact https host', () => {
    expect(isAllowedExternal('https://github.com/huggingface/transformers')).toBe(true)
    for (const url of ['https://huggingface.co.evil.example/', 'https://evil.example/?https://github.com', 'ftp://github.com/', 'HTTPS://GITHUB.COM.evil/']) {
      expect(isAllowedExternal(url), url).toBe(false)
    }
  })

  it('deny every permission request and check', () => {
    let request: Parameters<Session['setPermissionRequestHandler']>[0] | null = null
    let check: Parameters<Session['setPermissionCheckHandler']>[0] | null = null
    let device: ((details: unknown) => boolean) | null = null
    lockDownSession({
      setPermissionRequestHandler: (handler) => (request = handler),
      setPermissionCheckHandler: (handler) => (check = handler),
      setDevicePermissionHandler: (handler) => (device = handler),
    })
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen', 'hid', 'serial', 'usb']) {
      const answers: boolean[] = []
      request!(null, permission, (granted) => answers.push(granted))
      expect(answers, permission).toEqual([false])
      expect(check!(null, permission, APP_ORIGIN), permission).toBe(false)
    }
    expect(device!({ deviceType: 'usb' })).toBe(false)
  })
})

// ---------------------------------------------------------------- the app:// protocol

describe('the app:// protocol', () => {
  let renderer: ReturnType<typeof tempDir>
  let respond: ReturnType<typeof rendererResponder>
  beforeAll(() => {
    renderer = tempDir()
    mkdirSync(join(renderer.path, 'dist', 'assets'), { recursive: true })
    writeFileSync(join(renderer.path, 'dist', 'index.html'), '<!doctype html><title>studio</title>')
    writeFileSync(join(renderer.path, 'dist', 'assets', 'app.js'), 'console.log(1)')
    writeFileSync(join(renderer.path, 'secret.txt'), 'not for the page')
    respond = rendererResponder(join(renderer.path, 'dist'), async (fileUrl) => {
      const path = fileURLToPath(fileUrl)
      return statSync(path, { throwIfNoEntry: false })?.isFile() ? new Response(readFileSync(path)) : new Response('missing', { status: 404 })
    })
  })
  afterAll(() => renderer.cleanup())

  it('serves the renderer with CSP and nosniff', async () => {
    const page = await respond({ url: `${APP_ORIGIN}/` })
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('studio')
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    expect((await respond({ url: `${APP_ORIGIN}/assets/app.js` })).status).toBe(200)
  })

  it('serves nothing outside the renderer folder or for another host', async () => {
    for (const url of [
      `${APP_ORIGIN}/../secret.txt`,
      `${APP_ORIGIN}/%2e%2e/secret.txt`,
      `${APP_ORIGIN}/assets/..%2f..%2fsecret.txt`,
      `${APP_ORIGIN}/%2fetc%2fpasswd`,
      'app://evil/index.html',
      `${APP_ORIGIN}/index.html%00.js`,
    ]) {
      const reply = await respond({ url })
      expect(reply.status, url).not.toBe(200)
    }
  })
})

// ---------------------------------------------------------------- IPC

describe('IPC', () => {
  let home: ReturnType<typeof tempDir>
  let studio: Studio
  let handlers: Handlers
  let calls: string[]
  beforeAll(() => {
    home = tempDir()
    studio = new Studio({ home: home.path })
    const real = createHandlers(studio)
    calls = []
    // Record which handlers run, to show refused calls never reach one.
    handlers = Object.fromEntries(
      Object.entries(real).map(([channel, handler]) => [
        channel,
        (args: unknown, context: unknown) => {
          calls.push(channel)
          return (handler as (a: unknown, c: unknown) => unknown)(args, context)
        },
      ]),
    ) as Handlers
  })
  afterAll(() => {
    studio.close()
    home.cleanup()
  })

  it('registers exactly the contract channels', () => {
    const registered: string[] = []
    registerIpc({ handle: (channel) => registered.push(channel) }, handlers)
    expect(registered).toEqual(channelNames.map(ipcName))
  })

  it('answers the app page and refuses any other sender before running a handler', async () => {
    const listener = ipcListener(handlers, 'projects.list')
    expect(await listener(event(`${APP_ORIGIN}/index.html`), {})).toEqual({ ok: true, value: [] })
    calls.length = 0
    for (const url of ['https://evil.example/', 'http://127.0.0.1:5173/', 'file:///app/out/renderer/index.html', 'app://evil/', 'devtools://devtools/', 'about:blank', '', null]) {
      expect(await listener(event(url), {}), String(url)).toMatchObject({ ok: false, code: 'FORBIDDEN' })
    }
    expect(calls).toEqual([])
    expect(isTrustedSender(undefined)).toBe(false)
  })

  const app = event(`${APP_ORIGIN}/index.html`)
  const call = (channel: (typeof channelNames)[number], args: unknown) => ipcListener(handlers, channel)(app, args)

  it('refuses arguments that fail the contract: wrong types, unknown keys, huge strings', async () => {
    calls.length = 0
    const megabyte = 'x'.repeat(1 << 20)
    const cases: [(typeof channelNames)[number], unknown][] = [
      ['projects.create', { name: 42 }],
      ['projects.create', { name: '' }],
      ['projects.create', { name: megabyte }],
      ['projects.create', 'a string'],
      ['projects.create', [1, 2]],
      ['projects.create', { name: 'ok', path: '/etc/passwd' }],
      ['projects.delete', { projectId: -1 }],
      ['projects.delete', { projectId: 1.5 }],
      ['projects.delete', { projectId: '1' }],
      ['corpora.documents', { corpusId: 1, query: megabyte }],
      ['corpora.documents', { corpusId: 1, limit: 1e9 }],
      ['corpora.preview', { fileId: '../../etc/passwd' }],
      ['corpora.preview', { fileId: megabyte }],
      ['corpora.import', { projectId: 1, fileId: 'AAAAAAAAAAAA', name: 'x', jobId: 'job-1234', options: { format: 'exe' } }],
      ['corpora.import', { projectId: 1, fileId: 'AAAAAAAAAAAA', name: 'x', jobId: 'job-1234', options: { textColumn: megabyte } }],
      ['jobs.cancel', { jobId: 'x; rm -rf /' }],
      ['files.pick', { kind: 'device' }],
    ]
    for (const [channel, args] of cases) {
      const reply = await call(channel, args)
      expect(reply, `${channel} ${JSON.stringify(args).slice(0, 80)}`).toMatchObject({ ok: false, code: 'VALIDATION' })
      expect((reply as { message: string }).message.length).toBeLessThan(2000)
    }
    expect(calls).toEqual([])
  })

  it('refuses prototype-polluting argument objects without polluting', async () => {
    const polluted = JSON.parse('{"name":"p","__proto__":{"isAdmin":true}}')
    expect(await call('projects.create', polluted)).toMatchObject({ ok: false, code: 'VALIDATION' })
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })

  it('reads only files the user picked: file ids not issued are refused', async () => {
    const reply = await call('corpora.preview', { fileId: 'AAAAAAAAAAAAAAAA' })
    expect(reply).toMatchObject({ ok: false, code: 'NOT_FOUND', message: expect.stringMatching(/No picked file/) })
    const project = await call('projects.create', { name: 'P' })
    const projectId = (project as { value: { id: number } }).value.id
    expect(await call('corpora.import', { projectId, fileId: 'BBBBBBBBBBBBBBBB', name: 'c', jobId: 'job-abcdef' })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await call('models.import', { projectId, fileId: 'CCCCCCCCCCCCCCCC' })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    // The Electron build has no folder-picking path from the page: files.pick opens the native dialog.
    expect(await call('files.pick', { kind: 'file' })).toMatchObject({ ok: false, code: 'UNSUPPORTED' })
  })

  it('keeps export folder names inside the chosen folder', async () => {
    for (const folder of ['../outside', '..', '/etc/cron.d', 'C:\\Windows', 'a/b', 'CON', 'nul.txt', 'com1', 'LPT9.json', 'trailing.', 'x'.repeat(300), 'tab\tname']) {
      const reply = await call('models.export', { runId: 1, format: 'hf', folder })
      expect(reply, folder).toMatchObject({ ok: false, code: 'VALIDATION' })
    }
    // A plain name passes validation (and then fails for the missing run, not the name).
    expect(await call('models.export', { runId: 99, format: 'hf', folder: 'my model (v2)' })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
  })
})

// ---------------------------------------------------------------- the wiring

describe('the Electron entry and the source tree', () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isFile() && /\.(ts|svelte)$/.test(entry.name))
      .map((entry) => join(entry.parentPath, entry.name))

  it('wires every guard into the entry', () => {
    const entry = readFileSync(join(repoRoot, 'src-main', 'index.ts'), 'utf8')
    for (const needle of [
      'lockDownSession(session.defaultSession)',
      "app.on('web-contents-created', (_event, contents) => guardWebContents(contents, shell))",
      'protocol.handle(APP_SCHEME, rendererResponder(',
      'registerIpc(ipcMain, handlers)',
      'new Window(windowOptions(',
    ]) {
      expect(entry, needle).toContain(needle)
    }
  })

  it('has one IPC registration point, one openExternal, and no insecure window settings anywhere', () => {
    for (const file of sources(join(repoRoot, 'src-main'))) {
      const text = readFileSync(file, 'utf8')
      const where = file.slice(repoRoot.length + 1)
      if (!where.endsWith(join('electron', 'ipc.ts'))) expect(text, where).not.toMatch(/ipcMain\.(handle|on)\(/)
      if (!where.endsWith(join('electron', 'security.ts'))) expect(text, where).not.toMatch(/\.openExternal\(/)
      expect(text, where).not.toMatch(/(nodeIntegration|allowRunningInsecureContent|experimentalFeatures|webviewTag)\s*:\s*true|(contextIsolation|sandbox|webSecurity)\s*:\s*false/)
      expect(text, where).not.toMatch(/enableBlinkFeatures|setAsDefaultProtocolClient|certificate-error/)
    }
  })

  it('puts the same CSP in the renderer page as in the headers', () => {
    const html = readFileSync(join(repoRoot, 'src-renderer', 'index.html'), 'utf8')
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1]
    const directives = (policy: string) => policy.split(';').map((part) => part.trim().replace(/\s+/g, ' ')).filter(Boolean).sort()
    // A meta tag cannot carry frame-ancestors (browsers ignore it there and warn).
    expect(directives(meta ?? '')).toEqual(directives(CONTENT_SECURITY_POLICY).filter((d) => !d.startsWith('frame-ancestors')))
  })
})

// ---------------------------------------------------------------- the running window

describe('the running Electron window', () => {
  const binary = (() => {
    try {
      const path: unknown = require(join(repoRoot, 'node_modules', 'electron'))
      return typeof path === 'string' && statSync(path, { throwIfNoEntry: false }) ? path : null
    } catch {
      return null
    }
  })()
  if (binary === null) {
    console.log('skip: running-window check — Electron binary not installed (optional dependency; its download is unavailable here)')
  }

  it.skipIf(binary === null)('has the options the app builds', async () => {
    const { _electron } = await import('playwright-core')
    const app = await _electron.launch({ executablePath: binary!, args: [join(repoRoot, 'out', 'main', 'index.js')], env: { ...process.env, STUDIO_HOME: tempDir().path } })
    try {
      const window = await app.firstWindow()
      expect(window.url()).toBe(APP_ENTRY)
      const preferences = await app.evaluate(({ BrowserWindow }) => {
        const contents = BrowserWindow.getAllWindows()[0]!.webContents as unknown as { getLastWebPreferences(): Record<string, unknown> }
        return contents.getLastWebPreferences()
      })
      expect(preferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false })
      expect(await window.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined')
    } finally {
      await app.close()
    }
  }, 60_000)
})
