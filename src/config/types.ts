// The validated, fully defaulted configuration. Durations are milliseconds and sizes bytes, with
// the unit in the field name, so that no consumer ever parses "10s" again. The YAML shape users
// write (SPEC §3) is turned into this by validate.ts, and back into YAML by render.ts.

export interface HostPort {
  /** IPv4 or IPv6 literal, without brackets. */
  readonly host: string
  /** 0 asks the OS for a free port (tests use it). */
  readonly port: number
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export type ListenerProtocol = 'http' | 'udp'
export type UpstreamProtocol = 'http1' | 'h2c' | 'udp'
export type UpstreamMode = 'balance' | 'broadcast'
export type Policy = 'round_robin' | 'least_request' | 'peak_ewma' | 'random' | 'consistent_hash' | 'ordinal'
/** The policies that route a request by its key to the one pod owning it (README "Sharding"). */
export type ShardedPolicy = Extract<Policy, 'consistent_hash' | 'ordinal'>

/**
 * Whether `policy` routes by key rather than picking a pod per attempt: the one place that says
 * so, for validation (hashKey required), the balancer (a shard table, no picker) and the upstream
 * (no ejection). Takes `unknown` because validation asks before the value is known to be a Policy.
 */
export function isSharded(policy: unknown): policy is ShardedPolicy {
  return policy === 'consistent_hash' || policy === 'ordinal'
}
export type AddressFamily = 'auto' | 'ipv4' | 'ipv6'
export type HostRewrite = 'service' | 'keep'
export type RetryReason = 'connect-failure' | 'refused-stream' | 'reset-before-response'
export const RETRY_REASONS: readonly RetryReason[] = ['connect-failure', 'refused-stream', 'reset-before-response']

export interface ListenerConfig {
  readonly name: string
  readonly address: HostPort
  readonly protocol: ListenerProtocol
  readonly upstream: string
  readonly headersTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxHeaderSize: number
}

export interface DiscoveryConfig {
  readonly refreshMs: number
  readonly minRefreshMs: number
  readonly family: AddressFamily
  /** Connect to and balance over at most this many pods, chosen by deterministic subsetting; 0 = all. */
  readonly subsetSize: number
}

export interface ConnectionConfig {
  readonly perEndpoint: number
  readonly maxPerEndpoint: number
  /** 0 = never recycle by age. */
  readonly maxLifetimeMs: number
  /** Fraction in [0, 1): "10%" is 0.1. */
  readonly lifetimeJitter: number
  /** 0 = never recycle by request count. */
  readonly maxRequests: number
  /** 0 = extra connections never close for idleness. */
  readonly idleTimeoutMs: number
  readonly connectTimeoutMs: number
  /** Idle connections are probed this often (h2c PING, http1 TCP keepalive); 0 = off. */
  readonly keepaliveMs: number
  readonly drainTimeoutMs: number
}

export interface RetryConfig {
  readonly attempts: number
  readonly on: readonly RetryReason[]
}

export interface OutlierConfig {
  /** 0 disables outlier detection. */
  readonly consecutiveFailures: number
  readonly ejectionTimeMs: number
  readonly maxEjectedPercent: number
}

export type BroadcastRequire = 'all' | 'any' | 'quorum' | number

export interface BroadcastConfig {
  readonly require: BroadcastRequire
  readonly timeoutMs: number
  readonly maxBodySize: number
  readonly includeBodies: boolean
}

export type HashKey =
  | { readonly header: string }
  | { readonly query: string }
  | { readonly cookie: string }

export interface UpstreamConfig {
  readonly name: string
  readonly service: string
  /** Exactly one of port and portName is set. */
  readonly port: number | null
  readonly portName: string | null
  readonly protocol: UpstreamProtocol
  readonly hostRewrite: HostRewrite
  readonly mode: UpstreamMode
  readonly policy: Policy
  /** A joining or returning pod's share ramps from about 10 % to full over this window; 0 = off. */
  readonly slowStartMs: number
  readonly discovery: DiscoveryConfig
  readonly connection: ConnectionConfig
  /** perTryMs: an attempt with no response headers by then is abandoned (and retried if allowed); 0 = none. */
  readonly timeouts: { readonly requestMs: number; readonly perTryMs: number }
  readonly retries: RetryConfig
  readonly outlierDetection: OutlierConfig
  readonly limits: { readonly maxConcurrentRequests: number }
  /** Present only for mode: broadcast. */
  readonly broadcast: BroadcastConfig | null
  /** Present only for consistent_hash / ordinal. */
  readonly hashKey: HashKey | null
  /** Present only for ordinal. */
  readonly replicas: number | null
  /** consistent_hash only: bounded load, 1.5 = no pod above 150 % of the mean in-flight load; null = off. */
  readonly hashBalanceFactor: number | null
}

export interface Config {
  readonly admin: { readonly address: HostPort }
  readonly accessLog: boolean
  /** How often the file's content is compared with the running one (SPEC §10); 0 = SIGHUP only. */
  readonly reloadMs: number
  readonly shutdown: { readonly lingerMs: number; readonly drainTimeoutMs: number }
  readonly dns: {
    /** Parsed "ip" or "ip:port" entries; empty = the system's resolv.conf servers. */
    readonly servers: readonly HostPort[]
    readonly timeoutMs: number
  }
  readonly listeners: readonly ListenerConfig[]
  readonly upstreams: readonly UpstreamConfig[]
}

/** The request header a sharded upstream's key is read from (`cookie` for a cookie key); else null. */
export function keyHeaderOf(config: UpstreamConfig): string | null {
  const hashKey = config.hashKey
  return hashKey === null ? null : 'header' in hashKey ? hashKey.header : 'cookie' in hashKey ? 'cookie' : null
}
