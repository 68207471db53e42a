/**
 * The one API contract shared by main, preload and renderer (GitHub Desktop's ipc-shared.ts).
 * Every channel is declared here once: its name, the schema of its single argument object and
 * the TypeScript type of its value. Events are declared beside them. Nothing else in the app
 * names a channel by string.
 *
 * This module must stay importable from the sandboxed preload and the renderer: it imports zod and
 * nothing from Node.
 */
import { z } from 'zod'

/** Bounded strings: a renderer cannot make the main process hold megabytes by mistake or malice. */
const name = z.string().trim().min(1, 'must not be empty').max(200)
const id = z.number().int().positive()
const jobId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/, 'must be 6–64 letters, digits, _ or -')
const fileId = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/)

export const CorpusFormat = z.enum(['txt', 'folder', 'csv', 'tsv', 'jsonl'])
export type CorpusFormat = z.infer<typeof CorpusFormat>
export const TextSplit = z.enum(['line', 'paragraph'])
export type TextSplit = z.infer<typeof TextSplit>

/** Options that decide how a file becomes documents. Shared by preview, import and the CLI. */
export const ImportOptions = z
  .object({
    format: CorpusFormat.optional(),
    split: TextSplit.optional(),
    textColumn: z.string().max(200).optional(),
    labelColumn: z.string().max(200).optional(),
    /** Documents longer than this many characters (default 1,000,000) are split into parts or truncated. */
    maxDocumentChars: z.number().int().min(1_000).max(10_000_000).optional(),
    /** What happens to a document over maxDocumentChars: `split` (default) keeps all its text as several documents. */
    longDocuments: z.enum(['split', 'truncate']).optional(),
  })
  .strict()
export type ImportOptions = z.infer<typeof ImportOptions>
export const DEFAULT_MAX_DOCUMENT_CHARS = 1_000_000

/** How a vocabulary is trained; defaults follow BERT (30,522 tokens) and Hugging Face's trainer. */
export const TokenizerTrainOptions = z
  .object({
    vocabSize: z.number().int().min(50).max(250_000).default(30_522),
    minFrequency: z.number().int().min(1).max(1_000_000).default(2),
    lowercase: z.boolean().default(true),
    limitAlphabet: z.number().int().min(10).max(1_000_000).default(1_000),
  })
  .strict()
export type TokenizerTrainOptions = z.infer<typeof TokenizerTrainOptions>

export const ModelPreset = z.enum(['tiny', 'mini', 'small', 'medium', 'base'])
export type ModelPreset = z.infer<typeof ModelPreset>

/**
 * Peak pre-training learning rate by model width: BERT's 1e-4 is for Base; the small BERTs train
 * far faster at higher rates (Tiny at 1e-4 barely moved in 200 steps; 1e-3 is what our runs and
 * the PyTorch reference use).
 */
export const defaultPretrainLearningRate = (hiddenSize: number): number => (hiddenSize <= 256 ? 1e-3 : hiddenSize <= 512 ? 5e-4 : 1e-4)

/**
 * Pre-training dropout when the request leaves it unset: none up to hidden 256 (Tiny, Mini), BERT's
 * 0.1 above. A small model underfits any real corpus; dropout only slows it (validation MLM loss
 * 4.34 against 4.96 after 4,000 Tiny steps: bench/README.md, "Pre-training recipe").
 */
export const defaultPretrainDropout = (hiddenSize: number): number => (hiddenSize <= 256 ? 0 : 0.1)

/**
 * Fine-tuning learning rate when the request leaves it unset, by model size: 2e-4 for the small
 * BERTs (they fine-tune best at 1e-4–3e-4) and 3e-5 for Base (2e-5–5e-5), except Tiny (hidden 128),
 * 1e-3: a Tiny model pre-trained in the studio is far less trained than Google's, and at 2e-4 it
 * stays underfitted (man-sections, 2,941 rows: the studio's test accuracy 0.632 → 0.696, a PyTorch
 * replica's mean over three seeds 0.630 → 0.727; bench/README.md, "Fine-tuning learning rate").
 */
export const defaultFinetuneLearningRate = (hiddenSize: number): number => (hiddenSize <= 128 ? 1e-3 : hiddenSize <= 512 ? 2e-4 : 3e-5)

/** What the analyst chooses for a pre-training run; defaults follow the BERT recipe. */
export const PretrainRequest = z
  .object({
    projectId: id,
    corpusId: id,
    tokenizerId: id,
    name,
    preset: ModelPreset.default('tiny'),
    seqLength: z.number().int().min(16).max(512).default(128),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Examples per forward pass; the batch is accumulated over batch / microBatch passes. */
    microBatchSize: z.number().int().min(1).max(4096).optional(),
    /** Exactly one of steps and epochs; neither: 1 epoch. */
    steps: z.number().int().min(1).max(10_000_000).optional(),
    epochs: z.number().positive().max(10_000).optional(),
    /** Unset: by model size (see defaultPretrainLearningRate): 1e-3 up to hidden 256, 5e-4 up to 512, else BERT's 1e-4. */
    learningRate: z.number().positive().max(1).optional(),
    warmupFraction: z.number().min(0).max(0.5).default(0.1),
    /**
     * Hidden and attention dropout. Unset: defaultPretrainDropout of the preset (0 for Tiny and Mini,
     * 0.1 above); a continued run keeps its parent's.
     */
    dropout: z.number().min(0).max(0.9).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(12345),
    checkpointEvery: z.number().int().min(1).max(1_000_000).default(500),
    validateEvery: z.number().int().min(1).max(1_000_000).default(250),
    wholeWordMask: z.boolean().default(false),
    /**
     * Continue pre-training from another run's weights (an earlier pre-training run, or a model
     * imported from Hugging Face): its model config and tokenizer, a fresh optimizer and schedule.
     * The preset is then the parent's; the tokenizer must be the parent's.
     */
    fromRunId: id.optional(),
    /** Which of the parent's checkpoints (default: its last). */
    fromCheckpoint: z.union([z.enum(['best', 'last']), z.number().int().min(0).max(1e12)]).optional(),
  })
  .strict()
  .refine((r) => r.steps === undefined || r.epochs === undefined, { message: 'give steps or epochs, not both' })
  .refine((r) => r.fromCheckpoint === undefined || r.fromRunId !== undefined, { message: 'fromCheckpoint needs fromRunId' })
  .refine((r) => r.microBatchSize === undefined || r.batchSize % r.microBatchSize === 0, {
    message: 'the batch size must be a multiple of the micro-batch size',
  })
