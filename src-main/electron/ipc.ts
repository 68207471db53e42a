import { channelNames, ipcName, type Result } from '../contract/index.ts'
import { dispatch, type Handlers } from '../services/handlers.ts'
import { isTrustedSender } from './security.ts'
import type { IpcMain, IpcMainInvokeEvent } from './types.ts'

const untrusted: Result<never> = { ok: false, code: 'FORBIDDEN', message: 'IPC from an untrusted frame' }

/**
 * The listener for one channel: the sender's frame must be the app's own page (a frame that
 * navigated elsewhere, or a foreign page that got hold of the preload, is refused before its
 * arguments are even read); then the contract schema validates the arguments and the handler
 * answers a Result.
 */
export function ipcListener(handlers: Handlers, channel: string) {
  return async (event: IpcMainInvokeEvent, args: unknown): Promise<Result<unknown>> => {
    if (!isTrustedSender(event.senderFrame?.url)) return untrusted
    return dispatch(handlers, channel, args, { transport: 'electron' })
  }
}

/** Registers every contract channel, and nothing else, on `ipcMain`. */
export function registerIpc(ipcMain: IpcMain, handlers: Handlers): void {
  for (const channel of channelNames) ipcMain.handle(ipcName(channel), ipcListener(handlers, channel))
}
