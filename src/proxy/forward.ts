// One request through spoke in balance mode: pick a pod, take a connection, stream the request
// and the response both ways with backpressure, retry where SPEC §4 allows, count everything.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { PassThrough, type Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { RetryReason } from '../config/types.ts'
import { BodyRecorder } from '../transport/body-recorder.ts'
import type { Connection, SpokeDispatchController } from '../transport/connection.ts'
import { RefusedStreamError } from '../transport/h2-connection.ts'
import { ConnectError } from '../transport/dial.ts'
import { PoolClosedError, type Waiter } from '../transport/pool.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { type ErrorCode, isGrpcContentType } from './errors.ts'
import { requestEnded, requestStarted, type InFlight } from './client-socket.ts'
import { downstreamResponseHeaders, IDEMPOTENT_METHODS } from './headers.ts'
import { type RequestHead, setAuthority } from './request-head.ts'
import { pinnedPod, RouteRefusal } from './route.ts'
import { H2Response } from './h2-response.ts'
import { abortResponse, type AppRequest, type AppResponse, sendError, writer } from './respond.ts'

/** What the listener counts: answers to the app by HTTP status (spoke_requests_total). */
export interface RequestCounts {
  readonly byStatus: Float64Array
}

/**
 * Streams a pod refused unprocessed are sent again without using up `retries.attempts` (gRPC's
 * "transparent retry"), this many times at most per request.
 */
const MAX_REFUSED_RESENDS = 10

/**
 * Idempotent requests that met an HTTP/1.1 connection the pod closed while it sat idle (the
 * keep-alive race) are sent again on another connection this many times at most, without using
 * up `retries.attempts`.
 */
const MAX_STALE_RESENDS = 3

/** nginx's convention for "the client went away before an answer": no status reached it. */
export const CLIENT_CLOSED = 499

class AbortedByProxy extends Error {
  constructor(why: string) {
    super(why)
    this.name = 'AbortedByProxy'
  }
}

export class Exchange implements Waiter, InFlight {
  readonly #req: AppRequest
  readonly #head: RequestHead
  readonly #res: AppResponse
  /** The same object as #res, typed by the methods both protocols share. */
  readonly #out: ServerResponse
  readonly #upstream: Upstream
  readonly #counts: RequestCounts
  readonly #startedAt = performance.now()
  readonly #grpc: boolean
  readonly #mayRetry: boolean
  readonly #hasBody: boolean
  readonly #path: string
  #tried: Set<Endpoint> | null = null
  /** x-spoke-pod's pod, or the key's owner on a sharded upstream: every attempt goes there. */
  #pinned: Endpoint | null = null
  #attempts = 0
  #refusals = 0
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
  /**
   * The app's HTTP/1.1 connection, kept from the start: once undici has consumed and destroyed a
   * request body, `req.socket` is null, and the request would never be marked ended.
   */
  readonly #clientSocket: Socket | null
  /** A copy of the body for sending it again after an h2c pod refused it unprocessed. */
  readonly #recorder: BodyRecorder | null

  readonly #method: string
  #bodyView: PassThrough | null = null

