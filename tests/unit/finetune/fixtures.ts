/** A tiny word vocabulary (under bert's test size of 99) and config for the fine-tuning tests. */
import { makeBertConfig } from '../../../src-main/core/model/config.ts'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'
import type { BertConfig } from '../../../src-main/core/train/types.ts'

export const VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
  'the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran', 'to', 'park', 'a', 'is', 'was', 'in', 'of', 'and',
  'who', 'what', 'where', 'when', 'did', 'does', 'lives', 'john', 'smith', 'mary', 'paris', 'london', 'france', 'capital', 'city',
  'broncos', 'won', 'super', 'bowl', 'denver', 'game', 'team', 'good', 'bad', 'great', 'awful', 'movie', 'film', 'love', 'hate',
  'un', '##aff', '##able', 'want', '##ed', 'run', '##ning', '##s', 'cafe', 'big', 'small', 'red', 'blue', 'green', 'house',
  ',', '.', '?', '!', '-', 'it', 'he', 'she', 'they', 'we', 'very', 'not', 'at', 'by', 'with',
]

export const tokenizer = BertTokenizer.fromVocab(VOCAB, { lowercase: true })

export const tinyConfig = (overrides: Partial<BertConfig> = {}): BertConfig =>
  makeBertConfig({
    vocab_size: 99,
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    intermediate_size: 37,
    max_position_embeddings: 32,
    ...overrides,
  })
