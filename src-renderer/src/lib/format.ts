const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 })

export const formatCount = (value: number) => integer.format(value)
export const formatDecimal = (value: number) => decimal.format(value)

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${unit === 0 ? integer.format(value) : decimal.format(value)} ${units[unit]}`
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—'
  const whole = Math.round(seconds)
  if (whole < 60) return `${whole} s`
  const minutes = Math.floor(whole / 60)
  if (minutes < 60) return `${minutes} min ${whole % 60} s`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

/** A corpus name from a file name: the extension dropped. */
export function nameFromFile(fileName: string): string {
  const base = fileName.replace(/\.[A-Za-z0-9]{1,8}$/, '')
  return (base || fileName).slice(0, 200)
}

/** Error text for any rejection, preferring the studio's own (already human-readable) message. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export function newJobId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID().replaceAll('-', '')
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('')
}
