/**
 * Reading a tokenizer from `vocab.txt` or `tokenizer.json`, and saving one as the files
 * Hugging Face transformers loads (`BertTokenizerFast.from_pretrained(dir)`), each written
 * atomically: a temp file in the target folder, fsync, rename.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { badInput } from '../errors.ts'
import { buildTokenizerJson, defaultSettings, parseTokenizerJson, parseVocabTxt, specialTokensMapJson, tokenizerConfigJson, vocabTxt, type TokenizerSpec } from './format.ts'

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw badInput(`${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
}

/** A `vocab.txt` carries no settings: say whether it is cased (`lowercase: false`) or uncased. */
export function readVocabTxt(path: string, lowercase: boolean): TokenizerSpec {
  return { vocab: parseVocabTxt(readText(path), path), settings: defaultSettings(lowercase) }
}

export function readTokenizerJson(path: string): TokenizerSpec {
  return parseTokenizerJson(readText(path), path)
}

/**
 * Reads either file, by name: `*.json` as tokenizer.json, anything else as vocab.txt. For a
 * vocab.txt, `lowercase` defaults to true unless the vocabulary holds capital letters.
 */
export function readTokenizerFile(path: string, options: { lowercase?: boolean } = {}): TokenizerSpec {
  if (path.toLowerCase().endsWith('.json')) return readTokenizerJson(path)
  const vocab = parseVocabTxt(readText(path), path)
  const lowercase = options.lowercase ?? !vocab.some((token) => !token.startsWith('[') && token !== token.toLowerCase())
  return { vocab, settings: defaultSettings(lowercase) }
}

/** Writes `contents` to `path` through a temp file in the same folder, fsynced, then renamed. */
export function writeFileAtomic(path: string, contents: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(temp, 'w')
  try {
    writeSync(fd, contents)
    fsyncSync(fd)
  } catch (error) {
    closeSync(fd)
    rmSync(temp, { force: true })
    throw error
  }
  closeSync(fd)
  try {
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
}

function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some platforms (Windows) cannot open a folder; the renames are still atomic.
  }
}

export interface SavedTokenizerFiles {
  vocabTxt: string
  tokenizerJson: string
  tokenizerConfigJson: string
  specialTokensMapJson: string
}

/** Saves vocab.txt, tokenizer.json, tokenizer_config.json and special_tokens_map.json in `dir`. */
export function saveTokenizer(dir: string, spec: TokenizerSpec, options: { modelMaxLength?: number } = {}): SavedTokenizerFiles {
  mkdirSync(dir, { recursive: true })
  const files: SavedTokenizerFiles = {
    vocabTxt: join(dir, 'vocab.txt'),
    tokenizerJson: join(dir, 'tokenizer.json'),
    tokenizerConfigJson: join(dir, 'tokenizer_config.json'),
    specialTokensMapJson: join(dir, 'special_tokens_map.json'),
  }
  writeFileAtomic(files.vocabTxt, vocabTxt(spec.vocab))
  writeFileAtomic(files.tokenizerJson, JSON.stringify(buildTokenizerJson(spec), null, 2) + '\n')
  writeFileAtomic(files.tokenizerConfigJson, JSON.stringify(tokenizerConfigJson(spec, options.modelMaxLength), null, 2) + '\n')
  writeFileAtomic(files.specialTokensMapJson, JSON.stringify(specialTokensMapJson(spec), null, 2) + '\n')
  fsyncDirectory(dir)
  return files
}
