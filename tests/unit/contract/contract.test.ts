import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channelNames, channels, eventNames, ipcEventName, ipcName } from '../../../src-main/contract/index.ts'
import { createHandlers, dispatch } from '../../../src-main/services/handlers.ts'
import { Studio } from '../../../src-main/services/studio.ts'
import { repoRoot, tempDir } from '../helpers.ts'

let home: ReturnType<typeof tempDir>
let studio: Studio
beforeAll(() => {
  home = tempDir()
  studio = new Studio({ home: home.path })
})
afterAll(() => {
  studio.close()
  home.cleanup()
})

describe('contract', () => {
  it('gives every channel a handler, and no handler without a channel', () => {
    const handlers = createHandlers(studio)
    expect(Object.keys(handlers).sort()).toEqual([...channelNames].sort())
    for (const name of channelNames) expect(typeof handlers[name]).toBe('function')
  })

  it('gives every channel an argument schema that rejects unknown keys', () => {
    for (const name of channelNames) {
      const parsed = channels[name].args.safeParse({ surplus: 1 })
      expect(parsed.success, `${name} accepted an unknown key`).toBe(false)
    }
  })

  it('answers bad arguments with a validation error, not a crash', async () => {
    const handlers = createHandlers(studio)
    const cases: [string, unknown][] = [
      ['projects.create', { name: 5 }],
      ['projects.create', { name: '' }],
      ['projects.create', { name: 'x'.repeat(10_000) }],
      ['projects.create', {}],
      ['projects.create', 'not an object'],
      ['projects.delete', { projectId: -1 }],
      ['corpora.documents', { corpusId: 1, limit: 1e9 }],
      ['corpora.import', { projectId: 1, fileId: '../../etc/passwd', name: 'x', jobId: 'abcdef' }],
      ['jobs.cancel', { jobId: 'a b' }],
    ]
    for (const [channel, args] of cases) {
      const result = await dispatch(handlers, channel, args, { transport: 'test' })
      expect(result.ok, `${channel} ${JSON.stringify(args).slice(0, 60)}`).toBe(false)
      if (!result.ok) {
        expect(result.code).toBe('VALIDATION')
        expect(result.message).toContain(channel)
      }
    }
  })

  it('answers an unknown channel and a failing handler with a result', async () => {
    const handlers = createHandlers(studio)
    expect(await dispatch(handlers, 'fs.readFile', {}, { transport: 'test' })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await dispatch(handlers, '__proto__', {}, { transport: 'test' })).toMatchObject({ ok: false, code: 'NOT_FOUND' })
    expect(await dispatch(handlers, 'corpora.get', { corpusId: 999 }, { transport: 'test' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    })
    const created = await dispatch(handlers, 'projects.create', { name: 'Reviews' }, { transport: 'test' })
    expect(created).toMatchObject({ ok: true, value: { name: 'Reviews', corpora: 0 } })
    const again = await dispatch(handlers, 'projects.create', { name: 'reviews' }, { transport: 'test' })
    expect(again).toMatchObject({ ok: false, code: 'CONFLICT' })
  })

  it('refuses the native file dialog where there is none', async () => {
    const result = await dispatch(createHandlers(studio), 'files.pick', { kind: 'file' }, { transport: 'web' })
    expect(result).toMatchObject({ ok: false, code: 'UNSUPPORTED' })
  })
})

describe('preload (the built, sandboxed bundle)', () => {
  const preloadPath = join(repoRoot, 'out', 'preload', 'index.js')

  it('exposes exactly one method per channel, plus on(), and requires nothing but electron', async () => {
    if (!existsSync(preloadPath)) throw new Error(`${preloadPath} is missing: run npm run build before the unit tests`)
    const exposed: Record<string, Record<string, (...args: unknown[]) => unknown>> = {}
    const invoked: [string, unknown][] = []
    const listeners = new Map<string, unknown>()
    const fakeElectron = {
      contextBridge: { exposeInMainWorld: (key: string, api: never) => (exposed[key] = api) },
      ipcRenderer: {
        invoke: async (channel: string, args: unknown) => {
          invoked.push([channel, args])
          return { ok: true, value: null }
        },
        on: (channel: string, listener: unknown) => listeners.set(channel, listener),
        removeListener: (channel: string) => listeners.delete(channel),
      },
    }
    // A sandboxed preload may require only a few modules: the fake require refuses all but electron.
    const sandboxRequire = (id: string) => {
      if (id === 'electron') return fakeElectron
      throw new Error(`the sandboxed preload required "${id}"`)
    }
    const module = { exports: {} }
    runInNewContext(readFileSync(preloadPath, 'utf8'), { require: sandboxRequire, module, exports: module.exports })
    const api = exposed.studio
    expect(api).toBeDefined()
    expect(Object.keys(api!).sort()).toEqual([...channelNames, 'on'].sort())
    for (const name of channelNames) {
      await api![name]!({ probe: name })
    }
    expect(invoked).toEqual(channelNames.map((name) => [ipcName(name), { probe: name }]))
    const unsubscribe = api!.on!(eventNames[0], () => {}) as () => void
    expect(listeners.has(ipcEventName(eventNames[0]!))).toBe(true)
    unsubscribe()
    expect(listeners.size).toBe(0)
    expect(() => api!.on!('not.an.event', () => {})).toThrow(/Unknown event/)
  })
})
