// An upstream: the pods of one headless Service as discovery reports them, the lists the picker
// chooses from and their connection pools. Outlier ejection (outliers.ts) and the pinned requests'
// indexes (routing-table.ts) are kept apart and fed from here.
import { type Config, isSharded, keyHeaderOf, type UpstreamConfig } from '../config/types.ts'
import { type Clock, createPicker, latencyFor, ordinalOf, type Picker, type ShardMiss, systemClock } from '../balance/index.ts'
import { type DiscoveredEndpoint, type Discovery, type DiscoveryUpdate, endpointKey, type LastQuery } from '../discovery/types.ts'
import type { Logger } from '../log.ts'
import { dial } from '../transport/dial.ts'
import { H1Connection } from '../transport/h1-connection.ts'
import { H2Connection } from '../transport/h2-connection.ts'
import { type Connector, Pool } from '../transport/pool.ts'
import { Endpoint } from './endpoint.ts'
import { OutlierDetector } from './outliers.ts'
import { compareKeys, podSubset } from './pod-subset.ts'
import { RoutingTable } from './routing-table.ts'
import { UpstreamStats } from './stats.ts'
import { UpstreamLog } from './upstream-log.ts'

export type DnsConfig = Config['dns']

export type DiscoveryFactory = (config: UpstreamConfig, dns: DnsConfig, onUpdate: (u: DiscoveryUpdate) => void) => Discovery

export class Upstream {
  readonly name: string
  /** The running configuration: a reload may swap it (update()), so it is read where used, never kept. */
  #config: UpstreamConfig
  readonly stats: UpstreamStats
  /** Requests in flight through this upstream (limits.maxConcurrentRequests). */
  inFlight = 0
  /** The pods in discovery, by key; with discovery.subsetSize, only those of this sidecar's subset. */
  #endpoints = new Map<string, Endpoint>()
  /** Pods in discovery outside this sidecar's subset: no endpoint, no connection (/endpoints lists them). */
  #outsideSubset: readonly DiscoveredEndpoint[] = []
  /** Whose subset this is (discovery.subsetSize): `$SPOKE_ID` or the host name. */
  readonly identity: string
  /**
   * Every pod whose pool is open: those in discovery and those that left it and still finish
   * their requests, until their pool has drained. Which is which is the pod's state, nothing else.
   */
  #pods = new Set<Endpoint>()
  /** Active, not ejected: what the picker chooses from. Rebuilt on every change, read per request. */
  #eligible: Endpoint[] = []
  /** The eligible pods with an open connection: picked from first while there are any (SPEC §4). */
  #connected: Endpoint[] = []
  #picker: Picker<Endpoint>
  /** Pinned requests' pods: x-spoke-pod names and, when sharded, the key → pod table. */
  #routes: RoutingTable<Endpoint>
  /** The request header a sharded upstream's key is read from (`cookie` for a cookie key); else null. */
  keyHeader: string | null
  /** The last set discovery answered, before subsetting: a reload of subsetSize chooses again from it. */
  #discovered: readonly DiscoveredEndpoint[] = []
  #discovery: Discovery
  #firstDiscovery: Promise<void>
  #resolveFirst!: () => void
  #outliers: OutlierDetector<Endpoint>
  #sweeper: NodeJS.Timeout | null = null
  #closed = false
  #log: Logger
  /** The warnings and debug lines about discovery and connections (SPEC §2). */
  readonly #events: UpstreamLog
  /** What the balancing's time-dependent parts read (peak_ewma's decay, slow start's ramps). */
  readonly #clock: Clock
  /** `<service>:<port>` for the Host rewrite, without the FQDN's trailing dot. */
  readonly #serviceHost: string

