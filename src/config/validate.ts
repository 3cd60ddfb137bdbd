// SPEC §3 as a schema: the one place that says which keys exist, their types, ranges and defaults
// (written as a user would write them), and which cross-references must hold. The result is
// frozen and fully defaulted, or the list of every problem found.
import { isIP } from 'node:net'
import {
  BAD, boolean, child, choice, defaulted, didYouMean, duration, renderHostPort, good, hostPort, integer, list,
  object, optional, percent, report, required, size, text,
} from './schema.ts'
import type { ConfigError, Ctx, Field, Parsed } from './schema.ts'
import { isSharded, RETRY_REASONS } from './types.ts'
import type { Config } from './types.ts'

export type { ConfigError } from './schema.ts'

export type ValidationResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly errors: readonly ConfigError[] }

/**
 * Parts of SPEC §3 the data plane does not implement yet. They are refused with "not supported
 * yet" rather than accepted and ignored; enabling one is deleting its line here (the schema and
 * its cross-checks below are already written and tested with this set emptied).
 */
export const NOT_YET: ReadonlySet<string> = new Set([
])

export function validateConfig(doc: unknown, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  const ctx: Ctx = { errors: [], notYet: options.notYet ?? NOT_YET }
  if (doc === null || doc === undefined) {
    report(ctx, '', 'the configuration is empty; listeners and upstreams are required')
  } else {
    const parsed = CONFIG_SCHEMA.parse(doc, '', ctx)
    if (ctx.errors.length === 0) return { ok: true, config: deepFreeze(parsed) as Config }
  }
  return { ok: false, errors: ctx.errors }
}

// ---- names

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const name = text((s) =>
  NAME.test(s) ? null : `must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit, not ${JSON.stringify(s)}`,
)

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const stripDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s)

function dnsNameProblem(s: string): string | null {
  const fqdn = stripDot(s)
  if (isIP(fqdn) !== 0) return `must be a DNS name, not the IP address ${JSON.stringify(s)}`
  if (fqdn.length === 0 || fqdn.length > 253) return 'must be a DNS name of 1 to 253 characters'
  const labels = fqdn.split('.')
  // Node's resolver applies no search list, so "orders" alone would never resolve in a pod.
  if (labels.length < 2) return `must be a fully qualified name such as "orders.default.svc.cluster.local", not ${JSON.stringify(s)}`
  const bad = labels.find((l) => !DNS_LABEL.test(l))
  if (bad !== undefined) {
    return `label ${JSON.stringify(bad)} must be 1 to 63 lowercase letters, digits or "-", not starting or ending with "-"`
  }
  return null
}
// The trailing dot is dropped: the name goes into Host headers, and queries are FQDN anyway.
const dnsName = text(dnsNameProblem, stripDot)

// Kubernetes' IANA_SVC_NAME, which is what a Service's port name (and so its SRV record) can be.
const portName = text((s) =>
  /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--')
    ? null
    : `must be an SRV port name (1 to 15 lowercase letters, digits or "-", with a letter, like "http" or "grpc"), not ${JSON.stringify(s)}`,
)

const headerName = text(
  (s) => (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s) ? null : `must be an HTTP header name, not ${JSON.stringify(s)}`),
  (s) => s.toLowerCase(),
)
const nonEmpty = text((s) => (s.length > 0 ? null : 'must not be empty'))

// ---- listener

const LISTENER = object({
  name: required(name),
  address: required(hostPort({ minPort: 0 })),
  protocol: defaulted(choice(['http', 'udp'], 'listener.protocol'), 'http'),
  upstream: required(name),
  headersTimeout: defaulted(duration(), '10s'),
  idleTimeout: defaulted(duration(), '60s'),
  maxHeaderSize: defaulted(size(1024, 1024 ** 2), '16KiB'),
})

// ---- upstream

