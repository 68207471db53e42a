// End-to-end test of "Run elsewhere" (issue #9) in web mode: a pre-training run written out as a
// bundle for PyTorch, its command copied, the bundle listed on the Runs step, and (where python3
// has torch) a few steps trained by the bundle's train.py and imported back as a run with curves.
// Registered by run.mjs: `registerBundleTests(test, helpers)`.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { assert, ensureResults, expectText, fixtures, results } from './harness.mjs'

const PYTHON = '/usr/bin/python3'
const step = (page, name) => page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: new RegExp(name) }).click()

function torchMissing() {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 })
  return probe.status === 0 ? null : 'python3 with torch not installed'
}

/** Runs the bundle's train.py as one process (no torchrun: WORLD_SIZE unset); rejects with its stderr. */
function train(dir, maxSteps, timeoutMs) {
  const env = { ...process.env }
  for (const name of ['WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT']) delete env[name]
  return new Promise((resolve, reject) => {
    const child = spawn('nice', ['-n', '19', PYTHON, join(dir, 'train.py'), '--max-steps', String(maxSteps), '--device', 'cpu', '--threads', '1'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(output)
      else reject(new Error(`train.py ended with ${signal ?? `exit ${code}`}:\n${output.slice(-2000)}`))
    })
  })
}