  constructor(req: AppRequest, res: AppResponse, method: string, path: string, head: RequestHead, hasBody: boolean, upstream: Upstream, counts: RequestCounts) {
    this.#req = req
    this.#res = res
    this.#out = writer(res)
    this.#path = path
    this.#head = head
    this.#upstream = upstream
    this.#counts = counts
    this.#grpc = isGrpcContentType(head.contentType)
    this.#method = method
    this.#mayRetry = IDEMPOTENT_METHODS.has(method) || head.retryAlways
    this.#hasBody = hasBody
    this.#recorder = this.#hasBody && upstream.config.protocol === 'h2c' ? new BodyRecorder() : null
    this.#clientSocket = 'stream' in res ? null : (req as IncomingMessage).socket
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
    if ('stream' in this.#res) {
      // An HTTP/2 request ends with its stream (RST_STREAM), not with the connection.
      this.#res.stream.once('close', () => this.clientGone())
    } else {
      requestStarted(this.#clientSocket!, this)
    }
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
    if (error instanceof ConnectError) this.#attemptFailed('connect_failed', 'connect-failure', error.message)
    else this.#attemptFailed('upstream_reset', 'reset-before-response', error.message)
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
        body: this.#body(),
        bodyRecorder: this.#recorder,
      }, attempt)
    } catch (err) {
      // undici validates synchronously what Node's parser let through.
      attempt.settle()
      this.#fail('bad_request', `request refused: ${(err as Error).message}`)
    }
  }

  /** The app's body stream, or on a later attempt the copy recorded while the first one sent it. */
  #body(): AppRequest | Readable | Buffer | null {
    if (!this.#hasBody) return null
    if (this.#req.readableDidRead) {
      const replay = this.#recorder?.replay()
      if (replay !== undefined && replay !== null) return replay
    }
    // undici destroys a body stream it is done with or fails on; an HTTP/2 request's body is its
    // stream, whose other half is the answer to the app. undici gets a read-only view of it.
    if ('stream' in this.#res && this.#upstream.config.protocol === 'http1') {
      this.#bodyView ??= this.#req.pipe(new PassThrough())
      return this.#bodyView
    }
    return this.#req
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
    if (complete && this.#res instanceof H2Response) this.#res.writeHead(status, downstreamResponseHeaders(headers), true)
    else this.#out.writeHead(status, downstreamResponseHeaders(headers))
  }

  responseData(chunk: Buffer): boolean {
    if (this.#out.write(chunk)) return true
    if (!this.#drainWatched) {
      this.#drainWatched = true
      this.#out.on('drain', () => this.#attempt?.resume())
    }
    return false
  }

  responseEnded(trailers: IncomingHttpHeaders): void {
    if (this.#done) return
    for (const _ in trailers) {
      // Delivered only where the response is chunked (Node drops them otherwise).
      this.#out.addTrailers(trailers as Record<string, string>)
      break
    }
    this.#out.end()
    this.#finish(this.#res.statusCode)
  }

  responseFailed(attempt: Attempt, error: Error): void {
    if (this.#done) return
    if (attempt.started) {
      // Mid-body: the only honest signal left is a broken connection.
      attempt.endpoint.countError('upstream_reset')
      this.#upstream.recordFailure(attempt.endpoint)
      abortResponse(this.#res)
      this.#finish(this.#res.statusCode)
      return
    }
    if (error instanceof RefusedStreamError) {
      this.#attemptFailed('upstream_reset', 'refused-stream', error.message)
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
      this.#next()
      return
    }
    this.#attemptFailed('upstream_reset', 'reset-before-response', `the endpoint closed the connection before answering: ${error.message}`)
  }

  #attemptFailed(code: ErrorCode, reason: RetryReason, message: string): void {
    this.#stopTryTimer()
    const endpoint = this.#endpoint!
    const refused = reason === 'refused-stream'
    endpoint.countError(code)
    // A pod shedding streams (GOAWAY on a graceful restart) is not a failing pod.
    if (!refused) this.#upstream.recordFailure(endpoint)
    this.#lastError = { code, message }
    if (refused ? this.#mayResendRefused() : this.#mayRetryOn(reason)) {
      this.#upstream.stats.retries++
      if (refused) {
        // Not an attempt the pod processed: it goes to another session, possibly of the same pod.
        this.#refusals++
        this.#attempts--
        const recorder = this.#recorder
        if (recorder !== null && recorder.pending) {
          // Refused before the app finished sending: resend once the whole body is recorded.
          recorder.whenComplete(() => { if (!this.#done) this.#next() })
          return
        }
      } else {
        // A pinned request retries on its own pod (#next), on another connection.
        (this.#tried ??= new Set()).add(endpoint)
      }
      this.#next()
      return
    }
    this.#fail(code, this.#refusals > 0 ? `${message} (refused unprocessed ${this.#refusals + (refused ? 1 : 0)} times)` : message)
  }

  #mayRetryOn(reason: RetryReason): boolean {
    return this.#attempts <= this.#upstream.config.retries.attempts &&
      this.#upstream.config.retries.on.includes(reason) &&
      this.#mayRetry &&
      this.#maySendAgain()
  }

  /** RFC 9113 §8.7: a refused stream was not processed, so sending it again is safe for any method. */
  #mayResendRefused(): boolean {
    return this.#refusals < MAX_REFUSED_RESENDS &&
      this.#upstream.config.retries.on.includes('refused-stream') &&
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
    return !this.#res.headersSent &&
      // A body that already went to a pod can be sent again only from the recorded copy.
      (!this.#hasBody || !this.#req.readableDidRead || this.#recorder?.pending === true || this.#recorder?.replayable === true)
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
    if (this.#done || this.#res.headersSent) return
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
    const status = sendError(this.#res, code, message, this.#upstream.name, this.#grpc)
    this.#finish(status)
  }

  #finish(status: number): void {
    if (this.#done) return
    this.#done = true
    if (this.#clientSocket !== null) requestEnded(this.#clientSocket, this)
    if (this.#timer !== null) clearTimeout(this.#timer)
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
