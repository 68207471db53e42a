/**
 * BERT's normalizer and pre-tokenizer in plain TypeScript, matching Hugging Face's `BertNormalizer`
 * and `BertPreTokenizer` (tests compare them with the native binding). The trainer counts words
 * with these, so it needs no native call per document; diagnostics use them to name words.
 */

export interface NormalizerOptions {
  readonly lowercase: boolean
  /** Defaults to `lowercase`, as in Hugging Face and BERT's `do_lower_case`. */
  readonly stripAccents?: boolean | null
  readonly cleanText?: boolean
  readonly handleChineseChars?: boolean
}

// Hugging Face's `is_control`: Unicode "other" (Cc, Cf, Co, Cs) except \t \n \r, plus NUL and U+FFFD.
const CONTROL = /[\0\uFFFD]|(?![\t\n\r])[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/gu
const WHITESPACE = /[\t\n\r\p{White_Space}]/gu
// Hugging Face's `is_chinese_char` ranges (the CJK Unified Ideographs blocks BERT splits apart).
const CHINESE = /[\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B920}-\u{2CEAF}\uF900-\uFAFF\u{2F800}-\u{2FA1F}]/gu
const NONSPACING_MARK = /\p{Mn}/gu
// Printable ASCII plus \t \n \r: nothing to clean, no CJK, no accents.
const NOT_SIMPLE_ASCII = /[^\x20-\x7E\t\n\r]/
const ASCII_WORD = /[A-Za-z0-9]+|[!-/:-@[-`{-~]/g
// BERT punctuation: Unicode P* plus all ASCII punctuation (which includes $ + < = > ^ ` |).
const WORD = /[^\s\p{P}!-/:-@[-`{-~]+|[\p{P}!-/:-@[-`{-~]/gu

/**
 * Per-character lowercasing as Rust's `char::to_lowercase`: JavaScript's string `toLowerCase` is
 * the same except that it turns a word-final capital sigma into ς, where Rust always gives σ.
 */
export function lowercaseLikeRust(text: string): string {
  return (text.includes('Σ') ? text.replaceAll('Σ', 'σ') : text).toLowerCase()
}

export function stripAccents(text: string): string {
  return text.normalize('NFD').replace(NONSPACING_MARK, '')
}

export function bertNormalize(text: string, options: NormalizerOptions): string {
  const strip = options.stripAccents ?? options.lowercase
  if (options.cleanText !== false) text = text.replace(CONTROL, '').replace(WHITESPACE, ' ')
  if (options.handleChineseChars !== false) text = text.replace(CHINESE, ' $& ')
  // Hugging Face strips accents before lowercasing; the order matters for a few characters.
  if (strip) text = stripAccents(text)
  if (options.lowercase) text = lowercaseLikeRust(text)
  return text
}

/** Splits normalized text on whitespace (dropped) and punctuation (each its own word). */
export function bertPreTokenize(normalized: string): string[] {
  return normalized.match(WORD) ?? []
}

/** Normalize then pre-tokenize, with a fast path for plain ASCII text (most English corpora). */
export function bertWords(text: string, options: NormalizerOptions): string[] {
  if (!NOT_SIMPLE_ASCII.test(text)) {
    return (options.lowercase ? text.toLowerCase() : text).match(ASCII_WORD) ?? []
  }
  return bertPreTokenize(bertNormalize(text, options))
}
