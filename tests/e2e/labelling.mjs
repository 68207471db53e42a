// End-to-end tests of the labelling, fine-tuning, evaluation and playground steps (issue #5), in
// web mode. Registered by run.mjs: `registerLabellingTests(test, helpers)`.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { assert, ensureResults, expectText, removeHome, results, root, tempHome } from './harness.mjs'

const SAMPLES = join(root, 'resources', 'samples')
const CLASSES = ['sport', 'cooking', 'finance']

/** The first `count` rows of the shipped topics sample: text → label. */
function topicRows(count) {
  const lines = readFileSync(join(SAMPLES, 'topics.csv'), 'utf8').split('\n').slice(1)
  const rows = []
  for (const line of lines) {
    // The sample's cells hold no line breaks; a quoted text may hold commas and doubled quotes.
    const match = /^(?:"((?:[^"]|"")*)"|([^,]*)),(\w+)$/.exec(line.trim())
    if (!match) continue
    rows.push({ text: (match[1] ?? match[2]).replace(/""/g, '"'), label: match[3] })
    if (rows.length === count) break
  }
  return rows
}

const step = (page, name) => page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: new RegExp(name) }).click()
const visibleHeading = (page) => page.getByRole('heading', { level: 1 }).filter({ visible: true })
const labelledCount = async (page) => Number(/(\d+) of \d+ examples labelled/.exec(await page.getByTestId('labelled-count').innerText())?.[1] ?? NaN)

async function waitForLabelled(page, expected) {
  await page.waitForFunction(
    (count) => new RegExp(`^${count} of \\d+ examples labelled`).test(document.querySelector('[data-testid="labelled-count"]')?.textContent?.trim() ?? ''),
    expected,
    { timeout: 15_000 },
  )
}

