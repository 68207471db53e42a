/**
 * The example page a TensorFlow.js export ships (index.html): it loads the model with the
 * export's own bert-studio-model.js, lets the reader type an input, and runs the studio's
 * held-out examples (studio-examples.json) to show the page gives the studio's predictions.
 * Everything it shows is set as text, never as HTML.
 */
import type { ModelArchitecture } from './model.ts'

/** The files beside index.html the page needs. */
export const PAGE_FILES = { module: 'bert-studio-model.js', tfjs: 'tf.fesm.min.js', page: 'index.html' } as const

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const PROMPTS: Record<ModelArchitecture, { first: string; second: string | null; example: string }> = {
  BertForSequenceClassification: { first: 'Text', second: null, example: 'Type a sentence to classify.' },
  BertForTokenClassification: { first: 'Text', second: null, example: 'Type a sentence to tag.' },
  BertForQuestionAnswering: { first: 'Question', second: 'Passage', example: 'Ask a question about the passage.' },
  BertForPreTraining: { first: 'Text (put [MASK] where a word should be guessed)', second: 'Next sentence (optional)', example: 'The [MASK] sat on the mat.' },
}

export function examplePageHtml(options: { title: string; architecture: ModelArchitecture }): string {
  const prompt = PROMPTS[options.architecture]
  const title = escapeHtml(options.title)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${title}</title>
<!-- Serve this folder over HTTP (for example: python3 -m http.server) and open index.html:
     browsers do not run ES modules from file:// pages. -->
<script type="importmap">{ "imports": { "@tensorflow/tfjs": "./${PAGE_FILES.tfjs}" } }</script>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 900px; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; }
  label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
  button { margin-top: .6rem; font: inherit; padding: .3rem .9rem; }
  table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
  th, td { border-bottom: 1px solid #ddd; padding: .3rem .4rem; text-align: left; vertical-align: top; }
  td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .passed { color: #1a7f37; } .failed { color: #c62828; }
  pre { white-space: pre-wrap; background: #f5f5f7; padding: .6rem; border-radius: 4px; }
</style>
</head>
<body>
<h1>${title}</h1>
<p>${escapeHtml(options.architecture)}, exported from BERT Studio, running in this page with TensorFlow.js
(<code>${PAGE_FILES.module}</code>: the studio's own model and tokenizer code).</p>
<p id="status" role="status">Loading the model…</p>

<form id="try" hidden>
  <label for="first">${escapeHtml(prompt.first)}</label>
  <textarea id="first" rows="3">${escapeHtml(prompt.example)}</textarea>
  ${prompt.second === null ? '' : `<label for="second">${escapeHtml(prompt.second)}</label>\n  <textarea id="second" rows="5"></textarea>`}
  <button type="submit">Predict</button>
</form>
<pre id="prediction" aria-live="polite"></pre>

<h2>Same predictions as the studio?</h2>
<p id="check" role="status">Running the studio's examples…</p>
<table id="examples" hidden>
  <thead><tr><th>Input</th><th>BERT Studio</th><th>This page</th><th class="number">Largest |Δ logit|</th></tr></thead>
  <tbody></tbody>
</table>

<script type="module">
import { loadModel } from './${PAGE_FILES.module}'

const status = document.getElementById('status')
const describe = (reading) => {
  switch (reading.kind) {
    case 'sequence':
      return reading.labels.map((l) => \`\${l.chosen ? '✓' : ' '} \${l.label}: \${l.probability.toFixed(4)}\`).join('\\n')
    case 'token':
      return reading.tokens.map((t) => \`\${t.token}\\t\${t.label} (\${t.probability.toFixed(3)})\`).join('\\n')
    case 'span':
      return reading.answer ? \`\${reading.answer.text} (score \${reading.answer.score.toFixed(3)})\` : 'No answer in the passage.'
    case 'pretraining':
      return [
        ...reading.masks.map((m) => \`[MASK] at \${m.position}: \${m.candidates.map((c) => \`\${c.token} \${c.probability.toFixed(3)}\`).join(', ')}\`),
        \`Second text follows the first: \${reading.isNext.toFixed(3)}\`,
      ].join('\\n')
  }
}

try {
  const params = new URLSearchParams(location.search)
  const model = await loadModel(new URL('./', location.href), params.has('backend') ? { backend: params.get('backend') } : {})
  window.bertStudioModel = model
  status.textContent = \`Loaded \${model.spec.architecture} (\${model.spec.bertConfig.num_hidden_layers} layers, hidden size \${model.spec.bertConfig.hidden_size}) on the \${model.backend} backend.\`

  const form = document.getElementById('try')
  const second = document.getElementById('second')
  form.hidden = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const output = document.getElementById('prediction')
    try {
      const text = document.getElementById('first').value
      const pair = second && second.value.trim() !== '' ? second.value : null
      const prediction = await model.predict(text, pair)
      window.bertStudioPrediction = prediction
      output.textContent = describe(prediction.reading)
    } catch (error) {
      output.textContent = \`Could not predict: \${error.message}\`
    }
  })

  const check = await model.check()
  window.bertStudioCheck = check
  const body = document.querySelector('#examples tbody')
  for (const example of check.examples) {
    const row = body.insertRow()
    row.insertCell().textContent = example.pair === null ? example.text : \`\${example.text} | \${example.pair}\`
    row.insertCell().textContent = example.studio
    row.insertCell().textContent = example.idsMatch ? example.runtime : \`\${example.runtime} (DIFFERENT token ids)\`
    const cell = row.insertCell()
    cell.className = 'number'
    cell.textContent = example.maxAbsDiff.toExponential(2)
  }
  document.getElementById('examples').hidden = false
  const line = document.getElementById('check')
  line.className = check.passed ? 'passed' : 'failed'
  line.textContent = \`\${check.passed ? 'Same predictions as BERT Studio' : 'DIFFERENT predictions from BERT Studio'}: largest logit difference \${check.maxAbsDiff.toExponential(2)} over \${check.examples.length} examples (tolerance \${check.tolerance}); the tokenizer \${check.idsMatch ? 'gives the same ids' : 'gives different ids'}.\`
} catch (error) {
  status.textContent = \`Could not load the model: \${error.message}\`
  document.getElementById('check').textContent = 'Not run.'
  window.bertStudioError = String(error && error.message || error)
}
</script>
</body>
</html>
`
}

/** README.md of a TensorFlow.js export: what the files are and how to run them. */
export function tfjsReadme(options: { title: string; architecture: ModelArchitecture; labels: readonly string[] | null; step: number }): string {
  const second = options.architecture === 'BertForQuestionAnswering' ? `'What is asked?', 'The passage the answer is in.'` : `'A sentence.'`
  return [
    `# ${options.title} (TensorFlow.js)`,
    '',
    `${options.architecture}, exported from BERT Studio (checkpoint of step ${options.step}).` +
      (options.labels && options.labels.length > 0 ? ` Labels: ${options.labels.map((label) => `\`${label}\``).join(', ')}.` : ''),
    '',
    '## Files',
    '',
    '- `model.json`: the BERT config, the labels and a tfjs weights manifest (`tf.io.loadWeights(manifest, folder)` reads it); dense kernels are `[in, out]`.',
    '- `group1-shard*.bin`: the float32 weights, little-endian, in manifest order.',
    '- `tokenizer.json`, `vocab.txt`, `tokenizer_config.json`, `special_tokens_map.json`: the WordPiece tokenizer.',
    `- \`${PAGE_FILES.module}\`: the studio's own model and tokenizer code as one ES module; it imports \`@tensorflow/tfjs\`.`,
    `- \`${PAGE_FILES.tfjs}\`: TensorFlow.js as an ES module, which \`${PAGE_FILES.page}\` maps \`@tensorflow/tfjs\` to.`,
    `- \`${PAGE_FILES.page}\`: an example page; it also reruns \`studio-examples.json\` (held-out inputs with the studio's logits) and shows the largest difference.`,
    '',
    '## Run the example page',
    '',
    'Browsers run ES modules only over HTTP, so serve this folder and open the page:',
    '',
    '```sh',
    'python3 -m http.server 8000   # then open http://localhost:8000/index.html',
    '```',
    '',
    'Add `?backend=cpu` (or `webgl`, `wasm` where registered) to choose the TensorFlow.js backend.',
    '',
    '## Use it in your own page',
    '',
    '```html',
    `<script type="importmap">{ "imports": { "@tensorflow/tfjs": "./${PAGE_FILES.tfjs}" } }</script>`,
    '<script type="module">',
    `  import { loadModel } from './${PAGE_FILES.module}'`,
    '  const model = await loadModel()   // this folder',
    `  const { reading, outputs } = await model.predict(${second})`,
    '  console.log(reading, outputs)',
    '</script>',
    '```',
    '',
  ].join('\n')
}
