/**
 * BERT's pair template, truncation and padding as plain functions over ids, for encoders that do
 * not do them themselves (the pure-JS `@huggingface/tokenizers` in the renderer has no
 * truncation). They reproduce Hugging Face's `TemplateProcessing` + `LongestFirst` truncation +
 * fixed padding, so results equal the native encoder's. No imports: the renderer can use this file.
 */

export interface Encoded {
  inputIds: number[]
  tokenTypeIds: number[]
  attentionMask: number[]
  tokens: string[]
}

export interface EncodeOptions {
  /** Total length including [CLS]/[SEP]; longer inputs are truncated, longest segment first. */
  readonly maxLength?: number
  /** Pad with [PAD] (attention mask 0) up to `maxLength`. */
  readonly padToMaxLength?: boolean
}

/**
 * Hugging Face's `LongestFirst` for a pair: `budget` is the room left after the special tokens.
 * Returns the kept lengths (first, second). Note it is not BERT's one-token-at-a-time
 * `_truncate_seq_pair`: when both are too long it keeps ⌊budget/2⌋ of the first and the rest of
 * the second.
 */
export function truncatedLengths(first: number, second: number, budget: number): [number, number] {
  if (first + second <= budget) return [first, second]
  if (budget <= 0) return [0, 0]
  const swap = first > second
  let short = swap ? second : first
  let long: number
  long = short > budget ? short : Math.max(short, budget - short)
  if (short + long > budget) {
    short = Math.floor(budget / 2)
    long = short + (budget % 2)
  }
  return swap ? [long, short] : [short, long]
}

export interface TemplateTokens {
  readonly clsId: number
  readonly sepId: number
  readonly padId: number
}

interface Segment {
  ids: readonly number[]
  tokens: readonly string[]
}

/** `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` (segment ids 0 then 1), truncated and padded. */
export function assemble(first: Segment, second: Segment | null, special: TemplateTokens, options: EncodeOptions = {}): Encoded {
  const added = second ? 3 : 2
  let firstLength = first.ids.length
  let secondLength = second ? second.ids.length : 0
  if (options.maxLength !== undefined) {
    const budget = Math.max(0, options.maxLength - added)
    if (second) [firstLength, secondLength] = truncatedLengths(firstLength, secondLength, budget)
    else firstLength = Math.min(firstLength, budget)
  }
  const inputIds = [special.clsId, ...first.ids.slice(0, firstLength), special.sepId]
  const tokens = ['[CLS]', ...first.tokens.slice(0, firstLength), '[SEP]']
  const tokenTypeIds = new Array<number>(inputIds.length).fill(0)
  if (second) {
    inputIds.push(...second.ids.slice(0, secondLength), special.sepId)
    tokens.push(...second.tokens.slice(0, secondLength), '[SEP]')
    while (tokenTypeIds.length < inputIds.length) tokenTypeIds.push(1)
  }
  const attentionMask = new Array<number>(inputIds.length).fill(1)
  if (options.padToMaxLength && options.maxLength !== undefined) {
    while (inputIds.length < options.maxLength) {
      inputIds.push(special.padId)
      tokens.push('[PAD]')
      tokenTypeIds.push(0)
      attentionMask.push(0)
    }
  }
  return { inputIds, tokenTypeIds, attentionMask, tokens }
}

// CJK ideographs outside the BMP, which `@huggingface/tokenizers` (it scans UTF-16 units) misses.
const ASTRAL_CHINESE = /[\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B920}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu

/**
 * Rewrites text so that `@huggingface/tokenizers` normalises it as the native BertNormalizer
 * does: spaces around astral CJK ideographs (the native one splits them, the pure-JS one does
 * not), and, when lowercasing, Σ → σ (JavaScript's `toLowerCase` makes a word-final Σ into ς;
 * Rust lowercases per character). Both are no-ops for the native encoder.
 */
export function prepareForPureEncoder(text: string, lowercase: boolean): string {
  if (lowercase && text.includes('Σ')) text = text.replaceAll('Σ', 'σ')
  return text.replace(ASTRAL_CHINESE, ' $& ')
}
