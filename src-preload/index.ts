/**
 * The sandboxed preload: one wrapper per contract channel on `window.studio`, plus `on` for
 * events. Nothing else crosses the bridge; the renderer has no Node.
 */
import { channelNames, eventNames, ipcEventName, ipcName, type EventName } from '../src-main/contract/index.ts'

// Electron is an optional dependency whose types may be absent: name the two calls we use.
interface PreloadElectron {
  contextBridge: { exposeInMainWorld(key: string, api: unknown): void }
  ipcRenderer: {
    invoke(channel: string, args: unknown): Promise<unknown>
    on(channel: string, listener: (event: unknown, payload: unknown) => void): void
    removeListener(channel: string, listener: (event: unknown, payload: unknown) => void): void
  }
}
const { contextBridge, ipcRenderer } = require('electron') as PreloadElectron

const studio: Record<string, unknown> = {}
for (const channel of channelNames) {
  studio[channel] = (args: unknown) => ipcRenderer.invoke(ipcName(channel), args)
}
studio.on = (event: EventName, listener: (payload: unknown) => void) => {
  if (!eventNames.includes(event)) throw new Error(`Unknown event "${String(event)}"`)
  const wrapped = (_event: unknown, payload: unknown) => listener(payload)
  ipcRenderer.on(ipcEventName(event), wrapped)
  return () => {
    ipcRenderer.removeListener(ipcEventName(event), wrapped)
  }
}

contextBridge.exposeInMainWorld('studio', studio)
