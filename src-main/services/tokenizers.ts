import { createHash } from 'node:crypto'
import { basename } from 'node:path'
import type {
  EncodedText,
  TokenizerComparison,
  TokenizerDiagnostics,
  TokenizerFiles,
  TokenizerInfo,
  TokenizerTrainOptions,
} from '../contract/index.ts'
import { notFound, StudioError } from '../core/errors.ts'
import {
  BertTokenizer,
  compareTokenizers,
  diagnose,
  readTokenizerFile,
  saveTokenizer,
  specialTokensMapJson,
  tokenizerConfigJson,
  vocabTxt,
  type TokenizerSpec,
} from '../core/tokenizer/index.ts'
import { corpusStore } from '../store/corpora.ts'
import type { Db } from '../store/index.ts'
import { tokenizerStore } from '../store/tokenizers.ts'
import type { TrainTokenizerInput, TrainTokenizerOutput } from '../worker/tokenizer-task.ts'
import type { Jobs } from './jobs.ts'
import type { TrainingWorker } from './worker.ts'

/** Documents the diagnostics read from a corpus: enough for stable rates, quick to tokenise. */
export const DIAGNOSTICS_SAMPLE = 2_000

export interface TokenizerServiceOptions {
  databasePath: string
  nativeBinding?: string
}

/** Training (in the worker), importing, encoding and measuring WordPiece tokenizers. */
export class TokenizersService {
  /** Parsed tokenizers by id; a tokenizer never changes once stored. */
  private readonly cache = new Map<number, BertTokenizer>()

  constructor(
    private readonly db: Db,
    private readonly jobs: Jobs,
    private readonly worker: TrainingWorker,
    private readonly options: TokenizerServiceOptions,
  ) {}

  list(projectId: number): TokenizerInfo[] {
    return tokenizerStore.list(this.db, projectId)
  }

  get(tokenizerId: number): TokenizerInfo {
    const info = tokenizerStore.get(this.db, tokenizerId)
    if (!info) throw notFound(`No tokenizer with id ${tokenizerId}`)
    return info
  }

  /** The ready-to-encode tokenizer. */
  tokenizer(tokenizerId: number): BertTokenizer {
    const cached = this.cache.get(tokenizerId)
    if (cached) return cached
    const json = tokenizerStore.tokenizerJson(this.db, tokenizerId)
    if (json === undefined) throw notFound(`No tokenizer with id ${tokenizerId}`)
    const tokenizer = BertTokenizer.fromTokenizerJson(json, `tokenizer ${tokenizerId}`)
    this.cache.set(tokenizerId, tokenizer)
    return tokenizer
  }

  /** Trains on a stored corpus in the worker; cancellable through the job. */
  async train(request: { projectId: number; corpusId: number; name: string; jobId: string; options: TokenizerTrainOptions }): Promise<TokenizerInfo> {
    const corpus = corpusStore.get(this.db, request.corpusId)
    if (!corpus) throw notFound(`No corpus with id ${request.corpusId}`)
    if (corpus.projectId !== request.projectId) throw new StudioError('VALIDATION', `Corpus ${corpus.id} is not in project ${request.projectId}`)
    this.refuseTakenName(request.projectId, request.name)
    const input: TrainTokenizerInput = {
      corpus: {
        databasePath: this.options.databasePath,
        corpusId: corpus.id,
        documents: corpus.stats.documents,
        characters: corpus.stats.characters,
        ...(this.options.nativeBinding ? { nativeBinding: this.options.nativeBinding } : {}),
      },
      options: request.options,
      sample: DIAGNOSTICS_SAMPLE,
    }
    const output = await this.runTraining(request.jobId, `Train tokenizer ${request.name}`, input)
    return this.store({ projectId: request.projectId, name: request.name, corpusId: corpus.id, sourceName: corpus.name, options: request.options }, output)
  }

  /** Trains on a text file, one document per line (the CLI's `--input`). */
  async trainFromFile(request: { projectId: number; path: string; name: string; jobId: string; options: TokenizerTrainOptions }): Promise<TokenizerInfo> {
    this.refuseTakenName(request.projectId, request.name)
    const displayName = basename(request.path)
    const input: TrainTokenizerInput = { file: { path: request.path, displayName }, options: request.options, sample: DIAGNOSTICS_SAMPLE }
    const output = await this.runTraining(request.jobId, `Train tokenizer ${request.name}`, input)
    return this.store({ projectId: request.projectId, name: request.name, corpusId: null, sourceName: displayName, options: request.options }, output)
  }

  /** A vocab.txt or a Hugging Face tokenizer.json, checked before anything is stored. */
  import(request: { projectId: number; path: string; displayName: string; name: string; lowercase: boolean }): TokenizerInfo {
    this.refuseTakenName(request.projectId, request.name)
    const spec = readTokenizerFile(request.path, { lowercase: request.lowercase })
    const tokenizer = BertTokenizer.fromSpec(spec)
    const tokenizerJson = JSON.stringify(tokenizer.json)
    const id = tokenizerStore.insert(this.db, {
      projectId: request.projectId,
      name: request.name,
      origin: 'imported',
      corpusId: null,
      sourceName: request.displayName,
      options: null,
      tokenizerJson,
      vocabSize: spec.vocab.length,
      lowercase: spec.settings.lowercase,
      hash: sha256(tokenizerJson),
      train: null,
      diagnostics: null,
    })
    return this.get(id)
  }