export type PretrainRequest = z.infer<typeof PretrainRequest>


// ---------------------------------------------------------------- labelling and fine-tuning

/** Where an export, an evaluation or a prediction reads its weights: the best (lowest validation loss), the last, or a step's checkpoint. */
export const CheckpointChoice = z.union([z.enum(['best', 'last']), z.number().int().min(0).max(1e12)])
export type CheckpointChoice = z.infer<typeof CheckpointChoice>

/** What a dataset's labels say and a fine-tuned model predicts. */
export const TaskKind = z.enum(['classify', 'multilabel', 'tag', 'qa', 'summarize'])
export type TaskKind = z.infer<typeof TaskKind>

/** Each task's headline metric: what early stopping watches and what the Runs view compares on the test split. */
export const TASK_METRIC: Record<TaskKind, string> = { classify: 'accuracy', multilabel: 'micro_f1', tag: 'entity_f1', qa: 'f1', summarize: 'rougeL' }

const offset = z.number().int().min(0).max(100_000_000)
/**
 * One annotator's label of one document. Classes are named by id (a rename changes one row);
 * spans are character offsets [start, end) into the document's text; summary sentences are
 * indices into `splitSentences(text)` (core/data/sentences.ts), the one segmentation every part
 * of the studio uses.
 */
export const LabelValue = z.discriminatedUnion('kind', [
  /** classify: exactly one class; multilabel: any number, none included. */
  z.object({ kind: z.literal('classes'), classIds: z.array(id).max(1_000) }).strict(),
  /** tag: entity spans; overlapping ones only where the dataset allows overlap. */
  z.object({ kind: z.literal('spans'), spans: z.array(z.object({ start: offset, end: offset, classId: id }).strict()).max(10_000) }).strict(),
  /** qa: questions about the document, each with its answer span in the text. */
  z
    .object({
      kind: z.literal('qa'),
      items: z.array(z.object({ question: z.string().trim().min(1).max(2_000), start: offset, end: offset }).strict()).max(1_000),
    })
    .strict(),
  /** summarize: which of the document's sentences belong in its summary. */
  z.object({ kind: z.literal('summary'), sentences: z.array(z.number().int().min(0).max(1_000_000)).max(100_000) }).strict(),
])
export type LabelValue = z.infer<typeof LabelValue>

const annotator = z.string().trim().min(1, 'must not be empty').max(100)
const color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #1f77b4')

/** Which examples the labelling workspace lists. */
export const ExampleFilter = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }).strict(),
  z.object({ kind: z.literal('unlabelled') }).strict(),
  z.object({ kind: z.literal('labelled') }).strict(),
  /** Labelled with this class (by any annotator). */
  z.object({ kind: z.literal('class'), classId: id }).strict(),
  /** Labelled by two or more annotators who disagree. */
  z.object({ kind: z.literal('disagreement') }).strict(),
  /** Unlabelled, the model's least certain first (active learning). */
  z.object({ kind: z.literal('uncertain'), by: z.enum(['entropy', 'margin']).default('entropy') }).strict(),
  /** Labelled, where the model confidently disagrees with the label: likely label errors first. */
  z.object({ kind: z.literal('suspect'), minConfidence: z.number().min(0).max(1).default(0.8) }).strict(),
  /** The model's confidence in its prediction lies in [min, max]. */
  z.object({ kind: z.literal('confidence'), min: z.number().min(0).max(1), max: z.number().min(0).max(1) }).strict(),
])
export type ExampleFilter = z.infer<typeof ExampleFilter>

/** How a labelled file's columns or fields become examples (CSV/TSV/JSONL). */
export const LabelledFileOptions = z
  .object({
    format: z.enum(['csv', 'tsv', 'jsonl']).optional(),
    textColumn: z.string().max(200).optional(),
    labelColumn: z.string().max(200).optional(),
  })
  .strict()
export type LabelledFileOptions = z.infer<typeof LabelledFileOptions>

/** Fewest optimizer steps a fine-tuning run with the default epochs makes (see FinetuneRequest.epochs). */
export const FINETUNE_MIN_STEPS = 400
export const FINETUNE_MAX_AUTO_EPOCHS = 40

/** A fine-tuning run as the analyst asks for it; unset fields take the defaults of issue #5. */
export const FinetuneRequest = z
  .object({
    projectId: id,
    datasetId: id,
    name,
    /** The pre-trained (or imported) run to start from; absent: random weights of `preset`. */
    fromRunId: id.optional(),
    fromCheckpoint: CheckpointChoice.optional(),
    /** Needed with no fromRunId (the parent's tokenizer is used otherwise). */
    tokenizerId: id.optional(),
    preset: ModelPreset.default('tiny'),
    /** Default: the parent's pre-training length (128 when none; QA 384). */
    seqLength: z.number().int().min(16).max(512).optional(),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /**
     * Passes over the training split. Unset: 3, raised on small datasets until the run makes at
     * least FINETUNE_MIN_STEPS optimizer steps (at most 40 passes; early stopping still applies).
     */
    epochs: z.number().positive().max(1_000).optional(),
    /** Default by model size (defaultFinetuneLearningRate): 1e-3 for Tiny, 2e-4 for the other small BERTs, 3e-5 for Base. */
    learningRate: z.number().positive().max(1).optional(),
    warmupFraction: z.number().min(0).max(0.5).default(0.1),
    /**
     * Hidden and attention dropout while fine-tuning; default BERT's 0.1, whatever the parent was
     * pre-trained with (small models pre-train faster without dropout, but a few thousand labelled
     * examples are then memorised: bench/README.md, man-sections).
     */
    dropout: z.number().min(0).max(0.9).default(0.1),
    /** Lower encoder layers (and the embeddings) kept frozen. */
    freezeLayers: z.number().int().min(0).max(48).default(0),
    /** Weight the loss by inverse class frequency (classification). */
    classWeights: z.boolean().default(false),
    /** Stop when the validation metric has not improved for this many evaluations; 0: never. */
    earlyStoppingPatience: z.number().int().min(0).max(1_000).default(3),
    /** Evaluate on the validation split this often (steps); default: once per epoch. */
    validateEvery: z.number().int().min(1).max(1_000_000).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(12345),
    /** QA: overlap of the windows a long passage is cut into, and the longest answer (pieces). */
    docStride: z.number().int().min(8).max(512).default(128),
    maxAnswerLength: z.number().int().min(1).max(512).default(30),
    /** Summaries: the word budget of an extractive summary. */
    summaryWords: z.number().int().min(5).max(10_000).default(60),
  })
  .strict()