export function registerLabellingTests(test, { createProject, invoke }) {
  test(
    'label → fine-tune → evaluate → playground: keyboard labels, undo, relabel from the confusion matrix',
    async ({ page, server }) => {
      const dir = tempHome()
      const rows = topicRows(80)
      const byText = new Map(rows.map((row) => [row.text, row.label]))
      const file = join(dir, 'topics.txt')
      writeFileSync(file, rows.map((row) => row.text).join('\n') + '\n')
      try {
        await page.goto(server.url)
        await createProject(page, 'Topics')
        await page.locator('#import-file').setInputFiles(file)
        await page.locator('#preview-documents-title').waitFor({ timeout: 15_000 })
        await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
        await expectText(page.locator('[data-stat="documents"]'), /^80$/, { timeout: 30_000 })
        // A small vocabulary through the API: the tokenizer step has its own tests.
        const [project] = await invoke(server, 'projects.list', {})
        const [corpus] = await invoke(server, 'corpora.list', { projectId: project.id })
        await invoke(server, 'tokenizers.train', { projectId: project.id, corpusId: corpus.id, name: 'topics-400', jobId: 'e2e-label-tok', options: { vocabSize: 400, minFrequency: 1 } })

        // Label: no dataset yet, so the step opens on the new-dataset form.
        await step(page, 'Label')
        await expectText(visibleHeading(page), 'Label')
        await page.locator('#new-dataset-title').waitFor()
        assert(await page.locator('input[name="dataset-task"][value="classify"]').isChecked(), 'classify is the default task')
        await page.locator('#dataset-classes').fill(CLASSES.join(', '))
        await page.locator('#dataset-name').fill('topics')
        await page.getByRole('button', { name: 'Create dataset' }).click()
        await expectText(page.locator('#dataset-title'), 'topics')
        await expectText(page.getByTestId('example-position'), 'Example 1 of 80')
        const buttons = await page.getByRole('group', { name: 'Class' }).getByRole('button').allInnerTexts()
        assert(buttons.map((text) => text.replace(/\s+/g, ' ').trim()).join('|') === '1 sport|2 cooking|3 finance', `class buttons: ${buttons.join('|')}`)

        // Twenty labels with the keyboard only: the number key of the right class, which moves on.
        await page.locator('body').click({ position: { x: 5, y: 5 } })
        const labelled = []
        for (let index = 0; index < 20; index++) {
          await expectText(page.getByTestId('example-position'), `Example ${index + 1} of 80`)
          const text = await page.getByTestId('example-text').innerText()
          const label = byText.get(text.trim())
          assert(label, `example ${index + 1} is not a row of the sample: ${text}`)
          labelled.push({ text, label })
          await page.keyboard.press(String(CLASSES.indexOf(label) + 1))
        }
        await expectText(page.getByTestId('example-position'), 'Example 21 of 80')
        await waitForLabelled(page, 20)
        ensureResults()
        await page.screenshot({ path: join(results, 'label-workspace.png'), fullPage: true })

        // j/k move without labelling; the earlier example shows its saved label.
        await page.keyboard.press('k')
        await expectText(page.getByTestId('example-position'), 'Example 20 of 80')
        await expectText(page.getByTestId('my-label'), labelled[19].label)
        await expectText(page.getByTestId('save-state'), /Saved/)
        await page.keyboard.press('j')
        await expectText(page.getByTestId('example-position'), 'Example 21 of 80')

        // Undo (z) goes back to the last labelled example and clears its label in the store.
        await page.keyboard.press('z')
        await expectText(page.getByTestId('example-position'), 'Example 20 of 80')
        await expectText(page.getByTestId('my-label'), '—')
        await waitForLabelled(page, 19)
        const stored = await invoke(server, 'labels.examples', { datasetId: (await invoke(server, 'datasets.list', { projectId: project.id }))[0].id, filter: { kind: 'labelled' }, limit: 100 })
        assert(stored.total === 19, `after undo the store holds ${stored.total} labelled examples, expected 19`)
        assert(!stored.examples.some((example) => example.text === labelled[19].text), 'the undone label is still in the store')
        // Labelled again, by keyboard: back to twenty.
        await page.keyboard.press(String(CLASSES.indexOf(labelled[19].label) + 1))
        await waitForLabelled(page, 20)

        // A second annotator labels the first three examples, disagreeing once: Cohen's kappa appears.
        await page.getByRole('button', { name: 'Table', exact: true }).click()
        await page.getByRole('button', { name: 'Open example 1', exact: true }).click()
        await expectText(page.getByTestId('example-position'), 'Example 1 of 80')
        await page.locator('#label-annotator').fill('second')
        await page.locator('#label-annotator').press('Enter')
        for (const [index, { label }] of labelled.slice(0, 3).entries()) {
          const key = index === 2 ? CLASSES.indexOf(CLASSES.find((name) => name !== label)) + 1 : CLASSES.indexOf(label) + 1
          await page.keyboard.press(String(key))
          await expectText(page.getByTestId('example-position'), `Example ${index + 2} of 80`)
        }
        const kappa = await expectText(page.getByTestId('kappa'), /^-?\d\.\d\d /)
        console.log(`    kappa (me, second) over 3 examples: ${kappa}`)
        await page.locator('#label-annotator').fill('me')
        await page.locator('#label-annotator').press('Enter')
        await waitForLabelled(page, 20)

        // The shortcut sheet, and the table view with the labels given.
        await page.keyboard.press('?')
        await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor()
        await page.keyboard.press('Escape')
        await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ state: 'hidden' })
        await page.getByRole('button', { name: 'Table', exact: true }).click()
        await expectText(page.locator('#examples-table tbody tr').first(), labelled[0].label)
        await page.screenshot({ path: join(results, 'label-table.png'), fullPage: true })
        await page.getByRole('button', { name: 'One at a time', exact: true }).click()
        await expectText(page.getByTestId('per-class'), /sport/)
        // The unlabelled filter lists the other sixty.
        await page.locator('#label-filter').selectOption('unlabelled')
        await expectText(page.getByRole('status').filter({ hasText: 'in this view' }), /^60 in this view/)
        await page.locator('#label-filter').selectOption('all')

        // A fixed, stratified split.
        await page.getByRole('button', { name: 'Make split' }).click()
        const split = await expectText(page.getByTestId('split-status'), /Train \d+ · validation \d+ · test [1-9]/)
        console.log(`    split: ${split.replace(/\s+/g, ' ')}`)

        // Fine-tune a Tiny model from random weights: short sequences, a few epochs.
        await step(page, 'Fine-tune')
        await expectText(visibleHeading(page), 'Fine-tune')
        await page.locator('#finetune-setup-title').waitFor()
        assert((await page.locator('#finetune-parent').inputValue()) === 'random', 'with no pre-trained run, fine-tuning starts from random weights')
        await page.locator('section[aria-labelledby="finetune-setup-title"] summary').click()
        await page.locator('#finetune-epochs').fill('4')
        await page.locator('#finetune-batch').fill('8')
        await page.locator('#finetune-seq-length').fill('32')
        await page.screenshot({ path: join(results, 'finetune-setup.png'), fullPage: true })
        await page.getByRole('button', { name: 'Start fine-tuning' }).click()
        await page.locator('#finetune-run-title').waitFor()
        const status = page.getByTestId('finetune-status')
        await expectText(status, /^(Done|Stopped)/, { timeout: 150_000 }).catch(async (error) => {
          await page.screenshot({ path: join(results, 'finetune-failed.png'), fullPage: true })
          throw error
        })
        await page.waitForFunction(() => (document.querySelector('[data-chart="finetune-chart-loss"] canvas')?.width ?? 0) > 100)
        await page.screenshot({ path: join(results, 'finetune-done.png'), fullPage: true })
        console.log(`    fine-tuning: ${(await status.innerText()).trim()}`)

        // Evaluate: the test split's confusion matrix; open a cell and relabel an example in it.
        await page.getByRole('button', { name: 'Evaluate this run →' }).click()
        await expectText(visibleHeading(page), 'Evaluate')
        const matrix = page.getByRole('table', { name: /Confusion matrix/ })
        await matrix.waitFor({ timeout: 60_000 })
        await expectText(page.locator('[data-stat="eval-accuracy"]'), /%/)
        // Beside the model, the TF-IDF baseline on the same test examples, with a verdict in words.
        await expectText(page.locator('[data-stat="baseline-accuracy"]'), /%/)
        await expectText(page.getByTestId('baseline-verdict'), /(beats the baseline|baseline does better|level within chance) .* test examples/)
        const cell = matrix.locator('button:not([disabled])').first()
        const actual = await cell.getAttribute('data-actual')
        await cell.click()
        const example = page.getByTestId('cell-example').first()
        await example.waitFor()
        const relabelAs = CLASSES.find((name) => name !== actual)
        await example.getByLabel('Label as').selectOption(relabelAs)
        await example.getByRole('button', { name: 'Save label' }).click()
        await expectText(example.getByTestId('relabel-state'), `Saved as ${relabelAs}`)
        const relabelledText = (await example.locator('.text').innerText()).trim()
        await page.screenshot({ path: join(results, 'evaluate-cell.png'), fullPage: true })
        const dataset = (await invoke(server, 'datasets.list', { projectId: project.id }))[0]
        const classId = dataset.classes.find((item) => item.name === relabelAs).id
        const found = await invoke(server, 'labels.examples', { datasetId: dataset.id, filter: { kind: 'class', classId }, query: relabelledText.slice(0, 60), limit: 50 })
        assert(
          found.examples.some((item) => item.text === relabelledText && item.labels.some((label) => label.annotator === 'me' && label.value.classIds?.[0] === classId)),
          `the relabel of "${relabelledText}" as ${relabelAs} is not in the store`,
        )

        // The playground predicts with the run handed over.
        await page.getByRole('button', { name: 'Try it in the playground →' }).click()
        await expectText(visibleHeading(page), 'Playground')
        await page.locator('#playground-text').fill('The striker scored twice in the final minutes of the match.')
        await page.locator('main').getByRole('button', { name: 'Predict', exact: true }).click()
        const predicted = await expectText(page.getByTestId('predicted-label'), /^(sport|cooking|finance)$/, { timeout: 30_000 })
        const bars = await page.getByRole('list', { name: 'Probabilities' }).locator('li').count()
        assert(bars === 3, `the playground shows ${bars} probabilities, expected 3`)
        console.log(`    playground: ${predicted}`)
        await page.screenshot({ path: join(results, 'playground.png'), fullPage: true })

        // Batch prediction of a file, downloaded as CSV: one row per input line, a formula-like cell escaped.
        const batchFile = join(dir, 'inputs.txt')
        writeFileSync(batchFile, 'Whisk the eggs with sugar until pale.\nThe goalkeeper saved a penalty.\n=1+1 shares rose sharply\n')
        await page.locator('#batch-file').setInputFiles(batchFile)
        await expectText(page.locator('section[aria-labelledby="batch-title"] .picked'), 'inputs.txt')
        await page.getByRole('button', { name: 'Predict the file' }).click()
        await expectText(page.getByTestId('batch-rows'), /^3 rows predicted/, { timeout: 60_000 })
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /^Download / }).click()])
        const csv = readFileSync(await download.path(), 'utf8').replace(/^\ufeff/, '')
        const lines = csv.trim().split(/\r?\n/)
        assert(lines.length === 4, `batch CSV: expected a header and 3 rows, got ${lines.length}: ${csv.slice(0, 300)}`)
        assert(!lines.some((line) => /(^|,)"?=1\+1/.test(line)), `a cell starting with = must be escaped: ${csv.slice(0, 300)}`)
        await page.locator('#batch-title').scrollIntoViewIfNeeded()
        await page.screenshot({ path: join(results, 'playground-batch.png'), fullPage: true })

        // Model in the loop: the run predicts the dataset; the least certain unlabelled examples come first.
        await step(page, 'Label')
        await page.getByRole('button', { name: 'Predict', exact: true }).click()
        await expectText(page.getByTestId('predicted-count'), /Predicted 80 examples/, { timeout: 60_000 })
        await page.locator('#label-filter').selectOption('uncertain')
        await expectText(page.getByRole('status').filter({ hasText: 'in this view' }), /^60 in this view/)
        await expectText(page.getByTestId('prediction'), /^(sport|cooking|finance)\s+\d+%$/)
        await page.screenshot({ path: join(results, 'label-model-in-the-loop.png'), fullPage: true })

        // The Runs view compares fine-tuned runs on their test metric, the baseline's beside it.
        await step(page, 'Runs')
        await expectText(page.locator('#runs-table [data-col="test"]').first(), /\d+\.\d%\s+TF-IDF \d+\.\d%/)
        await page.screenshot({ path: join(results, 'runs-finetuned.png'), fullPage: true })
      } finally {
        removeHome(dir)
      }
    },
    { timeoutMs: 300_000 },
  )

  test(
    'label spans with shift+arrows, undo them; a labelled file imports as a dataset',
    async ({ page, server }) => {
      await page.goto(server.url)
      await createProject(page, 'Entities')
      await step(page, 'Label')
      await page.locator('#new-dataset-title').waitFor()
      await page.getByLabel('A labelled file (CSV, TSV or JSON Lines)').check()
      await page.locator('#dataset-file').setInputFiles(join(SAMPLES, 'entities.jsonl'))
      await expectText(page.locator('.picked'), 'entities.jsonl')
      await page.getByLabel('Tag spans').check()
      await page.getByRole('button', { name: 'Create dataset' }).click()
      await expectText(page.locator('#dataset-title'), 'entities', { timeout: 30_000 })
      assert((await labelledCount(page)) === 400, `imported labels: ${await page.getByTestId('labelled-count').innerText()}`)

      // The imported spans show as highlights, the start of this annotator's own label.
      const text = page.getByRole('textbox', { name: 'Text: select words to tag' })
      await text.waitFor()
      const first = (await text.innerText()).replace(/\s+/g, ' ')
      assert(first.includes('works as an engineer at Global Seed Bank'), `first example: ${first}`)
      const spans = page.getByRole('list', { name: 'Tagged spans' })
      await expectText(spans, '“Global Seed Bank” ORG')
      await expectText(page.getByTestId('reference-note'), 'Showing import')
      // Keyboard only: the caret to the last word, Shift+← takes one more, 1 tags them PERSON. Without
      // overlap, the ORG span under them gives way.
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('End')
      await page.keyboard.press('ArrowLeft')
      await page.keyboard.press('Shift+ArrowLeft')
      await page.keyboard.press('1')
      await expectText(spans, '“Seed Bank” PERSON')
      await expectText(page.getByTestId('save-state'), /Saved/)
      assert(!(await spans.innerText()).includes('Global Seed Bank'), 'the overlapping ORG span should give way')
      await expectText(page.getByTestId('my-label'), 'PERSON ×2')
      await page.screenshot({ path: join(results, 'label-spans.png'), fullPage: true })
      // Undo clears this annotator's label: the imported one shows again.
      await page.keyboard.press('z')
      await expectText(page.getByTestId('my-label'), '—')
      await expectText(spans, '“Global Seed Bank” ORG')

      // The schema: rename, reorder, add, merge.
      const typeButtons = async () =>
        (await page.getByRole('group', { name: 'Tag the selection as' }).getByRole('button').allInnerTexts()).map((text) => text.replace(/^\d\s*/, '').trim()).join('|')
      await page.getByLabel('Name of CITY').fill('TOWN')
      await page.getByLabel('Name of CITY').press('Enter')
      await page.getByRole('button', { name: 'Move TOWN up' }).click()
      await page.waitForFunction(() => document.querySelector('[aria-label="Tag the selection as"] button:nth-child(2)')?.textContent?.includes('TOWN'))
      await page.locator('#new-class').fill('DATE')
      await page.getByRole('button', { name: 'Add entity type' }).click()
      await page.getByLabel('Name of DATE').waitFor()
      await page.locator('li', { has: page.getByLabel('Name of DATE') }).getByRole('button', { name: 'Merge…' }).click()
      await page.getByLabel('Merge DATE into').selectOption({ label: 'ORG' })
      await page.locator('li', { has: page.getByLabel('Name of DATE') }).getByRole('button', { name: 'Merge', exact: true }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Merge', exact: true }).click()
      await page.getByLabel('Name of DATE').waitFor({ state: 'detached' })
      const order = await typeButtons()
      assert(order === 'PERSON|TOWN|ORG', `entity types after rename, move, add and merge: ${order}`)
      await expectText(spans, '“Global Seed Bank” ORG')
    },
    { timeoutMs: 120_000 },
  )

  test(
    'label QA answers and summary sentences with the keyboard',
    async ({ page, server }) => {
      await page.goto(server.url)
      await createProject(page, 'Reading')
      const project = (await invoke(server, 'projects.list', {}))[0]
      for (const [file, task] of [['qa.jsonl', 'qa'], ['summaries.jsonl', 'summarize']]) {
        const upload = await fetch(`${server.origin}/api/upload?name=${file}`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${server.token}` },
          body: readFileSync(join(SAMPLES, file)),
        })
        const { fileId } = (await upload.json()).value
        await invoke(server, 'datasets.importLabelled', { projectId: project.id, fileId, name: task, task, jobId: `e2e-import-${task}` })
      }
      await step(page, 'Label')
      await page.getByRole('button', { name: /^qa/ }).click()
      await expectText(page.locator('#dataset-title'), 'qa')

      // QA: q to the question box, type, Esc; the arrows and Shift select the answer; Enter adds both.
      const answers = page.getByRole('list', { name: 'Questions and answers' })
      await expectText(answers, 'Where was Henrik Mensah born?')
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('q')
      await page.keyboard.type('Who founded Fernleaf?')
      await page.keyboard.press('Escape')
      await page.keyboard.press('Home')
      for (let index = 0; index < 3; index++) await page.keyboard.press('ArrowRight')
      await page.keyboard.press('Shift+ArrowRight')
      await page.keyboard.press('Enter')
      await expectText(answers, /Who founded Fernleaf\? → “Henrik Mensah”/)
      await expectText(page.getByTestId('my-label'), '3 answers')
      await expectText(page.getByTestId('save-state'), /Saved/)
      assert((await page.locator('#qa-question').inputValue()) === '', 'the question box empties once the answer is added')
      await page.screenshot({ path: join(results, 'label-qa.png'), fullPage: true })

      // Summaries: a number key puts that sentence in (or out of) the summary at once.
      await page.getByRole('button', { name: /^summarize/ }).click()
      await expectText(page.locator('#dataset-title'), 'summarize')
      const sentences = page.getByRole('list', { name: 'Sentences: choose those in the summary' })
      await sentences.waitFor()
      const pressed = () => sentences.locator('button[aria-pressed="true"]').count()
      const before = await pressed()
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('2')
      await page.waitForFunction((count) => document.querySelectorAll('[aria-label="Sentences: choose those in the summary"] button[aria-pressed="true"]').length === count + 1, before)
      await expectText(page.getByTestId('my-label'), `${before + 1} sentences`)
      await page.keyboard.press('2')
      await expectText(page.getByTestId('my-label'), `${before} sentences`)
      // Keys faster than the studio answers build on each other; undo walks back one at a time.
      await page.keyboard.press('3')
      await page.keyboard.press('4')
      await expectText(page.getByTestId('my-label'), `${before + 2} sentences`)
      await expectText(page.getByTestId('save-state'), /Saved/)
      await page.keyboard.press('z')
      await expectText(page.getByTestId('my-label'), `${before + 1} sentences`)
      await page.keyboard.press('z')
      await expectText(page.getByTestId('my-label'), `${before} sentences`)
      await expectText(page.getByTestId('save-state'), /Saved/)
      const [summaries] = (await invoke(server, 'datasets.list', { projectId: project.id })).filter((dataset) => dataset.task === 'summarize')
      const stored = (await invoke(server, 'labels.examples', { datasetId: summaries.id, filter: { kind: 'all' }, limit: 1 })).examples[0]
      const mine = stored.labels.find((label) => label.annotator === 'me')
      assert(mine?.value.sentences.length === before, `the store holds ${JSON.stringify(mine?.value)} for the first summary, expected ${before} sentences`)
      await page.screenshot({ path: join(results, 'label-summary.png'), fullPage: true })
      await page.keyboard.press('Enter')
      await expectText(page.getByTestId('example-position'), 'Example 2 of 300')
    },
    { timeoutMs: 120_000 },
  )
}
