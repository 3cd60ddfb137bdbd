// Discovery of a headless Service's pods from DNS: one lookup at a time, refreshed on the record
// TTL (bounded by refresh and minRefresh), asked again soon (backing off) after an error, an empty
// answer or failed SRV targets, re-resolved early on demand.
import dns from 'node:dns'
import type { AddressFamily, Config, HostPort, UpstreamConfig } from '../config/types.ts'
import { lookup, type LookupOutcome } from './lookup.ts'
import { jittered, nextBackoff, refreshDelay } from './schedule.ts'
import { KnownTargets } from './targets.ts'
import { endpointKey, type Discovery, type DiscoveryResult, type DiscoveryTuning, type DiscoveryUpdate, type LastQuery } from './types.ts'

export interface DnsDiscoveryOptions {
  /** FQDN; no search list is applied. */
  readonly service: string
  /** Exactly one of port (A/AAAA) and portName (SRV `_<portName>._<srvProtocol>.<service>`). */
  readonly port: number | null
  readonly portName: string | null
  readonly srvProtocol?: 'tcp' | 'udp'
  readonly family: AddressFamily
  readonly refreshMs: number
  readonly minRefreshMs: number
  /** Empty: the system's resolv.conf servers. */
  readonly servers: readonly HostPort[]
  /** The whole lookup, retries and SRV target queries included. */
  readonly timeoutMs: number
  readonly onUpdate: (update: DiscoveryUpdate) => void
  /** Wall clock for `lastQuery.at`; scheduling uses a monotonic clock. */
  readonly now?: () => number
  /** In [0, 1); the jitter source. */
  readonly random?: () => number
}

// c-ares counts tries per server and Node only checks c-ares' timeouts on a timer ticking every
// `timeout` ms, so one attempt can last up to twice its timeout. Two tries per server (one
// retransmit for a lost datagram) at a quarter of the budget each keeps the whole lookup inside
// it; maxTimeout stops c-ares from doubling the timeout on the retry.
const TRIES = 2

function createResolver(servers: readonly HostPort[], timeoutMs: number): dns.promises.Resolver {
  const count = servers.length > 0 ? servers.length : Math.max(1, dns.getServers().length)
  const perTry = Math.max(1, Math.floor(timeoutMs / (2 * TRIES * count)))
  const resolver = new dns.promises.Resolver({ timeout: perTry, tries: TRIES, maxTimeout: perTry })
  if (servers.length > 0) resolver.setServers(servers.map((s) => endpointKey(s.host, s.port)))
  return resolver
}

function timeoutError(service: string, ms: number): Error {
  return Object.assign(new Error(`DNS lookup of ${service} timed out after ${ms}ms`), { code: 'ETIMEOUT' })
}

const RESULT: Record<LookupOutcome['kind'], DiscoveryResult> = { reset: 'success', empty: 'empty', error: 'error' }

// When the deadline passes, the lookup is aborted and c-ares' queries cancelled, so it settles at
// once with what was answered by then. Should it still hang, it is given up this much later.
const SETTLE_GRACE_MS = 100

/** Why the next query should come soon: the last one did not settle the set. */
type Unsettled = 'error' | 'empty' | 'partial'

function unsettledBy(outcome: LookupOutcome): Unsettled | null {
  if (outcome.kind === 'reset') return outcome.failed === undefined ? null : 'partial'
  return outcome.kind
}

function toUpdate(outcome: LookupOutcome): DiscoveryUpdate {
  switch (outcome.kind) {
    case 'reset':
      return outcome.failed === undefined
        ? { kind: 'reset', endpoints: outcome.endpoints }
        : { kind: 'reset', endpoints: outcome.endpoints, failed: outcome.failed }
    case 'empty':
      return { kind: 'empty' }
    case 'error':
      return { kind: 'error', error: outcome.error }
  }
}

export class DnsDiscovery implements Discovery {
  #opts: DnsDiscoveryOptions
  #resolver: dns.promises.Resolver
  #random: () => number
  #now: () => number
  #started = false
  #closed = false
  #inFlight: AbortController | null = null
  #timer: NodeJS.Timeout | null = null
  /** Monotonic time the pending timer fires at. */
  #dueAt = Infinity
  #lastStartAt = -Infinity
  #refreshWanted = false
  /** The current run of unsettled lookups and the wait before the next query of that run. */
  #backoff: { readonly kind: Unsettled; readonly ms: number } | null = null
  /** SRV targets' last addresses, kept across lookups. */
  #known = new KnownTargets()
  #lastQuery: LastQuery | null = null
  #lastSuccess: Date | null = null
  #counts: Record<DiscoveryResult, number> = { success: 0, empty: 0, error: 0 }

  constructor(opts: DnsDiscoveryOptions) {
    if ((opts.port === null) === (opts.portName === null)) {
      throw new TypeError('DnsDiscovery needs exactly one of port and portName')
    }
    this.#opts = opts
    this.#resolver = createResolver(opts.servers, opts.timeoutMs)
    this.#random = opts.random ?? Math.random
    this.#now = opts.now ?? Date.now
  }

  get lastQuery(): LastQuery | null {
    return this.#lastQuery
  }

  get lastSuccess(): Date | null {
    return this.#lastSuccess
  }

