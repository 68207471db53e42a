/**
 * Inter-annotator agreement. Cohen's kappa (1960): κ = (pₒ − pₑ) / (1 − pₑ), where pₒ is the share
 * of items both annotators labelled alike and pₑ the share expected by chance from each one's own
 * class frequencies.
 */

/**
 * Cohen's kappa of two annotators' labels of the same items (`first[i]` and `second[i]` label item
 * i). Null when it is undefined: no items, or both gave every item one and the same class (pₑ = 1,
 * so agreement beyond chance cannot be measured).
 */
export function cohensKappa<T extends string | number>(first: readonly T[], second: readonly T[]): number | null {
  if (first.length !== second.length) {
    throw new RangeError(`Cohen's kappa needs the same items from both annotators: got ${first.length} and ${second.length} labels`)
  }
  const n = first.length
  if (n === 0) return null
  const firstCounts = new Map<T, number>()
  const secondCounts = new Map<T, number>()
  let agree = 0
  for (let i = 0; i < n; i++) {
    const a = first[i]!
    const b = second[i]!
    if (a === b) agree++
    firstCounts.set(a, (firstCounts.get(a) ?? 0) + 1)
    secondCounts.set(b, (secondCounts.get(b) ?? 0) + 1)
  }
  let expected = 0
  for (const [label, count] of firstCounts) expected += (count / n) * ((secondCounts.get(label) ?? 0) / n)
  const observed = agree / n
  if (1 - expected < 1e-12) return null
  return (observed - expected) / (1 - expected)
}
