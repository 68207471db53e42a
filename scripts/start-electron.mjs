#!/usr/bin/env node
// `npm start`: build, give Electron its own build of better-sqlite3, then open the window.
//
// better-sqlite3 is compiled for Node's ABI by `npm ci` (the CLI, web mode and tests use it);
// Electron's main process needs one compiled for Electron's ABI. Rebuilding node_modules in place
// would break the Node side, so the Electron build goes to .electron-native/ and the main process
// loads it through better-sqlite3's `nativeBinding` option.
import { spawnSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))

let electronBinary
try {
  electronBinary = require('electron') // the package's main exports the binary's path
} catch {
  electronBinary = null
}
if (typeof electronBinary !== 'string' || !existsSync(electronBinary)) {
  console.error(
    'Electron is not installed here: it is an optional dependency whose binary is downloaded at install, ' +
      'and that download failed or was skipped. Run the studio in your browser instead:\n' +
      '  npm run build && npm run web',
  )
  process.exit(1)
}

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

run(process.execPath, [require.resolve('electron-vite/bin/electron-vite.js'), 'build'])

const electronVersion = JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')).version
const sqliteVersion = JSON.parse(readFileSync(require.resolve('better-sqlite3/package.json'), 'utf8')).version
const nativeRoot = join(root, '.electron-native', `electron-${electronVersion}-better-sqlite3-${sqliteVersion}`)
const binding = join(nativeRoot, 'build', 'Release', 'better_sqlite3.node')
if (!existsSync(binding)) {
  console.error(`Building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (once)…`)
  rmSync(nativeRoot, { recursive: true, force: true })
  mkdirSync(nativeRoot, { recursive: true })
  cpSync(dirname(require.resolve('better-sqlite3/package.json')), nativeRoot, {
    recursive: true,
    filter: (source) => !source.includes(`${join('better-sqlite3', 'build')}`),
  })
  // npm ships node-gyp; npm_execpath points into npm's own folder when run through `npm start`.
  const npmDir = process.env.npm_execpath ? dirname(dirname(process.env.npm_execpath)) : null
  const bundled = npmDir ? join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js') : null
  const nodeGyp = bundled && existsSync(bundled) ? [process.execPath, bundled] : ['npx', 'node-gyp']
  run(nodeGyp[0], [
    ...nodeGyp.slice(1),
    'rebuild',
    '--release',
    `--target=${electronVersion}`,
    '--runtime=electron',
    '--dist-url=https://electronjs.org/headers',
  ], { cwd: nativeRoot })
}

const child = spawn(electronBinary, [root], {
  stdio: 'inherit',
  env: { ...process.env, STUDIO_SQLITE_BINDING: binding },
})
child.on('exit', (code) => process.exit(code ?? 0))
