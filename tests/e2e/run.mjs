// End-to-end tests: the built studio in web mode, driven in Chromium (and in Electron where its
// binary exists). Run after `npm run build`: `node tests/e2e/run.mjs [name filter]`.
// Prints `N passed, N failed` last and exits non-zero when a test failed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { _electron, chromium } from 'playwright-core'
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  assert,
  electronBinary,
  ensureResults,
  expectText,
  fixtures,
  removeHome,
  results,
  root,
  startServer,
  tempHome,
  withTimeout,
} from './harness.mjs'
import { registerBundleTests } from './bundle.mjs'
import { registerLabellingTests } from './labelling.mjs'
import { registerRunsTests } from './runs.mjs'
import { registerTfjsPageTests } from './tfjs-page.mjs'

const TEST_TIMEOUT_MS = 120_000
const tests = []
const test = (name, run, options = {}) => tests.push({ name, run, ...options })

// ---------------------------------------------------------------- helpers over the UI

async function createProject(page, name) {
  await page.getByLabel('Project name').first().fill(name)
  await page.getByRole('button', { name: 'Create project' }).first().click()
  await expectText(page.getByRole('heading', { level: 1 }), 'Import')
}

async function uploadAndPreview(page, file) {
  await page.locator('#import-file').setInputFiles(join(fixtures, file))
  await page.getByRole('heading', { name: '2. Check how it reads' }).waitFor({ timeout: 15_000 })
}

/** Waits for the preview table, or for an error alert (a bad file may fail at preview). */
async function previewOrError(page) {
  const documents = page.locator('#preview-documents-title')
  const alert = page.locator('[role="alert"]', { hasText: /\S/ })
  await Promise.race([documents.waitFor({ timeout: 15_000 }), alert.first().waitFor({ timeout: 15_000 })])
  return (await alert.count()) > 0 ? 'error' : 'preview'
}

// ---------------------------------------------------------------- scenarios (web mode)

