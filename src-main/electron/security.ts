/**
 * Electron's security checklist as plain functions over the narrow interfaces in types.ts, so the
 * tests can check every rule with fake objects and no Electron binary. The entry (src-main/index.ts)
 * only hands them the real `app`, `session`, `shell` and `protocol`.
 */
import { normalize, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { CONTENT_SECURITY_POLICY } from '../web/csp.ts'
import type { BrowserWindowOptions, PreventableEvent, Session, Shell, WebContents, WindowOpenHandler } from './types.ts'

/** The renderer is served from this privileged custom scheme, never from a remote URL. */
export const APP_SCHEME = 'app'
export const APP_HOST = 'studio'
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`
/** The page the window loads. */
export const APP_ENTRY = `${APP_ORIGIN}/index.html`

export { CONTENT_SECURITY_POLICY }


/** Electron's security checklist, as window options; asserted by tests without the binary. */
export function windowOptions(preloadPath: string): BrowserWindowOptions {
  return {
    width: 1280,
    height: 820,
    minWidth: 880,
    minHeight: 560,
    show: false,
    title: 'BERT Studio',
    backgroundColor: '#f7f7f5',
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadPath,
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
    },
  }
}

/** Whether a URL is a page of the app itself (scheme and host exactly APP_ORIGIN's). */
export function isAppUrl(link: string | undefined | null): boolean {
  if (!link) return false
  try {
    const url = new URL(link)
    return url.protocol === `${APP_SCHEME}:` && url.host === APP_HOST && url.username === '' && url.password === ''
  } catch {
    return false
  }
}

/** IPC is answered only for the app's own page (the sender's frame URL must be on APP_ORIGIN). */
export function isTrustedSender(frameUrl: string | undefined | null): boolean {
  return isAppUrl(frameUrl)
}

/** Links the app may hand to the system browser: https on these hosts only. */
const EXTERNAL_HOSTS = new Set(['huggingface.co', 'github.com', 'www.tensorflow.org', 'pytorch.org'])
export function isAllowedExternal(link: string): boolean {
  try {
    const url = new URL(link)
    return url.protocol === 'https:' && EXTERNAL_HOSTS.has(url.hostname) && url.username === '' && url.password === '' && url.port === ''
  } catch {
    return false
  }
}

/** Opens an allow-listed https link in the system browser; anything else is dropped. */
export function openExternalSafely(shell: Shell, link: string): boolean {
  if (!isAllowedExternal(link)) return false
  // Reviewed: the link passed isAllowedExternal just above (https on an allow-listed host). The
  // build waives Electronegativity's manual-review finding for this call (electron.vite.config.ts).
  void shell.openExternal(link)
  return true
}

/**
 * The window may only show the app's own pages: navigation and redirects elsewhere are stopped,
 * webviews refused, and every new window denied (allow-listed https links go to the system browser).
 */
export function guardWebContents(contents: WebContents, shell: Shell): void {
  const stayInApp = (event: PreventableEvent, url: string) => {
    if (!isAppUrl(url)) event.preventDefault()
  }
  contents.on('will-navigate', stayInApp)
  contents.on('will-redirect', stayInApp)
  contents.on('will-frame-navigate', (event) => stayInApp(event, event.url))
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(windowOpenHandler(shell))
}

export function windowOpenHandler(shell: Shell): WindowOpenHandler {
  return ({ url }) => {
    openExternalSafely(shell, url)
    return { action: 'deny' }
  }
}

/** The studio needs no camera, microphone, notifications, geolocation or devices: all refused. */
export function lockDownSession(session: Session): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.setPermissionCheckHandler(() => false)
  session.setDevicePermissionHandler?.(() => false)
}

/**
 * The custom protocol's handler: `app://studio/<path>` serves the file at <path> under the built
 * renderer folder, with the CSP and nosniff headers; any other host, or a path that leaves the
 * folder, answers 404.
 */
export function rendererResponder(rendererDir: string, fetchFile: (fileUrl: string) => Promise<Response>) {
  const root = resolve(rendererDir)
  return async (request: { url: string }): Promise<Response> => {
    let url: URL
    let relative: string
    try {
      url = new URL(request.url)
      relative = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1))
    } catch {
      return new Response('Bad Request', { status: 400 })
    }
    const file = resolve(root, normalize(relative))
    if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST || !file.startsWith(root + sep) || relative.includes('\0')) {
      return new Response('Not Found', { status: 404 })
    }
    const response = await fetchFile(pathToFileURL(file).toString())
    const headers = new Headers(response.headers)
    headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    headers.set('X-Content-Type-Options', 'nosniff')
    return new Response(response.body, { status: response.status, headers })
  }
}
