// Runs an export's ES module as a page would, in a process of its own (one copy of the model code
// on one tfjs engine, as in a browser): loads the folder over HTTP, reruns studio-examples.json and
// predicts one text. Prints JSON. usage: node page-module-runner.mjs MODULE_PATH FOLDER_URL TEXT
import { pathToFileURL } from 'node:url'

const [modulePath, folderUrl, text] = process.argv.slice(2)
const { loadModel } = await import(pathToFileURL(modulePath).href)
try {
  const model = await loadModel(folderUrl, { backend: 'cpu' })
  const check = await model.check()
  const prediction = await model.predict(text)
  process.stdout.write(JSON.stringify({ spec: model.spec, backend: model.backend, check, prediction }))
  model.dispose()
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error?.message ?? error) }))
}
