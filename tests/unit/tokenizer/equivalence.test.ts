import { Tokenizer as PureTokenizer } from '@huggingface/tokenizers'
import { bertNormalizer, bertPreTokenizer, Tokenizer as NativeTokenizer } from 'tokenizers'
import { beforeAll, describe, expect, it } from 'vitest'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'
import { bertNormalize, bertPreTokenize, bertWords } from '../../../src-main/core/tokenizer/normalize.ts'
import { assemble, prepareForPureEncoder } from '../../../src-main/core/tokenizer/template.ts'
import { trainWordPiece } from '../../../src-main/core/tokenizer/trainer.ts'
import { variedText } from './varied-text.ts'

const LINES = variedText(3000)

/** The renderer's path: @huggingface/tokenizers from the same tokenizer.json, then our template. */
function pureEncoder(tokenizer: BertTokenizer) {
  const pure = new PureTokenizer(tokenizer.json, {})
  const special = { clsId: tokenizer.tokenToId('[CLS]')!, sepId: tokenizer.tokenToId('[SEP]')!, padId: tokenizer.tokenToId('[PAD]') ?? 0 }
  const segment = (text: string) => {
    const encoded = pure.encode(prepareForPureEncoder(text, tokenizer.settings.lowercase), { add_special_tokens: false })
    return { ids: encoded.ids, tokens: encoded.tokens }
  }
  return (text: string, pair: string | null, maxLength?: number) => assemble(segment(text), pair === null ? null : segment(pair), special, { maxLength })
}

for (const lowercase of [true, false]) {
  describe(`native and pure-JS encoders agree (${lowercase ? 'uncased' : 'cased'})`, () => {
    let tokenizer: BertTokenizer
    beforeAll(async () => {
      // A vocabulary trained on half the text: the other half meets unknown characters and words.
      const vocab = await trainWordPiece(LINES.slice(0, 1500), { lowercase, vocabSize: 4000, minFrequency: 2, limitAlphabet: 300 })
      tokenizer = BertTokenizer.fromVocab(vocab, { lowercase })
    })

    it('our TypeScript normalizer and pre-tokenizer equal the native ones', () => {
      const normalizer = bertNormalizer({ lowercase, stripAccents: lowercase })
      const preTokenizer = bertPreTokenizer()
      const mismatches: string[] = []
      for (const line of LINES) {
        const native = normalizer.normalizeString(line)
        const ours = bertNormalize(line, { lowercase })
        const nativeWords = preTokenizer.preTokenizeString(native).map(([word]) => word)
        if (native !== ours || bertPreTokenize(ours).join('\u0001') !== nativeWords.join('\u0001') || bertWords(line, { lowercase }).join('\u0001') !== nativeWords.join('\u0001')) {
          mismatches.push(JSON.stringify(line))
        }
      }
      expect(mismatches.slice(0, 5)).toEqual([])
    })

    it('gives identical ids for single texts (and tokenizeWords agrees)', async () => {
      const native = await tokenizer.encodeBatch(LINES)
      const pure = pureEncoder(tokenizer)
      let unknown = 0
      LINES.forEach((line, index) => {
        const expected = native[index]!
        expect(pure(line, null).inputIds, JSON.stringify(line)).toEqual(expected.inputIds)
        expect(['[CLS]', ...tokenizer.tokenizeWords(line).flatMap((w) => w.pieces), '[SEP]'], JSON.stringify(line)).toEqual(expected.tokens)
        unknown += expected.tokens.filter((token) => token === '[UNK]').length
      })
      expect(unknown).toBeGreaterThan(100) // the text really exercises [UNK]
    })

    it('gives identical ids, segment ids and masks for pairs with truncation', async () => {
      const pairs = LINES.slice(0, 1200).map((line, i) => [line, LINES[(i * 7 + 3) % LINES.length]!] as const)
      const pure = pureEncoder(tokenizer)
      // Without truncation, the binding's own TemplateProcessing gives the same as our template.
      const native = NativeTokenizer.fromString(JSON.stringify(tokenizer.json))
      for (const [first, second] of pairs.slice(0, 300)) {
        const reference = await native.encode(first, second)
        const ours = pure(first, second)
        expect(ours.inputIds).toEqual(reference.getIds())
        expect(ours.tokenTypeIds).toEqual(reference.getTypeIds())
      }
      for (const maxLength of [16, 64]) {
        const native = await tokenizer.encodeBatch(pairs, { maxLength })
        pairs.forEach(([first, second], index) => {
          const ours = pure(first, second, maxLength)
          expect(ours.inputIds, JSON.stringify([first, second])).toEqual(native[index]!.inputIds)
          expect(ours.tokenTypeIds).toEqual(native[index]!.tokenTypeIds)
          expect(ours.attentionMask).toEqual(native[index]!.attentionMask)
        })
      }
    })
  })
}
