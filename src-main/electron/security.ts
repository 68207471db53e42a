import type { BrowserWindowOptions } from './types.ts'

/** The renderer is served from this privileged custom scheme, never from a remote URL. */
export const APP_SCHEME = 'app'
export const APP_ORIGIN = `${APP_SCHEME}://studio`

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
    },
  }
}

/** IPC is answered only for the app's own page (the sender's frame URL must be on APP_ORIGIN). */
export function isTrustedSender(frameUrl: string | undefined | null): boolean {
  if (!frameUrl) return false
  try {
    const url = new URL(frameUrl)
    return `${url.protocol}//${url.host}` === APP_ORIGIN
  } catch {
    return false
  }
}

/** Links the app may hand to the system browser: https on these hosts only. */
const EXTERNAL_HOSTS = new Set(['huggingface.co', 'github.com', 'www.tensorflow.org', 'pytorch.org'])
export function isAllowedExternal(link: string): boolean {
  try {
    const url = new URL(link)
    return url.protocol === 'https:' && EXTERNAL_HOSTS.has(url.hostname)
  } catch {
    return false
  }
}
