/**
 * Labelled examples as the fine-tuning engine consumes them: labels resolved to class names and
 * character offsets, independent of where they came from (the labelling store, or a labelled file
 * given to the CLI). Both the labelling service's snapshot and the labelled-file parser produce
 * these; the fine-tuning task, evaluation and batch builders read them.
 */
import type { TaskKind } from '../../contract/index.ts'

export type ResolvedValue =
  /** classify: exactly one name; multilabel: any number. */
  | { kind: 'classes'; labels: string[] }
  /** tag: entity spans, character offsets [start, end) into the text. */
  | { kind: 'spans'; spans: { start: number; end: number; label: string }[] }
  /** qa: the text is the passage; each item a question and its answer span in the passage. */
  | { kind: 'qa'; items: { question: string; start: number; end: number }[] }
  /** summarize: indices into splitSentences(text) of the sentences in the summary. */
  | { kind: 'summary'; sentences: number[] }

export interface LabelledExample {
  text: string
  value: ResolvedValue
  /** Where it came from, for messages: `file.jsonl:12` or `document 42`. */
  source: string
}

export type SplitName = 'train' | 'validation' | 'test'

export interface SnapshotExample extends LabelledExample {
  /** The studio document it labels; null for examples read from a file. */
  documentId: number | null
  split: SplitName
}

/** A dataset frozen for one fine-tuning run: what it trains, validates and tests on. */
export interface DatasetSnapshot {
  datasetId: number | null
  task: TaskKind
  /** Class names in the schema's order (classify, multilabel, tag entity types); empty for qa and summarize. */
  labels: string[]
  examples: SnapshotExample[]
}
