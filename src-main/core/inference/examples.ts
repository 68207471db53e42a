/**
 * studio-examples.json, written into every export: a few held-out inputs, the token ids the
 * studio gave them and the logits the in-app model produced for each (run alone, unpadded). Any
 * other runtime (the export's web page, transformers in Python) can encode the same texts, run
 * its model and compare, without the studio at hand.
 */
import { StudioError } from '../errors.ts'
import type { ClassificationProblem, EncodedInput, ModelArchitecture, RawOutputs, StoredOutputs } from './model.ts'
import { outputsDifference, outputsSummary } from './model.ts'

export const STUDIO_EXAMPLES_FILE = 'studio-examples.json'
export const STUDIO_EXAMPLES_FORMAT = 'bert-studio-examples'

export interface StudioExample {
  readonly text: string
  /** The second segment: a QA passage (the text is then the question), an NSP pair; else null. */
  readonly pair: string | null
  readonly inputIds: readonly number[]
  readonly tokenTypeIds: readonly number[]
  readonly outputs: StoredOutputs
}

export interface StudioExamples {
  readonly format: typeof STUDIO_EXAMPLES_FORMAT
  readonly formatVersion: 1
  readonly architecture: ModelArchitecture
  readonly labels: readonly string[] | null
  readonly problemType: ClassificationProblem | null
  /** Where the inputs came from, in words. */
  readonly source: string
  /** The length the texts were truncated to when encoded. */
  readonly maxLength: number
  /** The largest |Δlogit| another runtime should show. */
  readonly tolerance: number
  readonly examples: readonly StudioExample[]
}

/** Parses a studio-examples.json; `source` names it in errors. */
export function parseStudioExamples(json: unknown, source = STUDIO_EXAMPLES_FILE): StudioExamples {
  const record = json as Partial<StudioExamples> | null
  if (typeof record !== 'object' || record === null || record.format !== STUDIO_EXAMPLES_FORMAT) {
    throw new StudioError('BAD_INPUT', `${source}: format is ${JSON.stringify(record?.format)}, expected "${STUDIO_EXAMPLES_FORMAT}"`)
  }
  if (record.formatVersion !== 1) throw new StudioError('UNSUPPORTED', `${source}: formatVersion is ${JSON.stringify(record.formatVersion)}, expected 1`)
  if (!Array.isArray(record.examples)) throw new StudioError('BAD_INPUT', `${source}: examples is ${JSON.stringify(record.examples)}, expected an array`)
  return record as StudioExamples
}

export interface ExampleCheck {
  readonly text: string
  readonly pair: string | null
  /** The runtime's tokenizer gave the studio's ids. */
  readonly idsMatch: boolean
  readonly maxAbsDiff: number
  /** The decision in words (outputsSummary): the studio's, from the file, and the runtime's. */
  readonly studio: string
  readonly runtime: string
}

export interface ExamplesCheck {
  readonly examples: ExampleCheck[]
  /** Over every example; NaN when any comparison failed outright. */
  readonly maxAbsDiff: number
  readonly tolerance: number
  readonly idsMatch: boolean
  readonly passed: boolean
}

/**
 * Runs a model over the file's examples and compares with the studio's outputs. `encode` is the
 * runtime's tokenizer; `run` its model over the ids the tokenizer gave.
 */
export async function checkExamples(
  examples: StudioExamples,
  encode: (text: string, pair: string | null, maxLength: number) => EncodedInput,
  run: (input: EncodedInput) => Promise<RawOutputs>,
  vocab?: readonly string[],
): Promise<ExamplesCheck> {
  const results: ExampleCheck[] = []
  let largest = 0
  for (const example of examples.examples) {
    const encoded = encode(example.text, example.pair, examples.maxLength)
    const idsMatch = encoded.inputIds.join(' ') === example.inputIds.join(' ') && encoded.tokenTypeIds.join(' ') === example.tokenTypeIds.join(' ')
    const outputs = await run(encoded)
    const difference = outputsDifference(example.outputs, outputs)
    largest = Number.isNaN(difference) || Number.isNaN(largest) ? NaN : Math.max(largest, difference)
    const spec = { id2label: examples.labels, problemType: examples.problemType }
    results.push({ text: example.text, pair: example.pair, idsMatch, maxAbsDiff: difference, studio: outputsSummary(spec, example.outputs, vocab), runtime: outputsSummary(spec, outputs, vocab) })
  }
  const idsMatch = results.every((result) => result.idsMatch)
  return { examples: results, maxAbsDiff: largest, tolerance: examples.tolerance, idsMatch, passed: idsMatch && largest <= examples.tolerance }
}
