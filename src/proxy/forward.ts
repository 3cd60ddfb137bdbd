// One request through spoke in balance mode: pick a pod, take a connection, stream the request
// and the response both ways with backpressure, retry where SPEC §4 allows, count everything.
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import type { RetryReason } from '../config/types.ts'
import { RequestBody } from '../transport/request-body.ts'
import { type Connection, NotSentError, type SpokeDispatchController } from '../transport/connection.ts'
import { RefusedStreamError } from '../transport/h2-connection.ts'
import { ConnectError } from '../transport/dial.ts'
import { PoolClosedError, type Waiter } from '../transport/pool.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { type ErrorCode, isGrpcContentType } from './errors.ts'
import type { Downstream } from './downstream.ts'
import { downstreamResponseHeaders, IDEMPOTENT_METHODS } from './headers.ts'
import { type RequestHead, setAuthority } from './request-head.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'
import { pinnedPod, RouteRefusal } from './route.ts'

/**
 * Requests that never reached a pod are sent again without using up `retries.attempts` (gRPC's
 * "transparent retry") until `timeouts.request` ends them (SPEC §4). The first few go at once; then
 * they back off, so that pods shedding streams en masse (every pod's GOAWAY at once, a pod that
 * refuses every stream) cost a resend every so often, not a loop: sessions reopen meanwhile.
 */
const IMMEDIATE_RESENDS = 3
const RESEND_BACKOFF_MS = 25
const MAX_RESEND_BACKOFF_MS = 1000
/** With `timeouts.request: 0` nothing else would end them. */
const MAX_RESENDS_WITHOUT_TIMEOUT = 20

/**
 * Idempotent requests that met an HTTP/1.1 connection the pod closed while it sat idle (the
 * keep-alive race) are sent again on another connection this many times at most, without using
 * up `retries.attempts`.
 */
const MAX_STALE_RESENDS = 3

class AbortedByProxy extends Error {
  constructor(why: string) {
    super(why)
    this.name = 'AbortedByProxy'
  }
}

export class Exchange implements Waiter {
  readonly #head: RequestHead
  readonly #app: Downstream
  readonly #upstream: Upstream
  readonly #counts: RequestCounts
  readonly #startedAt = performance.now()
  readonly #grpc: boolean
  readonly #mayRetry: boolean
  readonly #path: string
  #tried: Set<Endpoint> | null = null
  /** x-spoke-pod's pod, or the key's owner on a sharded upstream: every attempt goes there. */
  #pinned: Endpoint | null = null
  #attempts = 0
  /** Resends of a request that never reached a pod. */
  #resends = 0
  /** A resend waiting out its back-off. */
  #resendTimer: NodeJS.Timeout | null = null
  #staleResends = 0
  /** Whether the current attempt's HTTP/1.1 connection sat idle in the pool before it. */
  #idleConnection = false
  #endpoint: Endpoint | null = null
  /** The attempt whose callbacks count; earlier (aborted) attempts are ignored. */
  #attempt: Attempt | null = null
  #waiting = false
  #timer: NodeJS.Timeout | null = null
  /** timeouts.perTry of the current attempt: no response headers by then, try another pod. */
  #tryTimer: NodeJS.Timeout | null = null
  #done = false
  /** Whether this request holds one of the upstream's maxConcurrentRequests slots. */
  #admitted = false
  #lastError: { code: ErrorCode; message: string } | null = null
  /** Listening for 'drain' only once the app's connection first pushes back. */
  #drainWatched = false
  /** The body as each attempt sends it, with the copy kept for sending it again. */
  readonly #body: RequestBody | null

  readonly #method: string

  constructor(downstream: Downstream, upstream: Upstream, counts: RequestCounts) {
    const { method, head } = downstream
    this.#app = downstream
    this.#path = downstream.path
    this.#head = head
    this.#upstream = upstream
    this.#counts = counts
    this.#grpc = isGrpcContentType(head.contentType)
    this.#method = method
    this.#mayRetry = IDEMPOTENT_METHODS.has(method) || head.retryAlways
    // A copy is of use where a body that went out may go again: h2c's refused streams (any
    // method), and retries of requests that may be retried; elsewhere a resend only happens while
    // the body is untouched (a connect failure). undici needs a view of the app's stream whenever
    // a copy is kept, and for an HTTP/2 app (its stream's other half is the answer, which undici
    // must not destroy); spoke's h2c streams read the app's stream themselves.
    const h2cPods = upstream.config.protocol === 'h2c'
    const keep = h2cPods || this.#mayRetry
    this.#body = downstream.hasBody ? new RequestBody(downstream.body, { keep, view: !h2cPods && (keep || downstream.protocol === 'h2') }) : null
  }

