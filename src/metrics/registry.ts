// Prometheus metrics (SPEC §8), read from the live objects at scrape time: the hot path only
// bumps plain numbers, and a pod's series vanish with the pod because nothing is cached here.
// This module is a leaf: it declares the shapes it reads and imports nothing of the proxy.
import { collectDefaultMetrics, Registry } from 'prom-client'
import { SPOKE_VERSION } from '../version.ts'
import { LATENCY_BUCKETS_SECONDS, type LatencyHistogram } from './histogram.ts'

export interface EndpointSource {
  readonly key: string
  readonly state: { readonly tag: string }
  readonly statusCounts: Float64Array
  readonly errorCounts: ReadonlyMap<string, number>
  /** Connections open now. */
  readonly connections: number
}

export interface UpstreamSource {
  readonly name: string
  readonly config: { readonly mode: string; readonly protocol: string }
  readonly endpoints: Iterable<EndpointSource>
  readonly drainingEndpoints: Iterable<EndpointSource>
  readonly stats: {
    readonly connectionsOpened: number
    readonly connectionsClosed: ReadonlyMap<string, number>
    readonly retries: number
    readonly ejections: number
    readonly dnsQueries: Readonly<Record<string, number>>
    readonly dnsLastSuccess: number
    readonly duration: LatencyHistogram
    readonly broadcasts: Readonly<Record<string, number>>
  }
}

/** An HTTP listener counts answers by status; a UDP listener counts datagrams. */
/** An HTTP listener's answers, by HTTP status and by gRPC status (index = code). */
interface ListenerCounts {
  readonly byStatus: Float64Array
  readonly byGrpcStatus: Float64Array
}

export type ListenerSource = {
  readonly name: string
  readonly upstream: { readonly name: string }
} & (
  | { readonly counts: ListenerCounts }
  | { readonly udp: { readonly datagrams: number; readonly dropped: number; readonly sendErrors: number } }
)

interface Sample {
  labels: Record<string, string | number>
  value: number
  metricName?: string
}

type MetricType = 'counter' | 'gauge' | 'histogram'

/** A metric whose samples are computed when Prometheus scrapes. */
class PulledMetric {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  readonly aggregator = 'sum'
  readonly #read: () => Sample[]

  constructor(name: string, help: string, type: MetricType, read: () => Sample[]) {
    this.name = name
    this.help = help
    this.type = type
    this.#read = read
  }

