// SPEC §3's upstream as a schema: its keys, types, ranges, defaults and one-line docs, and the
// checks across its keys. Part of the schema validate.ts puts together.
import {
  BAD, boolean, child, choice, defaulted, duration, good, integer, list, object, optional, percent, report, required, size,
} from './schema.ts'
import type { Ctx, Field, Parsed } from './schema.ts'
import { dnsName, headerName, name, nonEmpty, portName } from './names.ts'
import { isSharded, RETRY_REASONS } from './types.ts'

const DISCOVERY = object(
  {
    refresh: defaulted(duration(), '5s', 'ask DNS again at least this often; a shorter record TTL wins'),
    minRefresh: defaulted(duration(), '1s',
      'never more often than this; after an error or an empty answer, the first wait (doubling up to `refresh`)'),
    family: defaulted(choice(['auto', 'ipv4', 'ipv6']), 'auto', '`auto`: A and AAAA records, `ipv4`: A only, `ipv6`: AAAA only'),
    subsetSize: defaulted(integer(0, 100_000), 0,
      'balance over at most this many pods, a deterministic subset keyed on `$SPOKE_ID` (else the host name); 0 = all; 0 for broadcast and sharded'),
  },
  (v, at, ctx) => {
    if (good(v.refreshMs, v.minRefreshMs) && (v.minRefreshMs as number) > (v.refreshMs as number)) {
      report(ctx, child(at, 'minRefresh'), 'must not be longer than refresh')
    }
  },
)

const CONNECTION = object(
  {
    perEndpoint: defaulted(integer(1, 1000), 1, 'connections opened to each pod as soon as it is discovered, and kept'),
    maxPerEndpoint: defaulted(integer(1, 10_000), 64,
      'http1: more open while all are busy; h2c: more sessions only at the stream limit; at least `perEndpoint`'),
    maxLifetime: defaulted(duration({ zero: true }), '10m', 'replace a connection (make-before-break) after this age; 0 = never'),
    lifetimeJitter: defaulted(percent(1), '10%',
      'each lifetime is drawn from [maxLifetime × (1 − jitter), maxLifetime], so connections do not expire together'),
    maxRequests: defaulted(integer(0), 0, 'replace a connection after this many requests (h2c: streams); 0 = never'),
    idleTimeout: defaulted(duration({ zero: true }), '60s', 'close a connection beyond `perEndpoint` idle this long; 0 = never'),
    connectTimeout: defaulted(duration(), '2s', 'a connection not established within this fails (`connect_failed`)'),
    keepalive: defaulted(duration({ zero: true }), '30s',
      'probe idle connections this often: h2c PING (closed when unanswered within `connectTimeout`), http1 TCP keepalive; 0 = off'),
    drainTimeout: defaulted(duration({ zero: true }), '30s', 'how long a retired connection may finish its in-flight requests; 0 = cut them at once'),
  },
  (v, at, ctx) => {
    if (good(v.perEndpoint, v.maxPerEndpoint) && (v.maxPerEndpoint as number) < (v.perEndpoint as number)) {
      report(ctx, child(at, 'maxPerEndpoint'), `must be at least perEndpoint (${v.perEndpoint})`)
    }
  },
)

const BROADCAST_REQUIRE: Field = {
  doc: { type: 'string or integer', range: '`all`, `any`, `quorum` or an integer of at least 1 (a YAML number)' },
  parse(raw, at, ctx) {
    if (raw === 'all' || raw === 'any' || raw === 'quorum') return raw
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1) return raw
    return report(ctx, at, `must be all, any, quorum or an integer of at least 1 (a YAML number), not ${JSON.stringify(raw)}`)
  },
  render: (value) => value,
}

const BROADCAST = object({
  require: defaulted(BROADCAST_REQUIRE, 'all',
    'which pods must answer 2xx for success: every pod, at least one, more than half, or at least N'),
  timeout: defaulted(duration(), '5s', 'per broadcast; pods still pending then count as `timeout`'),
  maxBodySize: defaulted(size(0, 1024 ** 3), '1MiB', 'a larger request body gets 413 and reaches no pod'),
  includeBodies: defaulted(boolean(), false, "put each pod's response body (UTF-8, cut at 64 KiB) in the envelope"),
})

const HASH_KEY_SOURCES = object({
  header: optional(headerName, 'a request header (repeated fields joined with `, `)'),
  query: optional(nonEmpty, 'a query parameter (its first value)'),
  cookie: optional(nonEmpty, 'a cookie (the first of that name)'),
})

