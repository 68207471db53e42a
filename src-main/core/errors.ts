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

/** SQLite's "database or disk is full" and the file system's ENOSPC (EDQUOT: over quota) are one condition to the user. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || (error instanceof StudioError && error.code === 'DISK_FULL')
}

/**
 * The error to show for a write that ran out of space: "disk full" in words, what was being
 * done, and that nothing half-written was kept (every writer rolls back or removes its temp
 * files). Other errors pass through unchanged.
 */
export function asDiskFull(error: unknown, doing?: string): unknown {
  if (!isDiskFull(error) || (error instanceof StudioError && error.code === 'DISK_FULL')) return error
  const path = (error as { path?: unknown }).path
  const where = typeof path === 'string' ? ` writing ${path}` : ''
  return new StudioError(
    'DISK_FULL',
    `Disk full${doing ? `: ${doing} failed` : ''}${where} (${(error as Error).message}). ` +
      'Nothing half-written was kept. Free some disk space, then try again.',
  )
}
