// The connections to one pod. Keeps `perEndpoint` connections open from discovery on, opens more
// (up to `maxPerEndpoint`) while all are busy, recycles them by age and request count
// make-before-break, and drains them when the pod leaves or spoke shuts down.
import type { ConnectionConfig } from '../config/types.ts'
import type { CloseReason, Connection, OnConnectionClosed } from './connection.ts'
import { ConnectError } from './dial.ts'

/** A request waiting for a connection of this pool. */
export interface Waiter {
  granted(connection: Connection): void
  failed(error: Error): void
}

/** Opens one connection to the pod; rejects with ConnectError. */
export type Connector = (onClosed: OnConnectionClosed) => Promise<Connection>

export interface PoolHooks {
  connectFailed(error: ConnectError): void
  opened(): void
  closed(reason: CloseReason): void
  /** The pool went from no connection taking requests to one, or back (see `connected`). */
  connectedChanged(): void
}

/** Waiters are failed with this when the pool is drained under them: they may pick another pod freely. */
export class PoolClosedError extends Error {
  constructor() {
    super('endpoint is draining')
    this.name = 'PoolClosedError'
  }
}

const MAX_RECONNECT_DELAY_MS = 5000

export class Pool {
  /** Connections taking new requests. */
  #active: Connection[] = []
  /** Retired connections still finishing their requests. */
  #retiring = new Set<Connection>()
  #opening = 0
  #waiters: Waiter[] = []
  #closed = false
  #reconnectFailures = 0
  #reconnectTimer: NodeJS.Timeout | null = null
  #lifetimeTimers = new Map<Connection, NodeJS.Timeout>()
  #drained: (() => void) | null = null
  #connected = false
  readonly #config: ConnectionConfig
  readonly #connector: Connector
  readonly #hooks: PoolHooks
  readonly #onClosed: OnConnectionClosed = (c, r) => this.#connectionClosed(c, r)

  constructor(config: ConnectionConfig, connector: Connector, hooks: PoolHooks) {
    this.#config = config
    this.#connector = connector
    this.#hooks = hooks
  }

  /** Opens the up-front connections. */
  start(): void {
    this.#fill()
  }

  /**
   * Whether a connection is open and taking requests. SPEC §4: a pod without one (still
   * connecting, or refusing connections) is not picked while another pod has one.
   */
  get connected(): boolean {
    return this.#connected
  }

  /** Called after every change to #active: tells the hooks when `connected` flips. */
  #activeChanged(): void {
    const now = this.#active.length > 0
    if (now === this.#connected) return
    this.#connected = now
    this.#hooks.connectedChanged()
  }

  /** Connections open now (taking requests or finishing them). */
  get size(): number {
    return this.#active.length + this.#retiring.size
  }

