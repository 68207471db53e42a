import type { ErrorCode } from '../contract/index.ts'

/**
 * The one error type core and services throw on purpose. `code` survives every transport (a
 * thrown error crosses Electron IPC as its message only), so handlers turn it into
 * `{ ok: false, code, message }`. Messages say what was found against what was expected, and
 * name the file, line or field.
 */
export class StudioError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'StudioError'
  }
}

export const badInput = (message: string) => new StudioError('BAD_INPUT', message)
export const notFound = (message: string) => new StudioError('NOT_FOUND', message)
export const cancelled = (message = 'Cancelled') => new StudioError('CANCELLED', message)
