// One discovery lookup: A/AAAA of the service, or SRV plus an A/AAAA query per target, folded
// into a single outcome. No timers and no scheduling here; dns.ts owns those.
import type { promises as dnsPromises } from 'node:dns'
import type { AddressFamily } from '../config/types.ts'
import { mapBounded } from '../concurrency.ts'
import type { AddressResult, KnownTargets } from './targets.ts'
import type { DiscoveredEndpoint, TargetFailures } from './types.ts'

type Resolver = dnsPromises.Resolver

/**
 * At most this many address queries of one lookup are out at once. A StatefulSet of 300 pods
 * under `family: auto` is 600 queries: sent together they can overflow a busy DNS server's
 * socket buffer, and the answers lost fail their targets; 32 at a time still resolves all 600 in
 * about 100 ms at a 5 ms round trip.
 */
export const MAX_QUERIES_IN_FLIGHT = 32

export type LookupOutcome =
  /**
   * `ttlSeconds` is the smallest TTL among the address records used. `failed`: SRV targets whose
   * address query failed, kept at their last address or left out (present only when some did).
   */
  | { readonly kind: 'reset'; readonly endpoints: readonly DiscoveredEndpoint[]; readonly ttlSeconds: number; readonly failed?: TargetFailures }
  | { readonly kind: 'empty' }
  | { readonly kind: 'error'; readonly error: Error }

export interface LookupTarget {
  readonly service: string
  readonly port: number | null
  readonly portName: string | null
  readonly family: AddressFamily
  /** The SRV protocol label: `_<portName>._udp` for pods that take datagrams. Default tcp. */
  readonly srvProtocol?: 'tcp' | 'udp'
}