  start(): void {
    const upstream = this.#upstream
    if (upstream.inFlight >= upstream.config.limits.maxConcurrentRequests) {
      this.#fail('overloaded', 'too many concurrent requests for the upstream')
      return
    }
    upstream.inFlight++
    this.#admitted = true
    const timeoutMs = upstream.config.timeouts.requestMs
    if (timeoutMs > 0) this.#timer = setTimeout(() => this.#timedOut(), timeoutMs)
    this.#app.onGone(() => this.clientGone())
    if (this.#grpc && upstream.config.protocol === 'http1') {
      this.#fail('bad_request', `gRPC needs HTTP/2 to the pods; upstream ${upstream.name} speaks HTTP/1.1 (set protocol: h2c)`)
      return
    }
    if (!this.#pin()) return
    this.#next()
  }

  /** Pins an x-spoke-pod or sharded request to its pod; false when it was refused instead. */
  #pin(): boolean {
    const head = this.#head
    // The common case (a balanced upstream, no x-spoke-pod) costs these two checks and nothing else.
    if (head.pod === null && !this.#upstream.sharded) return true
    const pinned = pinnedPod(this.#upstream, head.pod, head.keyField, this.#path)
    if (pinned instanceof RouteRefusal) {
      this.#fail(pinned.code, pinned.message)
      return false
    }
    this.#pinned = pinned
    return true
  }

  // Waiter: the pool has a connection for us, or gives up on this pod.
  granted(connection: Connection): void {
    this.#waiting = false
    // Just opened, or just freed by another request: not a connection the pod could have been
    // closing as idle.
    this.#idleConnection = false
    if (this.#done) {
      this.#endpoint!.pool.release(connection)
      return
    }
    this.#dispatch(connection)
  }

  failed(error: Error): void {
    this.#waiting = false
    if (this.#done) return
    if (error instanceof PoolClosedError) {
      // The pod left discovery while we queued: not an attempt, just pick again. A pinned request
      // is routed afresh: its key may now belong to another pod (consistent_hash), or to none.
      if (this.#pinned !== null) {
        if (!this.#pin()) return
      } else {
        (this.#tried ??= new Set()).add(this.#endpoint!)
      }
      this.#next()
      return
    }
    if (error instanceof ConnectError) {
      // A pinned request's pod is the only one its key has: no other pod may take it.
      if (this.#pinned === null) this.#notSent('connect_failed', error.message, true)
      else this.#attemptFailed('connect_failed', 'connect-failure', error.message)
    } else {
      this.#attemptFailed('upstream_reset', 'reset-before-response', error.message)
    }
  }

  #next(): void {
    // A pinned pod that left discovery since the last attempt: route afresh, as above.
    if (this.#pinned !== null && this.#pinned.state.tag === 'draining' && !this.#pin()) return
    const endpoint = this.#pinned ?? this.#upstream.pick(this.#tried)
    if (endpoint === null) {
      if (this.#lastError !== null) this.#fail(this.#lastError.code, this.#lastError.message)
      else this.#fail('no_endpoints', `no endpoints available for upstream ${this.#upstream.name}`)
      return
    }
    this.#endpoint = endpoint
    this.#attempts++
    this.#startTryTimer()
    const connection = endpoint.pool.acquire(this)
    if (connection !== null) {
      this.#idleConnection = this.#upstream.config.protocol === 'http1'
      this.#dispatch(connection)
    } else {
      this.#waiting = true
    }
  }

  #dispatch(connection: Connection): void {
    const endpoint = this.#endpoint!
    endpoint.inFlight++
    endpoint.requests++
    const attempt = new Attempt(this, endpoint, connection)
    this.#attempt = attempt
    const head = this.#head
    setAuthority(head, this.#upstream.config.hostRewrite === 'service' || head.host === null ? endpoint.authority : head.host)
    try {
      connection.dispatch({
        path: this.#path,
        method: this.#method as Dispatcher.HttpMethod,
        headers: head.upstreamHeaders,
        body: this.#body === null ? null : this.#body.next(),
      }, attempt)
    } catch (err) {
      // undici validates synchronously what Node's parser let through.
      attempt.settle()
      this.#fail('bad_request', `request refused: ${(err as Error).message}`)
    }
  }

  // Attempt callbacks (only from the current attempt).

  /** `complete`: the pod's HEADERS ended its stream (trailers-only), so the app's do too. */
  responseStarted(attempt: Attempt, status: number, headers: IncomingHttpHeaders, complete: boolean): void {
    this.#stopTryTimer()
    const endpoint = attempt.endpoint
    endpoint.countStatus(status)
    if (status >= 500) this.#upstream.recordFailure(endpoint)
    else this.#upstream.recordSuccess(endpoint)
    if (this.#done) return
    this.#app.respond(status, downstreamResponseHeaders(headers), complete)
  }

  responseData(chunk: Buffer): boolean {
    if (this.#app.write(chunk)) return true
    if (!this.#drainWatched) {
      this.#drainWatched = true
      this.#app.onDrain(() => this.#attempt?.resume())
    }
    return false
  }

  responseEnded(trailers: IncomingHttpHeaders): void {
    if (this.#done) return
    this.#app.end(trailers)
    this.#finish(this.#app.status)
  }

  responseFailed(attempt: Attempt, error: Error): void {
    if (this.#done) return
    if (attempt.started) {
      // Mid-body: the only honest signal left is a broken connection.
      attempt.endpoint.countError('upstream_reset')
      this.#upstream.recordFailure(attempt.endpoint)
      this.#app.abort()
      this.#finish(this.#app.status)
      return
    }
    if (error instanceof RefusedStreamError || error instanceof NotSentError) {
      this.#notSent('upstream_reset', error.message, false)
      return
    }
    if (this.#idleConnection && this.#mayResendStale()) {
      // The keep-alive race: the pod closed the idle connection as the request went out, and
      // nothing of an answer came. Not a failing pod (no outlier strike), not a retry the app
      // budgeted for: the request goes again, on another connection.
      this.#stopTryTimer()
      attempt.endpoint.countError('upstream_reset')
      this.#staleResends++
      this.#attempts--
      this.#upstream.stats.retries++
      this.#resend()
      return
    }
    this.#attemptFailed('upstream_reset', 'reset-before-response', `the endpoint closed the connection before answering: ${error.message}`)
  }

  #attemptFailed(code: ErrorCode, reason: RetryReason, message: string): void {
    this.#stopTryTimer()
    const endpoint = this.#endpoint!
    endpoint.countError(code)
    this.#upstream.recordFailure(endpoint)
    this.#lastError = { code, message }
    if (this.#mayRetryOn(reason)) {
      this.#upstream.stats.retries++
      // A pinned request retries on its own pod (#next), on another connection.
      (this.#tried ??= new Set()).add(endpoint)
      this.#resend()
      return
    }
    this.#fail(code, message)
  }

  /**
   * SPEC §4: the request never reached the pod (its connection failed to open, the pod refused
   * the stream, or the connection closed before the request was written), so it cannot have been
   * processed: it is sent again whatever its method, without using up `retries.attempts`.
   * `otherPod`: the pod itself failed, so the resend goes elsewhere; a pod shedding streams
   * (GOAWAY on a graceful restart) is not failing, and another of its connections may take it.
   */
  #notSent(code: ErrorCode, message: string, otherPod: boolean): void {
    this.#stopTryTimer()
    const endpoint = this.#endpoint!
    endpoint.countError(code)
    if (otherPod) this.#upstream.recordFailure(endpoint)
    this.#lastError = { code, message }
    const bounded = this.#upstream.config.timeouts.requestMs > 0 || this.#resends < MAX_RESENDS_WITHOUT_TIMEOUT
    if (bounded && this.#maySendAgain()) {
      this.#resends++
      this.#attempts--
      this.#upstream.stats.retries++
      if (otherPod) (this.#tried ??= new Set()).add(endpoint)
      if (this.#resends <= IMMEDIATE_RESENDS) {
        this.#resend()
      } else {
        const delay = Math.min(MAX_RESEND_BACKOFF_MS, RESEND_BACKOFF_MS * 2 ** (this.#resends - IMMEDIATE_RESENDS - 1))
        this.#resendTimer = setTimeout(() => {
          this.#resendTimer = null
          if (!this.#done) this.#resend()
        }, delay)
      }
      return
    }
    this.#fail(code, this.#resends > 0 ? `${message} (not sent after ${this.#resends + 1} tries)` : message)
  }

  /** The next attempt, once the body copy it needs has arrived whole (the app may still be sending). */
  #resend(): void {
    const body = this.#body
    if (body === null || !body.pending) {
      this.#next()
      return
    }
    body.whenComplete(() => {
      if (this.#done) return
      // Outgrew the copy while arriving: it can no longer be sent again.
      if (!body.canSendAgain) this.#fail(this.#lastError!.code, this.#lastError!.message)
      else this.#next()
    })
  }

  #mayRetryOn(reason: RetryReason): boolean {
    return this.#attempts <= this.#upstream.config.retries.attempts &&
      this.#upstream.config.retries.on.includes(reason) &&
      this.#mayRetry &&
      this.#maySendAgain()
  }

  /** RFC 9112 §9.3.1: only a request that is safe to apply twice goes again after a reset. */
  #mayResendStale(): boolean {
    return this.#staleResends < MAX_STALE_RESENDS &&
      this.#upstream.config.retries.on.includes('reset-before-response') &&
      this.#mayRetry &&
      this.#maySendAgain()
  }

  #maySendAgain(): boolean {
    // A body that already went to a pod can be sent again only from the kept copy.
    return !this.#app.headersSent && (this.#body === null || this.#body.canSendAgain)
  }

  #startTryTimer(): void {
    const ms = this.#upstream.config.timeouts.perTryMs
    if (ms === 0) return
    this.#stopTryTimer()
    this.#tryTimer = setTimeout(() => this.#tryTimedOut(ms), ms)
  }

  #stopTryTimer(): void {
    if (this.#tryTimer === null) return
    clearTimeout(this.#tryTimer)
    this.#tryTimer = null
  }

  /**
   * The attempt got no response headers within timeouts.perTry (a pod that accepts and never
   * answers, a blackholed connection, a queue on a stuck pod): abandon it and, like Envoy's
   * per-try timeout under `reset`, retry as a reset before the response where that is allowed.
   */
  #tryTimedOut(ms: number): void {
    this.#tryTimer = null
    if (this.#done || this.#app.headersSent) return
    this.#abortAttempt(`no answer within timeouts.perTry (${ms}ms)`)
    this.#attempt = null
    this.#attemptFailed('timeout', 'reset-before-response', `no answer from ${this.#endpoint!.key} within ${ms}ms (timeouts.perTry)`)
  }

  #timedOut(): void {
    this.#timer = null
    if (this.#done) return
    const endpoint = this.#endpoint
    if (endpoint !== null) {
      endpoint.countError('timeout')
      this.#upstream.recordFailure(endpoint)
    }
    this.#abortAttempt('request timeout')
    this.#fail('timeout', `no complete answer within ${this.#upstream.config.timeouts.requestMs}ms`)
  }

  /** The app's connection closed before the answer was complete. */
  clientGone(): void {
    if (this.#done) return
    this.#abortAttempt('client closed the request')
    this.#finish(CLIENT_CLOSED)
  }

  #abortAttempt(why: string): void {
    if (this.#waiting) {
      // Waiting for a connection: the attempt before this one (if any) is already over.
      this.#endpoint!.pool.cancel(this)
      this.#waiting = false
      return
    }
    this.#attempt?.abort(new AbortedByProxy(why))
  }

  #fail(code: ErrorCode, message: string): void {
    if (this.#done) return
    const status = this.#app.fail(code, message, this.#upstream.name, this.#grpc)
    this.#finish(status)
  }

  #finish(status: number): void {
    if (this.#done) return
    this.#done = true
    this.#app.finished()
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#resendTimer !== null) clearTimeout(this.#resendTimer)
    this.#stopTryTimer()
    const upstream = this.#upstream
    if (this.#admitted) upstream.inFlight--
    this.#counts.byStatus[status < 600 ? status : 0]++
    upstream.stats.duration.observe((performance.now() - this.#startedAt) / 1000)
  }

  isCurrent(attempt: Attempt): boolean {
    return this.#attempt === attempt
  }
}

/**
 * undici's handler for one attempt. It always gives its connection back exactly once, on
 * undici's final callback, even when the exchange has moved on (a timeout, a retry).
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly endpoint: Endpoint
  readonly #exchange: Exchange
  readonly #connection: Connection
  #controller: Dispatcher.DispatchController | null = null
  #abortReason: Error | null = null
  #settled = false
  started = false

  constructor(exchange: Exchange, endpoint: Endpoint, connection: Connection) {
    this.#exchange = exchange
    this.endpoint = endpoint
    this.#connection = connection
  }

  abort(reason: Error): void {
    if (this.#settled) return
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }

  resume(): void {
    this.#controller?.resume()
  }

  settle(): void {
    if (this.#settled) return
    this.#settled = true
    this.endpoint.inFlight--
    this.endpoint.pool.release(this.#connection)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#abortReason !== null) controller.abort(this.#abortReason)
  }

  onResponseStart(controller: SpokeDispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.#abortReason !== null) return
    this.started = true
    this.#exchange.responseStarted(this, status, headers, controller.headersEndedStream === true)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#abortReason !== null) return
    if (!this.#exchange.responseData(chunk)) controller.pause()
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.settle()
    if (this.#abortReason === null && this.#exchange.isCurrent(this)) this.#exchange.responseEnded(trailers)
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.settle()
    if (this.#abortReason === null && this.#exchange.isCurrent(this)) this.#exchange.responseFailed(this, error)
  }
}