const DISCOVERY = object(
  {
    refresh: defaulted(duration(), '5s'),
    minRefresh: defaulted(duration(), '1s'),
    family: defaulted(choice(['auto', 'ipv4', 'ipv6']), 'auto'),
    subsetSize: defaulted(integer(0, 100_000), 0),
  },
  (v, at, ctx) => {
    if (good(v.refreshMs, v.minRefreshMs) && (v.minRefreshMs as number) > (v.refreshMs as number)) {
      report(ctx, child(at, 'minRefresh'), 'must not be longer than refresh')
    }
  },
)

const CONNECTION = object(
  {
    perEndpoint: defaulted(integer(1, 1000), 1),
    maxPerEndpoint: defaulted(integer(1, 10_000), 64),
    maxLifetime: defaulted(duration({ zero: true }), '10m'),
    lifetimeJitter: defaulted(percent(1), '10%'),
    maxRequests: defaulted(integer(0), 0),
    idleTimeout: defaulted(duration({ zero: true }), '60s'),
    connectTimeout: defaulted(duration(), '2s'),
    keepalive: defaulted(duration({ zero: true }), '30s'),
    drainTimeout: defaulted(duration({ zero: true }), '30s'),
  },
  (v, at, ctx) => {
    if (good(v.perEndpoint, v.maxPerEndpoint) && (v.maxPerEndpoint as number) < (v.perEndpoint as number)) {
      report(ctx, child(at, 'maxPerEndpoint'), `must be at least perEndpoint (${v.perEndpoint})`)
    }
  },
)

const BROADCAST_REQUIRE: Field = {
  parse(raw, at, ctx) {
    if (raw === 'all' || raw === 'any' || raw === 'quorum') return raw
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1) return raw
    return report(ctx, at, `must be all, any, quorum or an integer of at least 1 (a YAML number), not ${JSON.stringify(raw)}`)
  },
  render: (value) => value,
}

const BROADCAST = object({
  require: defaulted(BROADCAST_REQUIRE, 'all'),
  timeout: defaulted(duration(), '5s'),
  maxBodySize: defaulted(size(0, 1024 ** 3), '1MiB'),
  includeBodies: defaulted(boolean(), false),
})

const HASH_KEY_SOURCES = object({
  header: optional(headerName),
  query: optional(nonEmpty),
  cookie: optional(nonEmpty),
})

/** Exactly one of header, query, cookie: `{ header: "x-account-id" }`. */
const HASH_KEY: Field = {
  parse(raw, at, ctx) {
    const v = HASH_KEY_SOURCES.parse(raw, at, ctx)
    if (v === BAD) return BAD
    const set = Object.entries(v as Parsed).filter(([, x]) => x !== null)
    if (set.length !== 1) return report(ctx, at, 'must have exactly one of header, query or cookie')
    return Object.fromEntries(set)
  },
  render: (value) => value,
}

const UPSTREAM = object(
  {
    name: required(name),
    service: required(dnsName),
    port: optional(integer(1, 65535)),
    portName: optional(portName),
    protocol: defaulted(choice(['http1', 'h2c', 'udp'], 'upstream.protocol'), 'http1'),
    hostRewrite: defaulted(choice(['service', 'keep']), 'service'),
    mode: defaulted(choice(['balance', 'broadcast'], 'upstream.mode'), 'balance'),
    policy: defaulted(
      choice(['round_robin', 'least_request', 'peak_ewma', 'random', 'consistent_hash', 'ordinal'], 'upstream.policy'),
      'round_robin',
    ),
    slowStart: defaulted(duration({ zero: true }), 0),
    discovery: defaulted(DISCOVERY, {}),
    connection: defaulted(CONNECTION, {}),
    timeouts: defaulted(
      object({
        request: defaulted(duration({ zero: true }), '15s'),
        // Envoy's per_try_timeout: how long one attempt may wait for its answer to start.
        perTry: defaulted(duration({ zero: true }), 0),
      }),
      {},
    ),
    retries: defaulted(
      object({
        attempts: defaulted(integer(0, 10), 1),
        on: defaulted(list(choice(RETRY_REASONS), { unique: true }), RETRY_REASONS),
      }),
      {},
    ),
    outlierDetection: defaulted(
      object({
        consecutiveFailures: defaulted(integer(0), 5),
        ejectionTime: defaulted(duration(), '30s'),
        maxEjectedPercent: defaulted(integer(0, 100), 50),
      }),
      {},
    ),
    limits: defaulted(object({ maxConcurrentRequests: defaulted(integer(1), 1024) }), {}),
    broadcast: optional(BROADCAST, 'upstream.broadcast'),
    hashKey: optional(HASH_KEY, 'upstream.hashKey'),
    replicas: optional(integer(1, 100_000), 'upstream.replicas'),
    hashBalanceFactor: optional(percent(Infinity, 1)),
  },
  checkUpstream,
)

