/**
 * Electron entry: window, security settings, IPC registration. Thin on purpose: everything it
 * wires (services, handlers, security options) lives in modules tested without Electron.
 */
import { join, resolve } from 'node:path'
import { ipcEventName } from './contract/index.ts'
import { registerIpc } from './electron/ipc.ts'
import { APP_ENTRY, APP_SCHEME, guardWebContents, lockDownSession, rendererResponder, windowOptions } from './electron/security.ts'
import type { BrowserWindow, ElectronMain } from './electron/types.ts'
import { watchTraining, type TrainingElectron } from './electron/power.ts'
import { createHandlers } from './services/handlers.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'

const electron = require('electron') as ElectronMain & TrainingElectron
const { app, BrowserWindow: Window, ipcMain, dialog, protocol, net, session, shell } = electron

app.setName('BERT Studio')
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
])

const rendererDir = resolve(join(__dirname, '..', 'renderer'))

async function main(): Promise<void> {
  await app.whenReady()
  lockDownSession(session.defaultSession)
  app.on('web-contents-created', (_event, contents) => guardWebContents(contents, shell))
  protocol.handle(APP_SCHEME, rendererResponder(rendererDir, (url) => net.fetch(url)))

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
  // Awake while a run trains; a desktop notification when one ends.
  watchTraining(studio.bus, electron, (runId) => {
    try {
      return studio.runs.get(runId)
    } catch {
      return null
    }
  })
  registerIpc(ipcMain, handlers)
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
    void window.loadURL(APP_ENTRY)
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
