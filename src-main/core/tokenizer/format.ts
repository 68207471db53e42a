/**
 * The Hugging Face `tokenizer.json` for a BERT WordPiece tokenizer: building it from an ordered
 * vocabulary, and reading one back (or a `vocab.txt`) with errors that name the file and the
 * field. The same JSON configures the native encoder in Node and the pure-JS one in the renderer.
 */
import { badInput } from '../errors.ts'

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const
export const UNK = '[UNK]'
export const CLS = '[CLS]'
export const SEP = '[SEP]'
export const PAD = '[PAD]'
export const MASK = '[MASK]'
export const CONTINUING_PREFIX = '##'
export const MAX_INPUT_CHARS_PER_WORD = 100

export interface TokenizerSettings {
  readonly lowercase: boolean
  /** null: follow `lowercase` (BERT's behaviour). */
  readonly stripAccents: boolean | null
  readonly cleanText: boolean
  readonly handleChineseChars: boolean
  readonly maxInputCharsPerWord: number
}

export const defaultSettings = (lowercase: boolean): TokenizerSettings => ({
  lowercase,
  stripAccents: null,
  cleanText: true,
  handleChineseChars: true,
  maxInputCharsPerWord: MAX_INPUT_CHARS_PER_WORD,
})

/** What a tokenizer is: an ordered vocabulary (index = id) and its normalisation settings. */
export interface TokenizerSpec {
  readonly vocab: readonly string[]
  readonly settings: TokenizerSettings
}

/** The subset of the Hugging Face format this studio writes and accepts. */
export interface TokenizerJson {
  version: string
  truncation: null | { direction: 'Right'; max_length: number; strategy: 'LongestFirst'; stride: number }
  padding: null | {
    strategy: { Fixed: number }
    direction: 'Right'
    pad_to_multiple_of: null
    pad_id: number
    pad_type_id: number
    pad_token: string
  }
  added_tokens: Array<{
    id: number
    content: string
    single_word: boolean
    lstrip: boolean
    rstrip: boolean
    normalized: boolean
    special: boolean
  }>
  normalizer: {
    type: 'BertNormalizer'
    clean_text: boolean
    handle_chinese_chars: boolean
    strip_accents: boolean | null
    lowercase: boolean
  }
  pre_tokenizer: { type: 'BertPreTokenizer' }
  post_processor: unknown
  decoder: { type: 'WordPiece'; prefix: string; cleanup: boolean }
  model: {
    type: 'WordPiece'
    unk_token: string
    continuing_subword_prefix: string
    max_input_chars_per_word: number
    vocab: Record<string, number>
  }
}

/** Checks the vocabulary a tokenizer needs; `source` names the file or origin in messages. */
export function validateVocab(vocab: readonly string[], source: string): void {
  if (vocab.length === 0) throw badInput(`${source}: the vocabulary is empty; expected one token per line`)
  const seen = new Map<string, number>()
  vocab.forEach((token, index) => {
    if (token.length === 0) throw badInput(`${source}: token ${index} is empty`)
    const previous = seen.get(token)
    if (previous !== undefined) {
      throw badInput(`${source}: token "${token}" appears twice (ids ${previous} and ${index}); tokens must be unique`)
    }
    seen.set(token, index)
  })
  for (const required of [UNK, CLS, SEP]) {
    if (!seen.has(required)) throw badInput(`${source}: the vocabulary has no ${required} token; a BERT tokenizer needs ${UNK}, ${CLS} and ${SEP}`)
  }
}