/** Exactly one of header, query, cookie: `{ header: "x-account-id" }`. */
const HASH_KEY: Field = {
  doc: { ...HASH_KEY_SOURCES.doc, range: 'exactly one of `header`, `query`, `cookie`' },
  parse(raw, at, ctx) {
    const v = HASH_KEY_SOURCES.parse(raw, at, ctx)
    if (v === BAD) return BAD
    const set = Object.entries(v as Parsed).filter(([, x]) => x !== null)
    if (set.length !== 1) return report(ctx, at, 'must have exactly one of header, query or cookie')
    return Object.fromEntries(set)
  },
  render: (value) => value,
}

export const UPSTREAM = object(
  {
    name: required(name, 'the upstream in logs, metrics and `/endpoints`; listeners name it; unique'),
    service: required(dnsName, 'the headless Service, fully qualified (`orders.default.svc.cluster.local`): no search list applies'),
    port: optional(integer(1, 65535), "the pods' port, with the Service's A/AAAA records; set `port` or `portName`"),
    portName: optional(portName,
      "SRV `_<portName>._tcp.<service>` (`_udp` for `protocol: udp`): each pod's port and host name; `ordinal` needs it"),
    protocol: defaulted(choice(['http1', 'h2c', 'udp'], 'upstream.protocol'), 'http1',
      'what the pods speak: HTTP/1.1, HTTP/2 cleartext (gRPC), or datagrams (`mode: broadcast` only)'),
    hostRewrite: defaulted(choice(['service', 'keep']), 'service',
      'the Host (`:authority`) sent to pods: `service` is `<service>:<port>`, `keep` is what the app sent'),
    mode: defaulted(choice(['balance', 'broadcast'], 'upstream.mode'), 'balance',
      '`balance`: each request to one pod; `broadcast`: a copy to every pod and one aggregated answer'),
    policy: defaulted(
      choice(['round_robin', 'least_request', 'peak_ewma', 'random', 'consistent_hash', 'ordinal'], 'upstream.policy'),
      'round_robin',
      'how a request\'s pod is picked; `consistent_hash` and `ordinal` send each `hashKey` to the pod that owns it',
    ),
    slowStart: defaulted(duration({ zero: true }), 0,
      'a pod that joins or returns from ejection gets a share rising from about 10 % to full over this; 0 = off; 0 for broadcast and sharded'),
    discovery: defaulted(DISCOVERY, {}, 'how the pods are found in DNS'),
    connection: defaulted(CONNECTION, {}, 'the long-lived connections to each pod'),
    timeouts: defaulted(
      object({
        request: defaulted(duration({ zero: true }), '15s', 'the whole request through spoke, retries included; then 504 `timeout`; 0 = none'),
        // Envoy's per_try_timeout: how long one attempt may wait for its answer to start.
        perTry: defaulted(duration({ zero: true }), 0,
          "how long one attempt may wait for the pod's response headers, connection wait included; then retried if allowed; 0 = none"),
      }),
      {},
      'time limits on requests',
    ),
    retries: defaulted(
      object({
        attempts: defaulted(integer(0, 10), 1,
          'extra attempts, each on a pod not tried yet, before any response byte reached the app; idempotent methods only'),
        on: defaulted(list(choice(RETRY_REASONS), { unique: true }), RETRY_REASONS, 'the failures that are retried'),
      }),
      {},
      'retries on another pod (requests that never reached a pod are sent again regardless)',
    ),
    outlierDetection: defaulted(
      object({
        consecutiveFailures: defaulted(integer(0), 5,
          'this many failures in a row (5xx, failed connect, reset before the answer, timeout) eject a pod; 0 = never'),
        ejectionTime: defaulted(duration(), '30s', 'how long an ejected pod gets no balanced requests'),
        maxEjectedPercent: defaulted(integer(0, 100), 50, 'never more than this share of the pods ejected at once, and never the last one'),
      }),
      {},
      'taking failing pods out of the balancing for a while',
    ),
    limits: defaulted(
      object({ maxConcurrentRequests: defaulted(integer(1), 1024, 'requests in flight at once; beyond it 503 `overloaded`') }),
      {},
      'admission',
    ),
    broadcast: optional(BROADCAST, '`mode: broadcast` only (its defaults apply when left out)', 'upstream.broadcast'),
    hashKey: optional(HASH_KEY, 'where each request\'s key is read; required for `consistent_hash` and `ordinal`, only for them',
      'upstream.hashKey'),
    replicas: optional(integer(1, 100_000), "`ordinal` only, required: the StatefulSet's replicas; key k goes to ordinal k mod replicas",
      'upstream.replicas'),
    hashBalanceFactor: optional(percent(Infinity, 1),
      "`consistent_hash` only: no pod above this share of the mean in-flight requests (`150%`); a full pod's keys go to the next"),
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
