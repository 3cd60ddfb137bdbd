// Wires config → discovery → upstreams → listeners → admin. The returned handle is what the CLI,
// the demo, the tests and the benchmarks drive.
import type { AddressInfo } from 'node:net'
import { AdminServer } from './admin/server.ts'
import { sidecarIdentity } from './balance/subset.ts'
import type { Clock } from './balance/index.ts'
import { toDocument } from './config/render.ts'
import type { Config, ListenerConfig, UpstreamConfig } from './config/types.ts'
import type { ConfigError } from './config/schema.ts'
import type { ValidationResult } from './config/validate.ts'
import { dnsDiscovery } from './discovery/dns.ts'
import type { Logger } from './log.ts'
import { MemoryReducer } from './lifecycle/memory-reducer.ts'
import { describePlan, planReload, type ReloadPlan } from './lifecycle/reload-plan.ts'
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

/** What a reload did: applied (changed: false when the new file configures nothing new), or rejected with every problem. */
export type ReloadOutcome = { readonly ok: true; readonly changes: Record<string, unknown> | null } | { readonly ok: false; readonly errors: readonly ConfigError[] }

export class Spoke {
  /** The running configuration, listeners and upstreams: a reload (SPEC §10) replaces them. */
  #config: Config
  #listeners: Listener[]
  #upstreams: Map<string, Upstream>
  readonly admin: AdminServer
  /** This sidecar's identity, which its subsets of the pods are chosen by. */
  readonly identity: string
  /** spoke_config_reloads_total. */
  readonly reloads = { success: 0, failure: 0 }
  readonly #memory: MemoryReducer
  readonly #options: StartOptions
  #discovered = false
  #shuttingDown = false
  #log: Logger
  /** Reloads apply one after another. */
  #reloading: Promise<unknown> = Promise.resolve()
  /** Listeners a reload removed and upstreams it replaced, until they have drained: shutdown ends them too. */
  readonly #leaving = new Set<Listener | Upstream>()