test('refuses a request without the token (401)', async ({ server }) => {
  const page = await fetch(`${server.origin}/`)
  assert(page.status === 401, `GET / without token: expected 401, got ${page.status}`)
  const api = await fetch(`${server.origin}/api/invoke/projects.list`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
  assert(api.status === 401, `POST /api/invoke without token: expected 401, got ${api.status}`)
  const withToken = await fetch(server.url)
  assert(withToken.status === 200, `GET /?token=…: expected 200, got ${withToken.status}`)
})

test('wizard shell: steps, remembered project', async ({ page, server }) => {
  await page.goto(server.url)
  await createProject(page, 'First project')
  const steps = page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button')
  const titles = (await steps.allInnerTexts()).map((text) => text.replace(/\s+/g, ' ').trim())
  const expected = ['Import', 'Tokenizer', 'Pre-train', 'Label', 'Fine-tune', 'Evaluate', 'Runs', 'Playground', 'Export']
  for (const [index, title] of expected.entries()) {
    assert(titles[index]?.includes(title), `step ${index + 1}: expected ${title}, saw ${titles[index]}`)
  }
  assert((await steps.nth(0).getAttribute('aria-current')) === 'step', 'Import step should be aria-current=step')

  // Every step is built: none says "Soon", and choosing one shows it.
  assert((await page.getByRole('navigation', { name: 'Wizard steps' }).getByText('Soon').count()) === 0, 'no step should be marked Soon')
  await steps.nth(3).click()
  await expectText(page.getByRole('heading', { level: 1 }).filter({ visible: true }), 'Label')
  assert((await steps.nth(3).getAttribute('aria-current')) === 'step', 'Label step should now be current')
  ensureResults()
  await page.emulateMedia({ colorScheme: 'dark' })
  await page.screenshot({ path: join(results, 'wizard-dark-system.png') })
  await page.emulateMedia({ colorScheme: 'light' })
  await steps.nth(0).click()

  // A second project, then go back to the first: the choice survives a reload.
  await page.getByRole('button', { name: 'New project' }).click()
  await page.getByLabel('Project name').fill('Second project')
  await page.getByRole('button', { name: 'Create project' }).click()
  await page.waitForFunction(() => document.querySelector('#project-choice')?.selectedOptions[0]?.textContent === 'Second project')
  await page.getByLabel('Project', { exact: true }).selectOption({ label: 'First project' })
  await page.reload()
  await page.waitForFunction(() => document.querySelector('#project-choice')?.selectedOptions[0]?.textContent === 'First project')

  // Keyboard: the skip link comes first and lands on the content.
  await page.keyboard.press('Tab')
  const focused = await page.evaluate(() => document.activeElement?.textContent?.trim())
  assert(focused === 'Skip to content', `first Tab stop: expected the skip link, got ${focused}`)
})

test('imports a CSV with quoted newlines, picks columns, searches', async ({ page, server }) => {
  await page.goto(server.url)
  await createProject(page, 'Reviews')
  await uploadAndPreview(page, 'reviews.csv')
  assert((await previewOrError(page)) === 'preview', 'reviews.csv should preview without error')

  await page.getByLabel('Text column').selectOption('review')
  await page.getByLabel('Label column').selectOption('sentiment')
  const documents = page.locator('table:has(#preview-documents-title)')
  await expectText(documents, /Stopped working after a week\.\s*\n\s*Support never answered\./)
  await expectText(documents, 'negative')
  ensureResults()
  await page.screenshot({ path: join(results, 'import-preview.png'), fullPage: true })
  const name = await page.getByLabel('Corpus name').inputValue()
  assert(name === 'reviews', `default corpus name: expected "reviews", got "${name}"`)

  await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
  await expectText(page.locator('[data-stat="documents"]'), /^5$/, { timeout: 30_000 })
  await expectText(page.locator('#labels-title + ul'), 'positive')
  await expectText(page.getByRole('status').filter({ hasText: /documents/ }), /1–5 of 5 documents/)

  await page.getByLabel('Search documents').fill('packaging')
  await expectText(page.getByRole('status').filter({ hasText: /match/ }), /1–1 of 1 match/)
  await expectText(page.locator('#documents-table tbody'), 'Terrible packaging; it arrived broken')
  const rows = await page.locator('#documents-table tbody tr').count()
  assert(rows === 1, `search "packaging": expected one row, got ${rows}`)
  await page.getByLabel('Search documents').fill('')
  await expectText(page.getByRole('status').filter({ hasText: /documents/ }), /1–5 of 5 documents/)

  ensureResults()
  await page.getByLabel('Theme').selectOption('light')
  await page.screenshot({ path: join(results, 'corpus-light.png'), fullPage: true })
  await page.getByLabel('Theme').selectOption('dark')
  await page.screenshot({ path: join(results, 'corpus-dark.png'), fullPage: true })

  // The corpus list: rename, then delete with confirmation.
  await page.getByRole('button', { name: 'Rename reviews' }).click()
  await page.getByLabel('New name for reviews').fill('Product reviews')
  await page.getByRole('button', { name: 'Save' }).click()
  await expectText(page.locator('#corpus-title'), 'Product reviews')
  await page.getByRole('button', { name: 'Delete Product reviews' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Delete corpus' }).click()
  await expectText(page.locator('main'), 'No corpora in this project yet')
})

test('shows a bad CSV error naming the file and line', async ({ page, server }) => {
  await page.goto(server.url)
  await createProject(page, 'Bad inputs')
  for (const file of ['unterminated.csv', 'ragged.csv']) {
    await uploadAndPreview(page, file)
    if ((await previewOrError(page)) === 'preview') {
      await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
    }
    const pattern = new RegExp(`${file.replace('.', '\\.')}.*line \\d+`)
    const message = await expectText(page.locator('[role="alert"]', { hasText: /\S/ }), pattern, { timeout: 30_000 })
    console.log(`    ${file}: ${message.replace(/\s+/g, ' ')}`)
  }
  await page.screenshot({ path: join(results, 'import-error.png'), fullPage: true })
})

test('uploads a folder of .txt files and imports it', async ({ page, server }) => {
  await page.goto(server.url)
  await createProject(page, 'Notes')
  await page.locator('#import-folder').setInputFiles(join(fixtures, 'notes'))
  await expectText(page.locator('#preview-documents-title'), 'from 2 files', { timeout: 15_000 })
  const name = await page.getByLabel('Corpus name').inputValue()
  assert(name === 'notes', `default corpus name for the folder: expected "notes", got "${name}"`)
  await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
  await expectText(page.locator('[data-stat="documents"]'), /^3$/, { timeout: 30_000 })
  await page.getByLabel('Search documents').fill('שלום')
  await expectText(page.locator('#documents-table tbody'), 'זו הערה בעברית')
})

test('pages through a corpus one page at a time', async ({ page, server }) => {
  const dir = tempHome()
  const file = join(dir, 'sixty.txt')
  writeFileSync(file, Array.from({ length: 60 }, (_, index) => `document number ${index + 1}`).join('\n') + '\n')
  try {
    await page.goto(server.url)
    await createProject(page, 'Paging')
    await page.locator('#import-file').setInputFiles(file)
    await page.locator('#preview-documents-title').waitFor({ timeout: 15_000 })
    await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
    await expectText(page.locator('[data-stat="documents"]'), /^60$/, { timeout: 30_000 })
    const pager = page.getByRole('navigation', { name: 'Document pages' })
    await expectText(pager, 'Page 1 of 3')
    const rows = await page.locator('#documents-table tbody tr').count()
    assert(rows === 25, `one page holds 25 documents, saw ${rows}`)
    await pager.getByRole('button', { name: 'Next' }).click()
    await expectText(page.getByRole('status').filter({ hasText: /documents/ }), /26–50 of 60 documents/)
    await expectText(page.locator('#documents-table tbody'), 'document number 26')
  } finally {
    removeHome(dir)
  }
})

test('shows import progress and cancels a large import', async ({ page, server }) => {
  // ~40 MB of one-line documents: long enough to catch the import while it runs.
  const dir = tempHome()
  const file = join(dir, 'large.txt')
  const line = 'the quick brown fox jumps over the lazy dog while the studio counts every word of it\n'
  writeFileSync(file, line.repeat(Math.ceil(40e6 / line.length)))
  try {
    await page.goto(server.url)
    await createProject(page, 'Large')
    await page.locator('#import-file').setInputFiles(file)
    await page.locator('#preview-documents-title').waitFor({ timeout: 30_000 })
    const split = await page.getByLabel('Documents are').inputValue()
    assert(split === 'line', `a text file should default to one document per line, got ${split}`)
    await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
    const cancel = page.getByRole('button', { name: 'Cancel import' })
    await cancel.waitFor({ timeout: 10_000 })
    await expectText(page.getByRole('status').filter({ hasText: /documents ·/ }), /[1-9][\d,]* documents · .* of 40/, { timeout: 20_000 })
    await page.screenshot({ path: join(results, 'import-progress.png'), fullPage: true })
    await cancel.click()
    await expectText(page.getByRole('status').filter({ hasText: /documents ·/ }), 'cancelled', { timeout: 20_000 })
    await expectText(page.locator('main'), 'No corpora in this project yet')
  } finally {
    removeHome(dir)
  }
})

// ---------------------------------------------------------------- tokenizer step (web mode)

/** Trains a vocabulary of `size` from the Train form; waits for its view. */
async function trainTokenizer(page, size) {
  await page.getByLabel('Vocabulary size', { exact: true }).fill(String(size))
  const name = await page.getByLabel('Name', { exact: true }).inputValue()
  assert(name === `wordpiece-${size}-stories`, `default tokenizer name: expected wordpiece-${size}-stories, got ${name}`)
  await page.locator('main').getByRole('button', { name: 'Train', exact: true }).click()
  await expectText(page.locator('#tokenizer-view-title'), name, { timeout: 60_000 })
  return name
}

test('tokenizer: trains, diagnoses, live pieces, compares, downloads, imports', async ({ page, server }) => {
  await page.goto(server.url)
  await createProject(page, 'Vocabulary')
  await uploadAndPreview(page, 'stories.txt')
  await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
  await expectText(page.locator('[data-stat="documents"]'), /^326$/, { timeout: 30_000 })

  await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: /Tokenizer/ }).click()
  await expectText(page.getByRole('heading', { level: 1 }).filter({ visible: true }), 'Tokenizer')
  // No tokenizer yet: the step opens on the Train form, with BERT's size by default.
  await page.locator('#train-title').waitFor()
  const defaultSize = await page.getByLabel('Vocabulary size', { exact: true }).inputValue()
  assert(defaultSize === '30522', `default vocabulary size: expected 30522, got ${defaultSize}`)
  await page.getByText('Advanced').click()
  ensureResults()
  await page.screenshot({ path: join(results, 'tokenizer-train.png'), fullPage: true })
  const first = await trainTokenizer(page, 400)

  const piecesPerWord = Number((await expectText(page.locator('[data-stat="pieces-per-word"]'), /\d/)).replace(',', '.'))
  assert(piecesPerWord > 1, `a 400-token vocabulary splits words: pieces per word ${piecesPerWord} should be > 1`)
  await expectText(page.locator('#split-words tbody'), /\S/)
  await expectText(page.locator('[data-stat="merges"]'), /[1-9]/)

  // The live box: pieces as chips, counts, continuation pieces attached; Enter changes nothing.
  const live = page.getByLabel('Type a sentence and see its pieces')
  await live.fill('unaffable running')
  await expectText(page.locator('#live-counts'), /^2 words · \d+ pieces/)
  const pieces = await page.locator('#live-pieces .piece').evaluateAll((chips) => chips.map((chip) => chip.title.split(' · ')[0]))
  assert(pieces.length > 2, `"unaffable running" should be more than 2 pieces with 400 tokens, saw ${JSON.stringify(pieces)}`)
  assert((await page.locator('#live-pieces .piece.continuation').count()) > 0, 'some pieces should be ## continuations')
  console.log(`    unaffable running → ${pieces.join(' ')}`)
  await live.press('Enter')
  assert((await live.inputValue()) === 'unaffable running', 'Enter must leave the sentence as it is')
  await page.getByLabel("Also ask the studio's encoder (what training will use)").check()
  await expectText(page.locator('.agreement'), 'The studio agrees')
  // Keyboard: from the box, Tab reaches the first piece, which shows its id.
  await live.focus()
  await page.keyboard.press('Tab')
  await expectText(page.locator('#live-pieces .piece:focus'), /id \d+/)
  ensureResults()
  await page.getByRole('region', { name: 'Try it' }).screenshot({ path: join(results, 'tokenizer-live.png') })

  ensureResults()
  await page.getByLabel('Theme').selectOption('light')
  await page.screenshot({ path: join(results, 'tokenizer-light.png'), fullPage: true })
  await page.getByLabel('Theme').selectOption('dark')
  await page.screenshot({ path: join(results, 'tokenizer-dark.png'), fullPage: true })
  await page.getByLabel('Theme').selectOption('light')

  // A second, smaller vocabulary, compared with the first on the same corpus.
  await page.getByRole('button', { name: 'Train new' }).click()
  const second = await trainTokenizer(page, 300)
  await page.getByLabel('Compare with').selectOption({ label: `${first} (400)` })
  await page.locator('main').getByRole('button', { name: 'Compare', exact: true }).click()
  await expectText(page.locator('#compare-metrics'), 'Pieces per word')
  await expectText(page.locator('#compare-metrics thead'), first)
  await expectText(page.locator('#compare-differences tbody'), /\S/)
  await page.locator('#compare-title').scrollIntoViewIfNeeded()
  await page.screenshot({ path: join(results, 'tokenizer-compare.png'), fullPage: true })

  // Web mode downloads the files.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download vocab.txt' }).click(),
  ])
  assert(download.suggestedFilename() === 'vocab.txt', `download name: ${download.suggestedFilename()}`)
  const vocab = readFileSync(await download.path(), 'utf8').split('\n').filter(Boolean)
  assert(vocab[0] === '[PAD]' && vocab.length <= 300, `vocab.txt of ${second}: ${vocab.length} lines starting ${vocab[0]}`)

  // Import a vocab.txt, cased.
  await page.getByRole('button', { name: 'Import file' }).click()
  await page.locator('#tokenizer-file').setInputFiles(join(fixtures, 'vocab.txt'))
  await page.getByLabel('Cased: capitals are kept').check()
  const importedName = await page.getByLabel('Name', { exact: true }).inputValue()
  await page.getByRole('button', { name: 'Import tokenizer' }).click()
  await expectText(page.locator('#tokenizer-view-title'), importedName)
  await expectText(page.locator('#tokenizers-title + .new + ul, #tokenizers-title ~ ul'), importedName)
  await expectText(page.locator('#tokenizer-view-title + p'), /104 tokens, cased/)
  // Cased, and a character it has never seen becomes a highlighted [UNK].
  await live.fill('The runner was walking ✓')
  await expectText(page.locator('#live-counts'), /^5 words · \d+ pieces .* · 1 \[UNK\]/)
  await expectText(page.locator('#live-pieces .piece.unknown'), '[UNK]')
  await page.getByRole('region', { name: 'Try it' }).screenshot({ path: join(results, 'tokenizer-imported-live.png') })

  // Rename, then delete with confirmation: the one trained before it is shown again.
  await page.getByRole('button', { name: `Rename ${importedName}` }).click()
  await page.getByLabel(`New name for ${importedName}`).fill('tiny cased vocabulary')
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await expectText(page.locator('#tokenizer-view-title'), 'tiny cased vocabulary')
  await page.getByRole('button', { name: 'Delete tiny cased vocabulary' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Delete tokenizer' }).click()
  await expectText(page.locator('#tokenizer-view-title'), second)
  assert((await page.getByText('tiny cased vocabulary').count()) === 0, 'the deleted tokenizer should leave the list')
})

test('tokenizer: shows training progress and cancels', async ({ page, server }) => {
  // Hundreds of thousands of distinct made-up words: the merging phase runs for seconds even on an
  // idle machine (words built from a few syllables merge out within a second and race the cancel).
  const dir = tempHome()
  const file = join(dir, 'made-up.txt')
  let seed = 7
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  const word = () => Array.from({ length: 4 + Math.floor(random() * 7) }, () => letters[Math.floor(random() * letters.length)]).join('')
  const lines = Array.from({ length: 200_000 }, () => Array.from({ length: 12 }, word).join(' '))
  writeFileSync(file, lines.join('\n') + '\n')
  try {
    await page.goto(server.url)
    await createProject(page, 'Cancel training')
    await page.locator('#import-file').setInputFiles(file)
    await page.locator('#preview-documents-title').waitFor({ timeout: 15_000 })
    await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
    await expectText(page.locator('[data-stat="documents"]'), /^200,000$/, { timeout: 60_000 })
    await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: /Tokenizer/ }).click()
    await page.locator('#train-title').waitFor()
    await page.locator('main').getByRole('button', { name: 'Train', exact: true }).click()
    const cancel = page.getByRole('button', { name: 'Cancel training' })
    await cancel.waitFor({ timeout: 10_000 })
    // Cancel as soon as progress shows: counting 200,000 documents takes seconds even on an idle machine.
    await expectText(page.getByTestId('train-status'), /(Counting words|Merging pieces) · \d+% · [\d,]+ documents/, { timeout: 20_000 })
    await page.screenshot({ path: join(results, 'tokenizer-progress.png'), fullPage: true })
    await cancel.click()
    await expectText(page.getByTestId('train-status'), 'cancelled', { timeout: 20_000 })
    await expectText(page.locator('main'), 'No tokenizers in this project yet')
  } finally {
    removeHome(dir)
  }
})

