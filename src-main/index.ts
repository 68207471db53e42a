/**
 * Electron entry: window, security settings, IPC registration. Thin on purpose: everything it
 * wires (services, handlers, security options) lives in modules tested without Electron.
 */
import { join, normalize, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { channelNames, ipcEventName, ipcName } from './contract/index.ts'
import { APP_ORIGIN, APP_SCHEME, isAllowedExternal, isTrustedSender, windowOptions } from './electron/security.ts'
import type { BrowserWindow, ElectronMain } from './electron/types.ts'
import { CONTENT_SECURITY_POLICY } from './web/server.ts'
import { createHandlers, dispatch } from './services/handlers.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'

const electron = require('electron') as ElectronMain
const { app, BrowserWindow: Window, ipcMain, dialog, protocol, net, session, shell } = electron

app.setName('BERT Studio')
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
])

const rendererDir = resolve(join(__dirname, '..', 'renderer'))

function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url)
    const relative = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1))
    const file = resolve(rendererDir, normalize(relative))
    if (url.host !== 'studio' || !file.startsWith(rendererDir + sep)) return new Response('Not Found', { status: 404 })
    const response = await net.fetch(pathToFileURL(file).toString())
    const headers = new Headers(response.headers)
    headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    headers.set('X-Content-Type-Options', 'nosniff')
    return new Response(response.body, { status: response.status, headers })
  })
}

function lockDown(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault()
    })
    contents.on('will-redirect', (event, url) => {
      if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault()
    })
    contents.on('will-attach-webview', (event) => event.preventDefault())
    contents.setWindowOpenHandler(({ url }) => {
      if (isAllowedExternal(url)) void shell.openExternal(url)
      return { action: 'deny' }
    })
  })
}

async function main(): Promise<void> {
  await app.whenReady()
  lockDown()
  serveRenderer()

  const studio = new Studio({
    home: resolveHome(process.env.STUDIO_HOME ?? app.getPath('userData')),
    workerPath: join(__dirname, 'worker.js'),
    // `npm start` builds better-sqlite3 for Electron's ABI beside the Node build and names it here.
    ...(process.env.STUDIO_SQLITE_BINDING ? { nativeBinding: process.env.STUDIO_SQLITE_BINDING } : {}),
    pickFile: async (kind) => {
      const result = await dialog.showOpenDialog({
        properties: [kind === 'folder' ? 'openDirectory' : 'openFile'],
        ...(kind === 'file'
          ? { filters: [{ name: 'Text corpora', extensions: ['txt', 'csv', 'tsv', 'tab', 'jsonl', 'ndjson'] }, { name: 'All files', extensions: ['*'] }] }
          : {}),
      })
      return result.canceled ? null : (result.filePaths[0] ?? null)
    },
  })
  const handlers = createHandlers(studio)
  for (const channel of channelNames) {
    ipcMain.handle(ipcName(channel), async (event, args) => {
      if (!isTrustedSender(event.senderFrame?.url)) {
        return { ok: false, code: 'FORBIDDEN', message: 'IPC from an untrusted frame' }
      }
      return dispatch(handlers, channel, args, { transport: 'electron' })
    })
  }
  const windows = new Set<BrowserWindow>()
  studio.bus.subscribe((event, payload) => {
    for (const window of windows) {
      if (!window.webContents.isDestroyed()) window.webContents.send(ipcEventName(event), payload)
    }
  })

  const open = () => {
    const window = new Window(windowOptions(join(__dirname, '..', 'preload', 'index.js')))
    windows.add(window)
    window.on('closed', () => windows.delete(window))
    window.once('ready-to-show', () => window.show())
    void window.loadURL(`${APP_ORIGIN}/index.html`)
  }
  open()
  app.on('activate', () => {
    if (Window.getAllWindows().length === 0) open()
  })
  app.on('window-all-closed', () => {
    studio.close()
    app.quit()
  })
}

main().catch((error: unknown) => {
  process.stderr.write(`BERT Studio failed to start: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
