// One pod of an upstream: its identity, its state, its counters (plain numbers, turned into
// metrics at scrape time) and the pool of connections requests reach it through.
import type { PeakEwma } from '../balance/index.ts'
import type { DispatchHandler, UpstreamRequest } from '../transport/connection.ts'
import type { PodCounters, Pool } from '../transport/pool.ts'

export type EndpointState =
  | { readonly tag: 'active'; readonly since: number }
  | { readonly tag: 'ejected'; readonly since: number; readonly until: number }
  | { readonly tag: 'draining'; readonly since: number }

/** Status codes an endpoint can answer with, as an index into a counter array. */
const STATUS_SLOTS = 600

export interface PodAddress {
  readonly address: string
  readonly port: number
  readonly hostname: string | null
  /** `10.1.0.7:8080` or `[fd00::7]:8080`. */
  readonly key: string
  /** The Host / :authority sent to this pod when the Host is rewritten. */
  readonly authority: string
}

export class Endpoint implements PodCounters {
  /** `10.1.0.7:8080` or `[fd00::7]:8080`: the pod's name in /endpoints and metrics. */
  readonly key: string
  readonly address: string
  readonly port: number
  readonly hostname: string | null
  /** The Host / :authority sent to this pod when the Host is rewritten. */
  readonly authority: string
  /** Null for UDP pods: they take datagrams, not connections. */
  readonly #pool: Pool | null
  state: EndpointState = { tag: 'active', since: Date.now() }
  /** Requests in flight on its connections (kept by the pool). */
  inFlight = 0
  /** Requests sent to this pod since start (SPEC §7; kept by the pool, and by tunnels). */
  requests = 0
  /** Requests that failed: a 5xx answer, or no answer. */
  failures = 0
  /** peak_ewma: the pod's response-time estimate (fed by its pool and by recordFailure); else null. */
  latency: PeakEwma | null
  /** For outlier detection: failures since the last success. */
  consecutiveFailures = 0
  /** Answers by HTTP status, index = status. */
  readonly statusCounts = new Float64Array(STATUS_SLOTS)
  /** Attempts that got no status, by spoke error code (connect_failed, upstream_reset, timeout). */
  readonly errorCounts = new Map<string, number>()

  /** `pool` makes the pod's pool over the pod's counters; null for a pod without connections. */
  constructor(pod: PodAddress, pool: ((counters: PodCounters) => Pool) | null, latency: PeakEwma | null = null) {
    this.latency = latency
    this.address = pod.address
    this.port = pod.port
    this.hostname = pod.hostname
    this.key = pod.key
    this.authority = pod.authority
    this.#pool = pool === null ? null : pool(this)
  }

  /**
   * Sends one request to the pod over one of its connections (queued until one has room). The
   * handler gets its controller at once and exactly one final callback (see Pool.dispatch).
   */
  dispatch(request: UpstreamRequest, handler: DispatchHandler): void {
    this.#pool!.dispatch(request, handler)
  }

  /** The pool, for the upstream that opens, sweeps and drains it; null for UDP pods. */
  get pool(): Pool | null {
    return this.#pool
  }

  /** Whether a connection is open and taking requests (SPEC §4: such pods are picked first). */
  get connected(): boolean {
    return this.#pool?.connected ?? false
  }

  /** Connections open now, taking requests or finishing them. */
  get connections(): number {
    return this.#pool?.size ?? 0
  }

  connectionAgesSeconds(now: number): number[] {
    return this.#pool?.connectionAgesSeconds(now) ?? []
  }

  countStatus(status: number): void {
    if (status >= 0 && status < STATUS_SLOTS) this.statusCounts[status]++
  }

  countError(code: string): void {
    this.errorCounts.set(code, (this.errorCounts.get(code) ?? 0) + 1)
  }
}
