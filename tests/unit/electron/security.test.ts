import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { APP_ORIGIN, isAllowedExternal, isTrustedSender, windowOptions } from '../../../src-main/electron/security.ts'
import { repoRoot } from '../helpers.ts'

describe('Electron window security (checked without the Electron binary)', () => {
  const options = windowOptions('/app/out/preload/index.js')

  it('isolates and sandboxes the renderer with no Node', () => {
    expect(options.webPreferences).toMatchObject({
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
    })
  })

  it('answers IPC only from the app origin', () => {
    expect(isTrustedSender(`${APP_ORIGIN}/index.html`)).toBe(true)
    expect(isTrustedSender(`${APP_ORIGIN}/deep/page?x=1`)).toBe(true)
    for (const url of ['https://studio/index.html', 'app://evil/index.html', 'file:///etc/passwd', 'http://127.0.0.1:5173/', '', null, undefined, 'not a url']) {
      expect(isTrustedSender(url), String(url)).toBe(false)
    }
  })

  it('opens only allow-listed https links in the system browser', () => {
    expect(isAllowedExternal('https://huggingface.co/docs/transformers')).toBe(true)
    for (const url of ['http://huggingface.co/', 'https://evil.example/', 'file:///etc/passwd', 'javascript:alert(1)', 'https://huggingface.co.evil.example/']) {
      expect(isAllowedExternal(url), url).toBe(false)
    }
  })

  it('wires the checklist into the entry: navigation, new windows, permissions, sender checks', () => {
    const entry = readFileSync(join(repoRoot, 'src-main', 'index.ts'), 'utf8')
    for (const needle of ['will-navigate', 'setWindowOpenHandler', "action: 'deny'", 'setPermissionRequestHandler', 'isTrustedSender(', 'windowOptions(', 'protocol.handle(']) {
      expect(entry, needle).toContain(needle)
    }
    expect(entry).not.toMatch(/loadURL\(\s*['"`]https?:/)
  })
})