export type FinetuneRequest = z.infer<typeof FinetuneRequest>

// ---------------------------------------------------------------- value types

export interface AppInfo {
  version: string
  home: string
  databasePath: string
  mode: 'electron' | 'web'
  platform: string
  /** Whether `files.pick` opens a native dialog (Electron) or the renderer must upload (web). */
  nativeFileDialog: boolean
}

export interface Project {
  id: number
  name: string
  createdAt: string
  corpora: number
}

export interface PickedFile {
  fileId: string
  name: string
  /** Bytes; for a folder, the sum of its `.txt` files. */
  size: number
  kind: 'file' | 'folder'
}

export interface ImportPreview {
  fileId: string
  fileName: string
  format: CorpusFormat
  /** Column names (CSV/TSV header) or field names seen in the first JSONL records. */
  columns: string[]
  /** The first rows as cells, in `columns` order (CSV/TSV/JSONL), for the preview table. */
  rows: string[][]
  /** The documents the first rows would become with the options given. */
  documents: { text: string; label: string | null }[]
  textColumn: string | null
  labelColumn: string | null
  split: TextSplit
  /** For a folder: how many `.txt` files it holds. */
  files: number
  bytes: number
}

export interface LengthHistogram {
  /** Upper bounds (in words) of each bin; the last bin is open-ended. */
  edges: number[]
  counts: number[]
}

export interface CorpusStats {
  documents: number
  characters: number
  words: number
  bytes: number
  minWords: number
  maxWords: number
  meanWords: number
  medianWords: number
  histogram: LengthHistogram
  labels: { label: string; count: number }[]
  /** Source documents (lines, paragraphs, cells) longer than the import's maxDocumentChars, and what was done to them. */
  longDocuments?: { count: number; action: 'split' | 'truncate'; maxCharacters: number }
}

export interface Corpus {
  id: number
  projectId: number
  name: string
  sourceName: string
  format: CorpusFormat
  options: ImportOptions
  createdAt: string
  stats: CorpusStats
  /** Whether the word index is complete; until then search scans the text (slower at scale). */
  searchReady: boolean
}

export interface DocumentRow {
  id: number
  ordinal: number
  text: string
  label: string | null
  /** Where it came from, e.g. `reviews.csv:42` (file and first line). */
  source: string
}

export interface DocumentPage {
  total: number
  offset: number
  documents: DocumentRow[]
  /** Set when a search stopped counting at a cap: `total` is then a lower bound. */
  totalIsEstimate?: boolean
}

export interface ImportResult {
  corpus: Corpus
  seconds: number
}

export interface TokenizerTrainStats {
  documents: number
  totalWords: number
  uniqueWords: number
  alphabetSize: number
  droppedCharacters: number
  merges: number
  stoppedBy: 'vocabSize' | 'minFrequency' | 'noPairs'
  seconds: number
}

export interface VocabComposition {
  size: number
  special: number
  wholeWords: number
  continuations: number
  singleCharacters: number
}

export interface TokenizerDiagnostics {
  documents: number
  words: number
  pieces: number
  unknownRate: number
  unknownWordRate: number
  piecesPerWord: number
  coveredRate: number
  mostSplit: { word: string; pieces: string[]; count: number }[]
  composition: VocabComposition
}

export interface TokenizerInfo {
  id: number
  projectId: number
  name: string
  origin: 'trained' | 'imported'
  /** The corpus it was trained on (null when imported, or trained from a file by the CLI). */
  corpusId: number | null
  /** The corpus' name or the imported file's name. */
  sourceName: string
  vocabSize: number
  lowercase: boolean
  options: TokenizerTrainOptions | null
  /** sha256 of its tokenizer.json: checkpoints record it. */
  hash: string
  createdAt: string
  train: TokenizerTrainStats | null
  /** On a sample of the training corpus, when trained. */
  diagnostics: TokenizerDiagnostics | null
}

export interface TokenizerFiles {
  'vocab.txt': string
  'tokenizer.json': string
  'tokenizer_config.json': string
  'special_tokens_map.json': string
}

export interface EncodedText {
  tokens: string[]
  inputIds: number[]
  tokenTypeIds: number[]
  /** Each word (after normalisation) and its pieces, for the "see its pieces" view. */
  words: { word: string; pieces: string[] }[]
}

export interface TokenizerComparison {
  corpusId: number
  first: { tokenizerId: number; diagnostics: TokenizerDiagnostics }
  second: { tokenizerId: number; diagnostics: TokenizerDiagnostics }
  /** Words the two split differently, most frequent first. */
  differences: { word: string; first: string[]; second: string[]; count: number }[]
}

export type RunStatus = 'queued' | 'running' | 'paused' | 'done' | 'diverged' | 'crashed' | 'cancelled'

export interface RunSummary {
  id: number
  projectId: number
  kind: 'pretrain' | 'finetune'
  name: string
  status: RunStatus
  corpusId: number | null
  tokenizerId: number | null
  parentRunId: number | null
  backend: string | null
  step: number
  totalSteps: number | null
  epoch: number
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  error: string | null
  /** Step of the latest checkpoint; null: nothing to resume from. */
  checkpointStep: number | null
  /** The analyst's request, the resolved model, training and data configs (as stored). */
  config: unknown
  modelConfig: unknown
  /** The latest value of each training metric and each validation metric. */
  lastMetrics: Record<string, number>
}

export interface MetricSeries {
  name: string
  split: 'train' | 'validation'
  steps: number[]
  values: (number | null)[]
}

export interface FillMaskResult {
  text: string
  masks: { position: number; candidates: { token: string; probability: number }[] }[]
}

/** The fill-mask probe the worker runs at each checkpoint, on held-out sentences. */
export interface ProbeAtStep {
  step: number
  results: FillMaskResult[]
}

export interface TrainingPlan {
  backend: string
  parameters: number
  memoryBytes: number
  stepMs: number
  totalSteps: number
  estimatedSeconds: number
  tokensPerSecond: number
}

/** Coalesced progress of a training run, at most every ~125 ms. */
export interface RunProgress {
  runId: number
  status: RunStatus
  phase: string
  step: number
  totalSteps: number | null
  etaSeconds: number | null
  metrics: Record<string, number>
}