  connectionAgesSeconds(now: number): number[] {
    const ages: number[] = []
    for (const c of this.#active) ages.push(Math.round((now - c.connectedAt) / 100) / 10)
    for (const c of this.#retiring) ages.push(Math.round((now - c.connectedAt) / 100) / 10)
    return ages
  }

  /**
   * A connection with room for one more request, counted as taken; or null, and the waiter is
   * queued until one frees up, opens, or the pod turns out to be unreachable.
   */
  acquire(waiter: Waiter): Connection | null {
    if (this.#closed) {
      waiter.failed(new PoolClosedError())
      return null
    }
    const connection = this.#free()
    if (connection !== null) {
      this.#take(connection)
      return connection
    }
    this.#waiters.push(waiter)
    // Enough new connections for the queue, counting what one holds (1 for HTTP/1.1, the pod's
    // stream limit for h2c), not one per waiter.
    const perConnection = Math.max(1, this.#active.length > 0 ? this.#active[0].capacity : 1)
    if (this.#opening * perConnection < this.#waiters.length && this.#active.length + this.#opening < this.#config.maxPerEndpoint) {
      this.#open()
    }
    return null
  }

  cancel(waiter: Waiter): void {
    const i = this.#waiters.indexOf(waiter)
    if (i >= 0) this.#waiters.splice(i, 1)
  }

  /** The request taken with acquire() is over. */
  release(connection: Connection): void {
    connection.inFlight--
    connection.lastActiveAt = performance.now()
    if (connection.closed) return
    if (this.#retiring.has(connection)) {
      // Its reason was set when it retired; this call closes it now that it is empty.
      if (connection.inFlight === 0) connection.retire('max_requests', this.#config.drainTimeoutMs)
      return
    }
    if (this.#waiters.length > 0 && connection.inFlight < connection.capacity) {
      this.#take(connection)
      this.#waiters.shift()!.granted(connection)
    }
  }

  /** Closes connections beyond perEndpoint that have been idle for idleTimeout. */
  sweepIdle(now: number): void {
    const idleMs = this.#config.idleTimeoutMs
    if (idleMs === 0) return
    for (let i = this.#active.length - 1; i >= 0 && this.#active.length > this.#config.perEndpoint; i--) {
      const c = this.#active[i]
      if (c.inFlight === 0 && now - c.lastActiveAt >= idleMs) this.#retire(c, 'idle')
    }
  }

  /**
   * No new requests; waiters go elsewhere; connections finish what they carry within
   * drainTimeoutMs. Resolves when every connection is closed.
   */
  drain(reason: CloseReason, drainTimeoutMs: number): Promise<void> {
    this.#closed = true
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer)
    for (const w of this.#waiters.splice(0)) w.failed(new PoolClosedError())
    for (const c of [...this.#active]) this.#retire(c, reason, drainTimeoutMs)
    if (this.size === 0) return Promise.resolve()
    return new Promise((resolve) => { this.#drained = resolve })
  }

  #free(): Connection | null {
    // First fit keeps the up-front connections busiest, so the extras go idle and close.
    for (const c of this.#active) if (c.inFlight < c.capacity && !c.closed) return c
    return null
  }

  #take(connection: Connection): void {
    connection.inFlight++
    connection.requests++
    const max = this.#config.maxRequests
    if (max > 0 && connection.requests >= max) this.#retire(connection, 'max_requests')
  }

  #fill(): void {
    while (!this.#closed && this.#active.length + this.#opening < this.#config.perEndpoint) this.#open()
  }

  #open(): Promise<Connection | null> {
    this.#opening++
    return this.#connector(this.#onClosed).then(
      (connection) => {
        this.#opening--
        this.#reconnectFailures = 0
        if (this.#closed) {
          connection.destroy('endpoint_removed')
          return null
        }
        this.#active.push(connection)
        this.#hooks.opened()
        this.#activeChanged()
        this.#scheduleLifetime(connection)
        while (this.#waiters.length > 0 && connection.inFlight < connection.capacity) {
          this.#take(connection)
          this.#waiters.shift()!.granted(connection)
        }
        return connection
      },
      (error: unknown) => {
        this.#opening--
        const connectError = error instanceof ConnectError ? error : new ConnectError('ECONNECT', String(error), { cause: error })
        this.#hooks.connectFailed(connectError)
        // Waiters fail only when nothing else could serve them; they retry on another pod.
        if (this.#active.length === 0 && this.#opening === 0) {
          for (const w of this.#waiters.splice(0)) w.failed(connectError)
        }
        this.#reconnectFailures++
        this.#scheduleRefill()
        return null
      },
    )
  }

  #scheduleRefill(): void {
    if (this.#closed || this.#reconnectTimer !== null) return
    if (this.#active.length + this.#opening >= this.#config.perEndpoint) return
    // Back off while the pod refuses, so a dead pod costs a connect every few seconds, not a loop.
    const delay = this.#reconnectFailures === 0 ? 0 : Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** this.#reconnectFailures)
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null
      this.#fill()
    }, delay)
    this.#reconnectTimer.unref()
  }

  #scheduleLifetime(connection: Connection): void {
    const max = this.#config.maxLifetimeMs
    if (max === 0) return
    // Drawn from [max × (1 − jitter), max]: jitter only shortens, so none outlives maxLifetime.
    const lifetime = max * (1 - this.#config.lifetimeJitter * Math.random())
    const timer = setTimeout(() => {
      this.#lifetimeTimers.delete(connection)
      this.#recycle(connection)
    }, lifetime)
    timer.unref()
    this.#lifetimeTimers.set(connection, timer)
  }

  /** Make-before-break: the replacement is connected before the old connection stops taking requests. */
  #recycle(connection: Connection): void {
    if (this.#closed || connection.closed || this.#retiring.has(connection)) return
    this.#open().then(() => this.#retire(connection, 'max_lifetime'))
  }

  #retire(connection: Connection, reason: CloseReason, drainTimeoutMs = this.#config.drainTimeoutMs): void {
    const i = this.#active.indexOf(connection)
    if (i >= 0) this.#active.splice(i, 1)
    const timer = this.#lifetimeTimers.get(connection)
    if (timer !== undefined) {
      clearTimeout(timer)
      this.#lifetimeTimers.delete(connection)
    }
    this.#retiring.add(connection)
    connection.retire(reason, drainTimeoutMs)
    this.#fill()
    this.#activeChanged()
  }

  #connectionClosed(connection: Connection, reason: CloseReason): void {
    const i = this.#active.indexOf(connection)
    if (i >= 0) this.#active.splice(i, 1)
    this.#retiring.delete(connection)
    const timer = this.#lifetimeTimers.get(connection)
    if (timer !== undefined) {
      clearTimeout(timer)
      this.#lifetimeTimers.delete(connection)
    }
    this.#hooks.closed(reason)
    this.#activeChanged()
    if (this.#closed) {
      if (this.size === 0 && this.#drained !== null) {
        this.#drained()
        this.#drained = null
      }
      return
    }
    if (this.#waiters.length > 0 && this.#opening === 0) this.#open()
    this.#scheduleRefill()
  }
}
