/**
 * `npm run bench -- batches [--corpus FILE] [--seq 128] [--batch 32] [--batches 100] [--vocab 8192]`
 *
 * How fast the pre-training data pipeline makes batches (NSP pairs, 15% masking, from the token
 * cache), which must stay far below a training step's time (hundreds of milliseconds on a laptop
 * core) so that it never slows training. Trains a WordPiece vocabulary on the corpus (default: the
 * shipped resources/samples/topics-corpus.txt, one document a line), builds its token cache, times
 * `--batches` batches after one warm-up batch. Was a timed unit test; speed belongs here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PretrainDataGenerator } from '../src-main/core/data/instances.ts'
import { buildTokenCache, TokenCache } from '../src-main/core/data/token-cache.ts'
import { BertTokenizer } from '../src-main/core/tokenizer/encoder.ts'
import { trainWordPiece } from '../src-main/core/tokenizer/trainer.ts'

export interface BatchesBenchOptions {
  corpus: string
  seqLength: number
  batchSize: number
  batches: number
  vocabSize: number
}

export async function batchesBench(options: BatchesBenchOptions): Promise<object> {
  const texts = readFileSync(options.corpus, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
  const vocab = await trainWordPiece(texts, { vocabSize: options.vocabSize, lowercase: true })
  const tokenizer = BertTokenizer.fromVocab(vocab, { lowercase: true })
  const dir = mkdtempSync(join(tmpdir(), 'bench-batches-'))
  try {
    const path = join(dir, 'corpus.tokens')
    await buildTokenCache(
      texts.map((text, i) => ({ id: i + 1, text })),
      tokenizer,
      path,
      { tokenizerHash: 'bench' },
    )
    const cache = TokenCache.open(path)
    try {
      const generator = new PretrainDataGenerator(cache, tokenizer, { seqLength: options.seqLength })
      generator.nextBatch(options.batchSize)
      const times: number[] = []
      for (let i = 0; i < options.batches; i++) {
        const started = performance.now()
        generator.nextBatch(options.batchSize)
        times.push(performance.now() - started)
      }
      const sorted = [...times].sort((a, b) => a - b)
      return {
        bench: 'batches',
        corpus: options.corpus,
        documents: texts.length,
        tokens: cache.tokenCount,
        vocab_size: tokenizer.size,
        seq_length: options.seqLength,
        batch_size: options.batchSize,
        batches: options.batches,
        ms_per_batch: times.reduce((a, b) => a + b, 0) / times.length,
        ms_median: sorted[Math.floor(sorted.length / 2)],
        ms_max: sorted.at(-1),
      }
    } finally {
      cache.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