export type JobKind = 'import' | 'index' | 'tokenizer' | 'train' | 'predict'
export interface JobProgress {
  jobId: string
  kind: JobKind
  label: string
  state: 'running' | 'done' | 'failed' | 'cancelled'
  /** Units done and, where known, in total (bytes for an import). */
  done: number
  total: number | null
  /** Documents (rows) so far. */
  items: number
  etaSeconds: number | null
  message?: string
}

export const ExportFormat = z.enum(['hf', 'tfjs'])
export type ExportFormat = z.infer<typeof ExportFormat>

/** A run's checkpoint as the export step lists it. */
export interface ModelCheckpoint {
  step: number
  kind: 'interval' | 'best' | 'final'
  validationLoss: number | null
  bytes: number
  createdAt: string
  /** What `best` picks: the lowest validation loss (the latest on a tie), else the last. */
  best: boolean
  last: boolean
}

/** The exported files read back with the studio's own readers and run against the in-app model. */
export interface ParityCheck {
  /**
   * 'validation': batches of the run's held-out data; 'examples': a fine-tuning run's frozen
   * held-out examples (test split first); 'sentences': fixed sentences.
   */
  source: 'validation' | 'examples' | 'sentences'
  examples: number
  /** Logits compared. */
  values: number
  maxAbsDiff: number
  tolerance: number
  /** The folder's tokenizer encodes the examples to the same ids as the run's. */
  tokenizerMatches: boolean
  passed: boolean
}

export interface ModelExport {
  runId: number
  runName: string
  format: ExportFormat
  architecture: string
  checkpoint: { step: number; kind: 'interval' | 'best' | 'final'; validationLoss: number | null; chosenAs: 'best' | 'last' | 'step' }
  folder: string
  files: { name: string; bytes: number }[]
  parity: ParityCheck
  seconds: number
}

/**
 * A training bundle: a run's pre-training job written out for PyTorch's distributed training
 * (`torchrun … train.py`), in a folder under <home>/bundles. Its `output/` folder, once trained
 * elsewhere and copied back, is imported as a run (runs.importResults).
 */
export interface TrainingBundle {
  /** The folder's name under <home>/bundles (what runs.importResults names). */
  name: string
  /** Where it is, on the studio's machine. */
  dir: string
  projectId: number
  /** The run it continues (null: a new run from pre-training flags, made by the CLI). */
  runId: number | null
  runName: string
  kind: 'pretrain'
  /** Optimizer steps already done (the checkpoint it starts from; 0 for a new run). */
  fromStep: number
  totalSteps: number
  /** Training instances in its shards (steps × batch), plus the held-out ones. */
  instances: number
  validationInstances: number
  bytes: number
  createdAt: string
  /** The command that runs it on one machine with N GPUs, to copy (see the bundle's README.md for more). */
  command: string
  /** What its output folder holds now: the last step logged and the checkpoints written. */
  results: { step: number; checkpoints: number[] } | null
  /** The run its results became, when imported. */
  importedRunId: number | null
}

export interface ModelImport {
  /** A pre-training run, status done, holding the imported weights as its one checkpoint. */
  run: RunSummary
  tokenizer: TokenizerInfo
  /** The class named in config.json (or inferred from the weights). */
  architecture: string
  /** Heads the folder lacked, freshly initialised so the model is whole (e.g. NSP for BertForMaskedLM). */
  initializedHeads: string[]
  /** Weights a pre-training model has no place for (a classifier, QA outputs). */
  ignoredWeights: string[]
}


export interface LabelClass {
  id: number
  name: string
  color: string
  position: number
}

export interface DatasetInfo {
  id: number
  projectId: number
  corpusId: number
  name: string
  task: TaskKind
  /** Tagging: spans may overlap. */
  allowOverlap: boolean
  classes: LabelClass[]
  /** Documents in the corpus, and those with at least one label. */
  examples: number
  labelled: number
  /** Labelled examples per class (any annotator), in `classes` order; empty for qa and summarize. */
  perClass: { classId: number; count: number }[]
  annotators: { name: string; labelled: number }[]
  /** Cohen's kappa for each pair of annotators over the examples both labelled (classify tasks). */
  agreement: { first: string; second: string; common: number; kappa: number | null }[]
  /** Null until made; fixed once made (later labels join by a seeded hash of the document). */
  split: { seed: number; fractions: [number, number, number]; counts: { train: number; validation: number; test: number } } | null
  createdAt: string
}

export interface ExampleLabel {
  annotator: string
  value: LabelValue
  updatedAt: string
}

/** A model's guess for an example (the latest fine-tuned run that predicted the dataset). */
export interface ExamplePrediction {
  runId: number
  value: LabelValue
  confidence: number
  entropy: number
  margin: number
}

export interface Example {
  documentId: number
  ordinal: number
  text: string
  source: string
  labels: ExampleLabel[]
  split: 'train' | 'validation' | 'test' | null
  prediction: ExamplePrediction | null
}

export interface ExamplePage {
  total: number
  offset: number
  examples: Example[]
}

/** What a fine-tuned model says about one input. */
export type Prediction =
  | { task: 'classify' | 'multilabel'; labels: string[]; probabilities: Record<string, number> }
  | { task: 'tag'; spans: { start: number; end: number; label: string; score: number; text: string }[] }
  | { task: 'qa'; answer: { text: string; start: number; end: number; score: number } | null }
  | { task: 'summarize'; sentences: { text: string; score: number; selected: boolean }[]; summary: string }

export interface ClassMetrics {
  label: string
  precision: number
  recall: number
  f1: number
  support: number
}

/** Metrics on the held-out test split (never on data the model trained or early-stopped on). */
export interface Evaluation {
  id: number
  runId: number
  checkpointStep: number
  split: 'validation' | 'test'
  task: TaskKind
  examples: number
  /** Headline numbers by name: accuracy, macro_f1, weighted_f1, entity_f1, exact_match, f1, rouge1, rouge2, rougeL, ece. */
  metrics: Record<string, number>
  /** Class names (classify, multilabel, tag entity types). */
  labels: string[]
  perClass: ClassMetrics[]
  /** classify: rows actual, columns predicted, in `labels` order. */
  confusion: number[][] | null
  /** Reliability curve: per confidence bin, the mean confidence and accuracy. */
  calibration: { confidence: number; accuracy: number; count: number }[]
  /** The simple baseline on the same examples (classify only; null for other tasks and for evaluations stored before it existed). */
  baseline: EvaluationBaseline | null
  createdAt: string
}

