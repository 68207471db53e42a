import { parseArgs } from 'node:util'
import { badInput } from '../core/errors.ts'
import { DEFAULT_HOST, parseHost } from './address.ts'

export const WEB_USAGE = 'npm run web -- [--home DIR] [--port N] [--host ADDRESS]'

export interface WebArgs {
  home?: string
  /** 0: a free port. */
  port: number
  host: string
}

/** Reads web mode's command line; a bad value throws BAD_INPUT naming the option and the usage. */
export function parseWebArgs(argv: readonly string[]): WebArgs {
  let values: { home?: string; port?: string; host?: string }
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: { home: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    throw badInput(`${(error as Error).message}\nUsage: ${WEB_USAGE}`)
  }
  // Number() would take '', ' 80', '0x50' and '1e3'; a port is written in plain digits.
  const port = values.port === undefined ? 0 : /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN
  if (!(port >= 0 && port <= 65535)) {
    throw badInput(`--port must be a whole number from 0 to 65535 (0: a free one), got "${values.port}"`)
  }
  return { home: values.home, port, host: values.host === undefined ? DEFAULT_HOST : parseHost(values.host) }
}
