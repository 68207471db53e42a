import type { CheckpointChoice, DatasetInfo, Evaluation, EvaluationExample, RunSummary } from '../../../../src-main/contract/index.ts'
import { api } from '../api.ts'
import { messageOf } from '../format.ts'
import { canPredict, rememberedAnnotator, runDatasetId, type SaveState } from './labelling.svelte.ts'
import { isActive } from './runs.svelte.ts'

/** Fine-tuned runs that have finished with weights: what the Evaluate and Playground steps offer. */
export function finishedModels(runs: readonly RunSummary[]): RunSummary[] {
  return runs.filter((run) => canPredict(run) && !isActive(run.status))
}

export interface OpenCell {
  actual: string
  predicted: string
  examples: EvaluationExample[]
  loading: boolean
  error: string | null
}

/**
 * The Evaluate step: a fine-tuned run's stored evaluation on its test split (made on first view
 * when there is none), the examples of a confusion-matrix cell, and relabelling them on the spot.
 */
export class EvaluateState {
  projectId = $state<number | null>(null)
  runs = $state.raw<RunSummary[]>([])
  datasets = $state.raw<DatasetInfo[]>([])
  runId = $state<number | null>(null)
  evaluation = $state.raw<Evaluation | null>(null)
  loading = $state(false)
  evaluating = $state(false)
  loaded = $state(false)
  error = $state<string | null>(null)
  cell = $state.raw<OpenCell | null>(null)
  /** Relabels by example (keyed by document id). */
  relabels = $state.raw<Record<number, SaveState & { label?: string }>>({})

  models = $derived(finishedModels(this.runs))
  run = $derived(this.runs.find((run) => run.id === this.runId) ?? null)
  dataset = $derived(this.run ? (this.datasets.find((dataset) => dataset.id === runDatasetId(this.run!)) ?? null) : null)

  private request = 0

  async load(projectId: number): Promise<void> {
    this.projectId = projectId
    this.error = null
    try {
      const [runs, datasets] = await Promise.all([api['runs.list']({ projectId }), api['datasets.list']({ projectId })])
      if (this.projectId !== projectId) return
      this.runs = runs
      this.datasets = datasets
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loaded = true
    }
  }

  /** Shows a run's evaluation; with none stored yet, evaluates it (on its test split). */
  async select(runId: number | null): Promise<void> {
    if (runId === this.runId && (this.evaluation !== null || this.loading || this.evaluating)) return
    const request = ++this.request
    this.runId = runId
    this.evaluation = null
    this.cell = null
    this.error = null
    if (runId === null) return
    this.loading = true
    try {
      const stored = await api['runs.evaluation']({ runId })
      if (request !== this.request) return
      this.loading = false
      if (stored) this.evaluation = stored
      else await this.evaluate('best')
    } catch (error) {
      if (request === this.request) this.error = messageOf(error)
    } finally {
      if (request === this.request) this.loading = false
    }
  }

  async evaluate(checkpoint: CheckpointChoice): Promise<void> {
    const runId = this.runId
    if (runId === null || this.evaluating) return
    const request = this.request
    this.evaluating = true
    this.error = null
    try {
      const evaluation = await api['runs.evaluate']({ runId, checkpoint })
      if (request !== this.request) return
      this.evaluation = evaluation
      this.cell = null
    } catch (error) {
      if (request === this.request) this.error = messageOf(error)
    } finally {
      this.evaluating = false
    }
  }

  async openCell(actual: string, predicted: string): Promise<void> {
    const evaluation = this.evaluation
    if (!evaluation) return
    this.cell = { actual, predicted, examples: [], loading: true, error: null }
    try {
      const examples = await api['runs.evaluationExamples']({ evaluationId: evaluation.id, actual, predicted })
      if (this.cell?.actual === actual && this.cell.predicted === predicted) this.cell = { ...this.cell, examples, loading: false }
    } catch (error) {
      if (this.cell?.actual === actual && this.cell.predicted === predicted) this.cell = { ...this.cell, loading: false, error: messageOf(error) }
    }
  }

  closeCell(): void {
    this.cell = null
  }

  /** Labels a test example of the run's dataset with a class, as the remembered annotator. */
  async relabel(example: EvaluationExample, className: string): Promise<boolean> {
    const dataset = this.dataset
    const documentId = example.documentId
    const chosen = dataset?.classes.find((item) => item.name === className)
    if (!dataset || documentId === null || !chosen) return false
    this.relabels = { ...this.relabels, [documentId]: { state: 'saving', label: className } }
    try {
      await api['labels.set']({
        datasetId: dataset.id,
        documentId,
        annotator: rememberedAnnotator(),
        value: { kind: 'classes', classIds: [chosen.id] },
      })
      this.relabels = { ...this.relabels, [documentId]: { state: 'saved', at: new Date(), label: className } }
      return true
    } catch (error) {
      this.relabels = { ...this.relabels, [documentId]: { state: 'failed', message: messageOf(error), label: className } }
      return false
    }
  }
}
