import { formatHostPort } from '../net.ts'

// Discovery is a stream of updates (linkerd2-proxy's Resolve): each completed query yields one
// update, and the upstream diffs it against the set it holds. Tests can feed updates directly.

export interface DiscoveredEndpoint {
  /** IP literal, no brackets. */
  readonly address: string
  readonly port: number
  /** SRV target without the trailing dot (`web-2.web.default.svc.cluster.local`), else null. */
  readonly hostname: string | null
}

/** SRV targets whose own address query failed in a lookup that still gave a set. */
export interface TargetFailures {
  /** Kept at the addresses of their last answer. */
  readonly kept: number
  /** Never resolved, so left out until a later lookup resolves them. */
  readonly waiting: number
  /** The first failure, for the log. */
  readonly error: Error
}

export type DiscoveryUpdate =
  /** The complete current set (never empty); `failed` only when some SRV targets failed. */
  | { readonly kind: 'reset'; readonly endpoints: readonly DiscoveredEndpoint[]; readonly failed?: TargetFailures }
  /** NXDOMAIN or an empty answer: zero pods. */
  | { readonly kind: 'empty' }
  /** Timeout, SERVFAIL, REFUSED…: keep the last good set. */
  | { readonly kind: 'error'; readonly error: Error }

/** How a query ended: pods found, an answer without any (NXDOMAIN, no records), or no answer. */
export type DiscoveryResult = 'success' | 'empty' | 'error'

export interface LastQuery {
  /** When the query completed. */
  readonly at: Date
  readonly result: DiscoveryResult
}

export interface Discovery {
  /** Starts the first query at once, then keeps refreshing. */
  start(): void
  /** Early re-resolve (a connect was refused); rate-limited by minRefresh. */
  requestRefresh(): void
  close(): void
  /** A reload changed how to query (SPEC §10): used from the next query on. */
  retune?(tuning: DiscoveryTuning): void
  // The DNS statistics, kept here only: the upstream's metrics and /endpoints read them.
  /** The last completed query, for /endpoints; null before the first completes. */
  readonly lastQuery: LastQuery | null
  /**
   * When DNS last answered, with pods or with none: an empty answer is an answer, DNS works and
   * says there are no pods (spoke_dns_last_success_timestamp_seconds). Null before any answer.
   */
  readonly lastSuccess: Date | null
  /** Completed queries by result since start (spoke_dns_queries_total). */
  readonly counts: Readonly<Record<DiscoveryResult, number>>
}

export type DiscoveryListener = (update: DiscoveryUpdate) => void

/** `10.0.0.1:80`, `[::1]:80`: the stable key of an endpoint, and how /endpoints names it. */
export function endpointKey(address: string, port: number): string {
  return formatHostPort(address, port)
}

/** What a reload may change in an upstream's discovery without replacing it. */
export interface DiscoveryTuning {
  readonly family: 'auto' | 'ipv4' | 'ipv6'
  readonly refreshMs: number
  readonly minRefreshMs: number
  /** Empty: the system's resolv.conf servers. */
  readonly servers: readonly { readonly host: string; readonly port: number }[]
  readonly timeoutMs: number
}
