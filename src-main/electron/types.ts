/**
 * The slice of Electron's main-process API the studio uses. Electron is an optional dependency
 * (its binary cannot be downloaded everywhere), so its own type declarations may be absent; this
 * narrow interface keeps the Electron-only code type-checked either way, and lets the tests hand
 * the security code fake objects of the same shape.
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
  /** A page that opens dialogs in a loop can be stopped by the user. */
  safeDialogs: boolean
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

/** The argument of `preventDefault`-style Electron events. */
export interface PreventableEvent {
  preventDefault(): void
}

export type WindowOpenHandler = (details: { url: string }) => { action: 'deny' | 'allow' }

export interface WebContents {
  id: number
  send(channel: string, payload: unknown): void
  isDestroyed(): boolean
  setWindowOpenHandler(handler: WindowOpenHandler): void
  on(event: 'will-navigate' | 'will-redirect', listener: (event: PreventableEvent, url: string) => void): void
  on(event: 'will-frame-navigate', listener: (event: PreventableEvent & { url: string }) => void): void
  on(event: 'will-attach-webview', listener: (event: PreventableEvent) => void): void
}

export interface BrowserWindow {
  webContents: WebContents
  loadURL(url: string): Promise<void>
  once(event: 'ready-to-show', listener: () => void): void
  on(event: 'closed', listener: () => void): void
  show(): void
}

export type PermissionRequestHandler = (webContents: unknown, permission: string, callback: (granted: boolean) => void, details?: unknown) => void
export type PermissionCheckHandler = (webContents: unknown, permission: string, requestingOrigin?: string, details?: unknown) => boolean

export interface Session {
  setPermissionRequestHandler(handler: PermissionRequestHandler): void
  setPermissionCheckHandler(handler: PermissionCheckHandler): void
  /** USB, HID and serial devices (Electron 17+). */
  setDevicePermissionHandler?(handler: (details: unknown) => boolean): void
}

export interface IpcMain {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, args: unknown) => Promise<unknown>): void
}

export interface Shell {
  openExternal(url: string): Promise<void>
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
  ipcMain: IpcMain
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
  shell: Shell
}
