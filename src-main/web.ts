/**
 * Web mode: `npm run web -- [--home DIR] [--port N] [--host ADDRESS]`. Serves the built renderer
 * and the same handlers as Electron on loopback (another address only when --host asks, with a
 * warning on stderr), and prints each address to open, with its token, alone on a line.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createHandlers } from './services/handlers.ts'
import { resolveHome } from './services/home.ts'
import { Studio } from './services/studio.ts'
import { exposureWarning } from './web/address.ts'
import { parseWebArgs } from './web/args.ts'
import { startWebServer, type WebServer } from './web/server.ts'

async function main(): Promise<void> {
  const { home, host, port } = parseWebArgs(process.argv.slice(2))
  const rendererDir = join(__dirname, '..', 'renderer')
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(`The renderer is not built (${rendererDir} has no index.html): run npm run build first`)
  }
  const studio = new Studio({ home: resolveHome(home), workerPath: join(__dirname, 'worker.js') })
  let web: WebServer
  try {
    web = await startWebServer({ studio, handlers: createHandlers(studio), rendererDir, host, port })
  } catch (error) {
    studio.close()
    throw error
  }
  // Judged on the address actually bound: a host name may resolve to loopback, or away from it.
  if (web.exposed) process.stderr.write(`${exposureWarning(host, web.port)}\n`)
  process.stderr.write(`BERT Studio (web mode) serving ${studio.home}\n`)
  process.stdout.write(`${web.urls.join('\n')}\n`)
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