  files(tokenizerId: number): TokenizerFiles {
    const { spec, json } = this.tokenizer(tokenizerId)
    return {
      'vocab.txt': vocabTxt(spec.vocab),
      'tokenizer.json': `${JSON.stringify(json, null, 2)}\n`,
      'tokenizer_config.json': `${JSON.stringify(tokenizerConfigJson(spec), null, 2)}\n`,
      'special_tokens_map.json': `${JSON.stringify(specialTokensMapJson(spec), null, 2)}\n`,
    }
  }

  /** Writes the four files transformers loads into `folder` (each atomically). */
  save(tokenizerId: number, folder: string): { folder: string } {
    saveTokenizer(folder, this.tokenizer(tokenizerId).spec)
    return { folder }
  }

  async encode(request: { tokenizerId: number; text: string; pair?: string | undefined; maxLength?: number | undefined }): Promise<EncodedText> {
    const tokenizer = this.tokenizer(request.tokenizerId)
    const encoded = await tokenizer.encode(request.text, request.pair ?? null, request.maxLength === undefined ? {} : { maxLength: request.maxLength })
    return {
      tokens: encoded.tokens,
      inputIds: encoded.inputIds,
      tokenTypeIds: encoded.tokenTypeIds,
      words: tokenizer.tokenizeWords(request.pair === undefined ? request.text : `${request.text} ${request.pair}`),
    }
  }

  diagnose(request: { tokenizerId: number; corpusId: number; sample: number }): TokenizerDiagnostics {
    return diagnose(this.tokenizer(request.tokenizerId), this.sample(request.corpusId, request.sample))
  }

  compare(request: { firstId: number; secondId: number; corpusId: number; sample: number }): TokenizerComparison {
    const comparison = compareTokenizers(
      this.tokenizer(request.firstId),
      this.tokenizer(request.secondId),
      this.sample(request.corpusId, request.sample),
    )
    return {
      corpusId: request.corpusId,
      first: { tokenizerId: request.firstId, diagnostics: comparison.first },
      second: { tokenizerId: request.secondId, diagnostics: comparison.second },
      differences: comparison.differentlySplit,
    }
  }

  rename(tokenizerId: number, name: string): TokenizerInfo {
    const info = this.get(tokenizerId)
    if (info.name === name) return info
    this.refuseTakenName(info.projectId, name, tokenizerId)
    tokenizerStore.rename(this.db, tokenizerId, name)
    return this.get(tokenizerId)
  }

  delete(tokenizerId: number): void {
    this.get(tokenizerId)
    tokenizerStore.delete(this.db, tokenizerId)
    this.cache.delete(tokenizerId)
  }

  /** The tokenizer in a folder (tokenizer.json, else vocab.txt), for the CLI's --tokenizer DIR. */
  static fromFolderOrFile(path: string, lowercase = true): BertTokenizer {
    return BertTokenizer.fromSpec(readTokenizerFile(path, { lowercase }))
  }

  private sample(corpusId: number, limit: number): string[] {
    const corpus = corpusStore.get(this.db, corpusId)
    if (!corpus) throw notFound(`No corpus with id ${corpusId}`)
    return tokenizerStore.sampleTexts(this.db, corpusId, corpus.stats.documents, limit)
  }

  private refuseTakenName(projectId: number, name: string, exceptId = 0): void {
    if (tokenizerStore.nameTaken(this.db, projectId, name, exceptId)) {
      throw new StudioError('CONFLICT', `A tokenizer named "${name}" already exists in this project`)
    }
  }

  private async runTraining(jobId: string, label: string, input: TrainTokenizerInput): Promise<TrainTokenizerOutput> {
    const job = this.jobs.start(jobId, 'tokenizer', label)
    try {
      const output = await this.worker.run<TrainTokenizerOutput>('tokenizer.train', input, {
        signal: job.signal,
        onProgress: (progress) =>
          job.progress(progress.done, progress.total, progress.items, PHASES[progress.phase] ?? progress.phase),
      })
      job.finish('done')
      return output
    } catch (error) {
      const aborted = error instanceof StudioError && error.code === 'CANCELLED'
      job.finish(aborted ? 'cancelled' : 'failed', (error as Error).message)
      throw error
    }
  }

  private store(
    meta: { projectId: number; name: string; corpusId: number | null; sourceName: string; options: TokenizerTrainOptions },
    output: TrainTokenizerOutput,
  ): TokenizerInfo {
    const spec: TokenizerSpec = BertTokenizer.fromVocab(output.vocab, { lowercase: meta.options.lowercase }).spec
    const tokenizerJson = JSON.stringify(BertTokenizer.fromSpec(spec).json)
    // The name was free when training began; it may not be now.
    this.refuseTakenName(meta.projectId, meta.name)
    const id = tokenizerStore.insert(this.db, {
      projectId: meta.projectId,
      name: meta.name,
      origin: 'trained',
      corpusId: meta.corpusId,
      sourceName: meta.sourceName,
      options: meta.options,
      tokenizerJson,
      vocabSize: output.vocab.length,
      lowercase: meta.options.lowercase,
      hash: sha256(tokenizerJson),
      train: output.train,
      diagnostics: output.diagnostics,
    })
    return this.get(id)
  }
}

const PHASES: Record<string, string> = { counting: 'Counting words', merging: 'Merging pieces' }

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
