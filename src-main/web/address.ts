/**
 * Where web mode listens (`--host`) and the names it answers to. Loopback is the default; any
 * other address is the user's explicit choice, and every address stays behind the per-launch token.
 */
import { isIP } from 'node:net'
import { hostname, networkInterfaces } from 'node:os'
import { badInput } from '../core/errors.ts'

export const DEFAULT_HOST = '127.0.0.1'

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1']

// A DNS label (RFC 1123): letters, digits and inner hyphens, 1 to 63 characters.
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

const unbracket = (name: string) => name.replace(/^\[(.*)\]$/, '$1')
export const bracket = (name: string) => (name.includes(':') ? `[${name}]` : name)

/**
 * Checks a `--host` value: an IPv4 or IPv6 address (brackets allowed) or a host name. Returns it
 * lower-cased without brackets, as `listen` takes it; throws BAD_INPUT naming the value otherwise.
 */
export function parseHost(value: string): string {
  const what = `--host "${value}"`
  const expected = 'expected an IP address (127.0.0.1, 192.168.1.20, 0.0.0.0, ::) or a host name (gpu-box.lab)'
  const trimmed = value.trim()
  if (trimmed === '') throw badInput(`${what}: ${expected}, got nothing`)
  const bare = unbracket(trimmed)
  if (isIP(bare) !== 0) return bare.toLowerCase()
  if (bare !== trimmed) throw badInput(`${what}: brackets hold an IPv6 address and "${bare}" is not one; ${expected}`)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || /[/?#@]/.test(trimmed)) {
    throw badInput(`${what}: that is a URL, not an address; ${expected}`)
  }
  if (/^[^:]+:\d+$/.test(trimmed)) throw badInput(`${what}: give the port with --port, not in --host; ${expected}`)
  const name = trimmed.toLowerCase().replace(/\.$/, '')
  const labels = name.split('.')
  if (name.length > 253 || !labels.every((label) => LABEL.test(label))) {
    throw badInput(`${what}: not an IP address, and not a host name (labels of letters, digits and hyphens, 1 to 63 characters, joined by dots); ${expected}`)
  }
  // Browsers read a name whose last label is a number (or 0x…) as an IPv4 address, so such a
  // "host name" is a mistyped address, like 192.168.1 or 10.0.0.300.
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels.at(-1)!)) {
    throw badInput(`${what}: not a valid IPv4 address (four numbers from 0 to 255, like 192.168.1.20); ${expected}`)
  }
  return name
}

/** Whether an address (or `localhost`) reaches this machine only: 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string): boolean {
  const name = unbracket(address.toLowerCase()).replace(/%.*$/, '')
  if (name === 'localhost') return true
  if (isIP(name) === 4) return name.startsWith('127.')
  if (isIP(name) !== 6) return false
  const canonical = canonicalIpv6(name)
  return canonical === '::1' || canonical.startsWith('::ffff:7f')
}

/** 0.0.0.0 or :: (in any spelling): every interface. */
export function isWildcard(address: string): boolean {
  const name = unbracket(address.toLowerCase())
  return name === '0.0.0.0' || (isIP(name) === 6 && canonicalIpv6(name) === '::')
}

/** The WHATWG URL parser's compressed form (::ffff:127.0.0.1 becomes ::ffff:7f00:1). */
const canonicalIpv6 = (address: string) => unbracket(new URL(`http://[${address.replace(/%.*$/, '')}]`).hostname)

/**
 * The names a browser may put in Host (and Origin) for the address the server listens on. Loopback
 * answers to its usual names; a wildcard bind (0.0.0.0, ::) to this machine's interface addresses
 * and host name; a host name to itself and the address it resolved to (`bound`); any other
 * address to itself only. Every other Host is refused, which defeats DNS rebinding: the attacker's
 * page can point its own name at this machine, but the browser then sends that name as Host.
 */
export function servedAddresses(host: string, interfaces = networkInterfaces(), machineName = hostname(), bound?: string): string[] {
  const name = unbracket(host.toLowerCase())
  if (LOOPBACK_NAMES.includes(name)) return [name, ...LOOPBACK_NAMES.filter((other) => other !== name)]
  if (!isWildcard(name)) return [...new Set([name, ...(bound ? [unbracket(bound.toLowerCase())] : [])])]
  const ipv6 = name !== '0.0.0.0'
  const addresses = interfaceAddresses(interfaces).filter((entry) => ipv6 || entry.family === 'IPv4')
  return [...new Set([...addresses.map((entry) => entry.address), machineName.toLowerCase(), ...LOOPBACK_NAMES])]
}

/**
 * The addresses worth printing as links, best first: the one asked for; for a wildcard, each
 * address other machines can reach (IPv6 link-local ones need a zone a browser cannot take), the
 * host name, then 127.0.0.1 for a browser on this machine.
 */
export function linkAddresses(host: string, interfaces = networkInterfaces(), machineName = hostname()): string[] {
  const name = unbracket(host.toLowerCase())
  if (!isWildcard(name)) return [name]
  const ipv6 = name !== '0.0.0.0'
  const reachable = interfaceAddresses(interfaces)
    .filter((entry) => !entry.internal && (ipv6 || entry.family === 'IPv4') && !/^fe[89ab]/.test(entry.address))
    .map((entry) => entry.address)
  const machine = machineName.toLowerCase()
  const named = machine !== '' && machine !== 'localhost' && LABEL.test(machine.split('.')[0]!) ? [machine] : []
  return [...new Set([...reachable, ...named, DEFAULT_HOST])]
}

/** External before internal, IPv4 before IPv6; addresses lower-cased without a zone. */
function interfaceAddresses(interfaces: ReturnType<typeof networkInterfaces>): { address: string; family: string; internal: boolean }[] {
  return Object.values(interfaces)
    .flat()
    .filter((entry) => entry !== undefined)
    .sort((a, b) => Number(a.internal) - Number(b.internal) || Number(a.family !== 'IPv4') - Number(b.family !== 'IPv4'))
    .map((entry) => ({ address: entry.address.toLowerCase().replace(/%.*$/, ''), family: entry.family, internal: entry.internal }))
}

/** What to print on stderr when the studio listens beyond loopback. */
export function exposureWarning(host: string, port: number): string {
  const where = isWildcard(host) ? `${host}, beyond this machine's loopback (every network interface)` : `${host}, beyond this machine's loopback`
  return [
    `Warning: serving on ${where}.`,
    `  Anyone who can reach port ${port} there and has the link's token can use this studio: its data, its files, its runs.`,
    '  The link travels as plain HTTP (no TLS): treat it as a password; it changes at each launch.',
    `  Safer: keep the default --host ${DEFAULT_HOST} and tunnel from your laptop: ssh -L ${port}:127.0.0.1:${port} THIS-MACHINE`,
  ].join('\n')
}
