// The connections to one pod, as a dispatcher: `dispatch(request, handler)` sends the request on a
// connection with room, or queues it until one frees up or opens; callers never see a connection.
// Keeps `perEndpoint` connections open from discovery on, opens more (up to `maxPerEndpoint`)
// while all are busy, recycles them by age and request count make-before-break, and drains them
// when the pod leaves or spoke shuts down. Each connection's state is one tagged union (slot.ts).
import type { ConnectionConfig } from '../config/types.ts'
import { type CloseReason, type Connection, type ConnectionEvents, type DispatchHandler, type UpstreamRequest, NO_CONTEXT } from './connection.ts'
import { Backoff } from './backoff.ts'
import { ConnectError } from './dial.ts'
import { Failure } from './failure.ts'
import { PoolRequest, type ResponseTimes } from './pool-request.ts'
import { count, Slot, unrefTimer } from './slot.ts'

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
  /** Told each answer's response time (peak_ewma); null: nothing measured, no clock read. */
  readonly latency: ResponseTimes | null
}

export class Pool {
  /** Connecting, open and retiring connections, oldest first; a closed one leaves at once. */
  #slots: Slot[] = []
  #queue: PoolRequest[] = []
  readonly #reconnect = new Backoff()
  /** Set by the first drain, from which on the pool takes no request; resolved once all is closed. */
  #drain: PromiseWithResolvers<void> | null = null
  #connected = false
  /**
   * What one connection carries, as the last one open said: still known while none is open (all
   * replaced, or lost), when an h2c pod would otherwise get a connection per queued request.
   */
  #capacity = 1
  #config: ConnectionConfig
  readonly #connector: Connector
  readonly #hooks: PoolHooks
  readonly #counters: PodCounters

  constructor(config: ConnectionConfig, connector: Connector, hooks: PoolHooks, counters: PodCounters) {
    this.#config = config
    this.#connector = connector
    this.#hooks = hooks
    this.#counters = counters
  }

