/**
 * The slice of Electron's main-process API the studio uses. Electron is an optional dependency
 * (its binary cannot be downloaded everywhere), so its own type declarations may be absent; this
 * narrow interface keeps the Electron-only code type-checked either way.
 */
export interface WebPreferences {
  preload: string
  contextIsolation: boolean
  sandbox: boolean
  nodeIntegration: boolean
  nodeIntegrationInWorker: boolean
  nodeIntegrationInSubFrames: boolean
  webSecurity: boolean
  allowRunningInsecureContent: boolean
  experimentalFeatures: boolean
  webviewTag: boolean
  navigateOnDragDrop: boolean
  spellcheck: boolean
}

export interface BrowserWindowOptions {
  width: number
  height: number
  minWidth: number
  minHeight: number
  show: boolean
  title: string
  backgroundColor: string
  autoHideMenuBar: boolean
  webPreferences: WebPreferences
}

export interface IpcMainInvokeEvent {
  senderFrame: { url: string } | null
}

export interface WebContents {
  id: number
  send(channel: string, payload: unknown): void
  isDestroyed(): boolean
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' | 'allow' }): void
  on(event: 'will-navigate' | 'will-redirect', listener: (event: { preventDefault(): void }, url: string) => void): void
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): void
}

export interface BrowserWindow {
  webContents: WebContents
  loadURL(url: string): Promise<void>
  once(event: 'ready-to-show', listener: () => void): void
  on(event: 'closed', listener: () => void): void
  show(): void
}

export interface Session {
  setPermissionRequestHandler(handler: (webContents: unknown, permission: string, callback: (granted: boolean) => void) => void): void
  setPermissionCheckHandler(handler: () => boolean): void
}

export interface ElectronMain {
  app: {
    whenReady(): Promise<void>
    getPath(name: 'userData'): string
    setName(name: string): void
    on(event: 'window-all-closed' | 'activate', listener: () => void): void
    on(event: 'web-contents-created', listener: (event: unknown, contents: WebContents) => void): void
    quit(): void
    isPackaged: boolean
  }
  BrowserWindow: (new (options: BrowserWindowOptions) => BrowserWindow) & { getAllWindows(): BrowserWindow[] }
  ipcMain: {
    handle(channel: string, listener: (event: IpcMainInvokeEvent, args: unknown) => Promise<unknown>): void
  }
  dialog: {
    showOpenDialog(options: { properties: string[]; filters?: { name: string; extensions: string[] }[] }): Promise<{
      canceled: boolean
      filePaths: string[]
    }>
  }
  protocol: {
    registerSchemesAsPrivileged(schemes: { scheme: string; privileges: Record<string, boolean> }[]): void
    handle(scheme: string, handler: (request: { url: string }) => Response | Promise<Response>): void
  }
  net: { fetch(url: string): Promise<Response> }
  session: { defaultSession: Session }
  shell: { openExternal(url: string): Promise<void> }
}
