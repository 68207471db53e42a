/**
 * Web mode: `npm run web -- [--home DIR] [--port N] [--host ADDRESS]`. Serves the built renderer
 * and the same handlers as Electron on loopback, and prints the address with its token alone on
 * a line.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createHandlers } from './services/handlers.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'
import { startWebServer } from './web/server.ts'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      home: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
    },
    strict: true,
  })
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a whole number from 0 to 65535, got "${values.port}"`)
  }
  const rendererDir = join(__dirname, '..', 'renderer')
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(`The renderer is not built (${rendererDir} has no index.html): run npm run build first`)
  }
  const host = values.host ?? '127.0.0.1'
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    process.stderr.write(
      `Warning: serving on ${host}, beyond this machine's loopback. Anyone who can reach it and has the token can use the studio.\n`,
    )
  }
  const studio = new Studio({ home: resolveHome(values.home), workerPath: join(__dirname, 'worker.js') })
  const web = await startWebServer({ studio, handlers: createHandlers(studio), rendererDir, host, port })
  process.stderr.write(`BERT Studio (web mode) serving ${studio.home}\n`)
  process.stdout.write(`${web.url}\n`)
  const stop = () => {
    void web.close().then(() => {
      studio.close()
      process.exit(0)
    })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
