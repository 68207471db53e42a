// End-to-end test of the Runs step (issue #6) in web mode: two short runs watched live, paused and
// resumed through the queue, compared with their config difference highlighted. Registered by
// run.mjs: `registerRunsTests(test, helpers)`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { assert, ensureResults, expectText, fixtures, results } from './harness.mjs'

const step = (page, name) => page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: new RegExp(name) }).click()
const visibleHeading = (page) => page.getByRole('heading', { level: 1 }).filter({ visible: true })

/** The latest step the run's curve chart names in its summary (its newest point). */
async function chartStep(page, chart) {
  const label = (await page.locator(`[data-chart="${chart}"] [role="img"]`).getAttribute('aria-label')) ?? ''
  const steps = [...label.matchAll(/at step (\d+)/g)].map((match) => Number(match[1]))
  return steps.length > 0 ? Math.max(...steps) : 0
}

/** Waits until the chart's newest point moves past `after` at least twice: it draws as the run trains. */
async function watchLive(page, chart, status, timeout = 60_000) {
  const deadline = Date.now() + timeout
  const seen = []
  while (Date.now() < deadline && seen.length < 3) {
    const at = await chartStep(page, chart)
    if (at > 0 && at !== seen.at(-1)) seen.push(at)
    if (/^(Done|Paused)/.test((await status.innerText()).trim())) break
    await page.waitForTimeout(150)
  }
  assert(seen.length >= 2 && seen.at(-1) > seen[0], `${chart}: the curve did not advance while training (newest steps seen: ${seen.join(', ') || 'none'})`)
  return seen
}