  constructor(config: UpstreamConfig, dns: DnsConfig, discoveryFactory: DiscoveryFactory, log: Logger, identity = '', clock: Clock = systemClock) {
    this.name = config.name
    this.#config = config
    this.identity = identity
    this.#log = log
    this.#events = new UpstreamLog(log, config)
    this.#clock = clock
    this.#serviceHost = config.service.replace(/\.$/, '')
    this.#picker = createPicker<Endpoint>(config.policy, { slowStartMs: config.slowStartMs, now: clock })
    this.#routes = new RoutingTable<Endpoint>(config)
    const upstream = this
    this.#outliers = new OutlierDetector<Endpoint>({
      get config() { return upstream.config.outlierDetection },
      get sharded() { return upstream.sharded },
      pods: () => this.#endpoints.values(),
      changed: (pod, ejected) => {
        if (ejected) this.stats.ejections++
        else this.#picker.slowStart(pod)
        this.#rebuildEligible()
      },
      log,
      upstream: this.name,
    })
    this.keyHeader = keyHeaderOf(config)
    this.#firstDiscovery = new Promise((resolve) => { this.#resolveFirst = resolve })
    this.#discovery = discoveryFactory(config, dns, (u) => this.applyUpdate(u))
    this.stats = new UpstreamStats(this.#discovery)
  }

  get config(): UpstreamConfig {
    return this.#config
  }

  start(): void {
    this.#discovery.start()
    this.#startSweeper()
  }

  /**
   * A reload changed settings that keep the pods and connections (SPEC §10: not service, port,
   * portName, protocol or mode, which need a new Upstream): new requests read them at once, new
   * connections as they open; what was derived from the old ones is derived again.
   */
  update(config: UpstreamConfig, dns: DnsConfig): void {
    const before = this.#config
    this.#config = config
    this.keyHeader = keyHeaderOf(config)
    if (config.policy !== before.policy || config.slowStartMs !== before.slowStartMs) {
      this.#picker = createPicker<Endpoint>(config.policy, { slowStartMs: config.slowStartMs, now: this.#clock })
      // peak_ewma's estimates are fed only while it is the policy (the pools read endpoint.latency per request).
      for (const e of this.#pods) e.latency = latencyFor(config.policy, this.#clock)
    }
    this.#routes = new RoutingTable<Endpoint>(config)
    this.#routes.update([...this.#endpoints.values()])
    for (const e of this.#pods) e.pool?.reconfigure(config.connection)
    if (config.connection.idleTimeoutMs !== before.connection.idleTimeoutMs) {
      if (this.#sweeper !== null) clearInterval(this.#sweeper)
      this.#sweeper = null
      this.#startSweeper()
    }
    this.#discovery.retune?.({ ...config.discovery, servers: dns.servers, timeoutMs: dns.timeoutMs })
    if (config.discovery.subsetSize !== before.discovery.subsetSize) this.#reconcile(this.#discovered)
    this.#rebuildEligible()
  }

  #startSweeper(): void {
    if (this.#closed) return
    const idleMs = this.config.connection.idleTimeoutMs
    if (idleMs > 0) {
      this.#sweeper = setInterval(() => {
        const now = performance.now()
        for (const e of this.#endpoints.values()) e.pool?.sweepIdle(now)
      }, Math.min(1000, Math.max(50, idleMs / 4)))
      this.#sweeper.unref()
    }
  }

  /** Resolves once the first discovery query has completed, whatever its result (SPEC §7 /ready). */
  get firstDiscovery(): Promise<void> {
    return this.#firstDiscovery
  }

  /** The last completed discovery query (/endpoints). */
  get lastDiscovery(): LastQuery | null {
    return this.#discovery.lastQuery
  }

  /** Every pod in discovery (active or ejected). */
  get endpoints(): Iterable<Endpoint> {
    return this.#endpoints.values()
  }

  /** Pods in discovery that are not in this sidecar's subset (discovery.subsetSize). */
  get outsideSubset(): readonly DiscoveredEndpoint[] {
    return this.#outsideSubset
  }

  /** Pods that left discovery and still finish requests. */
  get drainingEndpoints(): Iterable<Endpoint> {
    return this.#draining
  }

  /** Derived rather than kept: a pod's state is the one record of its draining. */
  get #draining(): Endpoint[] {
    return [...this.#pods].filter((e) => e.state.tag === 'draining')
  }

  get endpointCount(): number {
    return this.#endpoints.size
  }

  get eligible(): readonly Endpoint[] {
    return this.#eligible
  }

  /**
   * A pod for one attempt, not one of `exclude`. Pods with an open connection first: a pod that
   * is still connecting, or refuses connections, would only make the request wait or fail over.
   */
  pick(exclude: ReadonlySet<Endpoint> | null): Endpoint | null {
    if (this.#connected.length > 0 && this.#connected.length < this.#eligible.length) {
      const endpoint = this.#picker.pick(this.#connected, exclude)
      if (endpoint !== null) return endpoint
    }
    return this.#picker.pick(this.#eligible, exclude)
  }

  /** Whether requests are routed by key (consistent_hash, ordinal) rather than picked per attempt. */
  get sharded(): boolean {
    return isSharded(this.config.policy)
  }

  /** The pod owning `key` on a sharded upstream, or why there is none. */
  shard(key: string): Endpoint | ShardMiss {
    return this.#routes.shard(key)
  }

  /** The pod in discovery named by `x-spoke-pod` (host name, its first label, or ip:port), else null. */
  podNamed(name: string): Endpoint | null {
    return this.#routes.podNamed(name)
  }

  /** Where the upstream's events are logged: the attempts log their retries there too. */
  get log(): Logger {
    return this.#log
  }

  applyUpdate(update: DiscoveryUpdate): void {
    if (this.#closed) return
    if (update.kind === 'error') {
      this.#events.answer(update, NONE, NONE, this.#endpoints.size)
    } else {
      this.#discovered = update.kind === 'reset' ? update.endpoints : []
      const { added, removed } = this.#reconcile(this.#discovered)
      this.#events.answer(update, added, removed, this.#endpoints.size)
    }
    this.#resolveFirst()
  }

  /** An answer that is not a 5xx (outlier detection: the pod's failure streak ends). */
  recordSuccess(endpoint: Endpoint): void {
    this.#outliers.recordSuccess(endpoint)
  }

  /** A 5xx answer or a failed attempt (connect failure, reset, timeout). */
  recordFailure(endpoint: Endpoint): void {
    endpoint.failures++
    endpoint.latency?.failed()
    this.#outliers.recordFailure(endpoint)
  }

  /** Graceful end: no new requests, in-flight ones finish within drainTimeoutMs. */
  async close(drainTimeoutMs: number): Promise<void> {
    this.#closed = true
    this.#discovery.close()
    if (this.#sweeper !== null) clearInterval(this.#sweeper)
    this.#outliers.close()
    this.#eligible = []
    this.#connected = []
    this.#routes.update([])
    const drains = [...this.#endpoints.values(), ...this.#draining].map((e) => e.pool?.drain('shutdown', drainTimeoutMs))
    await Promise.all(drains)
  }

  /** Returns the keys of the pods added and removed. */
  #reconcile(discovered: readonly DiscoveredEndpoint[]): { added: string[]; removed: string[] } {
    const next = new Map<string, DiscoveredEndpoint>()
    // A pod leaving this sidecar's subset (pod-subset.ts) drains like one leaving DNS.
    const { chosen, outside } = podSubset(discovered, this.config.discovery.subsetSize, this.identity)
    this.#outsideSubset = outside
    for (const d of chosen) next.set(endpointKey(d.address, d.port), d)
    let changed = false
    // Pods arriving where there were none (spoke's start, a Service back from zero) take the
    // load at once: no pod could carry it while they ramp up (Envoy: hosts of the first update).
    const rampUp = this.#endpoints.size > 0
    const removed: Endpoint[] = []
    const added: string[] = []
    for (const [key, endpoint] of this.#endpoints) {
      const d = next.get(key)
      // Same address, other pod (StatefulSet host name changed): treat as leave + join.
      if (d === undefined || d.hostname !== endpoint.hostname) {
        this.#remove(endpoint)
        removed.push(endpoint)
        changed = true
      }
    }
    for (const [key, d] of next) {
      if (this.#endpoints.has(key)) continue
      const endpoint = this.#createEndpoint(d, key)
      this.#endpoints.set(key, endpoint)
      endpoint.pool?.start()
      if (rampUp) this.#picker.slowStart(endpoint)
      changed = true
      this.#pods.add(endpoint)
      added.push(key)
      this.#log.info('endpoint added', { upstream: this.name, endpoint: key, hostname: d.hostname })
      if (this.config.policy === 'ordinal') this.#events.ownsNoOrdinal(key, d.hostname, ordinalOf(d.hostname))
    }
    if (changed) {
      this.#rebuildEligible()
      this.#routes.update([...this.#endpoints.values()])
    }
    // Drained once the new set is in place: requests queued for a removed pod are picked again
    // as their pool closes, and must find the pods that joined, not the ones leaving with it.
    for (const endpoint of removed) this.#drain(endpoint)
    return { added, removed: removed.map((e) => e.key) }
  }

  #remove(endpoint: Endpoint): void {
    this.#endpoints.delete(endpoint.key)
    endpoint.state = { tag: 'draining', since: Date.now() }
    const leftSubset = this.#outsideSubset.some((d) => d.address === endpoint.address && d.port === endpoint.port)
    this.#log.info(leftSubset ? 'endpoint left the subset' : 'endpoint removed', { upstream: this.name, endpoint: endpoint.key })
  }

  #drain(endpoint: Endpoint): void {
    const drained = endpoint.pool?.drain('endpoint_removed', this.config.connection.drainTimeoutMs) ?? Promise.resolve()
    drained.then(() => {
      this.#pods.delete(endpoint)
    })
  }

  #createEndpoint(d: DiscoveredEndpoint, key: string): Endpoint {
    const pod = { address: d.address, port: d.port, hostname: d.hostname, key, authority: `${this.#serviceHost}:${d.port}` }
    // UDP pods take datagrams, not connections: no pool.
    if (this.config.protocol === 'udp') return new Endpoint(pod, null)
    const latency = latencyFor(this.config.policy, this.#clock)
    const connector = this.#connector(d.address, d.port, this.config.protocol)
    const events = this.#events.pod(key)
    const endpoint: Endpoint = new Endpoint(pod, (counters) => new Pool(this.config.connection, connector, {
      opened: () => { this.stats.connectionsOpened++; events.opened() },
      connectedChanged: () => { if (endpoint.state.tag === 'active') this.#rebuildConnected() },
      closed: (reason) => { this.stats.connectionClosed(reason); events.closed(reason) },
      connectFailed: (error) => {
        events.connectFailed(error)
        if (error.refused) this.#discovery.requestRefresh()
      },
    }, counters), latency)
    return endpoint
  }

  /** Reads the connection settings as each connection opens: a reload applies from the next one. */
  #connector(address: string, port: number, protocol: 'http1' | 'h2c'): Connector {
    if (protocol === 'http1') return (events) => H1Connection.open(address, port, this.config.connection, events)
    return (events) => {
      const config = this.config.connection
      return dial(address, port, config).then((socket) => H2Connection.open(socket, endpointKey(address, port), config, events))
    }
  }

  #rebuildEligible(): void {
    const list: Endpoint[] = []
    for (const e of this.#endpoints.values()) if (e.state.tag === 'active') list.push(e)
    // A stable order keeps round-robin fair across rebuilds.
    list.sort((a, b) => compareKeys(a.key, b.key))
    this.#eligible = list
    this.#rebuildConnected()
  }

  #rebuildConnected(): void {
    this.#connected = this.#eligible.filter((e) => e.connected)
  }
}

const NONE: readonly string[] = []
