import Database from 'better-sqlite3'
import type { TokenizerDiagnostics, TokenizerTrainOptions, TokenizerTrainStats } from '../contract/index.ts'
import { openDocuments } from '../core/import/index.ts'
import { BertTokenizer, countWords, diagnose, trainFromCounts, type TrainProgress } from '../core/tokenizer/index.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type { TaskContext } from './tasks.ts'

export interface TrainTokenizerInput {
  /** Train on a stored corpus (read through a read-only connection of the worker's own)… */
  corpus?: { databasePath: string; corpusId: number; documents: number; characters: number; nativeBinding?: string }
  /** …or on a text file, one document per line (the CLI's --input). */
  file?: { path: string; displayName: string }
  options: TokenizerTrainOptions
  /** Documents sampled for the diagnostics. */
  sample: number
}

export interface TrainTokenizerOutput {
  vocab: string[]
  train: TokenizerTrainStats
  diagnostics: TokenizerDiagnostics
}

/** Streams the corpus through the trainer, then measures the vocabulary on a sample of it. */
export async function trainTokenizerTask(input: TrainTokenizerInput, { signal, progress }: TaskContext): Promise<TrainTokenizerOutput> {
  const started = performance.now()
  const trainerOptions = {
    vocabSize: input.options.vocabSize,
    minFrequency: input.options.minFrequency,
    lowercase: input.options.lowercase,
    limitAlphabet: input.options.limitAlphabet,
  }
  const onProgress = (p: TrainProgress) =>
    progress({
      phase: p.phase,
      // Counting is most of the time on a large corpus; merging the rest.
      done: Math.round(1000 * (p.phase === 'counting' ? 0.7 * (p.fraction ?? 0) : 0.7 + 0.3 * (p.fraction ?? 0))),
      total: 1000,
      items: p.documents,
    })
  const sample: string[] = []
  let db: Database.Database | null = null
  try {
    let documents: AsyncIterable<string> | Iterable<string>
    let totalChars: number | undefined
    if (input.corpus) {
      const { databasePath, corpusId, nativeBinding } = input.corpus
      db = new Database(databasePath, { readonly: true, ...(nativeBinding ? { nativeBinding } : {}) })
      const statement = db.prepare('SELECT text FROM documents WHERE corpus_id = ? ORDER BY ordinal').pluck()
      documents = statement.iterate(corpusId) as IterableIterator<string>
      totalChars = input.corpus.characters
      sample.push(...tokenizerStore.sampleTexts(db, corpusId, input.corpus.documents, input.sample))
    } else if (input.file) {
      const stream = await openDocuments({ path: input.file.path, kind: 'file', displayName: input.file.displayName }, { format: 'txt', split: 'line' })
      documents = (async function* () {
        for await (const batch of stream.batches) {
          for (const document of batch) {
            if (sample.length < input.sample) sample.push(document.text)
            yield document.text
          }
        }
      })()
    } else {
      throw new Error('tokenizer.train needs a corpus or a file')
    }
    const control = { signal, onProgress, ...(totalChars === undefined ? {} : { totalChars }) }
    const counts = await countWords(documents, trainerOptions, control)
    const { vocab, stats } = await trainFromCounts(counts, trainerOptions, control)
    const tokenizer = BertTokenizer.fromVocab(vocab, { lowercase: input.options.lowercase })
    const diagnostics = diagnose(tokenizer, sample)
    return { vocab, train: { ...stats, seconds: (performance.now() - started) / 1000 }, diagnostics }
  } finally {
    db?.close()
  }
}