  get counts(): Readonly<Record<DiscoveryResult, number>> {
    return { ...this.#counts }
  }

  retune(tuning: DiscoveryTuning): void {
    const before = this.#opts
    this.#opts = { ...before, ...tuning }
    if (tuning.timeoutMs !== before.timeoutMs || !sameServers(tuning.servers, before.servers)) {
      // A lookup under way finishes on the resolver it started with.
      this.#resolver = createResolver(tuning.servers, tuning.timeoutMs)
    }
  }

  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    void this.#query()
  }

  requestRefresh(): void {
    if (!this.#started || this.#closed) return
    if (this.#inFlight !== null) {
      // The answer on its way may predate the refusal: ask again once the rate limit allows.
      this.#refreshWanted = true
      return
    }
    const earliest = this.#lastStartAt + this.#opts.minRefreshMs
    if (earliest < this.#dueAt) this.#arm(Math.max(0, earliest - performance.now()))
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#inFlight?.abort()
    this.#resolver.cancel()
  }

  #arm(delayMs: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#dueAt = performance.now() + delayMs
    this.#timer = setTimeout(() => void this.#query(), delayMs)
    this.#timer.unref()
  }

  async #query(): Promise<void> {
    this.#timer = null
    this.#dueAt = Infinity
    this.#refreshWanted = false
    this.#lastStartAt = performance.now()
    const controller = new AbortController()
    this.#inFlight = controller
    const outcome = await this.#lookup(controller)
    if (this.#closed) return
    this.#inFlight = null

    const result = RESULT[outcome.kind]
    this.#lastQuery = { at: new Date(this.#now()), result }
    this.#counts[result]++
    if (result !== 'error') this.#lastSuccess = this.#lastQuery.at
    this.#scheduleAfter(outcome)
    this.#opts.onUpdate(toUpdate(outcome))
  }

  /**
   * The lookup, bounded as a whole by timeoutMs however c-ares schedules its retries. At the
   * deadline the queries still out fail; SRV targets answered by then still count.
   */
  async #lookup(controller: AbortController): Promise<LookupOutcome> {
    const { service, timeoutMs } = this.#opts
    const error = timeoutError(service, timeoutMs)
    const guard = setTimeout(() => {
      controller.abort(error)
      this.#resolver.cancel()
    }, timeoutMs)
    guard.unref()
    let backstop: NodeJS.Timeout | undefined
    const hung = new Promise<LookupOutcome>((resolve) => {
      backstop = setTimeout(() => resolve({ kind: 'error', error }), timeoutMs + SETTLE_GRACE_MS)
      backstop.unref()
    })
    const looked = lookup(this.#resolver, this.#opts, controller.signal, this.#known).catch(
      (err: unknown): LookupOutcome => ({ kind: 'error', error: err instanceof Error ? err : new Error(String(err)) }),
    )
    try {
      return await Promise.race([looked, hung])
    } finally {
      clearTimeout(guard)
      clearTimeout(backstop)
    }
  }

  /**
   * A lookup that found pods, every SRV target answered, asks again after the TTL (clamped to
   * [minRefresh, refresh]). One that did not settle the set (an error, an empty answer, SRV targets
   * that failed) asks again after minRefresh, doubling up to refresh while the same kind repeats:
   * pods that come back after an empty answer are found within about as long as they were gone,
   * and a name that stays empty is asked only every refresh. A run of another kind starts again
   * from minRefresh (DNS back after an outage, still without pods, must not wait out the outage's
   * backoff).
   */
  #scheduleAfter(outcome: LookupOutcome): void {
    const { refreshMs, minRefreshMs } = this.#opts
    const unsettled = unsettledBy(outcome)
    const ttlDelay = (ttl: number | null): number => refreshDelay(refreshMs, minRefreshMs, ttl, this.#random)
    let delay: number
    if (unsettled === null) {
      this.#backoff = null
      delay = ttlDelay(outcome.kind === 'reset' ? outcome.ttlSeconds : null)
    } else {
      const waitMs = this.#backoff?.kind === unsettled ? this.#backoff.ms : minRefreshMs
      this.#backoff = { kind: unsettled, ms: nextBackoff(waitMs, refreshMs, minRefreshMs) }
      delay = jittered(waitMs, minRefreshMs, this.#random)
      // Partial answers carry TTLs too; a shorter one wins.
      if (outcome.kind === 'reset') delay = Math.min(delay, ttlDelay(outcome.ttlSeconds))
    }
    if (this.#refreshWanted) {
      delay = Math.min(delay, Math.max(0, this.#lastStartAt + minRefreshMs - performance.now()))
    }
    this.#arm(delay)
  }
}

/** The discovery an upstream's configuration asks for: its own service, port and refresh, the file's DNS servers. */
export function dnsDiscovery(config: UpstreamConfig, dns: Config['dns'], onUpdate: (update: DiscoveryUpdate) => void): DnsDiscovery {
  return new DnsDiscovery({
    service: config.service,
    port: config.port,
    portName: config.portName,
    srvProtocol: config.protocol === 'udp' ? 'udp' : 'tcp',
    family: config.discovery.family,
    refreshMs: config.discovery.refreshMs,
    minRefreshMs: config.discovery.minRefreshMs,
    servers: dns.servers,
    timeoutMs: dns.timeoutMs,
    onUpdate,
  })
}

function sameServers(a: readonly HostPort[], b: readonly HostPort[]): boolean {
  return a.length === b.length && a.every((s, i) => s.host === b[i].host && s.port === b[i].port)
}