export function buildTokenizerJson(spec: TokenizerSpec): TokenizerJson {
  const { vocab, settings } = spec
  validateVocab(vocab, 'vocabulary')
  const ids: Record<string, number> = {}
  vocab.forEach((token, id) => (ids[token] = id))
  const cls = ids[CLS]!
  const sep = ids[SEP]!
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: vocab
      .map((content, id) => ({ content, id }))
      .filter(({ content }) => (SPECIAL_TOKENS as readonly string[]).includes(content))
      .map(({ content, id }) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: settings.cleanText,
      handle_chinese_chars: settings.handleChineseChars,
      strip_accents: settings.stripAccents,
      lowercase: settings.lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: CLS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: SEP, type_id: 0 } }],
      pair: [
        { SpecialToken: { id: CLS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: SEP, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: SEP, type_id: 1 } },
      ],
      special_tokens: {
        [CLS]: { id: CLS, ids: [cls], tokens: [CLS] },
        [SEP]: { id: SEP, ids: [sep], tokens: [SEP] },
      },
    },
    decoder: { type: 'WordPiece', prefix: CONTINUING_PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: UNK,
      continuing_subword_prefix: CONTINUING_PREFIX,
      max_input_chars_per_word: settings.maxInputCharsPerWord,
      vocab: ids,
    },
  }
}

/** `vocab.txt`: one token per line, id = line number. A trailing newline is not a token. */
export function parseVocabTxt(text: string, source: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split(/\r?\n/)
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  if (lines.length === 0) throw badInput(`${source}: the file is empty; expected one token per line`)
  lines.forEach((line, index) => {
    if (line.length === 0) throw badInput(`${source}: line ${index + 1} is empty; expected one token per line`)
    if (line !== line.trim()) throw badInput(`${source}: line ${index + 1} ("${line}") has leading or trailing spaces`)
  })
  validateVocab(lines, source)
  return lines
}

export function vocabTxt(vocab: readonly string[]): string {
  return vocab.join('\n') + '\n'
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Reads a Hugging Face `tokenizer.json` and checks it is a BERT WordPiece tokenizer this studio
 * encodes identically everywhere: WordPiece model, BertNormalizer (or none), BertPreTokenizer.
 */
export function parseTokenizerJson(text: string, source: string): TokenizerSpec {
  if (text.trim().length === 0) throw badInput(`${source}: the file is empty; expected a Hugging Face tokenizer.json`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw badInput(`${source}: not valid JSON (${(error as Error).message}); expected a Hugging Face tokenizer.json`)
  }
  if (!isRecord(json)) throw badInput(`${source}: expected a JSON object, found ${Array.isArray(json) ? 'an array' : typeof json}`)
  const model = json.model
  if (!isRecord(model)) throw badInput(`${source}: field "model" is missing; expected a WordPiece model`)
  if (model.type !== 'WordPiece') {
    throw badInput(`${source}: field "model.type" is ${JSON.stringify(model.type)}, expected "WordPiece" (a BERT tokenizer; BPE, Unigram and WordLevel are not supported)`)
  }
  const prefix = model.continuing_subword_prefix ?? CONTINUING_PREFIX
  if (prefix !== CONTINUING_PREFIX) throw badInput(`${source}: field "model.continuing_subword_prefix" is ${JSON.stringify(prefix)}, expected "${CONTINUING_PREFIX}"`)
  const unk = model.unk_token ?? UNK
  if (unk !== UNK) throw badInput(`${source}: field "model.unk_token" is ${JSON.stringify(unk)}, expected "${UNK}"`)
  const maxChars = model.max_input_chars_per_word ?? MAX_INPUT_CHARS_PER_WORD
  if (!Number.isInteger(maxChars) || (maxChars as number) < 1) {
    throw badInput(`${source}: field "model.max_input_chars_per_word" is ${JSON.stringify(maxChars)}, expected a positive integer`)
  }
  if (!isRecord(model.vocab)) throw badInput(`${source}: field "model.vocab" is missing or not an object of token → id`)
  const entries = Object.entries(model.vocab)
  const vocab: string[] = new Array(entries.length)
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= entries.length) {
      throw badInput(`${source}: field "model.vocab" gives "${token}" the id ${JSON.stringify(id)}, expected an integer in 0..${entries.length - 1}`)
    }
    const other = vocab[id as number]
    if (other !== undefined) throw badInput(`${source}: field "model.vocab" gives the id ${id} to both "${other}" and "${token}"`)
    vocab[id as number] = token
  }
  validateVocab(vocab, source)

  let settings: TokenizerSettings = { ...defaultSettings(false), maxInputCharsPerWord: maxChars as number }
  const normalizer = json.normalizer
  if (normalizer !== null && normalizer !== undefined) {
    if (!isRecord(normalizer) || normalizer.type !== 'BertNormalizer') {
      throw badInput(`${source}: field "normalizer.type" is ${JSON.stringify(isRecord(normalizer) ? normalizer.type : normalizer)}, expected "BertNormalizer"`)
    }
    const flag = (name: string, fallback: boolean): boolean => {
      const value = normalizer[name] ?? fallback
      if (typeof value !== 'boolean') throw badInput(`${source}: field "normalizer.${name}" is ${JSON.stringify(value)}, expected true or false`)
      return value
    }
    const strip = normalizer.strip_accents ?? null
    if (strip !== null && typeof strip !== 'boolean') throw badInput(`${source}: field "normalizer.strip_accents" is ${JSON.stringify(strip)}, expected true, false or null`)
    settings = {
      lowercase: flag('lowercase', true),
      stripAccents: strip,
      cleanText: flag('clean_text', true),
      handleChineseChars: flag('handle_chinese_chars', true),
      maxInputCharsPerWord: maxChars as number,
    }
  } else {
    throw badInput(`${source}: field "normalizer" is missing, expected a BertNormalizer`)
  }
  const preTokenizer = json.pre_tokenizer
  if (!isRecord(preTokenizer) || preTokenizer.type !== 'BertPreTokenizer') {
    throw badInput(`${source}: field "pre_tokenizer.type" is ${JSON.stringify(isRecord(preTokenizer) ? preTokenizer.type : preTokenizer)}, expected "BertPreTokenizer"`)
  }
  const post = json.post_processor
  if (post !== null && post !== undefined && (!isRecord(post) || (post.type !== 'TemplateProcessing' && post.type !== 'BertProcessing'))) {
    throw badInput(`${source}: field "post_processor.type" is ${JSON.stringify(isRecord(post) ? post.type : post)}, expected "TemplateProcessing" or "BertProcessing"`)
  }
  return { vocab, settings }
}