  /** A reload changed the upstream's connection settings: new connections, and decisions from now on, use them. */
  reconfigure(config: ConnectionConfig): void {
    this.#config = config
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
    return count(this.#slots, 'open', 'retiring')
  }

  connectionAgesSeconds(now: number): number[] {
    return this.#slots.flatMap((s) => s.connection === null ? [] : [Math.round((now - s.connection.connectedAt) / 100) / 10])
  }

  /**
   * Sends `request` on a connection with room, or queues it. `handler` gets the request's
   * controller at once (onRequestStart: abort() also takes a queued request off the queue), and
   * exactly one final callback: onResponseEnd, or onResponseError with a Failure.
   */
  dispatch(request: UpstreamRequest, handler: DispatchHandler): void {
    const job = new PoolRequest(this, request, handler, this.#counters.latency)
    handler.onRequestStart?.(job, NO_CONTEXT)
    if (job.aborted) return
    if (this.#drain !== null) {
      job.fail(new Failure('pool_closed', 'the pod left discovery'))
      return
    }
    // First fit keeps the up-front connections busiest, so the extras go idle and close.
    const slot = this.#slots.find((s) => s.free)
    if (slot !== undefined) {
      // A connection that was waiting in the pool: on HTTP/1.1 the pod may be closing it as idle.
      job.reusedIdle = slot.connection!.exclusive
      this.#send(slot, job)
      return
    }
    this.#queue.push(job)
    // Enough new connections for the queue, counting what one holds (1 for HTTP/1.1, the pod's
    // stream limit for h2c), not one per queued request.
    for (const s of this.#slots) if (s.state.tag === 'open') this.#capacity = Math.max(1, s.connection!.capacity)
    const connecting = count(this.#slots, 'connecting')
    if (connecting * this.#capacity < this.#queue.length && count(this.#slots, 'open', 'connecting') < this.#config.maxPerEndpoint) this.#open()
  }

  /** A queued request was aborted: it leaves the queue. */
  unqueue(job: PoolRequest): void {
    const i = this.#queue.indexOf(job)
    if (i >= 0) this.#queue.splice(i, 1)
  }

  /**
   * The request on `slot` is over. `hurt`: it failed in a way that leaves the connection unusable
   * for another request (HTTP/1.1: a connection whose request failed or was aborted closes).
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
    if (!hurt) this.#reconnect.succeeded()
    if (hurt && slot.connection!.exclusive) this.#end(slot, 'error', true)
    // An HTTP/1.1 connection closes right after an answer that ends it (`Connection: close`, an
    // HTTP/1.0 answer, a Keep-Alive hint too short, one that came before the request was fully
    // sent): the pod's doing.
    else if (slot.connection!.closed) this.#end(slot, 'remote_close', true)
    else this.#serveQueue(slot)
  }

  /** Closes connections beyond perEndpoint that have been idle for idleTimeout. */
  sweepIdle(now: number): void {
    const idleMs = this.#config.idleTimeoutMs
    if (idleMs === 0) return
    let open = count(this.#slots, 'open')
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
    if (this.#drain !== null) return this.#drain.promise
    this.#drain = Promise.withResolvers()
    this.#reconnect.cancel()
    for (const job of this.#queue.splice(0)) job.fail(new Failure('pool_closed', 'the pod left discovery'))
    for (const s of [...this.#slots]) {
      const state = s.state
      if (state.tag === 'open') this.#retire(s, reason, drainTimeoutMs)
      // Retired earlier (age, request count) with the config's deadline: this one holds now.
      else if (state.tag === 'retiring') s.enter({ ...state, deadline: this.#deadline(s, state.reason, drainTimeoutMs) })
    }
    if (this.size === 0) this.#drain.resolve()
    return this.#drain.promise
  }

  #send(slot: Slot, job: PoolRequest): void {
    // Also a queued request on a connection just freed: on HTTP/1.1 the pod's idle timer runs from
    // its last answer, which spoke may have read late (a busy event loop), however short the wait
    // looks from here. Go's transport judges any reused connection the same way.
    if (slot.requests > 0 && slot.connection!.exclusive) job.reusedIdle = true
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
    for (let n = count(this.#slots, 'open', 'connecting'); this.#drain === null && n < this.#config.perEndpoint; n++) this.#open()
  }

  /** Resolves to whether the new connection is open and taking requests. */
  #open(): Promise<boolean> {
    const slot = new Slot()
    this.#slots.push(slot)
    const events: ConnectionEvents = {
      lost: (reason) => this.#lost(slot, reason),
      shedding: () => this.#shed(slot),
    }
    return this.#connector(events).then((connection) => this.#opened(slot, connection), (error: unknown) => this.#connectFailed(slot, error))
  }

  /** Returns whether it is open and taking requests. */
  #opened(slot: Slot, connection: Connection): boolean {
    slot.connection = connection
    slot.lastActiveAt = performance.now()
    if (this.#drain !== null) {
      this.#remove(slot)
      connection.close()
      return false
    }
    this.#hooks.opened()
    // Lost in the moment between its socket connecting and now.
    if (slot.state.tag === 'closed') {
      this.#remove(slot)
      this.#hooks.closed(slot.state.reason)
      this.#scheduleRefill()
      return false
    }
    slot.state = { tag: 'open', lifetime: this.#lifetime(slot) }
    this.#capacity = Math.max(1, connection.capacity)
    this.#connectedChanged()
    this.#serveQueue(slot)
    return true
  }

  #connectFailed(slot: Slot, error: unknown): false {
    this.#remove(slot)
    const connectError = error instanceof ConnectError ? error : new ConnectError('ECONNECT', String(error), { cause: error })
    this.#hooks.connectFailed(connectError)
    // Queued requests fail only when nothing else could serve them; they go to another pod.
    if (count(this.#slots, 'open', 'connecting') === 0) {
      const failure = new Failure('connect_failed', connectError.message, { cause: connectError })
      for (const job of this.#queue.splice(0)) job.fail(failure)
    }
    this.#reconnect.failed()
    this.#scheduleRefill()
    return false
  }

  #scheduleRefill(): void {
    if (this.#drain !== null || count(this.#slots, 'open', 'connecting') >= this.#config.perEndpoint) return
    this.#reconnect.schedule(() => this.#fill())
  }

  #lifetime(slot: Slot): NodeJS.Timeout | null {
    const max = this.#config.maxLifetimeMs
    if (max === 0) return null
    // Drawn from [max × (1 − jitter), max]: jitter only shortens, so none outlives maxLifetime.
    return unrefTimer(() => this.#recycle(slot), max * (1 - this.#config.lifetimeJitter * Math.random()))
  }

  /** Make-before-break: the replacement is connected before the old connection stops taking requests. */
  #recycle(slot: Slot): void {
    if (this.#drain !== null || slot.state.tag !== 'open') return
    slot.state = { tag: 'open', lifetime: null }
    void this.#open().then((replaced) => {
      if (slot.state.tag !== 'open') return
      if (replaced) this.#retire(slot, 'max_lifetime')
      // No replacement (the pod refuses new connections): retiring this one would leave the pod
      // with none. It serves on, and is recycled again after the reconnect back-off.
      else slot.state = { tag: 'open', lifetime: unrefTimer(() => this.#recycle(slot), Math.max(this.#reconnect.delayMs, 50)) }
    })
  }

  /** No new requests on it; it closes once its requests are done, or at the drain deadline. */
  #retire(slot: Slot, reason: CloseReason, drainTimeoutMs = this.#config.drainTimeoutMs): void {
    const state = slot.state
    if (state.tag !== 'open') return
    if (slot.inFlight === 0) {
      this.#end(slot, reason, false)
    } else {
      slot.enter({ tag: 'retiring', reason, deadline: this.#deadline(slot, reason, drainTimeoutMs) })
      slot.connection!.retire()
    }
    this.#fill()
    this.#connectedChanged()
  }

  #deadline(slot: Slot, reason: CloseReason, ms: number): NodeJS.Timeout {
    return unrefTimer(() => this.#end(slot, reason, true), ms)
  }

  /** The pod takes no new requests on it (GOAWAY, a refused stream): retiring, it finishes those it took. */
  #shed(slot: Slot): void {
    if (slot.state.tag === 'open') this.#retire(slot, 'remote_close')
    else if (slot.state.tag === 'connecting') slot.state = { tag: 'closed', reason: 'remote_close' }
  }

  /** The transport closed by itself: a retiring connection keeps the reason it retired for. */
  #lost(slot: Slot, reason: CloseReason): void {
    const state = slot.state
    if (state.tag === 'closed') return
    // Closed by the pod before carrying a request: for back-off, as good as refused.
    if (slot.requests === 0) this.#reconnect.failed()
    if (state.tag === 'connecting') slot.state = { tag: 'closed', reason }
    else this.#gone(slot, state.tag === 'retiring' ? state.reason : reason)
  }

  /** spoke closes it: gracefully when nothing is in flight, else at once. */
  #end(slot: Slot, reason: CloseReason, hard: boolean): void {
    if (slot.state.tag === 'closed' || slot.state.tag === 'connecting') return
    if (hard || slot.inFlight > 0) slot.connection!.destroy()
    else slot.connection!.close()
    this.#gone(slot, reason)
  }

  #gone(slot: Slot, reason: CloseReason): void {
    slot.enter({ tag: 'closed', reason })
    this.#remove(slot)
    this.#hooks.closed(reason)
    this.#connectedChanged()
    if (this.#drain !== null) {
      if (this.size === 0) this.#drain?.resolve()
      return
    }
    if (this.#queue.length > 0 && count(this.#slots, 'connecting') === 0) this.#open()
    this.#scheduleRefill()
  }

  #remove(slot: Slot): void {
    const i = this.#slots.indexOf(slot)
    if (i >= 0) this.#slots.splice(i, 1)
  }

  /** Tells the hooks when `connected` flips. */
  #connectedChanged(): void {
    const now = count(this.#slots, 'open') > 0
    if (now === this.#connected) return
    this.#connected = now
    this.#hooks.connectedChanged()
  }
}
