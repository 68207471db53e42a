import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BertTokenizer } from '../../../src-main/core/tokenizer/encoder.ts'
import { readTokenizerFile, readTokenizerJson, readVocabTxt, saveTokenizer } from '../../../src-main/core/tokenizer/files.ts'
import { diagnose, compareTokenizers, vocabComposition } from '../../../src-main/core/tokenizer/diagnostics.ts'
import { repoRoot } from '../helpers.ts'

const fixtures = join(repoRoot, 'tests', 'fixtures', 'tokenizer')
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert-studio-tokenizer-'))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##aff', '##able', 'runn', '##ing', 'the', 'a', 'b', '##s']

describe('tokenizer files', () => {
  it('saves vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json and reads them back', async () => {
    const dir = tempDir()
    const tokenizer = BertTokenizer.fromVocab(VOCAB, { lowercase: true })
    saveTokenizer(dir, tokenizer.spec)
    expect(readdirSync(dir).sort()).toEqual(['special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'])
    expect(readFileSync(join(dir, 'vocab.txt'), 'utf8')).toBe(VOCAB.join('\n') + '\n')
    expect(readVocabTxt(join(dir, 'vocab.txt'), true)).toEqual(tokenizer.spec)
    expect(readTokenizerJson(join(dir, 'tokenizer.json'))).toEqual(tokenizer.spec)
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'))
    expect(config).toMatchObject({ do_lower_case: true, tokenizer_class: 'BertTokenizer', unk_token: '[UNK]', pad_token: '[PAD]', mask_token: '[MASK]' })
    expect(JSON.parse(readFileSync(join(dir, 'special_tokens_map.json'), 'utf8'))).toEqual({ cls_token: '[CLS]', sep_token: '[SEP]', unk_token: '[UNK]', pad_token: '[PAD]', mask_token: '[MASK]' })
    const reloaded = BertTokenizer.fromTokenizerJson(readFileSync(join(dir, 'tokenizer.json'), 'utf8'))
    expect(await reloaded.encode('Unaffable running')).toEqual(await tokenizer.encode('Unaffable running'))
  })

  it('keeps a vocab.txt whose specials are ordered otherwise, and guesses cased from capitals', () => {
    const spec = readTokenizerFile(join(fixtures, 'specials-reordered-vocab.txt'))
    expect(spec.vocab.slice(0, 5)).toEqual(['[CLS]', '[SEP]', '[UNK]', '[PAD]', '[MASK]'])
    expect(spec.settings.lowercase).toBe(true)
    const json = BertTokenizer.fromSpec(spec).json
    expect(json.added_tokens.map((token) => [token.content, token.id])).toEqual([['[CLS]', 0], ['[SEP]', 1], ['[UNK]', 2], ['[PAD]', 3], ['[MASK]', 4]])
  })

  it('rejects bad files with errors naming the file and the problem', () => {
    const at = (name: string) => join(fixtures, name)
    expect(() => readTokenizerFile(at('empty.txt'))).toThrow(/empty\.txt: the file is empty/)
    expect(() => readTokenizerFile(at('not-json.json'))).toThrow(/not-json\.json: not valid JSON/)
    expect(() => readTokenizerFile(at('bpe-tokenizer.json'))).toThrow(/bpe-tokenizer\.json: field "model.type" is "BPE", expected "WordPiece"/)
    expect(() => readTokenizerFile(at('duplicate-vocab.txt'))).toThrow(/duplicate-vocab\.txt: token "the" appears twice \(ids 5 and 7\)/)
    expect(() => readTokenizerFile(at('missing.txt'))).toThrow(/missing\.txt: cannot read the file \(ENOENT\)/)
    expect(() => BertTokenizer.fromVocab(['a', 'b'], { lowercase: true })).toThrow(/has no \[UNK\] token/)
    expect(() => BertTokenizer.fromTokenizerJson({ model: { type: 'WordPiece', vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2 } }, normalizer: { type: 'Lowercase' } }, 'x/tokenizer.json')).toThrow(
      /x\/tokenizer\.json: field "normalizer.type" is "Lowercase", expected "BertNormalizer"/,
    )
    expect(() => BertTokenizer.fromTokenizerJson({ model: { type: 'WordPiece', vocab: { '[UNK]': 0, '[CLS]': 5 } } }, 'y.json')).toThrow(/y\.json: field "model.vocab" gives "\[CLS\]" the id 5, expected an integer in 0\.\.1/)
  })
})

describe('diagnostics', () => {
  it('measures [UNK] rate, pieces per word, coverage, most-split words and composition', () => {
    const tokenizer = BertTokenizer.fromVocab(VOCAB, { lowercase: true })
    const report = diagnose(tokenizer, ['the unaffable runnings', 'the zzz a'])
    expect(report).toMatchObject({ documents: 2, words: 6, pieces: 10, unknownRate: 0.1, piecesPerWord: 10 / 6, coveredRate: 3 / 6 })
    expect(report.mostSplit).toEqual([
      { word: 'runnings', pieces: ['runn', '##ing', '##s'], count: 1 },
      { word: 'unaffable', pieces: ['un', '##aff', '##able'], count: 1 },
    ])
    expect(vocabComposition(VOCAB)).toEqual({ size: 14, special: 5, wholeWords: 3, continuations: 3, singleCharacters: 3 })
    const bigger = BertTokenizer.fromVocab([...VOCAB, 'unaffable'], { lowercase: true })
    const comparison = compareTokenizers(tokenizer, bigger, ['the unaffable runnings', 'the zzz a'])
    expect(comparison.difference.piecesPerWord).toBeCloseTo(-2 / 6)
    expect(comparison.differentlySplit).toEqual([{ word: 'unaffable', count: 1, first: ['un', '##aff', '##able'], second: ['unaffable'] }])
  })
})
