// Helpers for the end-to-end runner: a studio in web mode per test, Chromium, and small waits.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const fixtures = join(root, 'tests', 'e2e', 'fixtures')
export const results = join(root, 'test-results')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function tempHome() {
  return mkdtempSync(join(tmpdir(), 'bert-studio-e2e-'))
}

export function removeHome(home) {
  rmSync(home, { recursive: true, force: true })
}

/** Starts `node out/main/web.js --home DIR` and resolves once it prints its address. */
export function startServer(home, { timeoutMs = 20_000 } = {}) {
  const entry = join(root, 'out', 'main', 'web.js')
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first`)
  const child = spawn(process.execPath, [entry, '--home', home], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk))
  const stop = () =>
    new Promise((resolveStop) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolveStop()
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolveStop()
      })
      child.kill('SIGTERM')
    })
  return new Promise((resolveStart, rejectStart) => {
    let buffered = ''
    const timer = setTimeout(() => {
      void stop()
      rejectStart(new Error(`web mode printed no address within ${timeoutMs} ms; stderr: ${stderr.trim()}`))
    }, timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk
      const match = /^(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/m.exec(buffered)
      if (match) {
        clearTimeout(timer)
        const url = new URL(match[1])
        resolveStart({ url: url.href, origin: url.origin, token: url.searchParams.get('token'), stop, stderr: () => stderr })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      rejectStart(new Error(`web mode exited with ${code} before printing its address; stderr: ${stderr.trim()}`))
    })
  })
}

/** Rejects if `promise` takes longer than `ms`. */
export function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ])
}

/** Waits until the locator's text matches; the error says what it saw instead. */
export async function expectText(locator, pattern, { timeout = 15_000 } = {}) {
  const deadline = Date.now() + timeout
  let seen = '(nothing)'
  while (Date.now() < deadline) {
    try {
      if ((await locator.count()) > 0) {
        seen = (await locator.first().innerText({ timeout: 1_000 })).trim()
        if (typeof pattern === 'string' ? seen.includes(pattern) : pattern.test(seen)) return seen
      }
    } catch {
      // detached or not yet there: try again
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`expected ${pattern} in ${locator}, saw: ${JSON.stringify(seen.slice(0, 300))}`)
}

export function assert(condition, message) {
  if (!condition) throw new Error(message)
}

export function ensureResults() {
  mkdirSync(results, { recursive: true })
}

/** The Electron binary's path, or null with the reason it is not available. */
export function electronBinary() {
  try {
    const require = createRequire(join(root, 'package.json'))
    const path = require('electron')
    if (typeof path === 'string' && existsSync(path)) return { path }
    return { path: null, reason: `the electron package resolves to ${path}, which does not exist` }
  } catch {
    return {
      path: null,
      reason: 'Electron binary not installed (optional dependency; its download is unavailable here)',
    }
  }
}
