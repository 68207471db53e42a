import { describe, expect, it } from 'vitest'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'
import { truncatedLengths } from '../../../src-main/core/tokenizer/template.ts'

// google-research/bert tokenization_test.py's vocabulary.
const REFERENCE = ['[UNK]', '[CLS]', '[SEP]', 'want', '##want', '##ed', 'wa', 'un', 'runn', '##ing', ',']

describe('BertTokenizer known vectors (BERT reference tests)', () => {
  it('splits "UNwant\\u00E9d,running" as the reference FullTokenizer', async () => {
    const tokenizer = BertTokenizer.fromVocab(REFERENCE, { lowercase: true })
    const encoded = await tokenizer.encode('UNwant\u00E9d,running')
    expect(encoded.tokens).toEqual(['[CLS]', 'un', '##want', '##ed', ',', 'runn', '##ing', '[SEP]'])
    expect(encoded.inputIds).toEqual([1, 7, 4, 5, 10, 8, 9, 2])
    expect(encoded.tokenTypeIds).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(encoded.attentionMask).toEqual([1, 1, 1, 1, 1, 1, 1, 1])
    expect(tokenizer.tokenizeWords('UNwant\u00E9d,running')).toEqual([
      { word: 'unwanted', pieces: ['un', '##want', '##ed'] },
      { word: ',', pieces: [','] },
      { word: 'running', pieces: ['runn', '##ing'] },
    ])
  })

  it('prefers the longest match: with "running" in the vocabulary it is one piece', async () => {
    const tokenizer = BertTokenizer.fromVocab([...REFERENCE, 'running'], { lowercase: true })
    expect((await tokenizer.encode('UNwant\u00E9d,running')).tokens).toEqual(['[CLS]', 'un', '##want', '##ed', ',', 'running', '[SEP]'])
  })

  it('"unaffable" → un ##aff ##able; an uncoverable word is one [UNK]', async () => {
    const tokenizer = BertTokenizer.fromVocab(['[UNK]', '[CLS]', '[SEP]', 'un', '##aff', '##able', 'runn', '##ing'], { lowercase: true })
    expect((await tokenizer.encode('unaffable')).tokens).toEqual(['[CLS]', 'un', '##aff', '##able', '[SEP]'])
    expect((await tokenizer.encode('unwantedX running')).tokens).toEqual(['[CLS]', '[UNK]', 'runn', '##ing', '[SEP]'])
  })

  it('turns a word longer than 100 characters into [UNK], even when its pieces exist', async () => {
    const tokenizer = BertTokenizer.fromVocab(['[UNK]', '[CLS]', '[SEP]', 'a', '##a'], { lowercase: true })
    expect((await tokenizer.encode('a'.repeat(100))).tokens.length).toBe(102)
    expect((await tokenizer.encode('a'.repeat(101) + ' a')).tokens).toEqual(['[CLS]', '[UNK]', 'a', '[SEP]'])
    expect(tokenizer.wordPieces('a'.repeat(101))).toEqual(['[UNK]'])
  })

  it('keeps case and accents with a cased vocabulary', async () => {
    const tokenizer = BertTokenizer.fromVocab(['[UNK]', '[CLS]', '[SEP]', 'Café', 'café', 'cafe', 'Ber', '##lin', 'ber'], { lowercase: false })
    expect((await tokenizer.encode('Café café Berlin')).tokens).toEqual(['[CLS]', 'Café', 'café', 'Ber', '##lin', '[SEP]'])
    const uncased = BertTokenizer.fromVocab(['[UNK]', '[CLS]', '[SEP]', 'Café', 'café', 'cafe', 'Ber', '##lin', 'ber', '##lin'.slice(0, 0) + 'berlin'], { lowercase: true })
    expect((await uncased.encode('Café café Berlin')).tokens).toEqual(['[CLS]', 'cafe', 'cafe', 'berlin', '[SEP]'])
  })

  it('encodes pairs as [CLS] A [SEP] B [SEP] with segment ids, truncating the longer first', async () => {
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...'abcdefghijklmnopqrstuvwxyz']
    const tokenizer = BertTokenizer.fromVocab(vocab, { lowercase: true })
    const pair = await tokenizer.encode('a b c', 'd e')
    expect(pair.tokens).toEqual(['[CLS]', 'a', 'b', 'c', '[SEP]', 'd', 'e', '[SEP]'])
    expect(pair.tokenTypeIds).toEqual([0, 0, 0, 0, 0, 1, 1, 1])
    // budget 10 - 3 = 7: the first (10) is cut to 7 - 2 = 5, the second (2) kept.
    const long = await tokenizer.encode('a b c d e f g h i j', 'k l', { maxLength: 10 })
    expect(long.tokens).toEqual(['[CLS]', 'a', 'b', 'c', 'd', 'e', '[SEP]', 'k', 'l', '[SEP]'])
    // both too long: first ⌊7/2⌋ = 3, second 4 (Hugging Face's LongestFirst).
    const both = await tokenizer.encode('a b c d e f', 'g h i j k l', { maxLength: 10 })
    expect(both.tokens).toEqual(['[CLS]', 'a', 'b', 'c', '[SEP]', 'g', 'h', 'i', 'j', '[SEP]'])
    const single = await tokenizer.encode('a b c d e f g h', null, { maxLength: 5 })
    expect(single.tokens).toEqual(['[CLS]', 'a', 'b', 'c', '[SEP]'])
  })

  it('pads to maxLength with [PAD], segment 0 and attention mask 0', async () => {
    const tokenizer = BertTokenizer.fromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b'], { lowercase: true })
    const padded = await tokenizer.encode('a', 'b', { maxLength: 8, padToMaxLength: true })
    expect(padded.inputIds).toEqual([2, 5, 3, 6, 3, 0, 0, 0])
    expect(padded.tokenTypeIds).toEqual([0, 0, 0, 1, 1, 0, 0, 0])
    expect(padded.attentionMask).toEqual([1, 1, 1, 1, 1, 0, 0, 0])
    const batch = await tokenizer.encodeBatch(['a b', ['a', 'b a']], { maxLength: 6, padToMaxLength: true })
    expect(batch.map((encoded) => encoded.inputIds)).toEqual([
      [2, 5, 6, 3, 0, 0],
      [2, 5, 3, 6, 5, 3],
    ])
    await expect(tokenizer.encode('a', null, { padToMaxLength: true })).rejects.toThrow(/padToMaxLength needs maxLength/)
  })

  it('truncatedLengths follows Hugging Face truncation.rs vectors (max 7)', () => {
    const cases: Array<[number, number, number, number]> = [
      [0, 0, 0, 0], [0, 2, 0, 2], [0, 8, 0, 7], [2, 2, 2, 2], [2, 4, 2, 4], [2, 8, 2, 5], [4, 4, 3, 4],
      [4, 8, 3, 4], [8, 0, 7, 0], [8, 2, 5, 2], [8, 4, 4, 3], [8, 8, 3, 4],
    ]
    for (const [first, second, keptFirst, keptSecond] of cases) expect(truncatedLengths(first, second, 7)).toEqual([keptFirst, keptSecond])
  })
})