/**
 * The simplest strong yardstick for the task, scored on the examples the model was evaluated on:
 * whether the fine-tuned model beats it. Classification: TF-IDF + logistic regression fitted on the
 * run's own train and validation examples (C chosen on validation). Extractive summaries: the
 * document's first sentences within the same word budget (Lead).
 */
export type EvaluationBaseline = TfidfBaseline | LeadBaseline

interface BaselineComparison {
  /** The metric compared, one of `metrics`: accuracy (classification), rougeL (summaries). */
  metric: string
  /** Examples on which the model did better than the baseline, and worse (classification: right where the other was wrong). */
  modelBetter: number
  baselineBetter: number
  /** Exact two-sided sign test (McNemar's for classification) of those counts: the chance of a split at least this uneven between two equally good models. */
  pValue: number
  seconds: number
  /** The content hash of the examples it was fitted and scored on (runs on identical examples share one baseline); absent for a file's evaluation. */
  datasetHash?: string
}

export interface TfidfBaseline extends BaselineComparison {
  kind: 'tfidf'
  method: string
  C: number
  /** Word 1–2-grams it learnt from. */
  features: number
  /** Examples it was fitted on (train + validation). */
  fittedOn: number
  metrics: { accuracy: number; macro_f1: number; weighted_f1: number }
}

export interface LeadBaseline extends BaselineComparison {
  kind: 'lead'
  method: string
  /** The word budget both summaries keep within. */
  summaryWords: number
  metrics: { rouge1: number; rouge2: number; rougeL: number }
}

/** The test examples in one confusion-matrix cell (to open and relabel). */
export interface EvaluationExample {
  documentId: number | null
  text: string
  actual: string
  predicted: string
  confidence: number
  /** What the TF-IDF baseline predicted (classification evaluations stored with a baseline). */
  baselinePredicted?: string
}

export interface BatchPrediction {
  /** CSV (formula-injection-safe cells) of the input rows and the predictions. */
  csv: string
  rows: number
  fileName: string
}

/** File names Windows refuses whatever the extension (`CON`, `nul.txt`, `COM1`), and names ending in a dot, which it strips. */
export const WINDOWS_RESERVED_NAME = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?$|\.$/i

// ---------------------------------------------------------------- experiments (issue #6)

/** The values a sweep tries; an empty list keeps the base run's value. */
export const SweepSpace = z
  .object({
    learningRate: z.array(z.number().positive().max(1)).max(20).default([]),
    batchSize: z.array(z.number().int().min(1).max(4096)).max(20).default([]),
    epochs: z.array(z.number().positive().max(10_000)).max(20).default([]),
    seed: z.array(z.number().int().min(0).max(2 ** 31 - 1)).max(100).default([]),
  })
  .strict()
export type SweepSpace = z.infer<typeof SweepSpace>

/** Most runs one sweep queues. */
export const MAX_SWEEP_RUNS = 100

/** How many runs a grid over `space` holds (each empty list counts once: the base value). */
export function gridSize(space: Partial<Record<keyof SweepSpace, readonly unknown[]>>): number {
  return Object.values(space).reduce<number>((product, values) => product * Math.max(1, values?.length ?? 0), 1)
}

/**
 * A grid (every combination) or random search (`count` draws: the learning rate log-uniform
 * between the least and the greatest listed, the others picked from their lists) over a run's
 * request; the runs queue under one sweep.
 */
export const SweepRequest = z
  .object({
    baseRunId: id,
    name,
    method: z.enum(['grid', 'random']).default('grid'),
    space: SweepSpace,
    count: z.number().int().min(1).max(MAX_SWEEP_RUNS).default(8),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
  })
  .strict()
  .refine((r) => Object.values(r.space).some((values) => values.length > 0), { message: 'give at least one value to try' })
  .refine((r) => r.method !== 'grid' || gridSize(r.space) <= MAX_SWEEP_RUNS, {
    message: `a grid holds at most ${MAX_SWEEP_RUNS} runs: try fewer values`,
  })
export type SweepRequest = z.infer<typeof SweepRequest>

/** What a run trained with besides its config: copied with it as JSON. */
export interface RunEnvironment {
  studioVersion: string
  backend: string | null
  node: string
  platform: string
  arch: string
  /** Library versions (tfjs and its backends, better-sqlite3). */
  libraries: Record<string, string>
}

export interface MetricPoint {
  name: string
  split: 'train' | 'validation'
  step: number
  value: number
}

/** A run as the Runs view lists it: its summary and what the table sorts, filters and shows. */
export interface ExperimentRun extends RunSummary {
  tags: string[]
  notes: string
  archived: boolean
  /** Place in the queue, first = 1 (all projects share the one worker); null when not waiting. */
  queuePosition: number | null
  sweepId: number | null
  /** The corpus (pre-training) or labelled dataset (fine-tuning) it trained on. */
  dataName: string | null
  tokenizerName: string | null
  parentName: string | null
  /** Key hyperparameters read from its config; null where the run has none. */
  hyper: {
    preset: string | null
    task: string | null
    learningRate: number | null
    batchSize: number | null
    seqLength: number | null
    steps: number | null
    epochs: number | null
    seed: number | null
  }
  /** The headline metric: the validation loss where measured, else the training loss. */
  best: MetricPoint | null
  last: MetricPoint | null
  /** Seconds from its first start to its end, or to now while it runs. */
  durationSeconds: number | null
  checkpoints: number
  checkpointBytes: number
  /** For the curves' x axis: tokens per step (batch × sequence length), steps per epoch; null when unknown. */
  tokensPerStep: number | null
  stepsPerEpoch: number | null
  /** A crashed or paused run with a checkpoint to continue from. */
  resumable: boolean
  environment: RunEnvironment | null
  /** A fine-tuning run's latest test evaluation: its task's headline metric, and the TF-IDF baseline's accuracy beside a classifier's. */
  test: { metric: string; value: number; baselineValue: number | null; checkpointStep: number } | null
}

/** One metric of one run for a chart: every stored point, or min/max per bucket when there are more than asked for. */
export interface RunCurve {
  runId: number
  name: string
  split: 'train' | 'validation'
  /** Points stored in the range asked for; more than `steps.length` when decimated for display. */
  stored: number
  steps: number[]
  values: (number | null)[]
  /** Seconds since the epoch, per point. */
  wallTimes: number[]
}

/** Each metric of a run at one step (the latest point at or before it). */
export interface RunMetricsAt {
  runId: number
  /** The step asked for, or the run's best step. */
  step: number | null
  /** `loss`, `validation_loss`, … (validation metrics prefixed). */
  metrics: Record<string, number | null>
}

