// End-to-end test of a TensorFlow.js export's example page (issue #7): a classifier fine-tuned
// through the API is exported from the Export step as TensorFlow.js, the export folder is served
// over loopback HTTP, and its index.html (bert-studio-model.js, the studio's own inference code,
// on tfjs) runs in Chromium: it must give the studio's predictions. Registered by run.mjs:
// `registerTfjsPageTests(test, helpers)`.
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { extname, join } from 'node:path'
import { assert, ensureResults, expectText, results, root } from './harness.mjs'

const CLASSES = ['sport', 'cooking', 'finance']
const TOLERANCE = 1e-4

/** A labelled CSV of the shipped topics sample's first rows. */
function topicsCsv(count) {
  return readFileSync(join(root, 'resources', 'samples', 'topics.csv'), 'utf8').split('\n').slice(0, count + 1).join('\n') + '\n'
}

async function upload(server, name, body) {
  const response = await fetch(`${server.origin}/api/upload?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${server.token}` },
    body,
  })
  const result = await response.json()
  if (!result.ok) throw new Error(`upload ${name}: ${result.code} ${result.message}`)
  return result.value
}

async function waitForRun(invoke, server, run, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (run.status !== 'done') {
    assert(!['crashed', 'diverged', 'cancelled'].includes(run.status), `run ${run.name} ended ${run.status}: ${run.error}`)
    assert(Date.now() < deadline, `run ${run.name} still ${run.status} after ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 500))
    run = await invoke(server, 'runs.get', { runId: run.id })
  }
  return run
}

const TYPES = { '.js': 'text/javascript', '.json': 'application/json', '.html': 'text/html; charset=utf-8', '.bin': 'application/octet-stream', '.txt': 'text/plain', '.md': 'text/markdown' }

/** A loopback static server for the export folder, as `python3 -m http.server` would serve it for a user. */
async function serveFolder(dir) {
  const server = createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname).replace(/^\/+/, '') || 'index.html'
    const path = join(dir, name)
    if (name.includes('..') || !existsSync(path)) return response.writeHead(404).end()
    response.writeHead(200, { 'content-type': TYPES[extname(name)] ?? 'application/octet-stream' }).end(readFileSync(path))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) }
}

export function registerTfjsPageTests(test, { invoke }) {
  test(
    'tfjs export: the example page runs the fine-tuned classifier in Chromium with the studio’s predictions',
    async ({ page, server }) => {
      // A fine-tuned classifier, made through the API (the fine-tuning flow has its own test).
      const project = await invoke(server, 'projects.create', { name: 'Web page export' })
      const file = await upload(server, 'topics.csv', topicsCsv(60))
      const dataset = await invoke(server, 'datasets.importLabelled', { projectId: project.id, fileId: file.fileId, name: 'topics', task: 'classify', jobId: 'e2e-tfjs-labelled' })
      assert(CLASSES.every((name) => dataset.classes.some((item) => item.name === name)), `classes: ${dataset.classes.map((item) => item.name).join(', ')}`)
      const tokenizer = await invoke(server, 'tokenizers.train', { projectId: project.id, corpusId: dataset.corpusId, name: 'topics words', jobId: 'e2e-tfjs-tok', options: { vocabSize: 400 } })
      let run = await invoke(server, 'runs.finetune', {
        projectId: project.id, datasetId: dataset.id, name: 'topics classifier', tokenizerId: tokenizer.id, preset: 'tiny', seqLength: 32, batchSize: 8, epochs: 2,
      })
      run = await waitForRun(invoke, server, run, 150_000)

      // Export it from the Export step, as TensorFlow.js.
      await page.goto(server.url)
      await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: /Export/ }).click()
      await expectText(page.getByRole('heading', { level: 1 }).filter({ visible: true }), 'Export')
      await page.locator('#export-run').selectOption(String(run.id))
      await page.locator('input[name="export-format"][value="tfjs"]').check()
      await page.locator('main').getByRole('button', { name: 'Export', exact: true }).click()
      const parity = await expectText(page.getByTestId('parity'), /Parity check passed/, { timeout: 60_000 })
      console.log(`    ${parity.replace(/\s+/g, ' ')}`)
      assert(/held-out examples of the run’s dataset/.test(parity), `parity ran on: ${parity}`)
      await expectText(page.getByTestId('export-page-hint'), 'index.html')
      const folder = await page.getByTestId('export-folder').innerText()
      const files = await page.getByRole('table', { name: 'Files written' }).locator('tbody td code').allInnerTexts()
      for (const name of ['model.json', 'index.html', 'bert-studio-model.js', 'tf.fesm.min.js', 'studio-examples.json', 'tokenizer.json']) {
        assert(files.includes(name) && existsSync(join(folder, name)), `files written: expected ${name}, saw ${files.join(', ')}`)
      }
      ensureResults()
      await page.screenshot({ path: join(results, 'export-tfjs.png'), fullPage: true })

      // The page, served from the export folder alone.
      const site = await serveFolder(folder)
      try {
        await page.goto(`${site.url}/index.html`)
        const check = await expectText(page.locator('#check'), /Same predictions as BERT Studio|DIFFERENT|Not run/, { timeout: 60_000 })
        const status = await page.locator('#status').innerText()
        console.log(`    page: ${status.trim()} ${check.trim()}`)
        const result = await page.evaluate(() => window.bertStudioCheck)
        assert(result && result.passed, `the page's check: ${JSON.stringify(result ?? (await page.evaluate(() => window.bertStudioError)))}`)
        assert(result.maxAbsDiff <= TOLERANCE, `largest logit difference ${result.maxAbsDiff}`)
        assert(result.examples.length > 0 && result.examples.every((example) => example.idsMatch), 'the page tokenizes the examples as the studio does')

        // A sentence of our own: the page's probabilities against the studio's own prediction.
        const text = 'The striker scored twice in the final minutes of the match.'
        await page.locator('#first').fill(text)
        await page.getByRole('button', { name: 'Predict' }).click()
        await page.waitForFunction(() => window.bertStudioPrediction !== undefined)
        const reading = await page.evaluate(() => window.bertStudioPrediction.reading)
        const shown = await page.locator('#prediction').innerText()
        const studio = await invoke(server, 'runs.predict', { runId: run.id, text })
        assert(studio.task === 'classify', `runs.predict answered a ${studio.task} prediction`)
        let largest = 0
        for (const entry of reading.labels) {
          const expected = studio.probabilities[entry.label]
          assert(typeof expected === 'number', `the studio gave no probability for ${entry.label}`)
          largest = Math.max(largest, Math.abs(entry.probability - expected))
        }
        console.log(`    "${text}": page ${reading.labels[0].label} ${reading.labels[0].probability.toFixed(4)}, studio ${studio.labels[0]}; largest probability difference ${largest.toExponential(2)}`)
        assert(largest <= TOLERANCE, `page vs studio probabilities differ by ${largest}`)
        assert(reading.labels.find((entry) => entry.chosen).label === studio.labels[0], `page chose ${JSON.stringify(reading.labels)}, studio ${studio.labels}`)
        assert(shown.includes(studio.labels[0]), `the page shows: ${shown}`)
        await page.screenshot({ path: join(results, 'tfjs-page.png'), fullPage: true })
      } finally {
        await site.close()
      }
    },
    { timeoutMs: 300_000 },
  )
}
