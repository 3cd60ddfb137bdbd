// Wires config → discovery → upstreams → listeners → admin. The returned handle is what the CLI,
// the demo, the tests and the benchmarks drive.
import type { AddressInfo } from 'node:net'
import { AdminServer } from './admin/server.ts'
import { sidecarIdentity } from './balance/subset.ts'
import type { Clock } from './balance/index.ts'
import { toDocument } from './config/render.ts'
import type { Config } from './config/types.ts'
import { dnsDiscovery } from './discovery/dns.ts'
import type { Logger } from './log.ts'
import { MemoryReducer } from './lifecycle/memory-reducer.ts'
import { formatHostPort } from './net.ts'
import { createRegistry } from './metrics/registry.ts'
import { HttpListener } from './proxy/listener.ts'
import { UdpListener } from './proxy/udp-listener.ts'
import { type DiscoveryFactory, Upstream } from './upstream/upstream.ts'
import { SPOKE_VERSION } from './version.ts'

export interface StartOptions {
  readonly log: Logger
  /** Tests may feed discovery updates themselves; the default is DNS. */
  readonly discoveryFactory?: DiscoveryFactory
  /**
   * Give memory back after bursts (lifecycle/memory-reducer.ts): on in the spoke process; off
   * where spoke shares a process (tests, the demo), whose own allocations it would misread.
   */
  readonly reduceMemory?: boolean
  /**
   * Whose subset of the pods an upstream with discovery.subsetSize uses; the default is
   * `$SPOKE_ID`, else the host name. Tests run several sidecars in one process with their own.
   */
  readonly identity?: string
  /** The time balancing reads (peak_ewma's decay, slow start); tests may run it fast. Default performance.now(). */
  readonly clock?: Clock
}

export type Listener = HttpListener | UdpListener

export class Spoke {
  readonly config: Config
  readonly listeners: readonly Listener[]
  readonly upstreams: ReadonlyMap<string, Upstream>
  readonly admin: AdminServer
  /** This sidecar's identity, which its subsets of the pods are chosen by. */
  readonly identity: string
  readonly #memory: MemoryReducer
  #discovered = false
  #shuttingDown = false
  #log: Logger

  private constructor(config: Config, options: StartOptions) {
    this.config = config
    this.#log = options.log
    const factory = options.discoveryFactory ?? dnsDiscovery
    this.identity = options.identity ?? sidecarIdentity()
    const upstreams = new Map<string, Upstream>()
    for (const u of config.upstreams) upstreams.set(u.name, new Upstream(u, config.dns, factory, options.log, this.identity, options.clock))
    this.upstreams = upstreams
    this.listeners = config.listeners.map((l) => l.protocol === 'udp'
      ? new UdpListener(l, upstreams.get(l.upstream)!, options.log)
      : new HttpListener(l, upstreams.get(l.upstream)!, options.log, config.accessLog))
    this.admin = new AdminServer({
      address: config.admin.address,
      registry: createRegistry(this.listeners, [...upstreams.values()]),
      upstreams: [...upstreams.values()],
      ready: () => this.ready,
      configDocument: toDocument(config),
    })
    this.#memory = new MemoryReducer(() => answersGiven(this.listeners), options.log)
  }

  /** Binds every port and starts discovery; rejects (having closed what it opened) if a port is taken. */
  static async start(config: Config, options: StartOptions): Promise<Spoke> {
    const spoke = new Spoke(config, options)
    try {
      await spoke.admin.listen()
      for (const l of spoke.listeners) await l.listen()
    } catch (err) {
      await spoke.close()
      throw err
    }
    for (const u of spoke.upstreams.values()) u.start()
    if (options.reduceMemory === true) spoke.#memory.start()
    Promise.all([...spoke.upstreams.values()].map((u) => u.firstDiscovery)).then(() => { spoke.#discovered = true })
    options.log.info('spoke started', {
      version: SPOKE_VERSION,
      node: process.versions.node,
      admin: formatAddress(spoke.admin.address!),
      listeners: spoke.listeners.map((l) => ({ name: l.name, address: formatAddress(l.address!), upstream: l.upstream.name })),
      ...(config.upstreams.some((u) => u.discovery.subsetSize > 0) ? { identity: spoke.identity } : {}),
    })
    return spoke
  }

  /** SPEC §7: every listener bound, every upstream's first discovery done, not shutting down. */
  get ready(): boolean {
    return this.#discovered && !this.#shuttingDown
  }

  /** Resolves when every upstream has completed its first discovery query. */
  whenDiscovered(): Promise<void> {
    return Promise.all([...this.upstreams.values()].map((u) => u.firstDiscovery)).then(() => {})
  }

  /** /ready turns 503 at once (SPEC §9). */
  beginShutdown(): void {
    this.#shuttingDown = true
  }

  /**
   * Stop accepting, let in-flight requests finish within drainTimeoutMs, close upstream
   * connections. Resolves true if everything finished in time.
   */
  async drain(drainTimeoutMs: number): Promise<boolean> {
    this.#shuttingDown = true
    this.#memory.stop()
    for (const l of this.listeners) l.stopAccepting()
    const deadline = new Promise<false>((resolve) => setTimeout(() => resolve(false), drainTimeoutMs).unref())
    const finished = Promise.all(this.listeners.map((l) => l.closed())).then(() => true as const)
    const clean = await Promise.race([finished, deadline])
    for (const l of this.listeners) l.closeAllConnections()
    await Promise.all([...this.upstreams.values()].map((u) => u.close(clean ? drainTimeoutMs : 0)))
    await this.admin.close()
    this.#log.info('spoke stopped', { clean })
    return clean
  }

  /** Immediate close (tests, failed start). */
  async close(): Promise<void> {
    this.#shuttingDown = true
    this.#memory.stop()
    for (const l of this.listeners) {
      l.stopAccepting()
      l.closeAllConnections()
    }
    await Promise.all([...this.upstreams.values()].map((u) => u.close(0)))
    await this.admin.close()
  }
}

/** Every answer the HTTP listeners have given so far (what the memory reducer watches fall). */
function answersGiven(listeners: readonly Listener[]): number {
  let total = 0
  for (const l of listeners) {
    if (l instanceof UdpListener) continue
    for (const n of l.counts.byStatus) total += n
  }
  return total
}

function formatAddress(a: AddressInfo): string {
  return formatHostPort(a.address, a.port)
}