export interface QueueState {
  /** The run the worker trains now (any project), or null. */
  running: { runId: number; projectId: number; name: string } | null
  /** Runs waiting, first to start first. */
  queued: { runId: number; projectId: number; name: string; position: number }[]
}

export interface LineageRun {
  id: number
  name: string
  kind: 'pretrain' | 'finetune'
  status: RunStatus
}

/** Where a run came from and what came of it: data → tokenizer → pre-training → fine-tuning → exports. */
export interface RunLineage {
  runId: number
  corpus: { id: number; name: string } | null
  dataset: { id: number; name: string; task: string } | null
  tokenizer: { id: number; name: string } | null
  /** The runs it started from, the earliest first. */
  ancestors: LineageRun[]
  /** Runs started from it. */
  children: LineageRun[]
  checkpoints: ModelCheckpoint[]
  exports: { checkpointStep: number; format: string; folder: string; createdAt: string }[]
}

/** A run's full config and environment, as the analyst copies it. */
export interface RunConfigExport {
  run: { id: number; name: string; kind: 'pretrain' | 'finetune'; corpusId: number | null; tokenizerId: number | null; parentRunId: number | null }
  config: unknown
  modelConfig: unknown
  environment: RunEnvironment | null
}

export interface SweepInfo {
  id: number
  projectId: number
  name: string
  method: 'grid' | 'random'
  baseRunId: number | null
  space: SweepSpace
  runIds: number[]
  createdAt: string
}

export interface DiskUsage {
  /** The database file with its write-ahead log. */
  databaseBytes: number
  /** Unused pages: what compacting gives back. */
  freeBytes: number
  checkpointBytes: number
  metricBytes: number
  runs: {
    runId: number
    name: string
    checkpointBytes: number
    metricPoints: number
    /** Its share of the metrics table, by points. */
    metricBytes: number
    checkpoints: ModelCheckpoint[]
  }[]
}

export interface ProjectFile {
  path: string
  bytes: number
  seconds: number
}

// ---------------------------------------------------------------- channels

/** A channel: the schema of its one argument object and, as a phantom, the type of its value. */
export interface Channel<A extends z.ZodType, V> {
  args: A
  /** Never read at run time; carries the value type. */
  value?: V
}
const channel = <V>() => <A extends z.ZodType>(args: A): Channel<A, V> => ({ args })
const none = z.object({}).strict()