/** NXDOMAIN and NODATA mean "no pods", every other failure means "don't know". */
function isEmptyAnswer(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'ENOTFOUND' || code === 'ENODATA'
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/** A query cut short by the lookup's deadline fails with the deadline's reason, not ECANCELLED. */
function failure(err: unknown, signal: AbortSignal): { readonly kind: 'error'; readonly error: Error } {
  return { kind: 'error', error: asError(signal.aborted ? signal.reason : err) }
}

async function resolveFamily(resolver: Resolver, name: string, v6: boolean, signal: AbortSignal): Promise<AddressResult> {
  if (signal.aborted) return failure(null, signal)
  try {
    const addresses = v6 ? await resolver.resolve6(name, { ttl: true }) : await resolver.resolve4(name, { ttl: true })
    return addresses.length > 0 ? { kind: 'found', addresses } : { kind: 'empty' }
  } catch (err) {
    return isEmptyAnswer(err) ? { kind: 'empty' } : failure(err, signal)
  }
}

function familiesOf(family: AddressFamily): readonly boolean[] {
  return family === 'ipv4' ? [false] : family === 'ipv6' ? [true] : [false, true]
}

/**
 * With `auto` both families are asked in parallel. Addresses from one family win over an error
 * from the other (an AAAA-broken server must not hide working A records); an error with nothing
 * found is an error, so the caller keeps its last set rather than dropping to zero.
 */
export async function resolveAddresses(resolver: Resolver, name: string, family: AddressFamily, signal: AbortSignal): Promise<AddressResult> {
  const results = await Promise.all(familiesOf(family).map((v6) => resolveFamily(resolver, name, v6, signal)))
  const found = results.flatMap((r) => (r.kind === 'found' ? r.addresses : []))
  if (found.length > 0) return { kind: 'found', addresses: found }
  const failed = results.find((r) => r.kind === 'error')
  return failed ?? { kind: 'empty' }
}

/**
 * `known` carries each SRV target's last addresses from one lookup to the next (unused for A/AAAA).
 * Once `signal` aborts, no further query is sent (the caller cancels those already out) and the
 * targets not answered by then count as failed.
 */
export async function lookup(resolver: Resolver, target: LookupTarget, signal: AbortSignal, known: KnownTargets): Promise<LookupOutcome> {
  if (target.portName !== null) return lookupSrv(resolver, target, target.portName, signal, known)
  if (target.port === null) throw new TypeError('discovery needs a port or a portName')
  const port = target.port
  const r = await resolveAddresses(resolver, target.service, target.family, signal)
  if (r.kind !== 'found') return r
  return reset(r.addresses.map((a) => ({ address: a.address, port, hostname: null, ttl: a.ttl })))
}

async function lookupSrv(
  resolver: Resolver,
  target: LookupTarget,
  portName: string,
  signal: AbortSignal,
  known: KnownTargets,
): Promise<LookupOutcome> {
  let records: Awaited<ReturnType<Resolver['resolveSrv']>>
  try {
    records = await resolver.resolveSrv(`_${portName}._${target.srvProtocol ?? 'tcp'}.${target.service}`)
  } catch (err) {
    if (!isEmptyAnswer(err)) return failure(err, signal)
    known.clear()
    return { kind: 'empty' }
  }
  const portsByHost = new Map<string, number[]>()
  for (const r of records) {
    const host = r.name.replace(/\.$/, '').toLowerCase()
    // RFC 2782: a target of "." says the service is decidedly not available there.
    if (host === '') continue
    const ports = portsByHost.get(host) ?? []
    ports.push(r.port)
    portsByHost.set(host, ports)
  }
  const hosts = [...portsByHost.keys()]
  known.retainOnly(new Set(hosts))
  // Node's resolver hands over no additional-section glue, so each target is asked for itself,
  // a bounded number at a time (under `auto` each target is two queries).
  const perTarget = familiesOf(target.family).length
  const results = await mapBounded(hosts, Math.max(1, Math.floor(MAX_QUERIES_IN_FLIGHT / perTarget)),
    (h) => resolveAddresses(resolver, h, target.family, signal))

  const found: (DiscoveredEndpoint & { ttl: number })[] = []
  let answered = 0
  let kept = 0
  let waiting = 0
  let firstError: Error | null = null
  for (const [i, result] of results.entries()) {
    const host = hosts[i]
    const settled = known.settle(host, result)
    switch (settled.kind) {
      case 'empty':
        answered++
        continue
      case 'failed':
        waiting++
        firstError ??= settled.error
        continue
      case 'found':
        answered++
        break
      case 'kept':
        kept++
        firstError ??= settled.error
        break
    }
    for (const port of portsByHost.get(host)!) {
      for (const a of settled.addresses) found.push({ address: a.address, port, hostname: host, ttl: a.ttl })
    }
  }
  // No target answered: DNS is failing and says nothing about the pods. A set left empty only
  // because targets failed is no answer either: one failed target never empties the set.
  if (firstError !== null && (answered === 0 || found.length === 0)) return { kind: 'error', error: firstError }
  if (found.length === 0) return { kind: 'empty' }
  return reset(found, firstError === null ? undefined : { kept, waiting, error: firstError })
}

function reset(found: readonly (DiscoveredEndpoint & { ttl: number })[], failed?: TargetFailures): LookupOutcome {
  const sorted = [...found].sort(compareEndpoints)
  const endpoints: DiscoveredEndpoint[] = []
  for (const e of sorted) {
    const last = endpoints.at(-1)
    if (last !== undefined && last.address === e.address && last.port === e.port) continue
    endpoints.push({ address: e.address, port: e.port, hostname: e.hostname })
  }
  const ttlSeconds = Math.min(...found.map((e) => e.ttl))
  return failed === undefined ? { kind: 'reset', endpoints, ttlSeconds } : { kind: 'reset', endpoints, ttlSeconds, failed }
}

/** IPv4 before IPv6, each in numeric order, then port, then host name: stable across queries. */
export function compareEndpoints(a: DiscoveredEndpoint, b: DiscoveredEndpoint): number {
  return (
    compareAddresses(a.address, b.address) ||
    a.port - b.port ||
    compareStrings(a.hostname ?? '', b.hostname ?? '')
  )
}

function compareAddresses(a: string, b: string): number {
  const a6 = a.includes(':')
  const b6 = b.includes(':')
  if (a6 !== b6) return a6 ? 1 : -1
  return a6 ? compareStrings(ipv6Hex(a), ipv6Hex(b)) : ipv4Number(a) - ipv4Number(b)
}

/** 32 hex digits, so that string order is numeric order. */
function ipv6Hex(address: string): string {
  let text = address
  const dot = text.lastIndexOf('.')
  if (dot > text.lastIndexOf(':')) {
    const cut = text.lastIndexOf(':')
    const v4 = ipv4Number(text.slice(cut + 1))
    text = `${text.slice(0, cut + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  }
  const [head, tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((g) => g.padStart(4, '0')).join('')
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function ipv4Number(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0)
}
