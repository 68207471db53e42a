import { describe, expect, it } from 'vitest'
import { formatBytes, formatDuration, nameFromFile, newJobId } from '../../../src-renderer/src/lib/format.ts'

describe('renderer formatting', () => {
  it('names a corpus after its file, without the extension', () => {
    expect(nameFromFile('reviews.csv')).toBe('reviews')
    expect(nameFromFile('notes')).toBe('notes')
    expect(nameFromFile('archive.tar.gz')).toBe('archive.tar')
    expect(nameFromFile('.csv')).toBe('.csv')
  })

  it('formats sizes and durations for people', () => {
    expect(formatBytes(326)).toBe('326 B')
    expect(formatBytes(2_100_000)).toBe('2.1 MB')
    expect(formatDuration(42)).toBe('42 s')
    expect(formatDuration(125)).toBe('2 min 5 s')
    expect(formatDuration(7_260)).toBe('2 h 1 min')
  })

  it('makes job ids the contract accepts', () => {
    const id = newJobId()
    expect(id).toMatch(/^[A-Za-z0-9_-]{6,64}$/)
    expect(newJobId()).not.toBe(id)
  })
})
