/**
 * Doyensec's Electronegativity over the whole built app (out/: main, preload, renderer), as issue
 * #8 asks: `electronegativity -i out -r -x AvailableSecurityFixesGlobalCheck -o report.sarif`.
 * The tool exits 0 whatever it finds, and its SARIF carries no severity (a finding is "warning",
 * or "note" when it needs a manual review), so it also writes the same findings as CSV, which
 * does: the test fails on any HIGH or MEDIUM finding and prints them all.
 *
 * Findings reviewed and waived in the source with an `eng-disable` comment are listed in
 * REVIEWED; any other waiver fails the test, so a check cannot be silenced unseen.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, tempDir } from '../helpers.ts'

const out = join(repoRoot, 'out')
const bin = join(repoRoot, 'node_modules', '@doyensec', 'electronegativity', 'dist', 'index.js')
const ARGS = ['-i', out, '-r', '-x', 'AvailableSecurityFixesGlobalCheck']

/** Waived after review: the rule, where, and why. */
const REVIEWED: Record<string, string> = {
  // Waived for out/main/index.js by a banner (electron.vite.config.ts): a bundler keeps no comment on the call's line.
  OPEN_EXTERNAL_JS_CHECK: 'openExternalSafely (src-main/electron/security.ts) passes only https links to allow-listed hosts, checked on the line before',
}

interface Finding {
  rule: string
  severity: string
  confidence: string
  file: string
  location: string
  sample: string
}

let reports: ReturnType<typeof tempDir>
let sarif: { runs: { tool: { driver: { name: string; version: string } }; results: { ruleId: string; level: string; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[]; invocations: { executionSuccessful: boolean }[] }[] }
let findings: Finding[]
let logs: string[]

function electronegativity(output: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its translations are fetched from the network when it can; offline it says so and goes on.
    const child = spawn(process.execPath, [bin, ...ARGS, '-o', output], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LANG: 'en-US' } })
    let log = ''
    child.stdout.on('data', (chunk: Buffer) => (log += chunk))
    child.stderr.on('data', (chunk: Buffer) => (log += chunk))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 && existsSync(output) ? resolve(log) : reject(new Error(`electronegativity exited ${code} without ${output}:\n${log}`))))
  })
}

/**
 * Electronegativity 1.10.3 writes its CSV header and its rows with two concurrent
 * `fs.writeFile` calls ('w' then 'a', util/file.js), so on a loaded machine the header can land
 * over the start of the rows, or truncate them. A file that does not parse, or holds another number
 * of findings than the SARIF report (one write), is made again (at most 3 times).
 */
async function csvReport(output: string, expected: number): Promise<string> {
  let log = ''
  for (let attempt = 1; attempt <= 3; attempt++) {
    log += await electronegativity(output)
    try {
      const rows = parse(readFileSync(output, 'utf8'), { columns: true, trim: true, relax_quotes: true }) as unknown[]
      if (rows.length !== expected) throw new Error(`${rows.length} rows, but the SARIF report has ${expected} findings`)
      return log
    } catch (error) {
      log += `\n(attempt ${attempt}: the CSV came out garbled: ${(error as Error).message}; running it again)\n`
      rmSync(output, { force: true })
    }
  }
  throw new Error(`electronegativity wrote a garbled CSV 3 times:\n${log}`)
}

beforeAll(async () => {
  if (!existsSync(join(out, 'main', 'index.js')) || !existsSync(join(out, 'renderer', 'index.html'))) {
    throw new Error(`${out} is not built: run npm run build first (npm test does)`)
  }
  if (!existsSync(bin)) throw new Error(`${bin} is missing: npm ci installs @doyensec/electronegativity (a devDependency)`)
  reports = tempDir('electronegativity-')
  const sarifPath = join(reports.path, 'report.sarif')
  const csvPath = join(reports.path, 'report.csv')
  const sarifLog = await electronegativity(sarifPath)
  sarif = JSON.parse(readFileSync(sarifPath, 'utf8'))
  logs = [sarifLog, await csvReport(csvPath, sarif.runs[0]!.results.length)]
  const rows = parse(readFileSync(csvPath, 'utf8'), { columns: true, trim: true, relax_quotes: true }) as Record<string, string>[]
  findings = rows.map((row) => ({
    rule: row.issue!,
    severity: row.severity!,
    confidence: row.confidence!,
    file: row.filename!,
    location: row.location!,
    sample: row.sample!.slice(0, 160),
  }))
  console.log(
    `Electronegativity ${sarif.runs[0]!.tool.driver.version} over out/: ${findings.length} finding(s)\n` +
      findings.map((f) => `  ${f.severity}/${f.confidence} ${f.rule} ${f.file}:${f.location} ${f.sample}`).join('\n'),
  )
}, 180_000)
afterAll(() => reports?.cleanup())

describe('Electronegativity over the built app', () => {
  it('ran over main, preload and renderer and wrote a SARIF report', () => {
    const run = sarif.runs[0]!
    expect(run.tool.driver.name).toBe('Electronegativity')
    expect(run.invocations[0]!.executionSuccessful).toBe(true)
    for (const part of ['main', 'preload', 'renderer']) expect(readdirSync(join(out, part)).length, part).toBeGreaterThan(0)
    // The SARIF and the CSV are the same findings.
    expect(run.results.map((r) => `${r.ruleId} ${r.locations[0]!.physicalLocation.artifactLocation.uri}:${r.locations[0]!.physicalLocation.region.startLine}`).sort()).toEqual(
      findings.map((f) => `${f.rule} ${f.file}:${f.location.split(':')[0]}`).sort(),
    )
  })

  it('parsed every file it was given (a file it cannot parse goes unchecked)', () => {
    const failures = logs.join('\n').split('\n').filter((line) => /Error parsing/.test(line))
    expect(failures).toEqual([])
  })

  it('finds nothing of HIGH or MEDIUM severity', () => {
    const serious = findings.filter((f) => f.severity === 'HIGH' || f.severity === 'MEDIUM')
    expect(serious, serious.map((f) => `${f.severity} ${f.rule} ${f.file}:${f.location} ${f.sample}`).join('\n')).toEqual([])
  })

  it('waives only reviewed checks', () => {
    const waived = new Set<string>()
    const files = readdirSync(out, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile() && /\.(js|html)$/.test(entry.name))
    for (const entry of files) {
      for (const match of readFileSync(join(entry.parentPath, entry.name), 'utf8').matchAll(/eng-disable\s+([\w \t,]+)/g)) {
        for (const rule of match[1]!.trim().split(/[\s,]+/)) waived.add(rule.toUpperCase())
      }
    }
    expect([...waived].filter((rule) => !(rule in REVIEWED)), 'eng-disable comments outside the reviewed list').toEqual([])
    // The waived check still has exactly one call to look at: openExternalSafely's.
    const entry = readFileSync(join(out, 'main', 'index.js'), 'utf8')
    expect(entry.match(/\.openExternal\(/g)).toHaveLength(1)
    expect(entry).toMatch(/function openExternalSafely\(shell, link\) \{\s*if \(!isAllowedExternal\(link\)\) return false;\s*shell\.openExternal\(link\);/)
  })
})
