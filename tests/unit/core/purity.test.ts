import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers.ts'

const FORBIDDEN = [/^electron(\/|$)/, /^better-sqlite3(\/|$)/, /src-renderer/, /(^|\/)store(\/|$)/, /(^|\/)services(\/|$)/]

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|js|mjs|cjs)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
}

/** Every module specifier a file names: import/export … from, import(), require(). */
function specifiers(source: string): string[] {
  const found: string[] = []
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s+['"]([^'"]+)['"]/gm]
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!)
  return found
}

describe('core stays pure (STYLE 6)', () => {
  it('has no module under src-main/core that imports electron, better-sqlite3, the store, services or the renderer', () => {
    const coreDir = join(repoRoot, 'src-main', 'core')
    const files = sourceFiles(coreDir)
    expect(files.length).toBeGreaterThan(0)
    const offences: string[] = []
    for (const file of files) {
      for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
        if (FORBIDDEN.some((rule) => rule.test(specifier))) offences.push(`${relative(repoRoot, file)} imports ${specifier}`)
      }
    }
    expect(offences).toEqual([])
  })

  it('catches an offending import (the scanner itself works)', () => {
    const sample = `import Database from 'better-sqlite3'\nconst { app } = require('electron')\nexport * from '../store/index.ts'`
    const found = specifiers(sample).filter((s) => FORBIDDEN.some((rule) => rule.test(s)))
    expect(found.sort()).toEqual(['../store/index.ts', 'better-sqlite3', 'electron'])
  })
})
