/**
 * The BERT tokenizer as a web page runs it: the pure-JS `@huggingface/tokenizers` reading the
 * export's tokenizer.json, then the studio's own template (pairs, longest-first truncation,
 * padding) and its two normalisation work-arounds, so its ids equal the native encoder's (the
 * equivalence is tested on thousands of lines in tests/unit/tokenizer/equivalence.test.ts).
 */
import { Tokenizer } from '@huggingface/tokenizers'
import { StudioError } from '../errors.ts'
import { assemble, prepareForPureEncoder, type EncodeOptions, type Encoded } from '../tokenizer/template.ts'

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

export class PageTokenizer {
  readonly lowercase: boolean
  /** Tokens by id. */
  readonly vocab: readonly string[]
  private readonly pure: Tokenizer
  private readonly special: { clsId: number; sepId: number; padId: number }
  private readonly ids: ReadonlyMap<string, number>

  /** `tokenizerJson`: the parsed tokenizer.json; `tokenizerConfig`: tokenizer_config.json (may be {}). */
  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}) {
    if (!isRecord(tokenizerJson) || !isRecord(tokenizerJson.model) || !isRecord(tokenizerJson.model.vocab)) {
      throw new StudioError('BAD_INPUT', 'tokenizer.json: expected an object with model.vocab (a WordPiece tokenizer)')
    }
    const normalizer = tokenizerJson.normalizer
    this.lowercase = isRecord(normalizer) && typeof normalizer.lowercase === 'boolean' ? normalizer.lowercase : true
    const ids = new Map<string, number>()
    const vocab: string[] = []
    for (const [token, id] of Object.entries(tokenizerJson.model.vocab)) {
      if (typeof id !== 'number') continue
      ids.set(token, id)
      vocab[id] = token
    }
    this.ids = ids
    this.vocab = vocab
    const need = (token: string) => {
      const id = ids.get(token)
      if (id === undefined) throw new StudioError('BAD_INPUT', `tokenizer.json: the vocabulary has no ${token}`)
      return id
    }
    this.special = { clsId: need('[CLS]'), sepId: need('[SEP]'), padId: ids.get('[PAD]') ?? 0 }
    this.pure = new Tokenizer(tokenizerJson, isRecord(tokenizerConfig) ? tokenizerConfig : {})
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token)
  }

  /** `[CLS] text [SEP]` or `[CLS] text [SEP] pair [SEP]`, truncated longest-first to `maxLength`. */
  encode(text: string, pair: string | null = null, options: EncodeOptions = {}): Encoded {
    const segment = (value: string) => {
      const encoded = this.pure.encode(prepareForPureEncoder(value, this.lowercase), { add_special_tokens: false })
      return { ids: encoded.ids, tokens: encoded.tokens }
    }
    return assemble(segment(text), pair === null ? null : segment(pair), this.special, options)
  }
}
