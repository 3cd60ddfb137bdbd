// The connections to one pod, as a dispatcher: `dispatch(request, handler)` sends the request on a
// connection with room, or queues it until one frees up or opens; callers never see a connection.
// Keeps `perEndpoint` connections open from discovery on, opens more (up to `maxPerEndpoint`)
// while all are busy, recycles them by age and request count make-before-break, and drains them
// when the pod leaves or spoke shuts down. Each connection's state is one tagged union, here.
import type { Dispatcher } from 'undici'
import type { ConnectionConfig } from '../config/types.ts'
import type { CloseReason, Connection, ConnectionEvents, UpstreamRequest } from './connection.ts'
import { ConnectError } from './dial.ts'
import { Failure } from './failure.ts'
import { PoolRequest } from './pool-request.ts'

/** Opens one connection to the pod; rejects with ConnectError. */
export type Connector = (events: ConnectionEvents) => Promise<Connection>

export interface PoolHooks {
  connectFailed(error: ConnectError): void
  opened(): void
  closed(reason: CloseReason): void
  /** The pool went from no connection taking requests to one, or back (see `connected`). */
  connectedChanged(): void
}

/** The pod's own counters (SPEC §7), kept by the pool as requests go out and end. */
export interface PodCounters {
  /** Requests on the pod's connections now (least_request compares it). */
  inFlight: number
  /** Requests sent to the pod since start. */
  requests: number
}

type SlotState =
  | { readonly tag: 'connecting' }
  | { readonly tag: 'open'; readonly lifetime: NodeJS.Timeout | null }
  | { readonly tag: 'retiring'; readonly reason: CloseReason; readonly deadline: NodeJS.Timeout | null }
  | { readonly tag: 'closed'; readonly reason: CloseReason }

/** One connection of the pool and the pool's view of it. */
export class Slot {
  state: SlotState = { tag: 'connecting' }
  connection: Connection | null = null
  inFlight = 0
  requests = 0
  /** performance.now() when the last request ended (idle accounting). */
  lastActiveAt = 0
}

const MAX_RECONNECT_DELAY_MS = 5000

export class Pool {
  /** Connecting, open and retiring connections, oldest first; a closed one leaves at once. */
  #slots: Slot[] = []
  #queue: PoolRequest[] = []
  #closed = false
  #reconnectFailures = 0
  #reconnectTimer: NodeJS.Timeout | null = null
  #drained: (() => void) | null = null
  #draining: Promise<void> | null = null
  #connected = false
  /**
   * What one connection carries, as the last one open said: still known while none is open (all
   * replaced, or lost), when an h2c pod would otherwise get a connection per queued request.
   */
  #capacity = 1
  readonly #config: ConnectionConfig
  readonly #connector: Connector
  readonly #hooks: PoolHooks
  readonly #counters: PodCounters