  get(): { name: string; help: string; type: MetricType; aggregator: string; values: Sample[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.#read() }
  }
}

const ENDPOINT_STATES = ['active', 'ejected', 'draining'] as const

/** A reload replaces listeners and upstreams: the registry is given a way to read the current ones. */
type Live<T> = readonly T[] | (() => readonly T[])

/** Reloads of the configuration by result (SPEC §10), counted by whoever applies them. */
export interface ReloadCounts {
  readonly success: number
  readonly failure: number
}

export function createRegistry(listenersOf: Live<ListenerSource>, upstreamsOf: Live<UpstreamSource>, reloads: ReloadCounts = { success: 0, failure: 0 }): Registry {
  const ls = typeof listenersOf === 'function' ? listenersOf : () => listenersOf
  const us = typeof upstreamsOf === 'function' ? upstreamsOf : () => upstreamsOf
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const add = (name: string, help: string, type: MetricType, read: () => Sample[]): void => {
    registry.registerMetric(new PulledMetric(name, help, type, read) as never)
  }
  const perUpstream = (read: (u: UpstreamSource) => number): (() => Sample[]) =>
    () => us().map((u) => ({ labels: { upstream: u.name }, value: read(u) }))

  add('spoke_build_info', 'Always 1; the labels say which spoke runs on which Node.js.', 'gauge',
    () => [{ labels: { version: SPOKE_VERSION, node_version: process.versions.node }, value: 1 }])

  /** An HTTP listener's answers counted by a code (the index into `read`'s array), one series per code seen. */
  const perListenerCode = (read: (c: ListenerCounts) => Float64Array, label: string, text: (code: number) => string | number): (() => Sample[]) => () => {
    const out: Sample[] = []
    for (const l of ls()) {
      if (!('counts' in l)) continue
      const counts = read(l.counts)
      for (let code = 0; code < counts.length; code++) {
        if (counts[code] > 0) out.push({ labels: { listener: l.name, upstream: l.upstream.name, [label]: text(code) }, value: counts[code] })
      }
    }
    return out
  }
  add('spoke_requests_total', 'Requests answered to the app, by the status sent (499: the app went away first).', 'counter',
    perListenerCode((c) => c.byStatus, 'code', (code) => code))
  add('spoke_grpc_responses_total', 'gRPC calls answered to the app, by the grpc-status it received (the pod\'s, or spoke\'s own for its errors).', 'counter',
    perListenerCode((c) => c.byGrpcStatus, 'grpc_status', String))

  add('spoke_request_duration_seconds', 'Time from a request reaching spoke to its answer ending.', 'histogram', () => {
    const out: Sample[] = []
    for (const u of us()) {
      const h = u.stats.duration
      let cumulative = 0
      for (let i = 0; i < LATENCY_BUCKETS_SECONDS.length; i++) {
        cumulative += h.counts[i]
        out.push({ metricName: 'spoke_request_duration_seconds_bucket', labels: { le: LATENCY_BUCKETS_SECONDS[i], upstream: u.name }, value: cumulative })
      }
      out.push({ metricName: 'spoke_request_duration_seconds_bucket', labels: { le: '+Inf', upstream: u.name }, value: h.count })
      out.push({ metricName: 'spoke_request_duration_seconds_sum', labels: { upstream: u.name }, value: h.sum })
      out.push({ metricName: 'spoke_request_duration_seconds_count', labels: { upstream: u.name }, value: h.count })
    }
    return out
  })

  add('spoke_endpoint_requests_total', 'Attempts sent to each pod, by the status it answered (or the error code when it gave none).', 'counter', () => {
    const out: Sample[] = []
    for (const u of us()) {
      for (const e of u.endpoints) {
        const counts = e.statusCounts
        for (let code = 0; code < counts.length; code++) {
          if (counts[code] > 0) out.push({ labels: { upstream: u.name, endpoint: e.key, code }, value: counts[code] })
        }
        for (const [code, n] of e.errorCounts) out.push({ labels: { upstream: u.name, endpoint: e.key, code }, value: n })
      }
    }
    return out
  })

  add('spoke_endpoints', 'Pods known to an upstream, by state.', 'gauge', () => {
    const out: Sample[] = []
    for (const u of us()) {
      const n: Record<string, number> = { active: 0, ejected: 0, draining: 0 }
      for (const e of u.endpoints) n[e.state.tag]++
      for (const _ of u.drainingEndpoints) n.draining++
      for (const state of ENDPOINT_STATES) out.push({ labels: { upstream: u.name, state }, value: n[state] })
    }
    return out
  })

  add('spoke_upstream_connections', 'Open connections to the pods of an upstream.', 'gauge', perUpstream((u) => {
    let n = 0
    for (const e of u.endpoints) n += e.connections
    for (const e of u.drainingEndpoints) n += e.connections
    return n
  }))

  add('spoke_upstream_connections_opened_total', 'Connections opened to pods.', 'counter', perUpstream((u) => u.stats.connectionsOpened))

  add('spoke_upstream_connections_closed_total', 'Connections to pods closed, by reason.', 'counter', () => {
    const out: Sample[] = []
    for (const u of us()) for (const [reason, n] of u.stats.connectionsClosed) out.push({ labels: { upstream: u.name, reason }, value: n })
    return out
  })

  add('spoke_dns_queries_total', 'Discovery queries, by result (empty: NXDOMAIN or no records).', 'counter', () => {
    const out: Sample[] = []
    for (const u of us()) for (const [result, n] of Object.entries(u.stats.dnsQueries)) out.push({ labels: { upstream: u.name, result }, value: n })
    return out
  })

  add('spoke_dns_last_success_timestamp_seconds', 'When DNS last answered (with pods or with none); 0 = never.', 'gauge', perUpstream((u) => u.stats.dnsLastSuccess))
  add('spoke_retries_total', 'Requests sent again to another pod.', 'counter', perUpstream((u) => u.stats.retries))
  add('spoke_outlier_ejections_total', 'Pods ejected for consecutive failures.', 'counter', perUpstream((u) => u.stats.ejections))

  add('spoke_broadcasts_total', 'Broadcasts answered, by outcome (whether the upstream\'s require was met).', 'counter', () => {
    const out: Sample[] = []
    for (const u of us()) {
      // UDP fan-out has no answers to aggregate: its datagrams are counted per listener.
      if (u.config.mode !== 'broadcast' || u.config.protocol === 'udp') continue
      for (const [outcome, n] of Object.entries(u.stats.broadcasts)) out.push({ labels: { upstream: u.name, outcome }, value: n })
    }
    return out
  })

  const perUdpListener = (read: (c: { datagrams: number; dropped: number; sendErrors: number }) => number): (() => Sample[]) => () => {
    const out: Sample[] = []
    for (const l of ls()) if ('udp' in l) out.push({ labels: { listener: l.name, upstream: l.upstream.name }, value: read(l.udp) })
    return out
  }
  add('spoke_udp_datagrams_total', 'Datagrams received on UDP listeners (each sent to every pod).', 'counter', perUdpListener((c) => c.datagrams))
  add('spoke_udp_datagrams_dropped_total', 'Datagrams received while the upstream had no pods.', 'counter', perUdpListener((c) => c.dropped))
  add('spoke_udp_send_errors_total', 'Copies of datagrams the kernel refused to send to a pod.', 'counter', perUdpListener((c) => c.sendErrors))
  add('spoke_config_reloads_total', 'Configuration reloads, by result (failure: the file was rejected and the running configuration stayed).', 'counter',
    () => [{ labels: { result: 'success' }, value: reloads.success }, { labels: { result: 'failure' }, value: reloads.failure }])
  return registry
}
