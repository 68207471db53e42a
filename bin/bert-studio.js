#!/usr/bin/env node
// The CLI runs from the build (out/main/cli.js); say how to get it rather than a stack trace.
const { existsSync } = require('node:fs')
const { join } = require('node:path')
const cli = join(__dirname, '..', 'out', 'main', 'cli.js')
if (!existsSync(cli)) {
  process.stdout.write(
    JSON.stringify({ error: { code: 'NOT_BUILT', message: 'BERT Studio is not built: run npm run build first' } }) + '\n',
  )
  process.exit(1)
}
require(cli)