  constructor(config: ConnectionConfig, connector: Connector, hooks: PoolHooks, counters: PodCounters) {
    this.#config = config
    this.#connector = connector
    this.#hooks = hooks
    this.#counters = counters
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

  /** Connections open now (taking requests or finishing them). */
  get size(): number {
    let n = 0
    for (const s of this.#slots) if (s.state.tag !== 'connecting') n++
    return n
  }

  connectionAgesSeconds(now: number): number[] {
    const ages: number[] = []
    for (const s of this.#slots) if (s.connection !== null) ages.push(Math.round((now - s.connection.connectedAt) / 100) / 10)
    return ages
  }

  /**
   * Sends `request` on a connection with room, or queues it. `handler` gets the request's
   * controller at once (onRequestStart: abort() also takes a queued request off the queue), and
   * exactly one final callback: onResponseEnd, or onResponseError with a Failure.
   */
  dispatch(request: UpstreamRequest, handler: Dispatcher.DispatchHandler): void {
    const job = new PoolRequest(this, request, handler)
    handler.onRequestStart?.(job, {})
    if (job.aborted) return
    if (this.#closed) {
      job.fail(new Failure('pool_closed', 'the pod left discovery'))
      return
    }
    const slot = this.#free()
    if (slot !== null) {
      // A connection that was waiting in the pool: on HTTP/1.1 the pod may be closing it as idle.
      job.reusedIdle = slot.connection!.exclusive
      this.#send(slot, job)
      return
    }
    this.#queue.push(job)
    // Enough new connections for the queue, counting what one holds (1 for HTTP/1.1, the pod's
    // stream limit for h2c), not one per queued request.
    let open = 0
    let connecting = 0
    for (const s of this.#slots) {
      if (s.state.tag === 'connecting') connecting++
      else if (s.state.tag === 'open') {
        open++
        this.#capacity = Math.max(1, s.connection!.capacity)
      }
    }
    if (connecting * this.#capacity < this.#queue.length && open + connecting < this.#config.maxPerEndpoint) this.#open()
  }

  /** A queued request was aborted: it leaves the queue. */
  unqueue(job: PoolRequest): void {
    const i = this.#queue.indexOf(job)
    if (i >= 0) this.#queue.splice(i, 1)
  }

  /**
   * The request on `slot` is over. `hurt`: it failed in a way that leaves the connection unusable
   * for another request (HTTP/1.1: undici closes a connection whose request failed or was aborted).
   */
  release(slot: Slot, hurt: boolean): void {
    slot.inFlight--
    this.#counters.inFlight--
    slot.lastActiveAt = performance.now()
    const state = slot.state
    if (state.tag === 'closed') return
    if (state.tag === 'retiring') {
      // Its reason was set when it retired; it closes now that it is empty.
      if (slot.inFlight === 0) this.#end(slot, state.reason, false)
      return
    }
    // The pod answers: connecting to it is worth no more back-off. (Not on connect alone: a pod
    // that accepts and closes at once would be reconnected to in a loop.)
    if (!hurt) this.#reconnectFailures = 0
    if (hurt && slot.connection!.exclusive) {
      this.#end(slot, 'error', true)
      return
    }
    // undici closes an HTTP/1.1 connection right after an answer that ends it (`Connection:
    // close`, an HTTP/1.0 answer, one that came before the request was fully sent): the pod's doing.
    if (slot.connection!.closed) {
      this.#end(slot, 'remote_close', true)
      return
    }
    this.#serveQueue(slot)
  }

  /** Closes connections beyond perEndpoint that have been idle for idleTimeout. */
  sweepIdle(now: number): void {
    const idleMs = this.#config.idleTimeoutMs
    if (idleMs === 0) return
    let open = 0
    for (const s of this.#slots) if (s.state.tag === 'open') open++
    for (let i = this.#slots.length - 1; i >= 0 && open > this.#config.perEndpoint; i--) {
      const s = this.#slots[i]
      if (s.state.tag === 'open' && s.inFlight === 0 && now - s.lastActiveAt >= idleMs) {
        this.#retire(s, 'idle')
        open--
      }
    }
  }

  /**
   * No new requests; queued ones fail with pool_closed (they may go elsewhere); connections
   * finish what they carry within drainTimeoutMs. Resolves when every connection is closed.
   */
  drain(reason: CloseReason, drainTimeoutMs: number): Promise<void> {
    // A pod that left discovery is drained again when spoke shuts down: the same promise, or
    // the first caller would wait for good.
    if (this.#draining !== null) return this.#draining
    this.#closed = true
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer)
    for (const job of this.#queue.splice(0)) job.fail(new Failure('pool_closed', 'the pod left discovery'))
    for (const s of [...this.#slots]) {
      const state = s.state
      if (state.tag === 'open') this.#retire(s, reason, drainTimeoutMs)
      else if (state.tag === 'retiring') {
        // Retired earlier (age, request count) with the config's deadline: this one holds now.
        if (state.deadline !== null) clearTimeout(state.deadline)
        s.state = { ...state, deadline: this.#deadline(s, state.reason, drainTimeoutMs) }
      }
    }
    this.#draining = this.size === 0 ? Promise.resolve() : new Promise((resolve) => { this.#drained = resolve })
    return this.#draining
  }

  #free(): Slot | null {
    // First fit keeps the up-front connections busiest, so the extras go idle and close.
    for (const s of this.#slots) {
      if (s.state.tag === 'open' && s.inFlight < s.connection!.capacity && !s.connection!.closed) return s
    }
    return null
  }

  #send(slot: Slot, job: PoolRequest): void {
    slot.inFlight++
    slot.requests++
    this.#counters.inFlight++
    this.#counters.requests++
    const max = this.#config.maxRequests
    if (max > 0 && slot.requests >= max) this.#retire(slot, 'max_requests')
    job.sendOn(slot)
  }

  #serveQueue(slot: Slot): void {
    while (this.#queue.length > 0 && slot.state.tag === 'open' && slot.inFlight < slot.connection!.capacity) {
      this.#send(slot, this.#queue.shift()!)
    }
  }

  #fill(): void {
    let n = 0
    for (const s of this.#slots) if (s.state.tag === 'open' || s.state.tag === 'connecting') n++
    for (; !this.#closed && n < this.#config.perEndpoint; n++) this.#open()
  }

  /** Resolves to whether the new connection is open and taking requests. */
  #open(): Promise<boolean> {
    const slot = new Slot()
    this.#slots.push(slot)
    const events: ConnectionEvents = {
      lost: (reason) => this.#lost(slot, reason),
      shedding: () => this.#shed(slot),
    }
    return this.#connector(events).then(
      (connection) => {
        this.#opened(slot, connection)
        return slot.state.tag === 'open'
      },
      (error: unknown) => {
        this.#connectFailed(slot, error)
        return false
      },
    )
  }

  #opened(slot: Slot, connection: Connection): void {
    slot.connection = connection
    slot.lastActiveAt = performance.now()
    if (this.#closed) {
      this.#remove(slot)
      connection.close()
      return
    }
    this.#hooks.opened()
    // Lost in the moment between its socket connecting and now.
    if (slot.state.tag === 'closed') {
      this.#remove(slot)
      this.#hooks.closed(slot.state.reason)
      this.#scheduleRefill()
      return
    }
    slot.state = { tag: 'open', lifetime: this.#lifetime(slot) }
    this.#capacity = Math.max(1, connection.capacity)
    this.#connectedChanged()
    this.#serveQueue(slot)
  }

  #connectFailed(slot: Slot, error: unknown): void {
    this.#remove(slot)
    const connectError = error instanceof ConnectError ? error : new ConnectError('ECONNECT', String(error), { cause: error })
    this.#hooks.connectFailed(connectError)
    // Queued requests fail only when nothing else could serve them; they go to another pod.
    if (!this.#slots.some((s) => s.state.tag === 'open' || s.state.tag === 'connecting')) {
      const failure = new Failure('connect_failed', connectError.message, { cause: connectError })
      for (const job of this.#queue.splice(0)) job.fail(failure)
    }
    this.#reconnectFailures++
    this.#scheduleRefill()
  }

  #scheduleRefill(): void {
    if (this.#closed || this.#reconnectTimer !== null) return
    let n = 0
    for (const s of this.#slots) if (s.state.tag === 'open' || s.state.tag === 'connecting') n++
    if (n >= this.#config.perEndpoint) return
    // Back off while the pod refuses, so a dead pod costs a connect every few seconds, not a loop.
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null
      this.#fill()
    }, this.#backOffMs())
    this.#reconnectTimer.unref()
  }

  #backOffMs(): number {
    return this.#reconnectFailures === 0 ? 0 : Math.min(MAX_RECONNECT_DELAY_MS, 50 * 2 ** this.#reconnectFailures)
  }

  #lifetime(slot: Slot): NodeJS.Timeout | null {
    const max = this.#config.maxLifetimeMs
    if (max === 0) return null
    // Drawn from [max × (1 − jitter), max]: jitter only shortens, so none outlives maxLifetime.
    const timer = setTimeout(() => this.#recycle(slot), max * (1 - this.#config.lifetimeJitter * Math.random()))
    timer.unref()
    return timer
  }

  /** Make-before-break: the replacement is connected before the old connection stops taking requests. */
  #recycle(slot: Slot): void {
    if (this.#closed || slot.state.tag !== 'open') return
    slot.state = { tag: 'open', lifetime: null }
    void this.#open().then((replaced) => {
      if (slot.state.tag !== 'open') return
      if (replaced) {
        this.#retire(slot, 'max_lifetime')
        return
      }
      // No replacement (the pod refuses new connections): retiring this one would leave the pod
      // with none. It serves on, and is recycled again after the reconnect back-off.
      const retry = setTimeout(() => this.#recycle(slot), Math.max(this.#backOffMs(), 50))
      retry.unref()
      slot.state = { tag: 'open', lifetime: retry }
    })
  }

  /** No new requests on it; it closes once its requests are done, or at the drain deadline. */
  #retire(slot: Slot, reason: CloseReason, drainTimeoutMs = this.#config.drainTimeoutMs): void {
    const state = slot.state
    if (state.tag !== 'open') return
    if (state.lifetime !== null) clearTimeout(state.lifetime)
    if (slot.inFlight === 0) {
      this.#end(slot, reason, false)
    } else {
      slot.state = { tag: 'retiring', reason, deadline: this.#deadline(slot, reason, drainTimeoutMs) }
      slot.connection!.retire()
    }
    this.#fill()
    this.#connectedChanged()
  }

  #deadline(slot: Slot, reason: CloseReason, ms: number): NodeJS.Timeout {
    const deadline = setTimeout(() => this.#end(slot, reason, true), ms)
    deadline.unref()
    return deadline
  }

  /**
   * The pod takes no new requests on it (GOAWAY, a refused stream) but finishes those it took:
   * retiring, so that it still counts (size) and closes once they are done.
   */
  #shed(slot: Slot): void {
    if (slot.state.tag === 'open') this.#retire(slot, 'remote_close')
    else if (slot.state.tag === 'connecting') slot.state = { tag: 'closed', reason: 'remote_close' }
  }

  /** The transport closed by itself: a retiring connection keeps the reason it retired for. */
  #lost(slot: Slot, reason: CloseReason): void {
    const state = slot.state
    if (state.tag === 'closed') return
    // Closed by the pod before carrying a request: for back-off, as good as refused.
    if (slot.requests === 0) this.#reconnectFailures++
    if (state.tag === 'connecting') {
      slot.state = { tag: 'closed', reason }
      return
    }
    this.#gone(slot, state.tag === 'retiring' ? state.reason : reason)
  }

  /** spoke closes it: gracefully when nothing is in flight, else at once. */
  #end(slot: Slot, reason: CloseReason, hard: boolean): void {
    if (slot.state.tag === 'closed' || slot.state.tag === 'connecting') return
    if (hard || slot.inFlight > 0) slot.connection!.destroy()
    else slot.connection!.close()
    this.#gone(slot, reason)
  }

  #gone(slot: Slot, reason: CloseReason): void {
    const state = slot.state
    if (state.tag === 'open' && state.lifetime !== null) clearTimeout(state.lifetime)
    if (state.tag === 'retiring' && state.deadline !== null) clearTimeout(state.deadline)
    slot.state = { tag: 'closed', reason }
    this.#remove(slot)
    this.#hooks.closed(reason)
    this.#connectedChanged()
    if (this.#closed) {
      if (this.size === 0 && this.#drained !== null) {
        this.#drained()
        this.#drained = null
      }
      return
    }
    if (this.#queue.length > 0 && !this.#slots.some((s) => s.state.tag === 'connecting')) this.#open()
    this.#scheduleRefill()
  }

  #remove(slot: Slot): void {
    const i = this.#slots.indexOf(slot)
    if (i >= 0) this.#slots.splice(i, 1)
  }

  /** Tells the hooks when `connected` flips. */
  #connectedChanged(): void {
    const now = this.#slots.some((s) => s.state.tag === 'open')
    if (now === this.#connected) return
    this.#connected = now
    this.#hooks.connectedChanged()
  }
}