// ---------------------------------------------------------------- pre-train step (web mode)

test('pre-train: plans, trains a tiny BERT live, probes fill-mask', async ({ page, server }) => {
  await page.goto(server.url)
  await createProject(page, 'Pretraining')
  await uploadAndPreview(page, 'stories.txt')
  await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
  await expectText(page.locator('[data-stat="documents"]'), /^326$/, { timeout: 30_000 })
  await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: /Tokenizer/ }).click()
  await page.locator('#train-title').waitFor()
  await trainTokenizer(page, 300)

  await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: /Pre-train/ }).click()
  await expectText(page.getByRole('heading', { level: 1 }).filter({ visible: true }), 'Pre-train')
  // No run yet: the step opens on the setup form with the corpus and tokenizer chosen.
  await page.locator('#setup-title').waitFor()
  const corpus = await page.locator('#pretrain-corpus option:checked').innerText()
  assert(corpus.startsWith('stories'), `default corpus: ${corpus}`)
  const tokenizer = await page.locator('#pretrain-tokenizer option:checked').innerText()
  assert(tokenizer.startsWith('wordpiece-300-stories'), `default tokenizer: ${tokenizer}`)
  const name = await page.locator('#pretrain-name').inputValue()
  assert(/^tiny-stories-\d{4}-\d{2}-\d{2}$/.test(name), `default run name: ${name}`)
  // The learning rate is left to the studio's default for the size, which the empty field shows.
  const learningRate = page.getByLabel('Learning rate')
  assert((await learningRate.inputValue()) === '', `default learning rate: ${await learningRate.inputValue()}`)
  const shownDefault = await learningRate.getAttribute('placeholder')
  assert(shownDefault === '0.001 (default for tiny)', `learning rate placeholder: ${shownDefault}`)

  // A value out of range is refused at once, with the field named.
  await page.getByLabel('Sequence length', { exact: true }).fill('8')
  await expectText(page.locator('.setup .problem'), 'Sequence length must be a whole number from 16 to 512')
  await page.getByLabel('Tiny').check()
  await page.getByLabel('Sequence length', { exact: true }).fill('32')
  await page.getByLabel('Batch size', { exact: true }).fill('8')
  await page.getByLabel('Steps', { exact: true }).fill('30')
  await page.getByText('Advanced').click()
  await page.getByLabel('Checkpoint every (steps)').fill('10')
  await page.getByLabel('Validate every (steps)').fill('10')
  // Dropout is left to the default for the size (0 for Tiny), which the empty field shows.
  const dropout = page.getByLabel('Dropout', { exact: true })
  assert((await dropout.inputValue()) === '', `default dropout: ${await dropout.inputValue()}`)
  const dropoutDefault = await dropout.getAttribute('placeholder')
  assert(dropoutDefault === '0 (default for tiny)', `dropout placeholder: ${dropoutDefault}`)
  await dropout.fill('1.5')
  await expectText(page.locator('.setup .problem'), 'Dropout must be from 0 to 0.9')
  await dropout.fill('')
  assert((await page.locator('.setup .problem').count()) === 0, 'a valid form shows no problems')

  await page.getByRole('button', { name: 'Compute plan' }).click()
  const duration = await expectText(page.locator('[data-stat="plan-duration"]'), /\d+ (s|min)/, { timeout: 60_000 })
  const steps = await expectText(page.locator('[data-stat="plan-steps"]'), /\d/)
  assert(steps === '30', `planned steps: ${steps}`)
  await expectText(page.getByTestId('preset-figures'), /parameters · .* to train/)
  console.log(`    plan: ${duration}, ${await page.locator('[data-stat="plan-step-time"]').innerText()} a step on ${await page.locator('[data-stat="plan-backend"]').innerText()}`)
  ensureResults()
  await page.screenshot({ path: join(results, 'pretrain-setup.png'), fullPage: true })

  await page.getByRole('button', { name: 'Start pre-training' }).click()
  await expectText(page.locator('#run-title'), name)
  const status = page.getByTestId('run-status')
  // The step counter advances while it runs, and the loss chart has points.
  const stepOf = (text) => Number(/step (\d+) of/.exec(text)?.[1] ?? 0)
  const first = stepOf(await expectText(status, /step [1-9]\d* of 30/, { timeout: 60_000 }))
  await expectText(page.locator('#runs-title ~ ul'), name)
  // Pause early (the whole run takes seconds), then resume: it carries on from where it stopped.
  await page.getByRole('button', { name: 'Pause' }).click()
  const paused = stepOf(await expectText(status, /^Paused · step \d+ of 30/, { timeout: 30_000 }))
  assert(paused >= first && paused < 30, `paused at step ${paused} (first seen ${first})`)
  await page.getByRole('button', { name: 'Resume' }).click()
  await page.waitForFunction(
    (before) => Number(/step (\d+) of/.exec(document.querySelector('[data-testid="run-status"]')?.textContent ?? '')?.[1] ?? 0) > before,
    paused,
    { timeout: 60_000 },
  )
  await page.waitForFunction(() => (document.querySelector('[data-chart="chart-loss"] canvas')?.width ?? 0) > 100)
  await page.screenshot({ path: join(results, 'pretrain-running.png'), fullPage: true })
  await expectText(status, /^Done · step 30 of 30/, { timeout: 90_000 })
  const lossLabel = await page.locator('[data-chart="chart-loss"] [role="img"]').getAttribute('aria-label')
  assert(/Train \d/.test(lossLabel ?? '') && /Validation \d/.test(lossLabel ?? ''), `loss chart: ${lossLabel}`)
  await expectText(page.locator('[data-stat="run-checkpoint"]'), /step \d+/)
  // Log scale and smoothing rebuild the chart from the same points.
  const lossChart = page.locator('[data-chart="chart-loss"]')
  await lossChart.getByLabel('Log scale').check()
  await lossChart.getByLabel('Smoothing').fill('0.6')
  await expectText(lossChart.locator('output'), '0.60')
  await page.waitForFunction(() => (document.querySelector('[data-chart="chart-loss"] canvas')?.width ?? 0) > 100)
  assert(/Train \d/.test((await lossChart.locator('[role="img"]').getAttribute('aria-label')) ?? ''), 'smoothed log chart still reads its values')
  await lossChart.getByLabel('Log scale').uncheck()
  await lossChart.getByLabel('Smoothing').fill('0')
  assert((await page.getByRole('button', { name: 'Pause' }).count()) === 0, 'a finished run cannot be paused')

  // The worker's own probe at each checkpoint: one column per saved step (10, 20, 30, and the pause's).
  const history = page.getByTestId('probe-history')
  await history.waitFor({ timeout: 15_000 })
  const headers = await history.locator('thead th').allInnerTexts()
  assert(headers.includes('Step 10') && headers.includes('Step 30'), `probe history: expected checkpoint columns for steps 10 and 30, saw ${headers.join(' | ')}`)

  // Fill-mask: sentences from the corpus, each with one [MASK]; five guesses each.
  const sentence = page.getByLabel('Sentence 1')
  await page.waitForFunction(() => document.querySelector('#probe-0')?.value.includes('[MASK]'), null, { timeout: 15_000 })
  console.log(`    probe: ${await sentence.inputValue()}`)
  await page.getByRole('button', { name: 'Ask the model' }).click()
  const guesses = page.getByTestId('mask-candidates').first()
  await guesses.waitFor({ timeout: 30_000 })
  const candidates = await guesses.locator('li').count()
  assert(candidates === 5, `fill-mask: expected 5 candidates, saw ${candidates}`)
  console.log(`    guesses: ${(await guesses.innerText()).replace(/\s+/g, ' ')}`)

  await expectText(page.getByRole('button', { name: 'Ask the model' }), 'Ask the model', { timeout: 30_000 })

  // Continue pre-training from the finished run: its model and tokenizer, a new run of 5 steps.
  await page.getByRole('button', { name: 'New run', exact: true }).click()
  await page.locator('#setup-title').waitFor()
  await page.getByLabel('Start from').selectOption({ label: `Continue ${name} (step 30)` })
  await expectText(page.locator('#pretrain-from-hint'), /Keeps its model \(2 layers × 128\) and tokenizer/)
  assert(await page.locator('#pretrain-tokenizer').isDisabled(), 'the tokenizer is the parent\'s while continuing')
  assert((await page.getByLabel('Tiny').count()) === 0, 'no preset to choose while continuing')
  assert((await page.locator('#pretrain-name').inputValue()) === `${name}-continued`, 'continued run name')
  await page.getByLabel('Sequence length', { exact: true }).fill('32')
  await page.getByLabel('Batch size', { exact: true }).fill('8')
  await page.getByLabel('Steps', { exact: true }).fill('5')
  // A continued run keeps its parent's dropout unless asked: here it is asked for 0.2.
  if (!(await page.getByLabel('Dropout', { exact: true }).isVisible())) await page.getByText('Advanced').click()
  const continuedDropout = await page.getByLabel('Dropout', { exact: true }).getAttribute('placeholder')
  assert(continuedDropout === "0 (the parent's)", `continued dropout placeholder: ${continuedDropout}`)
  await page.getByLabel('Dropout', { exact: true }).fill('0.2')
  await page.screenshot({ path: join(results, 'pretrain-continue.png'), fullPage: true })
  await page.getByRole('button', { name: 'Start pre-training' }).click()
  await expectText(page.locator('#run-title'), `${name}-continued`)
  await expectText(status, /^Done · step 5 of 5/, { timeout: 90_000 })
  const project = (await invoke(server, 'projects.list', {})).find((p) => p.name === 'Pretraining')
  const stored = await invoke(server, 'runs.list', { projectId: project.id })
  const child = stored.find((r) => r.name === `${name}-continued`)
  assert(child && child.parentRunId === stored.find((r) => r.name === name).id, 'the continued run names its parent')
  const dropouts = [stored.find((r) => r.name === name), child].map((r) => [r.modelConfig.hidden_dropout_prob, r.modelConfig.attention_probs_dropout_prob])
  assert(JSON.stringify(dropouts) === '[[0,0],[0.2,0.2]]', `dropout (hidden, attention) of the first run and the continued one: ${JSON.stringify(dropouts)}`)

  ensureResults()
  await page.getByLabel('Theme').selectOption('light')
  await page.screenshot({ path: join(results, 'pretrain-light.png'), fullPage: true })
  await page.getByLabel('Theme').selectOption('dark')
  await page.waitForTimeout(300)
  await page.screenshot({ path: join(results, 'pretrain-dark.png'), fullPage: true })
  await page.getByLabel('Theme').selectOption('light')
})

