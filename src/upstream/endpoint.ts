// One pod of an upstream: its identity, its state, its counters (plain numbers, turned into
// metrics at scrape time) and the pool of connections to it.
import type { Pool } from '../transport/pool.ts'

export type EndpointState =
  | { readonly tag: 'active'; readonly since: number }
  | { readonly tag: 'ejected'; readonly since: number; readonly until: number }
  | { readonly tag: 'draining'; readonly since: number }

/** Status codes an endpoint can answer with, as an index into a counter array. */
const STATUS_SLOTS = 600

export class Endpoint {
  /** `10.1.0.7:8080` or `[fd00::7]:8080`: the pod's name in /endpoints and metrics. */
  readonly key: string
  readonly address: string
  readonly port: number
  readonly hostname: string | null
  /** The Host / :authority sent to this pod when the Host is rewritten. */
  readonly authority: string
  readonly pool: Pool
  state: EndpointState = { tag: 'active', since: Date.now() }
  inFlight = 0
  /** Requests sent to this pod since start (SPEC §7). */
  requests = 0
  /** Requests that failed: a 5xx answer, or no answer. */
  failures = 0
  /** For outlier detection: failures since the last success. */
  consecutiveFailures = 0
  /** Answers by HTTP status, index = status. */
  readonly statusCounts = new Float64Array(STATUS_SLOTS)
  /** Attempts that got no status, by spoke error code (connect_failed, upstream_reset, timeout). */
  readonly errorCounts = new Map<string, number>()

  constructor(address: string, port: number, hostname: string | null, key: string, authority: string, pool: Pool) {
    this.address = address
    this.port = port
    this.hostname = hostname
    this.key = key
    this.authority = authority
    this.pool = pool
  }

  countStatus(status: number): void {
    if (status >= 0 && status < STATUS_SLOTS) this.statusCounts[status]++
  }

  countError(code: string): void {
    this.errorCounts.set(code, (this.errorCounts.get(code) ?? 0) + 1)
  }
}
