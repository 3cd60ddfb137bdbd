// One request through spoke in balance mode: route it, stream it to a pod and the answer back
// with backpressure, within timeouts.request. The attempts themselves (which pod, resends,
// retries, per-try timeouts, counting) are attempts.ts's; the app side is a Downstream.
import type { IncomingHttpHeaders } from 'node:http'
import { RequestBody } from '../transport/request-body.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { Admission } from './admission.ts'
import { type AttemptPlan, type Answerer, Attempts } from './attempts.ts'
import type { Downstream } from './downstream.ts'
import { type ErrorCode, isGrpcContentType } from './errors.ts'
import { GRPC_CANCELLED, grpcStatusOfEnd, grpcStatusOfHead } from './grpc-status.ts'
import { downstreamResponseHeaders, IDEMPOTENT_METHODS } from './headers.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'
import { setAuthority } from './request-head.ts'
import type { Target } from './retry-policy.ts'
import { pinnedPod, RouteRefusal } from './route.ts'

export class Exchange implements AttemptPlan, Answerer {
  readonly #downstream: Downstream
  readonly #upstream: Upstream
  readonly #admission: Admission
  readonly #grpc: boolean
  #attempts: Attempts | null = null
  /** x-spoke-pod's pod, or the key's owner on a sharded upstream: every attempt goes there. */
  #pinned: Endpoint | null = null
  #idempotent = false
  #body: RequestBody | Buffer | null = null
  /** timeouts.request: no complete answer by then, and the app gets `timeout`. */
  #timer: NodeJS.Timeout | null = null
  /** Listening for the app's connection to take more only once it first pushes back. */
  #drainWatched = false

  constructor(downstream: Downstream, upstream: Upstream, counts: RequestCounts) {
    this.#downstream = downstream
    this.#upstream = upstream
    this.#admission = new Admission(upstream, downstream, counts)
    this.#grpc = isGrpcContentType(downstream.head.contentType)
  }

  start(): void {
    const downstream = this.#downstream
    const upstream = this.#upstream
    const config = upstream.config
    if (!this.#admission.enter(this.#grpc)) return
    downstream.onGone(() => this.#clientGone())
    if (this.#grpc && config.protocol === 'http1') {
      this.failed('bad_request', `gRPC needs HTTP/2 to the pods; upstream ${upstream.name} speaks HTTP/1.1 (set protocol: h2c)`)
      return
    }
    const head = downstream.head
    // The common case (a balanced upstream, no x-spoke-pod) costs these two checks and nothing else.
    const pinned = head.pod === null && !upstream.sharded ? null : this.#route()
    if (pinned instanceof RouteRefusal) {
      this.failed(pinned.code, pinned.message)
      return
    }
    this.#pinned = pinned
    const idempotent = IDEMPOTENT_METHODS.has(downstream.method) || head.retryAlways
    this.#idempotent = idempotent
    // A copy is of use where a body that went out may go again: h2c's refused streams (any
    // method), and retries of requests that may be retried; elsewhere a resend only happens while
    // the body is untouched (a connect failure, a connection found closed). A body that arrived
    // whole with its head goes as it is: no stream, and any attempt can send it again.
    const keep = config.protocol === 'h2c' || idempotent
    if (downstream.hasBody) this.#body = downstream.wholeBody ?? new RequestBody(downstream.body, { keep })
    const timeoutMs = config.timeouts.requestMs
    this.#attempts = new Attempts(upstream, this)
    if (timeoutMs > 0) this.#timer = setTimeout(() => this.#timedOut(timeoutMs), timeoutMs)
    this.#attempts.start()
  }

  #route(): Endpoint | RouteRefusal | null {
    const downstream = this.#downstream
    return pinnedPod(this.#upstream, downstream.head.pod, downstream.head.keyField, downstream.path)
  }

  // AttemptPlan: what the attempts send, and where.

  get target(): Target { return this.#pinned === null ? 'any' : 'key' }
  get pod(): Endpoint | null { return this.#pinned }
  get method(): string { return this.#downstream.method }
  get path(): string { return this.#downstream.path }
  get body(): RequestBody | Buffer | null { return this.#body }
  get idempotent(): boolean { return this.#idempotent }
  get bounded(): boolean { return this.#upstream.config.timeouts.requestMs > 0 }
  get perTryMs(): number { return this.#upstream.config.timeouts.perTryMs }

  headersFor(endpoint: Endpoint): string[] {
    const head = this.#downstream.head
    setAuthority(head, this.#upstream.config.hostRewrite === 'service' || head.host === null ? endpoint.authority : head.host)
    return head.upstreamHeaders
  }

  reroute(): Endpoint | RouteRefusal {
    return this.#route() ?? new RouteRefusal('no_endpoints', `no endpoints available for upstream ${this.#upstream.name}`)
  }

  // Answerer: what the attempts got.

  head(status: number, headers: string[], complete: boolean): void {
    const downstream = this.#downstream
    const attempts = this.#attempts!
    downstream.endpoint = attempts.endpointKey
    downstream.attempts = attempts.tries
    if (this.#grpc && complete) downstream.grpcStatus = grpcStatusOfHead(status, headers)
    downstream.respond(status, downstreamResponseHeaders(headers), complete)
  }

  data(chunk: Buffer): boolean {
    if (this.#downstream.write(chunk)) return true
    if (!this.#drainWatched) {
      this.#drainWatched = true
      this.#downstream.onDrain(() => this.#attempts?.resume())
    }
    return false
  }

  end(trailers: IncomingHttpHeaders): void {
    const downstream = this.#downstream
    if (this.#grpc && downstream.grpcStatus < 0) downstream.grpcStatus = grpcStatusOfEnd(downstream.status, trailers)
    downstream.end(trailers)
    this.#settle(downstream.status)
  }

  failed(code: ErrorCode, message: string): void {
    this.#stopTimer()
    this.#downstream.attempts = this.#attempts?.tries ?? 0
    this.#admission.refuse(code, message, this.#grpc)
  }

  #timedOut(ms: number): void {
    this.#timer = null
    this.#attempts!.expire(`no complete answer within ${ms}ms`)
  }

  /** The app's connection or stream closed before the answer was complete. */
  #clientGone(): void {
    if (this.#admission.settled) return
    this.#attempts?.abandon('client closed the request')
    // The app's client cancelled the call: that is the status it knows it by.
    if (this.#grpc) this.#downstream.grpcStatus = GRPC_CANCELLED
    this.#downstream.attempts = this.#attempts?.tries ?? 0
    this.#settle(CLIENT_CLOSED)
  }

  #settle(status: number): void {
    this.#stopTimer()
    this.#admission.settle(status)
  }

  #stopTimer(): void {
    if (this.#timer === null) return
    clearTimeout(this.#timer)
    this.#timer = null
  }
}
