// Discovery of a headless Service's pods from DNS: one lookup at a time, refreshed on the record
// TTL (bounded by refresh and minRefresh), backing off after errors, re-resolved early on demand.
import dns from 'node:dns'
import type { AddressFamily, HostPort } from '../config/types.ts'
import { lookup, type LookupOutcome } from './lookup.ts'
import { jittered, nextBackoff, refreshDelay } from './schedule.ts'
import { endpointKey, type Discovery, type DiscoveryUpdate } from './types.ts'

export type DiscoveryResult = 'success' | 'empty' | 'error'

export interface LastQuery {
  /** When the query completed. */
  readonly at: Date
  readonly result: DiscoveryResult
}

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
  #backoffMs: number
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
    this.#backoffMs = opts.minRefreshMs
  }

  /** The last completed query, for /endpoints and /ready; null before the first completes. */
  get lastQuery(): LastQuery | null {
    return this.#lastQuery
  }

  /** When a query last found endpoints (spoke_dns_last_success_timestamp_seconds). */
  get lastSuccess(): Date | null {
    return this.#lastSuccess
  }

  /** Completed queries by result since start (spoke_dns_queries_total). */
  get counts(): Readonly<Record<DiscoveryResult, number>> {
    return { ...this.#counts }
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
    if (result === 'success') this.#lastSuccess = this.#lastQuery.at
    this.#scheduleAfter(outcome)
    this.#opts.onUpdate(
      outcome.kind === 'reset'
        ? { kind: 'reset', endpoints: outcome.endpoints }
        : outcome.kind === 'empty'
          ? { kind: 'empty' }
          : { kind: 'error', error: outcome.error },
    )
  }

  /** The lookup, bounded as a whole by timeoutMs however c-ares schedules its retries. */
  async #lookup(controller: AbortController): Promise<LookupOutcome> {
    const { service, timeoutMs } = this.#opts
    let guard: NodeJS.Timeout | undefined
    const timedOut = new Promise<LookupOutcome>((resolve) => {
      guard = setTimeout(() => {
        const error = timeoutError(service, timeoutMs)
        controller.abort(error)
        this.#resolver.cancel()
        resolve({ kind: 'error', error })
      }, timeoutMs)
      guard.unref()
    })
    const looked = lookup(this.#resolver, this.#opts, controller.signal).catch(
      (err: unknown): LookupOutcome => ({ kind: 'error', error: err instanceof Error ? err : new Error(String(err)) }),
    )
    try {
      return await Promise.race([looked, timedOut])
    } finally {
      clearTimeout(guard)
    }
  }

  #scheduleAfter(outcome: LookupOutcome): void {
    const { refreshMs, minRefreshMs } = this.#opts
    let delay: number
    if (outcome.kind === 'error') {
      delay = jittered(this.#backoffMs, minRefreshMs, this.#random)
      this.#backoffMs = nextBackoff(this.#backoffMs, refreshMs, minRefreshMs)
    } else {
      this.#backoffMs = minRefreshMs
      const ttl = outcome.kind === 'reset' ? outcome.ttlSeconds : null
      delay = refreshDelay(refreshMs, minRefreshMs, ttl, this.#random)
    }
    if (this.#refreshWanted) {
      delay = Math.min(delay, Math.max(0, this.#lastStartAt + minRefreshMs - performance.now()))
    }
    this.#arm(delay)
  }
}