export function registerBundleTests(test, { invoke }) {
  test(
    'bundle: run elsewhere writes a bundle and its command, lists it, imports what train.py made',
    async ({ page, server }) => {
      // Data through the API: the import, tokenizer and pre-train steps have their own tests.
      const project = await invoke(server, 'projects.create', { name: 'Elsewhere' })
      const upload = await fetch(`${server.origin}/api/upload?name=stories.txt`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${server.token}` },
        body: readFileSync(join(fixtures, 'stories.txt')),
      })
      const file = (await upload.json()).value
      const { corpus } = await invoke(server, 'corpora.import', { projectId: project.id, fileId: file.fileId, name: 'stories', jobId: 'e2e-bundle-import' })
      const tokenizer = await invoke(server, 'tokenizers.train', { projectId: project.id, corpusId: corpus.id, name: 'tok', jobId: 'e2e-bundle-tok', options: { vocabSize: 300 } })
      // Long enough to still be training when the page opens; paused from the page once it has a checkpoint.
      let run = await invoke(server, 'runs.pretrain', {
        projectId: project.id, corpusId: corpus.id, tokenizerId: tokenizer.id, name: 'far away',
        seqLength: 32, batchSize: 4, steps: 1000, checkpointEvery: 5, validateEvery: 5,
      })
      const deadline = Date.now() + 60_000
      while (run.checkpointStep === null) {
        assert(!['crashed', 'diverged', 'cancelled', 'done'].includes(run.status), `the run ended ${run.status} before its first checkpoint: ${run.error}`)
        assert(Date.now() < deadline, `no checkpoint after 60 s (status ${run.status}, step ${run.step})`)
        await new Promise((r) => setTimeout(r, 250))
        run = await invoke(server, 'runs.get', { runId: run.id })
      }

      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.origin })
      await page.goto(server.url)
      await step(page, 'Pre-train')
      await expectText(page.locator('#run-title'), 'far away')
      const status = page.getByTestId('run-status')
      const elsewhere = page.getByRole('button', { name: 'Run elsewhere…' })

      // While it trains the bundle would miss the steps in flight: the page says to pause first.
      if ((await invoke(server, 'runs.get', { runId: run.id })).status === 'running') {
        await elsewhere.click()
        const note = await expectText(page.getByRole('status').filter({ hasText: 'pause it first' }), /“far away” is training: pause it first/)
        console.log(`    while training: ${note}`)
        assert((await page.getByTestId('run-elsewhere').count()) === 0, 'no bundle is written while the run trains')
        await page.getByRole('button', { name: 'Pause' }).click()
      }
      await expectText(status, /^Paused/, { timeout: 30_000 })

      await elsewhere.click()
      const panel = page.getByTestId('run-elsewhere')
      await panel.waitFor({ timeout: 60_000 })
      const dir = (await panel.getByTestId('bundle-dir').innerText()).trim()
      const command = (await panel.getByTestId('bundle-command').innerText()).trim()
      console.log(`    bundle: ${dir}\n    command: ${command}`)
      assert(dir.includes('bundles') && existsSync(join(dir, 'train.py')), `bundle folder ${dir}: expected it under bundles/, holding train.py`)
      assert(command.includes('torchrun') && command.includes('train.py'), `command: expected torchrun … train.py, saw ${command}`)
      const steps = await panel.getByTestId('bundle-steps').innerText()
      const [fromStep, totalSteps] = (/^([\d,.\s]+) → ([\d,.\s]+)/.exec(steps) ?? []).slice(1).map((text) => Number(text.replace(/\D/g, '')))
      assert(fromStep > 0 && totalSteps === 1000, `steps: expected from the checkpoint to 1,000, saw ${steps}`)
      await expectText(panel, 'Copy the folder to a machine with PyTorch, run the command there, bring back its output/ folder, then Import')
      // The panel takes focus, so a keyboard user lands on it.
      const focused = await page.evaluate(() => document.activeElement?.id)
      assert(focused === 'elsewhere-title', `focus after writing the bundle: expected the panel's heading, got ${focused}`)

      // Copy: to the clipboard where the page may write it, else the command is selected to copy by hand.
      await panel.getByRole('button', { name: 'Copy' }).click()
      await expectText(panel.locator('#bundle-copy-state'), /Copied|selected/)
      if ((await panel.getByRole('button', { name: 'Copied' }).count()) > 0) {
        const clipboard = await page.evaluate(() => navigator.clipboard.readText())
        assert(clipboard === command, `clipboard: expected the command, got ${JSON.stringify(clipboard)}`)
      } else {
        const selected = await page.evaluate(() => window.getSelection()?.toString().trim())
        assert(selected === command, `selection: expected the command, got ${JSON.stringify(selected)}`)
        console.log('    clipboard refused: the command was selected instead')
      }
      ensureResults()
      await page.screenshot({ path: join(results, 'bundle-run-elsewhere.png'), fullPage: true })
      await page.getByLabel('Theme').selectOption('dark')
      await page.waitForTimeout(300)
      await panel.screenshot({ path: join(results, 'bundle-run-elsewhere-dark.png') })
      await page.getByLabel('Theme').selectOption('light')

      // The Runs step lists it; nothing has come back yet, so there is nothing to import.
      const name = dir.split(/[\\/]/).filter(Boolean).at(-1)
      await step(page, 'Runs')
      await page.getByRole('button', { name: 'Bundles…' }).click()
      const bundles = page.getByTestId('bundles')
      const row = bundles.locator(`tr[data-bundle="${name}"]`)
      await expectText(row, 'far away')
      await expectText(row.getByTestId('bundle-results'), 'no results yet')
      const importButton = row.getByRole('button', { name: `Import results of ${name}` })
      assert(await importButton.isDisabled(), 'Import results is disabled while the bundle has no results')
      await page.screenshot({ path: join(results, 'bundle-list.png'), fullPage: true })

      const missing = torchMissing()
      if (missing) {
        console.log(`skip: import results in the UI — ${missing}`)
        return
      }
      // Four steps on from the checkpoint, on one process, then back into the studio.
      const trained = await train(dir, fromStep + 4, 240_000)
      console.log(`    train.py: ${trained.trim().split('\n').at(-1)}`)
      await bundles.getByRole('button', { name: 'Check again' }).click()
      await expectText(row.getByTestId('bundle-results'), new RegExp(`output: step ${fromStep + 4}, checkpoints? `), { timeout: 15_000 })
      await page.screenshot({ path: join(results, 'bundle-results.png'), fullPage: true })
      await importButton.click()
      const notice = await expectText(page.getByRole('status').filter({ hasText: 'Imported the results of bundle' }), /as run “.+”, at step \d/, { timeout: 60_000 })
      console.log(`    ${notice}`)
      const importedName = /as run “(.+)”/.exec(notice)[1]
      const detail = page.getByTestId('run-detail')
      await expectText(detail.locator('#run-detail-title'), importedName)
      // Its curves: the loss train.py logged, drawn up to the last step it trained.
      await page.waitForFunction(() => (document.querySelector('[data-chart="run-curves"] canvas')?.width ?? 0) > 100, null, { timeout: 15_000 })
      const curves = (await page.locator('[data-chart="run-curves"] [role="img"]').getAttribute('aria-label')) ?? ''
      const lastStep = Math.max(0, ...[...curves.matchAll(/at step (\d+)/g)].map((match) => Number(match[1])))
      assert(lastStep === fromStep + 4, `imported curves: expected points up to step ${fromStep + 4}, saw ${curves}`)
      await page.screenshot({ path: join(results, 'bundle-imported.png'), fullPage: true })

      // Imported once: the bundle now opens its run instead of importing again.
      await page.getByRole('button', { name: 'Bundles…' }).click()
      await row.getByRole('button', { name: `Open the run imported from ${name}` }).waitFor()

      // The same results as a folder brought back from elsewhere: uploaded (checkpoint folders and all), then imported.
      await bundles.locator('#bundle-output-folder').setInputFiles(join(dir, 'output'))
      const again = await expectText(page.getByRole('status').filter({ hasText: 'Imported the output folder' }), /as run “.+”, at step \d/, { timeout: 60_000 })
      console.log(`    ${again}`)
      const uploadedName = /as run “(.+)”/.exec(again)[1]
      assert(uploadedName !== importedName, `the uploaded folder made a second run, not ${importedName} again`)
      await expectText(detail.locator('#run-detail-title'), uploadedName)
      const runs = await invoke(server, 'runs.list', { projectId: project.id })
      const uploaded = runs.find((item) => item.name === uploadedName)
      assert(uploaded?.step === fromStep + 4 && uploaded.checkpointStep === fromStep + 4, `uploaded run: step ${uploaded?.step}, checkpoint ${uploaded?.checkpointStep}`)
    },
    { timeoutMs: 420_000 },
  )
}