function checkUpstream(v: Parsed, at: string, ctx: Ctx): void {
  const path = (key: string): string => child(at, key)
  if (v.port !== null && v.portName !== null) report(ctx, path('portName'), 'set either port or portName, not both')
  if (v.port === null && v.portName === null) report(ctx, path('port'), 'is required (or portName)')

  if (good(v.mode, v.broadcast)) {
    // A broadcast upstream without a broadcast block gets that block's defaults.
    if (v.mode === 'broadcast' && v.broadcast === null) v.broadcast = BROADCAST.parse({}, path('broadcast'), ctx)
    if (v.mode !== 'broadcast' && v.broadcast !== null) report(ctx, path('broadcast'), 'is only for mode: broadcast')
  }
  if (good(v.protocol, v.mode) && v.protocol === 'udp' && v.mode !== 'broadcast') {
    report(ctx, path('mode'), 'must be broadcast for protocol: udp')
  }
  if (good(v.policy, v.hashKey)) {
    const hashed = isSharded(v.policy)
    if (hashed && v.hashKey === null) report(ctx, path('hashKey'), `is required for policy: ${v.policy}`)
    if (!hashed && v.hashKey !== null) report(ctx, path('hashKey'), 'is only for policy: consistent_hash or ordinal')
  }
  if (good(v.policy, v.replicas)) {
    if (v.policy === 'ordinal' && v.replicas === null) report(ctx, path('replicas'), 'is required for policy: ordinal')
    if (v.policy !== 'ordinal' && v.replicas !== null) report(ctx, path('replicas'), 'is only for policy: ordinal')
  }
  if (good(v.policy, v.hashBalanceFactor) && v.policy !== 'consistent_hash' && v.hashBalanceFactor !== null) {
    report(ctx, path('hashBalanceFactor'), 'is only for policy: consistent_hash')
  }
  // Every pod gets every request of a broadcast: there is nothing to pick, least of all by key.
  if (good(v.mode, v.policy) && v.mode === 'broadcast' && isSharded(v.policy)) {
    report(ctx, path('policy'), `${v.policy} has no meaning for mode: broadcast (every pod gets every request)`)
  }
  // A broadcast or a sharded upstream needs every pod: none of them may be left out or held back.
  const everyPod = !good(v.mode, v.policy) ? null
    : v.mode === 'broadcast' ? 'mode: broadcast'
    : isSharded(v.policy) ? `policy: ${v.policy}`
    : null
  const subsetSize = good(v.discovery) ? (v.discovery as Parsed).subsetSize : 0
  if (everyPod !== null && good(subsetSize) && (subsetSize as number) > 0) {
    report(ctx, child(path('discovery'), 'subsetSize'), `must be 0 for ${everyPod}, which needs every pod`)
  }
  if (everyPod !== null && good(v.slowStartMs) && (v.slowStartMs as number) > 0) {
    report(ctx, path('slowStart'), `must be 0 for ${everyPod}: only a balanced pick can give a pod less than its share`)
  }
  // Ordinals come from the StatefulSet pods' host names, which only SRV gives.
  if (v.policy === 'ordinal' && typeof v.port === 'number' && v.portName === null) {
    report(ctx, path('portName'), 'is required for policy: ordinal (use portName instead of port)')
  }
}

// ---- the whole file