export const channels = {
  'app.info': channel<AppInfo>()(none),

  'projects.list': channel<Project[]>()(none),
  'projects.create': channel<Project>()(z.object({ name }).strict()),
  'projects.delete': channel<void>()(z.object({ projectId: id }).strict()),

  /** Native file or folder dialog (Electron). Web mode answers UNSUPPORTED: the page uploads. */
  'files.pick': channel<PickedFile | null>()(z.object({ kind: z.enum(['file', 'folder']) }).strict()),

  'corpora.preview': channel<ImportPreview>()(
    z.object({ fileId, options: ImportOptions.default({}) }).strict(),
  ),
  'corpora.import': channel<ImportResult>()(
    z.object({ projectId: id, fileId, name, jobId, options: ImportOptions.default({}) }).strict(),
  ),
  'corpora.list': channel<Corpus[]>()(z.object({ projectId: id }).strict()),
  'corpora.get': channel<Corpus>()(z.object({ corpusId: id }).strict()),
  'corpora.documents': channel<DocumentPage>()(
    z
      .object({
        corpusId: id,
        query: z.string().max(500).default(''),
        offset: z.number().int().min(0).max(1e9).default(0),
        limit: z.number().int().min(1).max(500).default(50),
      })
      .strict(),
  ),
  'corpora.rename': channel<Corpus>()(z.object({ corpusId: id, name }).strict()),
  'corpora.delete': channel<void>()(z.object({ corpusId: id }).strict()),

  'tokenizers.list': channel<TokenizerInfo[]>()(z.object({ projectId: id }).strict()),
  'tokenizers.get': channel<TokenizerInfo>()(z.object({ tokenizerId: id }).strict()),
  /** Trains a WordPiece vocabulary on a corpus in the worker; progress as job.progress events. */
  'tokenizers.train': channel<TokenizerInfo>()(
    z.object({ projectId: id, corpusId: id, name, jobId, options: TokenizerTrainOptions.default(TokenizerTrainOptions.parse({})) }).strict(),
  ),
  /** A vocab.txt (lowercase says how to normalise) or a Hugging Face tokenizer.json. */
  'tokenizers.import': channel<TokenizerInfo>()(
    z.object({ projectId: id, fileId, name, lowercase: z.boolean().default(true) }).strict(),
  ),
  /** The four files transformers loads, as text (the page encodes with tokenizer.json). */
  'tokenizers.files': channel<TokenizerFiles>()(z.object({ tokenizerId: id }).strict()),
  /** Electron: asks for a folder and writes the four files there. Web mode: UNSUPPORTED (download). */
  'tokenizers.save': channel<{ folder: string } | null>()(z.object({ tokenizerId: id }).strict()),
  'tokenizers.encode': channel<EncodedText>()(
    z
      .object({
        tokenizerId: id,
        text: z.string().max(100_000),
        pair: z.string().max(100_000).optional(),
        maxLength: z.number().int().min(2).max(100_000).optional(),
      })
      .strict(),
  ),
  'tokenizers.diagnose': channel<TokenizerDiagnostics>()(
    z.object({ tokenizerId: id, corpusId: id, sample: z.number().int().min(1).max(100_000).default(2_000) }).strict(),
  ),
  'tokenizers.compare': channel<TokenizerComparison>()(
    z.object({ firstId: id, secondId: id, corpusId: id, sample: z.number().int().min(1).max(100_000).default(2_000) }).strict(),
  ),
  'tokenizers.rename': channel<TokenizerInfo>()(z.object({ tokenizerId: id, name }).strict()),
  'tokenizers.delete': channel<void>()(z.object({ tokenizerId: id }).strict()),

  'runs.list': channel<RunSummary[]>()(z.object({ projectId: id }).strict()),
  'runs.get': channel<RunSummary>()(z.object({ runId: id }).strict()),
  /** Queues a pre-training run; it starts when the worker is free and reports run.progress. */
  'runs.pretrain': channel<RunSummary>()(PretrainRequest),
  /** A short calibration run on this machine's backend: step time, memory, estimated duration. */
  'runs.plan': channel<TrainingPlan>()(PretrainRequest),
  'runs.pause': channel<RunSummary>()(z.object({ runId: id }).strict()),
  'runs.resume': channel<RunSummary>()(z.object({ runId: id }).strict()),
  'runs.cancel': channel<RunSummary>()(z.object({ runId: id }).strict()),
  'runs.metrics': channel<MetricSeries[]>()(z.object({ runId: id }).strict()),
  'runs.probes': channel<ProbeAtStep[]>()(z.object({ runId: id }).strict()),
  'runs.fillMask': channel<FillMaskResult>()(
    z.object({ runId: id, text: z.string().min(1).max(5_000), topK: z.number().int().min(1).max(20).default(5) }).strict(),
  ),

  'datasets.list': channel<DatasetInfo[]>()(z.object({ projectId: id }).strict()),
  'datasets.get': channel<DatasetInfo>()(z.object({ datasetId: id }).strict()),
  /**
   * A dataset over a corpus' documents. `classes` seeds the schema; with `importLabels` the
   * corpus' label column becomes labels by the annotator "import" (classes created as needed).
   */
  'datasets.create': channel<DatasetInfo>()(
    z
      .object({
        projectId: id,
        corpusId: id,
        name,
        task: TaskKind,
        classes: z.array(name).max(1_000).default([]),
        allowOverlap: z.boolean().default(false),
        importLabels: z.boolean().default(true),
      })
      .strict(),
  ),
  /** A labelled file (CSV/TSV label column, JSONL fields, spans as character offsets) becomes a corpus and a dataset. */
  'datasets.importLabelled': channel<DatasetInfo>()(
    z.object({ projectId: id, fileId, name, task: TaskKind, jobId, options: LabelledFileOptions.default({}) }).strict(),
  ),
  'datasets.rename': channel<DatasetInfo>()(z.object({ datasetId: id, name }).strict()),
  'datasets.delete': channel<void>()(z.object({ datasetId: id }).strict()),
  /** Stratified, seeded train/validation/test split; CONFLICT once one exists. */
  'datasets.split': channel<DatasetInfo>()(
    z
      .object({
        datasetId: id,
        fractions: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.8, 0.1, 0.1]),
        seed: z.number().int().min(0).max(2 ** 31 - 1).default(12345),
      })
      .strict()
      .refine((r) => Math.abs(r.fractions[0] + r.fractions[1] + r.fractions[2] - 1) < 1e-6, { message: 'the fractions must sum to 1' }),
  ),
  /** Model in the loop: a fine-tuned run predicts every example of the dataset (a job). */
  'datasets.predict': channel<{ predicted: number }>()(z.object({ datasetId: id, runId: id, jobId }).strict()),

  'labels.addClass': channel<DatasetInfo>()(z.object({ datasetId: id, name, color: color.optional() }).strict()),
  'labels.updateClass': channel<DatasetInfo>()(z.object({ classId: id, name: name.optional(), color: color.optional() }).strict()),
  /** Every label naming `fromId` names `intoId` instead; `fromId` is removed. One transaction. */
  'labels.mergeClasses': channel<DatasetInfo>()(z.object({ fromId: id, intoId: id }).strict()),
  'labels.reorderClasses': channel<DatasetInfo>()(z.object({ datasetId: id, classIds: z.array(id).min(1).max(1_000) }).strict()),
  'labels.examples': channel<ExamplePage>()(
    z
      .object({
        datasetId: id,
        filter: ExampleFilter.default({ kind: 'all' }),
        /** Restricts `labelled`, `class`, `unlabelled` to this annotator's labels. */
        annotator: annotator.optional(),
        query: z.string().max(500).default(''),
        offset: z.number().int().min(0).max(1e9).default(0),
        limit: z.number().int().min(1).max(500).default(50),
      })
      .strict(),
  ),
  /** Saves one label at once (its own transaction, synchronous=FULL) and answers the example as stored. */
  'labels.set': channel<Example>()(z.object({ datasetId: id, documentId: id, annotator, value: LabelValue }).strict()),
  'labels.clear': channel<Example>()(z.object({ datasetId: id, documentId: id, annotator }).strict()),

  /** Queues a fine-tuning run on the dataset's fixed split (made with defaults if missing). */
  'runs.finetune': channel<RunSummary>()(FinetuneRequest),
  /** Evaluates a fine-tuned run's checkpoint on its held-out test split and stores the result. */
  'runs.evaluate': channel<Evaluation>()(z.object({ runId: id, checkpoint: CheckpointChoice.default('best') }).strict()),
  /** The latest stored evaluation of a run (null: none yet). */
  'runs.evaluation': channel<Evaluation | null>()(z.object({ runId: id }).strict()),
  /** The examples of one confusion-matrix cell of an evaluation. */
  'runs.evaluationExamples': channel<EvaluationExample[]>()(
    z.object({ evaluationId: id, actual: z.string().max(200), predicted: z.string().max(200) }).strict(),
  ),
  /** Playground: one input through a fine-tuned run (text; or question + text as the passage for QA). */
  'runs.predict': channel<Prediction>()(
    z
      .object({
        runId: id,
        text: z.string().min(1).max(100_000),
        question: z.string().max(2_000).optional(),
        checkpoint: CheckpointChoice.default('best'),
      })
      .strict(),
  ),
  /** Batch prediction of an uploaded file (one text per line, or CSV/TSV/JSONL with a text column). */
  'runs.predictFile': channel<BatchPrediction>()(
    z.object({ runId: id, fileId, jobId, options: LabelledFileOptions.default({}), checkpoint: CheckpointChoice.default('best') }).strict(),
  ),

  'runs.experiments': channel<ExperimentRun[]>()(z.object({ projectId: id }).strict()),
  'runs.update': channel<ExperimentRun>()(
    z
      .object({
        runId: id,
        name: name.optional(),
        tags: z.array(z.string().trim().min(1).max(50)).max(50).optional(),
        notes: z.string().max(20_000).optional(),
        archived: z.boolean().optional(),
      })
      .strict(),
  ),
  /** Deletes a run that is not running, with its checkpoints, metrics and evaluations, in one transaction. */
  'runs.delete': channel<{ checkpoints: number; bytes: number }>()(z.object({ runId: id }).strict()),
  'runs.queue': channel<QueueState>()(none),
  /** The listed queued runs take the places they hold between them, in this order. */
  'runs.reorder': channel<QueueState>()(z.object({ runIds: z.array(id).min(1).max(1_000) }).strict()),
  /** A new queued run with the same request (seed included) as this one. */
  'runs.again': channel<RunSummary>()(z.object({ runId: id, name: name.optional() }).strict()),
  'runs.config': channel<RunConfigExport>()(z.object({ runId: id }).strict()),
  /** One metric of several runs for a chart; `from`/`to` (steps) fetch a zoomed window at full detail. */
  'runs.curves': channel<RunCurve[]>()(
    z
      .object({
        runIds: z.array(id).min(1).max(100),
        name: z.string().min(1).max(100),
        from: z.number().int().min(0).max(1e12).optional(),
        to: z.number().int().min(0).max(1e12).optional(),
        maxPoints: z.number().int().min(16).max(50_000).default(2_000),
      })
      .strict(),
  ),
  /** Every metric of each run at `step`, or at the run's best step when absent. */
  'runs.metricsAt': channel<RunMetricsAt[]>()(
    z.object({ runIds: z.array(id).min(1).max(100), step: z.number().int().min(0).max(1e12).optional() }).strict(),
  ),
  'runs.lineage': channel<RunLineage>()(z.object({ runId: id }).strict()),
  'runs.sweep': channel<SweepInfo>()(SweepRequest),
  'runs.sweeps': channel<SweepInfo[]>()(z.object({ projectId: id }).strict()),
  'runs.disk': channel<DiskUsage>()(z.object({ projectId: id }).strict()),
  /** Keeps each run's best and last checkpoints (one run, or every finished run of the project). */
  'runs.prune': channel<{ removed: number; bytes: number }>()(z.object({ projectId: id, runId: id.optional() }).strict()),
  /** VACUUM: refused while a run trains or an import writes. */
  'projects.compact': channel<{ beforeBytes: number; afterBytes: number }>()(none),
  /** A consistent snapshot of one project in one file (Electron: a folder picked; web mode: <home>/exports). */
  'projects.exportFile': channel<ProjectFile | null>()(z.object({ projectId: id }).strict()),
  /** A project file made by projects.exportFile becomes a new project. */
  'projects.importFile': channel<Project>()(z.object({ fileId, name: name.optional() }).strict()),

  'jobs.cancel': channel<boolean>()(z.object({ jobId }).strict()),

  /** A run's checkpoints, with the ones `best` and `last` pick marked. */
  'models.checkpoints': channel<ModelCheckpoint[]>()(z.object({ runId: id }).strict()),
  /**
   * Writes a run's checkpoint as a Hugging Face or TensorFlow.js folder, reads it back and checks
   * its outputs against the in-app model. Electron asks for a parent folder (null: dismissed);
   * web mode writes under <home>/exports. `folder` names the new subfolder (default: the run's name).
   */
  'models.export': channel<ModelExport | null>()(
    z
      .object({
        runId: id,
        checkpoint: CheckpointChoice.default('best'),
        format: ExportFormat,
        folder: z
          .string()
          .trim()
          .min(1)
          .max(120)
          .regex(/^[^\\/:*?"<>|\u0000-\u001f]+$/, 'must be a folder name, not a path')
          .refine((value) => value !== '.' && value !== '..', 'must be a folder name, not a path')
          .refine((value) => !WINDOWS_RESERVED_NAME.test(value), 'must not be a name Windows reserves (CON, PRN, AUX, NUL, COM1–9, LPT1–9) or end in a dot')
          .optional(),
      })
      .strict(),
  ),
  /**
   * "Run elsewhere": writes the run's remaining pre-training (from its last checkpoint) as a bundle
   * for PyTorch distributed training under <home>/bundles, with the command to run it.
   */
  'runs.bundle': channel<TrainingBundle>()(z.object({ runId: id }).strict()),
  /** The project's bundles, newest first, each with what its output folder holds. */
  'runs.bundles': channel<TrainingBundle[]>()(z.object({ projectId: id }).strict()),
  /**
   * A bundle's output folder (metrics.jsonl and checkpoint-N folders) becomes a run: by the name of
   * a bundle under <home>/bundles, or an uploaded output folder (fileId).
   */
  'runs.importResults': channel<RunSummary>()(
    z
      .object({ projectId: id, bundle: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,119}$/, 'must be a bundle folder name').optional(), fileId: fileId.optional(), name: name.optional() })
      .strict()
      .refine((r) => (r.bundle === undefined) !== (r.fileId === undefined), { message: 'give bundle or fileId, not both' }),
  ),
  /** A Hugging Face BERT folder (picked or uploaded) becomes a finished pre-training run and a tokenizer. */
  'models.import': channel<ModelImport>()(z.object({ projectId: id, fileId, name: name.optional() }).strict()),
} as const