/** `tokenizer_config.json` as transformers' `BertTokenizerFast.from_pretrained` reads it. */
export function tokenizerConfigJson(spec: TokenizerSpec, modelMaxLength = 512): Record<string, unknown> {
  const { settings } = spec
  const present = new Set(spec.vocab)
  const addedTokensDecoder: Record<string, unknown> = {}
  spec.vocab.forEach((token, id) => {
    if ((SPECIAL_TOKENS as readonly string[]).includes(token)) {
      addedTokensDecoder[String(id)] = { content: token, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }
    }
  })
  return {
    added_tokens_decoder: addedTokensDecoder,
    clean_up_tokenization_spaces: true,
    cls_token: CLS,
    do_basic_tokenize: true,
    do_lower_case: settings.lowercase,
    mask_token: present.has(MASK) ? MASK : null,
    model_max_length: modelMaxLength,
    never_split: null,
    pad_token: present.has(PAD) ? PAD : null,
    sep_token: SEP,
    strip_accents: settings.stripAccents,
    tokenize_chinese_chars: settings.handleChineseChars,
    tokenizer_class: 'BertTokenizer',
    unk_token: UNK,
  }
}

export function specialTokensMapJson(spec: TokenizerSpec): Record<string, string> {
  const present = new Set(spec.vocab)
  const map: Record<string, string> = { cls_token: CLS, sep_token: SEP, unk_token: UNK }
  if (present.has(PAD)) map.pad_token = PAD
  if (present.has(MASK)) map.mask_token = MASK
  return map
}
