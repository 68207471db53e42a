/**
 * The BERT tokenizer used in Node (main process, worker, CLI): Hugging Face's native `tokenizers`
 * configured from the studio's `tokenizer.json`, which the renderer's pure-JS encoder also reads.
 */
import { Tokenizer as NativeTokenizer } from 'tokenizers'
import { badInput } from '../errors.ts'
import { buildTokenizerJson, CLS, CONTINUING_PREFIX, SPECIAL_TOKENS, defaultSettings, PAD, SEP, parseTokenizerJson, UNK, type TokenizerJson, type TokenizerSettings, type TokenizerSpec } from './format.ts'
import { bertWords } from './normalize.ts'
import { assemble, type EncodeOptions, type Encoded, type TemplateTokens } from './template.ts'

export type { EncodeOptions, Encoded } from './template.ts'

/** A single text or a (first, second) pair. */
export type EncodeInput = string | readonly [string, string]

export interface WordPieces {
  /** The word after normalisation and pre-tokenisation. */
  word: string
  pieces: string[]
}

export class BertTokenizer {
  readonly vocab: readonly string[]
  readonly settings: TokenizerSettings
  readonly json: TokenizerJson
  private readonly ids: Map<string, number>
  private native: NativeTokenizer | null = null
  private readonly template: TemplateTokens
  private readonly specialPattern: RegExp

  private constructor(spec: TokenizerSpec) {
    this.vocab = spec.vocab
    this.settings = spec.settings
    this.json = buildTokenizerJson(spec)
    this.ids = new Map(spec.vocab.map((token, id) => [token, id]))
    const specials = SPECIAL_TOKENS.filter((token) => this.ids.has(token)).map((token) => token.replace(/[[\]]/g, '\\$&'))
    this.specialPattern = new RegExp(`(${specials.join('|')})`)
    this.template = { clsId: this.ids.get(CLS)!, sepId: this.ids.get(SEP)!, padId: this.ids.get(PAD) ?? -1 }
  }

  static fromVocab(vocab: readonly string[], options: Partial<TokenizerSettings> & { lowercase: boolean }): BertTokenizer {
    return new BertTokenizer({ vocab: [...vocab], settings: { ...defaultSettings(options.lowercase), ...options } })
  }

  static fromSpec(spec: TokenizerSpec): BertTokenizer {
    return new BertTokenizer(spec)
  }

  /** From a `tokenizer.json` (text or parsed); `source` names it in error messages. */
  static fromTokenizerJson(json: string | object, source = 'tokenizer.json'): BertTokenizer {
    return new BertTokenizer(parseTokenizerJson(typeof json === 'string' ? json : JSON.stringify(json), source))
  }

  get spec(): TokenizerSpec {
    return { vocab: this.vocab, settings: this.settings }
  }

  get size(): number {
    return this.vocab.length
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token)
  }

  async encode(text: string, pair?: string | null, options: EncodeOptions = {}): Promise<Encoded> {
    return (await this.encodeBatch([pair === null || pair === undefined ? text : [text, pair]], options))[0]!
  }

  /**
   * Segments are encoded natively in one batch without special tokens; the template, truncation
   * (Hugging Face's LongestFirst) and padding are applied by `assemble`, the same code the
   * renderer runs after the pure-JS encoder, so both sides agree by construction. (The binding's
   * own truncation also stops tokenizing a segment early, mid-pair, in an undocumented way.)
   */
  async encodeBatch(inputs: readonly EncodeInput[], options: EncodeOptions = {}): Promise<Encoded[]> {
    this.checkOptions(options)
    if (inputs.length === 0) return []
    const segments: string[] = []
    for (const input of inputs) {
      if (typeof input === 'string') segments.push(input)
      else segments.push(input[0], input[1])
    }
    const encodings = await this.nativeTokenizer().encodeBatch(segments, { addSpecialTokens: false })
    let next = 0
    const segment = () => {
      const encoding = encodings[next++]!
      return { ids: encoding.getIds(), tokens: encoding.getTokens() }
    }
    return inputs.map((input) => {
      const first = segment()
      return assemble(first, typeof input === 'string' ? null : segment(), this.template, options)
    })
  }

  /** Ids only, no special tokens: the fast path for counting and pre-training data. */
  async encodeIdsBatch(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return []
    const encodings = await this.nativeTokenizer().encodeBatch([...texts], { addSpecialTokens: false })
    return encodings.map((encoding) => encoding.getIds())
  }

  /** Words as the pre-tokenizer sees them, each with its WordPiece pieces (for diagnostics). */
  tokenizeWords(text: string): WordPieces[] {
    // Like the native encoder, a special token written in the text is kept whole.
    const words: WordPieces[] = []
    text.split(this.specialPattern).forEach((part, index) => {
      if (index % 2 === 1) words.push({ word: part, pieces: [part] })
      else if (part.length > 0) for (const word of bertWords(part, this.settings)) words.push({ word, pieces: this.wordPieces(word) })
    })
    return words
  }

  /** Greedy longest-match-first WordPiece of one pre-tokenized word, as BERT's reference. */
  wordPieces(word: string): string[] {
    const chars = Array.from(word)
    if (chars.length > this.settings.maxInputCharsPerWord) return [UNK]
    const pieces: string[] = []
    let start = 0
    while (start < chars.length) {
      let end = chars.length
      let found: string | null = null
      while (start < end) {
        const piece = (start > 0 ? CONTINUING_PREFIX : '') + chars.slice(start, end).join('')
        if (this.ids.has(piece)) {
          found = piece
          break
        }
        end--
      }
      if (found === null) return [UNK]
      pieces.push(found)
      start = end
    }
    return pieces
  }

  private checkOptions({ maxLength, padToMaxLength = false }: EncodeOptions): void {
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 3)) {
      throw badInput(`maxLength is ${maxLength}, expected an integer ≥ 3 (room for [CLS], [SEP] and a token)`)
    }
    if (padToMaxLength && maxLength === undefined) throw badInput('padToMaxLength needs maxLength')
    if (padToMaxLength && !this.ids.has(PAD)) throw badInput(`padding needs a ${PAD} token, and the vocabulary has none`)
  }

  private nativeTokenizer(): NativeTokenizer {
    this.native ??= NativeTokenizer.fromString(JSON.stringify(this.json))
    return this.native
  }
}