export type Channels = typeof channels
export type ChannelName = keyof Channels
export type ArgsOf<C extends ChannelName> = z.input<Channels[C]['args']>
export type ParsedArgsOf<C extends ChannelName> = z.output<Channels[C]['args']>
export type ValueOf<C extends ChannelName> = Exclude<Channels[C]['value'], undefined>
export const channelNames = Object.keys(channels) as ChannelName[]

// ---------------------------------------------------------------- events

export const events = {
  'job.progress': {} as JobProgress,
  'run.progress': {} as RunProgress,
} as const
export type EventName = keyof typeof events
export type EventPayload<E extends EventName> = (typeof events)[E]
export const eventNames = Object.keys(events) as EventName[]

// ---------------------------------------------------------------- results

export type ErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'BAD_INPUT'
  | 'CANCELLED'
  | 'UNSUPPORTED'
  | 'FORBIDDEN'
  | 'DATABASE'
  | 'DISK_FULL'
  | 'INTERNAL'

export type Result<V> = { ok: true; value: V } | { ok: false; code: ErrorCode; message: string }

/**
 * The API every renderer sees: one method per channel taking the channel's argument object,
 * resolving to its value (errors are thrown as StudioApiError), and one `on` per event.
 */
export type StudioApi = {
  [C in ChannelName]: (args: ArgsOf<C>) => Promise<ValueOf<C>>
}
export interface StudioBridge {
  invoke<C extends ChannelName>(channel: C, args: ArgsOf<C>): Promise<Result<ValueOf<C>>>
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void
}

/** The IPC channel names as they travel (Electron's and the web transport's). */
export const ipcName = (c: ChannelName) => `studio:${c}`
export const ipcEventName = (e: EventName) => `studio-event:${e}`