/** The schema behind validateConfig; render.ts walks it backwards. */
export const CONFIG_SCHEMA: Field = object(
  {
    admin: defaulted(object({ address: defaulted(hostPort({ minPort: 0 }), '127.0.0.1:9901') }), {}),
    accessLog: defaulted(boolean(), false),
    reload: defaulted(duration({ zero: true }), '5s'),
    shutdown: defaulted(
      object({
        linger: defaulted(duration({ zero: true }), '5s'),
        drainTimeout: defaulted(duration({ zero: true }), '30s'),
      }),
      {},
    ),
    dns: defaulted(
      object({
        servers: defaulted(list(hostPort({ minPort: 1, defaultPort: 53 })), []),
        timeout: defaulted(duration(), '2s'),
      }),
      {},
    ),
    listeners: required(list(LISTENER, { min: 1 })),
    upstreams: required(list(UPSTREAM, { min: 1 })),
  },
  checkReferences,
)

function checkReferences(v: Parsed, _at: string, ctx: Ctx): void {
  const listeners = goodItems(v.listeners, 'listeners')
  const upstreams = goodItems(v.upstreams, 'upstreams')
  uniqueNames(listeners, ctx)
  uniqueNames(upstreams, ctx)
  uniqueAddresses(listeners, v.admin, ctx)

  const byName = new Map(upstreams.filter(({ item }) => good(item.name)).map(({ item }) => [item.name, item]))
  // With an upstream unreadable, a listener naming it is not known to be wrong.
  const allNamesKnown =
    Array.isArray(v.upstreams) && upstreams.length === v.upstreams.length && upstreams.every(({ item }) => good(item.name))
  for (const { item: l, at } of listeners) {
    if (!good(l.upstream)) continue
    const u = byName.get(l.upstream)
    if (u === undefined) {
      if (!allNamesKnown) continue
      const hint = didYouMean(l.upstream as string, [...byName.keys()] as string[])
      report(ctx, child(at, 'upstream'), `no upstream is named ${JSON.stringify(l.upstream)}${hint}`)
    } else {
      checkListenerFitsUpstream(l, u, at, ctx)
    }
  }
}

/** UDP listeners fan datagrams out; HTTP listeners cannot send to pods that only speak UDP. */
function checkListenerFitsUpstream(l: Parsed, u: Parsed, at: string, ctx: Ctx): void {
  if (!good(l.protocol, u.protocol, u.mode)) return
  if (l.protocol === 'udp' && (u.protocol !== 'udp' || u.mode !== 'broadcast')) {
    report(ctx, child(at, 'upstream'), 'must name a protocol: udp, mode: broadcast upstream for protocol: udp')
  }
  if (l.protocol === 'http' && u.protocol === 'udp') {
    report(ctx, child(at, 'upstream'), 'names a protocol: udp upstream, which only a protocol: udp listener can use')
  }
}

interface Located {
  readonly item: Parsed
  readonly at: string
}

function goodItems(items: unknown, at: string): Located[] {
  if (!Array.isArray(items)) return []
  return items.flatMap((item, i) => (good(item) ? [{ item: item as Parsed, at: `${at}[${i}]` }] : []))
}

function uniqueNames(items: readonly Located[], ctx: Ctx): void {
  const seen = new Map<unknown, string>()
  for (const { item, at } of items) {
    if (!good(item.name)) continue
    const first = seen.get(item.name)
    if (first === undefined) seen.set(item.name, at)
    else report(ctx, child(at, 'name'), `duplicates the name of ${first}`)
  }
}

/** Port 0 is exempt: each such listener gets its own ephemeral port. TCP and UDP may share one. */
function uniqueAddresses(listeners: readonly Located[], admin: unknown, ctx: Ctx): void {
  const seen = new Map<string, string>()
  const claim = (protocol: unknown, address: unknown, at: string): void => {
    if (!good(protocol, address) || (address as { port: number }).port === 0) return
    const key = `${protocol === 'udp' ? 'udp' : 'tcp'} ${renderHostPort(address as { host: string; port: number })}`
    const first = seen.get(key)
    if (first === undefined) seen.set(key, at)
    else report(ctx, at, `is already used by ${first}`)
  }
  if (good(admin)) claim('http', (admin as Parsed).address, 'admin.address')
  for (const { item, at } of listeners) claim(item.protocol, item.address, child(at, 'address'))
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