  private constructor(config: Config, options: StartOptions) {
    this.#config = config
    this.#options = options
    this.#log = options.log
    this.identity = options.identity ?? sidecarIdentity()
    this.#upstreams = new Map(config.upstreams.map((u) => [u.name, this.#newUpstream(u, config)]))
    this.#listeners = config.listeners.map((l) => this.#newListener(l, this.#upstreams.get(l.upstream)!, config))
    this.admin = new AdminServer({
      address: config.admin.address,
      registry: createRegistry(() => this.#listeners, () => [...this.#upstreams.values()], this.reloads),
      upstreams: () => [...this.#upstreams.values()],
      ready: () => this.ready,
      configDocument: () => toDocument(this.#config),
    })
    this.#memory = new MemoryReducer(() => answersGiven(this.#listeners), options.log)
  }

  get config(): Config {
    return this.#config
  }

  get listeners(): readonly Listener[] {
    return this.#listeners
  }

  get upstreams(): ReadonlyMap<string, Upstream> {
    return this.#upstreams
  }

  #newUpstream(u: UpstreamConfig, config: Config): Upstream {
    const o = this.#options
    return new Upstream(u, config.dns, o.discoveryFactory ?? dnsDiscovery, o.log, this.identity, o.clock)
  }

  #newListener(l: ListenerConfig, upstream: Upstream, config: Config): Listener {
    return l.protocol === 'udp' ? new UdpListener(l, upstream, this.#log) : new HttpListener(l, upstream, this.#log, config.accessLog)
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
    this.#endLeaving()
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
    this.#endLeaving()
    for (const l of this.listeners) {
      l.stopAccepting()
      l.closeAllConnections()
    }
    await Promise.all([...this.upstreams.values()].map((u) => u.close(0)))
    await this.admin.close()
  }

  /**
   * SPEC §10: applies a configuration file's new content whole or not at all. `next` is what
   * loadConfigFile made of it; a file that failed validation is counted and logged here too.
   */
  reload(next: ValidationResult): Promise<ReloadOutcome> {
    const outcome = this.#reloading.then(() => this.#reload(next))
    this.#reloading = outcome.catch(() => {})
    return outcome
  }

  async #reload(next: ValidationResult): Promise<ReloadOutcome> {
    if (this.#shuttingDown) return { ok: false, errors: [{ path: '', message: 'spoke is shutting down' }] }
    const outcome = next.ok ? await this.#apply(next.config) : next
    if (outcome.ok) {
      this.reloads.success++
      if (outcome.changes === null) this.#log.info('configuration reloaded; nothing changed')
      else this.#log.info('configuration reloaded', outcome.changes)
    } else {
      this.reloads.failure++
      for (const e of outcome.errors) this.#log.error('reload rejected', { path: e.path, problem: e.message })
      this.#log.error('reload rejected; the running configuration stays', { problems: outcome.errors.length })
    }
    return outcome
  }

  /** Binds and discovers everything new first; only when all of it worked does anything switch. */
  async #apply(config: Config): Promise<ReloadOutcome> {
    const running = this.#config
    const plan = planReload(running, config)
    const fresh = new Map<string, Upstream>()
    for (const u of config.upstreams) if (plan.replaced.has(u.name) || plan.upstreamsAdded.has(u.name)) fresh.set(u.name, this.#newUpstream(u, config))
    // The new pods are known before any request is sent to them (a new upstream has none until then).
    for (const u of fresh.values()) u.start()
    await Promise.all([...fresh.values()].map((u) => u.firstDiscovery))
    const upstreamOf = (name: string): Upstream => fresh.get(name) ?? this.#upstreams.get(name)!
    const added = plan.added.map((l) => this.#newListener(l, upstreamOf(l.upstream), config))
    try {
      for (const l of added) await l.listen()
      if (plan.adminMoved) await this.admin.rebind(config.admin.address)
    } catch (err) {
      for (const l of added) {
        l.stopAccepting()
        l.closeAllConnections()
      }
      await Promise.all([...fresh.values()].map((u) => u.close(0)))
      return { ok: false, errors: [{ path: '', message: (err as Error).message }] }
    }
    this.#switch(config, plan, fresh, added)
    return { ok: true, changes: describePlan(plan, running, config) }
  }

  #switch(config: Config, plan: ReloadPlan, fresh: ReadonlyMap<string, Upstream>, added: readonly Listener[]): void {
    const old = this.#upstreams
    const upstreams = new Map<string, Upstream>()
    for (const u of config.upstreams) {
      const kept = plan.updated.has(u.name) ? old.get(u.name)! : undefined
      kept?.update(u, config.dns)
      upstreams.set(u.name, kept ?? fresh.get(u.name)!)
    }
    const byAddress = new Map(plan.kept.map(({ from, to }) => [from, to]))
    const listeners: Listener[] = []
    const leaving: Listener[] = []
    for (const l of this.#listeners) {
      const to = byAddress.get(l.config)
      if (to === undefined) {
        leaving.push(l)
        continue
      }
      l.retarget(to, upstreams.get(to.upstream)!, config.accessLog)
      listeners.push(l)
    }
    this.#config = config
    this.#listeners = [...listeners, ...added]
    this.#upstreams = upstreams
    const drainMs = config.shutdown.drainTimeoutMs
    for (const l of leaving) this.#drainListener(l, drainMs)
    for (const [name, u] of old) {
      if (upstreams.get(name) === u) continue
      this.#leaving.add(u)
      void retire(u).finally(() => this.#leaving.delete(u))
    }
  }

  /** A listener the reload removed: stops accepting and drains as in shutdown, without the linger (SPEC §10). */
  #drainListener(l: Listener, drainTimeoutMs: number): void {
    this.#leaving.add(l)
    l.stopAccepting()
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, drainTimeoutMs).unref())
    Promise.race([l.closed(), deadline]).then(() => {
      l.closeAllConnections()
      this.#leaving.delete(l)
    })
  }

  /** Shutdown: whatever a reload left draining ends with the rest. */
  #endLeaving(): void {
    for (const x of this.#leaving) {
      if (x instanceof Upstream) void x.close(0)
      else x.closeAllConnections()
    }
    this.#leaving.clear()
  }
}

/**
 * A reload replaced this upstream (SPEC §10): no listener sends to it any more, and the requests
 * it holds finish on its pods (retries included) within its drainTimeout before it closes.
 */
async function retire(u: Upstream): Promise<void> {
  const deadline = performance.now() + u.config.connection.drainTimeoutMs
  while (u.inFlight > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, RETIRE_POLL_MS))
  await u.close(Math.max(0, deadline - performance.now()))
}

/** How often a retired upstream is looked at: its in-flight count, not a hook on the hot path. */
const RETIRE_POLL_MS = 50

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