// ---------------------------------------------------------------- export step (web mode)

/** Calls a channel over the web transport with the server's token; throws on a failed Result. */
async function invoke(server, channel, args) {
  const response = await fetch(`${server.origin}/api/invoke/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` },
    body: JSON.stringify(args),
  })
  const result = await response.json()
  if (!result.ok) throw new Error(`${channel}: ${result.code} ${result.message}`)
  return result.value
}

/** A finished tiny pre-training run, made through the API (the pre-train test covers the UI). */
async function tinyRun(server, projectName) {
  const project = await invoke(server, 'projects.create', { name: projectName })
  const upload = await fetch(`${server.origin}/api/upload?name=stories.txt`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${server.token}` },
    body: readFileSync(join(fixtures, 'stories.txt')),
  })
  const file = (await upload.json()).value
  const { corpus } = await invoke(server, 'corpora.import', { projectId: project.id, fileId: file.fileId, name: 'stories', jobId: 'e2e-export-import' })
  const tokenizer = await invoke(server, 'tokenizers.train', { projectId: project.id, corpusId: corpus.id, name: 'tok', jobId: 'e2e-export-tok', options: { vocabSize: 300 } })
  let run = await invoke(server, 'runs.pretrain', {
    projectId: project.id, corpusId: corpus.id, tokenizerId: tokenizer.id, name: 'tiny export',
    seqLength: 32, batchSize: 4, steps: 6, checkpointEvery: 3, validateEvery: 3,
  })
  const deadline = Date.now() + 60_000
  while (run.status !== 'done') {
    assert(!['crashed', 'diverged', 'cancelled'].includes(run.status), `tiny run ended ${run.status}: ${run.error}`)
    assert(Date.now() < deadline, `tiny run still ${run.status} after 60 s`)
    await new Promise((r) => setTimeout(r, 250))
    run = await invoke(server, 'runs.get', { runId: run.id })
  }
  return run
}

test('export: writes a finished run as a Hugging Face folder, checks parity, imports it back', async ({ page, server }) => {
  const run = await tinyRun(server, 'Exporting')
  await page.goto(server.url)
  await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button', { name: /Export/ }).click()
  await expectText(page.getByRole('heading', { level: 1 }).filter({ visible: true }), 'Export')
  const chosenRun = await page.locator('#export-run option:checked').innerText()
  assert(chosenRun.startsWith(run.name), `default run: ${chosenRun}`)
  assert(await page.locator('input[name="export-format"][value="hf"]').isChecked(), 'Hugging Face is the default format')
  assert(await page.locator('input[name="export-checkpoint"][value="best"]').isChecked(), 'the best checkpoint is the default')

  // A path is refused before anything is sent.
  const exportButton = page.locator('main').getByRole('button', { name: 'Export', exact: true })
  await page.locator('#export-folder').fill('../elsewhere')
  await expectText(page.locator('#export-folder-hint'), 'A folder name, not a path')
  assert(await exportButton.isDisabled(), 'a path as folder name disables Export')
  await page.locator('#export-folder').fill('')

  await exportButton.click()
  const parity = await expectText(page.getByTestId('parity'), /Parity check passed/, { timeout: 60_000 })
  console.log(`    ${parity.replace(/\s+/g, ' ')}`)
  assert(/largest logit difference \S+ \(tolerance 0\.0001\)/.test(parity), `parity line: ${parity}`)
  const folder = await page.getByTestId('export-folder').innerText()
  assert(folder.endsWith(join('exports', run.name)), `export folder: ${folder}`)
  const files = await page.getByRole('table', { name: 'Files written' }).locator('tbody td code').allInnerTexts()
  for (const name of ['model.safetensors', 'config.json', 'vocab.txt', 'tokenizer.json', 'README.md']) {
    assert(files.includes(name), `files written: expected ${name}, saw ${files.join(', ')}`)
    assert(existsSync(join(folder, name)), `${name} is not on disk in ${folder}`)
  }
  ensureResults()
  await page.screenshot({ path: join(results, 'export-done.png'), fullPage: true })

  // The same folder, uploaded back: a new finished run, listed for export at once.
  await page.locator('#import-model-folder').setInputFiles(folder)
  await page.locator('#import-model-name').fill('reloaded')
  await page.getByRole('button', { name: 'Import model' }).click()
  await expectText(page.getByTestId('imported-model'), /Imported reloaded \(BertForPreTraining\)/, { timeout: 30_000 })
  const runs = await page.locator('#export-run option').allInnerTexts()
  assert(runs.some((text) => text.startsWith('reloaded')), `runs offered for export: ${runs.join(' | ')}`)
})

// ---------------------------------------------------------------- label, fine-tune, evaluate, playground (web mode)

registerLabellingTests(test, { createProject, invoke })

// ---------------------------------------------------------------- TensorFlow.js export page (web mode)

registerTfjsPageTests(test, { invoke })

// ---------------------------------------------------------------- runs: live curves, queue, comparison (web mode)

registerRunsTests(test, { invoke })

// ---------------------------------------------------------------- run elsewhere: bundles for PyTorch (web mode)

registerBundleTests(test, { invoke })

// ---------------------------------------------------------------- Electron

test('electron: create a project and import a CSV', async () => {
  const electron = electronBinary()
  const home = tempHome()
  const app = await _electron.launch({
    executablePath: electron.path,
    args: [join(root, 'out', 'main', 'index.js')],
    env: { ...process.env, STUDIO_HOME: home },
  })
  try {
    const file = join(fixtures, 'reviews.csv')
    await app.evaluate(({ dialog }, path) => {
      dialog.showOpenDialog = async () => ({ canceled: false, filePaths: [path] })
    }, file)
    const page = await app.firstWindow()
    await createProject(page, 'Electron')
    await page.getByRole('button', { name: 'Choose a file…' }).click()
    await page.locator('#preview-documents-title').waitFor({ timeout: 15_000 })
    await page.getByLabel('Text column').selectOption('review')
    await page.locator('main').getByRole('button', { name: 'Import', exact: true }).click()
    await expectText(page.locator('[data-stat="documents"]'), /^5$/, { timeout: 30_000 })
  } finally {
    await app.close()
    removeHome(home)
  }
}, {
  electron: true,
  skip: () => {
    const electron = electronBinary()
    return electron.path ? null : `electron flow — ${electron.reason}`
  },
})

// ---------------------------------------------------------------- runner

/** Runs one web-mode test in its own home, server and browser; cleans up even after a timeout. */
async function runWebTest(entry) {
  const home = tempHome()
  const held = { server: null, browser: null }
  const problems = []
  const cleanup = async () => {
    await held.browser?.close().catch(() => {})
    await held.server?.stop()
    removeHome(home)
  }
  const body = async () => {
    held.server = await startServer(home)
    held.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    const context = await held.browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' })
    const page = await context.newPage()
    page.setDefaultTimeout(15_000)
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    page.on('console', (message) => {
      // frame-ancestors in the page's <meta> CSP is ignored by design (the server sends it as a header).
      if (message.type() === 'error' && !/frame-ancestors/.test(message.text())) problems.push(`console: ${message.text()}`)
    })
    await entry.run({ page, server: held.server })
    // A CSP violation or an uncaught error in the page fails the test even if the flow passed.
    if (problems.length > 0) throw new Error(problems.join('\n'))
  }
  try {
    await withTimeout(body(), entry.timeoutMs ?? TEST_TIMEOUT_MS, entry.name)
  } finally {
    await cleanup()
  }
}

const filter = process.argv[2]
let passed = 0
let failed = 0
for (const entry of tests) {
  if (filter && !entry.name.includes(filter)) continue
  const reason = entry.skip?.()
  if (reason) {
    console.log(`skip: ${reason}`)
    continue
  }
  const started = Date.now()
  try {
    await (entry.electron ? withTimeout(entry.run(), TEST_TIMEOUT_MS, entry.name) : runWebTest(entry))
    passed++
    console.log(`ok   ${entry.name} (${Date.now() - started} ms)`)
  } catch (error) {
    failed++
    console.log(`FAIL ${entry.name} (${Date.now() - started} ms)\n     ${String(error?.stack ?? error).replace(/\n/g, '\n     ')}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
