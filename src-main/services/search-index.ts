import { asDiskFull } from '../core/errors.ts'
import { corpusStore } from '../store/corpora.ts'
import type { Db } from '../store/index.ts'
import type { Jobs } from './jobs.ts'

/** Documents indexed per transaction: about a tenth of a second of work, so the app stays responsive. */
const CHUNK = 5_000
const RETRY_MS = 250

/**
 * Builds the word index of imported corpora in the background, a chunk per transaction with its
 * progress mark, so a crash resumes where it stopped. Indexing inside the import's transaction
 * measured 2.8× slower imports; after it, the corpus is usable at once and search scans until the
 * index is ready.
 */
export class SearchIndexer {
  private readonly queue: number[] = []
  private running = false
  private timer: NodeJS.Timeout | null = null
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly jobs: Jobs,
    /** True while something else holds the write lock (an import): wait rather than block on it. */
    private readonly busy: () => boolean,
  ) {}

  /** Queues a corpus; also resumes every unfinished one when called at open. */
  schedule(corpusId: number): void {
    if (!this.queue.includes(corpusId)) this.queue.push(corpusId)
    this.kick(0)
  }

  resumeUnfinished(): void {
    for (const corpusId of corpusStore.unindexed(this.db)) this.schedule(corpusId)
  }

  /** Resolves when every queued corpus is indexed (tests, the CLI). */
  async idle(): Promise<void> {
    while (this.queue.length > 0 || this.running) await new Promise((resolve) => setTimeout(resolve, 20))
  }

  close(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.queue.length = 0
  }

  private kick(delay: number): void {
    if (this.running || this.timer || this.closed || this.queue.length === 0) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.drain()
    }, delay)
    // Background work must not keep a CLI process alive.
    this.timer.unref()
  }

  private async drain(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (this.busy()) {
          this.running = false
          this.kick(RETRY_MS)
          return
        }
        const corpusId = this.queue[0]!
        const corpus = corpusStore.get(this.db, corpusId)
        if (!corpus || corpus.searchReady) {
          this.queue.shift()
          continue
        }
        const job = this.jobs.ensure(`index-${corpusId}`, 'index', `Index ${corpus.name} for search`)
        let result: ReturnType<typeof corpusStore.indexChunk>
        try {
          result = corpusStore.indexChunk(this.db, corpusId, CHUNK)
        } catch (error) {
          // Background work must never take the process down. A lock held elsewhere (training
          // writing a checkpoint) is waited out; anything else (a full disk) fails this corpus's
          // job, and the next open resumes it from its last chunk.
          if (/^SQLITE_BUSY/.test((error as { code?: string }).code ?? '')) {
            this.running = false
            this.kick(RETRY_MS)
            return
          }
          this.queue.shift()
          job.finish('failed', (asDiskFull(error, `indexing ${corpus.name} for search`) as Error).message)
          continue
        }
        if (!result || result.done) {
          this.queue.shift()
          job.progress(corpus.stats.documents, corpus.stats.documents, corpus.stats.documents)
          job.finish('done')
        } else {
          job.progress(result.through, corpus.stats.documents, result.through)
        }
        // Let requests in between chunks.
        await new Promise((resolve) => setImmediate(resolve))
      }
    } finally {
      this.running = false
    }
  }
}
