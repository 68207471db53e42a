/** A seeded generator of deliberately awkward text for encoder equivalence tests. */

export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ENGLISH = 'the of and to in is was for that with as on by he it at from his an were are which this be or has had not but first one their its new after who they have her she two been other when there all during into school time may years more most only over city some world would where later up such used many can state about national out known university united then made'.split(' ')
const STEMS = ['run', 'walk', 'token', 'play', 'nation', 'form', 'act', 'light', 'read', 'write', 'unwant', 'affable', 'comput', 'believ', 'govern']
const SUFFIXES = ['', 's', 'ing', 'ed', 'er', 'ation', 'ally', 'ness', 'able', 'ment', 'ize', 'izations']
const ACCENTED = ['café', 'naïve', 'résumé', 'Ångström', 'mañana', 'über', 'Straße', 'façade', 'Øresund', 'Dvořák', 'crème', 'brûlée', 'Ελληνικά', 'ΟΔΟΣ', 'ΣΊΣΥΦΟΣ', 'İstanbul', 'ǅemal', 'ﬁnancial', 'Ⅻ', 'ｆｕｌｌｗｉｄｔｈ', 'e\u0301te\u0301', 'Москва', 'ПРИВЕТ', 'עברית', 'العربية', 'हिन्दी', 'ภาษาไทย', '한국어', 'ｶﾀｶﾅ']
const CJK = ['中文', '日本語', '汉字测试', '𠀀𠀁', '𪜀字', '㐀㐁', '豈更', '漢字かな交じり', '中文English混合', '𫝀𫠠', '𬺰']
const EMOJI = ['🙂', '😂😂', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '🫠', '❤️', '🥰x', 'a🙂b', '#️⃣', '🏳️‍🌈']
const PUNCTUATION = ['.', ',', '!', '?', ';', ':', '"', "'", '(', ')', '[', ']', '{', '}', '-', '—', '–', '…', '«', '»', '¿', '¡', '、', '。', '$', '+', '<', '=', '>', '^', '`', '|', '~', '@', '#', '%', '&', '*', '/', '\\', '_', '§', '¶', '†', '‰', '€', '£', '©', '°', '±', '×']
const CONTROL = ['\u0000', '\u0001', '\u0007', '\u000B', '\u000C', '\u001F', '\u007F', '\u0085', '\u00AD', '\u200B', '\u200D', '\u2060', '\uFEFF', '\uE000', '\uFFFD', '\u061C', '\u180E']
const SPACES = [' ', ' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00A0', '\u3000', '\u2003', '\u2028', '\u202F']
const SPECIAL = ['[MASK]', '[CLS]', '[UNK]', '[mask]', '[PAD]x']

export function variedText(lines: number, seed = 7): string[] {
  const random = mulberry32(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const word = (): string => {
    const r = random()
    if (r < 0.45) return pick(ENGLISH)
    if (r < 0.6) {
      const w = pick(STEMS) + pick(SUFFIXES)
      return random() < 0.2 ? w[0]!.toUpperCase() + w.slice(1) : random() < 0.05 ? w.toUpperCase() : w
    }
    if (r < 0.7) return pick(ACCENTED)
    if (r < 0.76) return pick(CJK)
    if (r < 0.8) return pick(EMOJI)
    if (r < 0.88) return pick(ENGLISH) + pick(PUNCTUATION) + (random() < 0.3 ? pick(ENGLISH) : '')
    if (r < 0.92) return pick(ENGLISH) + pick(CONTROL) + pick(ENGLISH)
    if (r < 0.94) return String(Math.floor(random() * 100000)) + (random() < 0.5 ? '.' + Math.floor(random() * 100) : '')
    if (r < 0.96) return Array.from({ length: 95 + Math.floor(random() * 12) }, () => pick(['a', 'b', 'e', 'r', 's', 't'])).join('')
    if (r < 0.97) return pick(SPECIAL)
    return pick(STEMS) + pick(ACCENTED) + pick(EMOJI) + pick(CJK)
  }
  const out: string[] = []
  for (let i = 0; i < lines; i++) {
    const n = 1 + Math.floor(random() * 30)
    let line = random() < 0.1 ? pick(SPACES) : ''
    for (let w = 0; w < n; w++) line += (w ? pick(SPACES) : '') + word()
    out.push(line)
  }
  return out
}