export function registerRunsTests(test, { invoke }) {
  test(
    'runs: two runs train live, pause and resume through the queue, compare with the difference highlighted',
    async ({ page, server }) => {
      // Data through the API: the import and tokenizer steps have their own tests.
      const project = await invoke(server, 'projects.create', { name: 'Experiments' })
      const upload = await fetch(`${server.origin}/api/upload?name=stories.txt`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${server.token}` },
        body: readFileSync(join(fixtures, 'stories.txt')),
      })
      const file = (await upload.json()).value
      const { corpus } = await invoke(server, 'corpora.import', { projectId: project.id, fileId: file.fileId, name: 'stories', jobId: 'e2e-runs-import' })
      const tokenizer = await invoke(server, 'tokenizers.train', { projectId: project.id, corpusId: corpus.id, name: 'tok', jobId: 'e2e-runs-tok', options: { vocabSize: 300 } })
      const alpha = await invoke(server, 'runs.pretrain', {
        projectId: project.id, corpusId: corpus.id, tokenizerId: tokenizer.id, name: 'alpha',
        seqLength: 32, batchSize: 4, steps: 60, learningRate: 1e-4, seed: 3, checkpointEvery: 10, validateEvery: 10,
      })

      await page.goto(server.url)
      await step(page, 'Runs')
      await expectText(visibleHeading(page), 'Runs')
      const alphaStatus = page.getByTestId(`run-status-${alpha.id}`).first()
      await expectText(alphaStatus, /^(Queued|Running)/)

      // The second run from the sweep form: alpha's request with another learning rate. It waits for alpha.
      await page.getByRole('button', { name: 'New sweep…' }).click()
      const form = page.getByTestId('sweep-form')
      await form.getByLabel('Sweep name').fill('beta')
      await form.getByLabel('Learning rates').fill('5e-4')
      await form.getByRole('button', { name: 'Queue 1 run' }).click()
      await expectText(page.getByRole('status').filter({ hasText: 'Queued 1 run of sweep' }), 'sweep "beta"')
      const runs = await invoke(server, 'runs.experiments', { projectId: project.id })
      const beta = runs.find((run) => run.name.startsWith('beta'))
      assert(beta && beta.hyper.learningRate === 5e-4 && beta.hyper.seed === 3, `beta: ${JSON.stringify(beta?.hyper)}`)
      const betaStatus = page.getByTestId(`run-status-${beta.id}`).first()
      await expectText(betaStatus, /^Queued/)
      await expectText(page.getByTestId('queue'), beta.name)

      // Alpha's curve draws live.
      await page.getByRole('button', { name: 'Open alpha' }).click()
      await expectText(alphaStatus, /^Running/, { timeout: 60_000 })
      const detail = page.getByTestId('run-detail')
      await watchLive(page, 'run-curves', detail.getByTestId(`run-status-${alpha.id}`))
      // The status area on every step: the run in training and the one waiting.
      await expectText(page.getByTestId('run-status-area'), /alpha[\s\S]*step \d+ \/ 60[\s\S]*1 queued/)
      ensureResults()
      await page.screenshot({ path: join(results, 'runs-live.png'), fullPage: true })

      // Pause alpha: it checkpoints and stops; beta, next in the queue, starts and draws live.
      await detail.getByRole('button', { name: 'Pause' }).click()
      await expectText(alphaStatus, /^Paused/, { timeout: 30_000 })
      const pausedAt = Number(/^Paused\s*(\d+)/.exec(await alphaStatus.innerText())?.[1] ?? 0)
      assert(pausedAt > 0 && pausedAt < 60, `alpha paused at step ${pausedAt}`)
      await expectText(betaStatus, /^Running/, { timeout: 60_000 })
      await page.getByRole('button', { name: `Open ${beta.name}` }).click()
      await watchLive(page, 'run-curves', page.getByTestId('run-detail').getByTestId(`run-status-${beta.id}`))

      // Resume alpha: back in the queue behind beta, and on from its checkpoint once beta is done.
      await page.getByRole('button', { name: 'Open alpha' }).click()
      await page.getByTestId('run-detail').getByRole('button', { name: 'Resume' }).click()
      await expectText(alphaStatus, /^Queued/)
      await expectText(page.getByTestId('queue'), /Training[\s\S]*beta[\s\S]*1\s*alpha/)
      await expectText(betaStatus, /^Done/, { timeout: 90_000 })
      await expectText(alphaStatus, /^Running/, { timeout: 30_000 })
      await expectText(alphaStatus, /^Done\s*60 \/ 60/, { timeout: 90_000 })
      // Web mode: the page title counts the runs that ended unseen.
      const title = await page.title()
      assert(/^\(\d\) .*(alpha|beta).* finished/.test(title), `page title after the runs ended: ${title}`)

      // Compare the two: overlaid curves, the learning rate highlighted as the difference.
      await page.getByRole('checkbox', { name: 'Compare alpha' }).check()
      await page.getByRole('checkbox', { name: `Compare ${beta.name}` }).check()
      await page.getByRole('button', { name: /Compare 2 runs/ }).click()
      const compare = page.getByTestId('compare')
      await expectText(compare.locator('#compare-title'), 'Comparing 2 runs')
      const diff = compare.getByTestId('config-diff')
      await expectText(diff, 'request.learningRate')
      const changed = await diff.locator('td.changed').allInnerTexts()
      assert(changed.some((text) => /0\.0005|0\.0001/.test(text)), `highlighted cells: ${changed.join(' | ')}`)
      const rows = await diff.locator('tbody tr').allInnerTexts()
      assert(!rows.some((row) => /request\.seed|request\.steps/.test(row)), `shared settings listed as differences: ${rows.join(' | ')}`)
      await page.waitForFunction(() => (document.querySelector('[data-chart="compare-curves"] canvas')?.width ?? 0) > 100)
      const overlay = (await page.locator('[data-chart="compare-curves"] [role="img"]').getAttribute('aria-label')) ?? ''
      assert(overlay.includes('alpha · train') && overlay.includes(`${beta.name} · validation`), `overlay lines: ${overlay}`)
      await expectText(compare.getByTestId('compare-metrics'), /alpha/)
      // Smoothing and another x axis redraw from the same points.
      await compare.getByLabel('Smoothing').fill('0.6')
      await compare.locator('#compare-curves-axis').selectOption('tokens')
      await page.waitForFunction(() => (document.querySelector('[data-chart="compare-curves"] canvas')?.width ?? 0) > 100)
      await page.screenshot({ path: join(results, 'runs-compare.png'), fullPage: true })
      await page.getByLabel('Theme').selectOption('dark')
      await page.waitForTimeout(300)
      await page.screenshot({ path: join(results, 'runs-compare-dark.png'), fullPage: true })
      await page.getByLabel('Theme').selectOption('light')

      // Search, tags and the best model one click away.
      await page.getByRole('button', { name: 'Close comparison' }).click()
      await page.getByRole('button', { name: 'Open alpha' }).click()
      await page.getByLabel('New tag').fill('baseline')
      await page.getByRole('button', { name: 'Add', exact: true }).click()
      await page.getByLabel('Search runs').fill('baseline')
      await expectText(page.getByRole('status').filter({ hasText: 'runs shown' }), /^1 of 2 runs shown/)
      await page.getByLabel('Search runs').fill('')
      await page.getByTestId('run-detail').getByRole('button', { name: 'Open the best model' }).click()
      await expectText(visibleHeading(page), 'Export')
      await page.waitForFunction(() => document.querySelector('#export-run option:checked')?.textContent?.startsWith('alpha'))

      // Delete asks first, then removes the run and its checkpoints.
      await step(page, 'Runs')
      await page.getByRole('button', { name: `Open ${beta.name}` }).click()
      await page.getByTestId('run-detail').getByRole('button', { name: 'Delete…' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Delete run' }).click()
      await expectText(page.getByRole('status').filter({ hasText: 'Deleted' }), /checkpoints/)
      const left = await invoke(server, 'runs.list', { projectId: project.id })
      assert(left.length === 1 && left[0].name === 'alpha', `runs after delete: ${left.map((run) => run.name).join(', ')}`)

      // Disk: what each run holds; prune, compact, and the project as one file.
      await page.getByRole('button', { name: 'Disk and project…' }).click()
      const disk = page.getByTestId('disk')
      await expectText(disk.getByRole('table', { name: 'Disk used by each run' }), /alpha\s+\d+\s+[\d.]+ (KB|MB)/)
      await disk.getByRole('button', { name: 'Prune old checkpoints' }).click()
      await expectText(page.getByRole('status').filter({ hasText: /Removed \d+ checkpoints|Nothing to prune/ }), /checkpoints/)
      await disk.getByRole('button', { name: 'Compact the database' }).click()
      await expectText(page.getByRole('status').filter({ hasText: 'Compacted' }), /Compacted the database: .* → /)
      await disk.getByRole('button', { name: 'Export project to a file' }).click()
      const exported = await expectText(page.getByRole('status').filter({ hasText: 'Exported the project' }), /Experiments\.bertstudio/)
      console.log(`    ${exported.replace(/\s+Dismiss$/, '')}`)
      await page.screenshot({ path: join(results, 'runs-disk.png'), fullPage: true })
    },
    { timeoutMs: 360_000 },
  )
}
