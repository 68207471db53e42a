const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 })

/** 4,386,560 → 4.4M; 110,000,000 → 110M. */
export function formatParameters(count: number): string {
  if (count >= 1e9) return `${oneDecimal.format(count / 1e9)}B`
  if (count >= 1e6) return `${oneDecimal.format(count / 1e6)}M`
  if (count >= 1e3) return `${oneDecimal.format(count / 1e3)}k`
  return String(count)
}

/** Step time: 850 ms, 1.2 s. */
export function formatMilliseconds(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${oneDecimal.format(ms / 1_000)} s`
}
