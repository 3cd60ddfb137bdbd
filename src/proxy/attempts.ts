// The attempts of one request until it has an answer or a final failure: pick the pod, send
// through its pool, time the try, ask the retry policy what a failure means, count everything.
// Used by balance-mode exchanges (forward.ts) and by each pod's copy of a broadcast
// (broadcast.ts), which differ only in their Target and in what they do with the answer.
//
// One try is in flight at a time, and the pool gives each exactly one final callback: a try that
// spoke abandons (per-try timeout) ends through that same callback, so nothing here asks whether
// a callback is still current.
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { DispatchController, DispatchHandler, SpokeDispatchController } from '../transport/connection.ts'
import { CAUSES, Failure } from '../transport/failure.ts'
import type { RequestBody } from '../transport/request-body.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { Upstream } from '../upstream/upstream.ts'
import type { ErrorCode } from './errors.ts'
import { decide, judgesPods, type Target } from './retry-policy.ts'
import { RouteRefusal } from './route.ts'

/** What the owner of the attempts does with the pod's answer. */
export interface Answerer {
  /**
   * `headers`: the pod's, flat, lower-case names (see DispatchHandler). `complete`: the head is the
   * whole answer (gRPC's trailers-only response).
   */
  head(status: number, headers: string[], complete: boolean): void
  /** One chunk of the answer's body; false to make the pod wait (then Attempts.resume). */
  data(chunk: Buffer): boolean
  end(trailers: IncomingHttpHeaders): void
  /** No complete answer, finally: the SPEC §5 code to answer with. */
  failed(code: ErrorCode, message: string): void
}

/**
 * What the attempts send, and where: implemented by their owner (an exchange, a broadcast copy)
 * rather than built per request.
 */
export interface AttemptPlan {
  readonly target: Target
  /** The pod of a `key` or `copy` target; null for `any`. */
  readonly pod: Endpoint | null
  readonly method: string
  readonly path: string
  /** A body streamed from the app (with its kept copy), one held whole, or none. */
  readonly body: RequestBody | Buffer | null
  readonly idempotent: boolean
  /** Something other than a count ends resends (timeouts.request, a broadcast's deadline). */
  readonly bounded: boolean
  /** timeouts.perTry: no answer's head by then, and the try is abandoned as a failure; 0: none. */
  readonly perTryMs: number
  /** The request's headers as `endpoint` gets them (flat name/value list). */
  headersFor(endpoint: Endpoint): string[]
  /** Routes a `key` target afresh after its pod left discovery. */
  reroute(): Endpoint | RouteRefusal
}

/**
 * One try's request. Its body is taken when a connection takes the request, not when it queues:
 * from then on the app's stream is read, and what it yields while the request waits must not
 * flow past it. The getter is the class's: an object literal with a getter of its own gets a
 * hidden class of its own, allocated where the collector keeps long-lived objects, per request.
 */
class OutboundRequest {
  readonly path: string
  readonly method: string
  readonly headers: string[]
  readonly #source: RequestBody | Buffer | null
  #body: Readable | Buffer | null = null

  constructor(path: string, method: string, headers: string[], source: RequestBody | Buffer | null) {
    this.path = path
    this.method = method
    this.headers = headers
    this.#source = source
  }

  get body(): Readable | Buffer | null {
    const source = this.#source
    if (source === null || Buffer.isBuffer(source)) return source
    return this.#body ??= source.next()
  }
}

export class Attempts implements DispatchHandler {
  readonly #upstream: Upstream
  readonly #plan: AttemptPlan
  readonly #answerer: Answerer
  #endpoint: Endpoint | null
  #tried: Set<Endpoint> | null = null
  /** What the retry budget has spent (a resend that did not reach a pod gives its try back). */
  #attempts = 0
  /** Tries sent, whatever they spent: the access log's `attempts`. */
  #tries = 0
  #resends = 0
  #staleResends = 0
  /** The try in flight: its controller from the pool. */
  #controller: SpokeDispatchController | null = null
  #answerStarted = false
  /** Why spoke abandoned the try in flight (its final callback carries this instead). */
  #abandoned: Failure | null = null
  #tryTimer: NodeJS.Timeout | null = null
  #resendTimer: NodeJS.Timeout | null = null
  /** The request has its answer, its final failure, or was given up from outside. */
  #over = false
  #last: { code: ErrorCode; message: string } | null = null

  /** `owner` plans the attempts and takes their answer. */
  constructor(upstream: Upstream, owner: AttemptPlan & Answerer) {
    this.#upstream = upstream
    this.#plan = owner
    this.#answerer = owner
    this.#endpoint = owner.pod
  }

  start(): void {
    this.#next()
  }

  /** Tries sent to pods so far. */
  get tries(): number {
    return this.#tries
  }

  /** The pod of the latest try (`ip:port`), once one was chosen. */
  get endpointKey(): string | null {
    return this.#endpoint?.key ?? null
  }

  /** The app's connection can take more of the answer. */
  resume(): void {
    this.#controller?.resume()
  }

  /** The request is over from outside (the app went away): the try in flight is abandoned. */
  abandon(why: string): void {
    if (this.#end()) this.#controller?.abort(new Failure('aborted', why))
  }

  /** The request's deadline passed: a timeout, charged to the pod that had it. */
  expire(message: string): void {
    if (!this.#end()) return
    const endpoint = this.#endpoint
    if (endpoint !== null) {
      endpoint.countError('timeout')
      if (judgesPods(this.#plan.target)) this.#upstream.recordFailure(endpoint)
    }
    this.#controller?.abort(new Failure('aborted', message))
    this.#answerer.failed('timeout', message)
  }

  #end(): boolean {
    if (this.#over) return false
    this.#over = true
    this.#stopTryTimer()
    if (this.#resendTimer !== null) clearTimeout(this.#resendTimer)
    return true
  }

  #next(): void {
    const endpoint = this.#choose()
    if (endpoint === null) return
    this.#endpoint = endpoint
    this.#attempts++
    this.#tries++
    this.#answerStarted = false
    this.#abandoned = null
    const plan = this.#plan
    const request = new OutboundRequest(plan.path, plan.method, plan.headersFor(endpoint), plan.body)
    if (plan.perTryMs > 0) this.#tryTimer = setTimeout(() => this.#tryTimedOut(), plan.perTryMs)
    endpoint.dispatch(request, this)
  }

  /** The pod for the next try, or null when the request has failed instead. */
  #choose(): Endpoint | null {
    const plan = this.#plan
    if (plan.target === 'copy') return plan.pod
    if (plan.target === 'key') {
      // A pinned pod that left discovery since the last try: its key may have a new owner, or none.
      const pod = this.#endpoint!
      return pod.state.tag === 'draining' ? this.#reroute() : pod
    }
    const endpoint = this.#upstream.pick(this.#tried)
    if (endpoint === null) {
      const last = this.#last
      if (last !== null) this.#fail(last.code, last.message)
      else this.#fail('no_endpoints', `no endpoints available for upstream ${this.#upstream.name}`)
    }
    return endpoint
  }

  #reroute(): Endpoint | null {
    const routed = this.#plan.reroute()
    if (routed instanceof RouteRefusal) {
      this.#fail(routed.code, routed.message)
      return null
    }
    this.#endpoint = routed
    return routed
  }

  #tryTimedOut(): void {
    this.#tryTimer = null
    const ms = this.#plan.perTryMs
    // Envoy's per-try timeout: abandoned, and retried as a reset before the response where allowed.
    this.#abandoned = new Failure('try_timeout', `no answer from ${this.#endpoint!.key} within ${ms}ms (timeouts.perTry)`)
    this.#controller?.abort(this.#abandoned)
  }

  #stopTryTimer(): void {
    if (this.#tryTimer === null) return
    clearTimeout(this.#tryTimer)
    this.#tryTimer = null
  }

  // The pool's callbacks for the try in flight.

  onRequestStart(controller: DispatchController): void {
    this.#controller = controller
  }

  onResponseStart(controller: SpokeDispatchController, status: number, headers: string[]): void {
    this.#stopTryTimer()
    const endpoint = this.#endpoint!
    endpoint.countStatus(status)
    if (judgesPods(this.#plan.target)) {
      if (status >= 500) this.#upstream.recordFailure(endpoint)
      else this.#upstream.recordSuccess(endpoint)
    }
    if (this.#over) return
    this.#answerStarted = true
    this.#answerer.head(status, headers, controller.headersEndedStream === true)
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (!this.#over && !this.#answerer.data(chunk)) controller.pause()
  }

  onResponseEnd(_controller: DispatchController, trailers: IncomingHttpHeaders): void {
    this.#controller = null
    if (!this.#end()) return
    this.#answerer.end(trailers)
  }

  onResponseError(controller: SpokeDispatchController, error: Error): void {
    this.#controller = null
    this.#stopTryTimer()
    if (this.#over) return
    const failure = this.#abandoned ?? (error instanceof Failure ? error : new Failure('reset', error.message, { cause: error }))
    this.#failed(failure, controller.reusedIdle === true)
  }

  #failed(failure: Failure, reusedIdle: boolean): void {
    const plan = this.#plan
    const endpoint = this.#endpoint!
    const cause = CAUSES[failure.code]
    const body = plan.body
    const decision = decide(failure.code, {
      target: plan.target,
      idempotent: plan.idempotent,
      answerStarted: this.#answerStarted,
      bodyResendable: body === null || Buffer.isBuffer(body) || body.canSendAgain,
      attempts: this.#attempts,
      resends: this.#resends,
      staleResends: this.#staleResends,
      reusedIdle,
      bounded: plan.bounded,
      retries: this.#upstream.config.retries,
    })
    if (cause.counted) endpoint.countError(cause.answer)
    if (decision.strike) this.#upstream.recordFailure(endpoint)
    const message = failure.code === 'reset' && !this.#answerStarted
      ? `the endpoint closed the connection before answering: ${failure.message}`
      : failure.message
    if (!decision.again) {
      this.#fail(cause.answer, this.#resends > 0 ? `${message} (not sent after ${this.#resends + 1} tries)` : message)
      return
    }
    // What the app is answered if no pod is left to try; a pod that left discovery was not tried.
    if (cause.counted) this.#last = { code: cause.answer, message }
    if (decision.spends !== 'attempt') this.#attempts--
    if (decision.spends === 'resend') this.#resends++
    else if (decision.spends === 'stale') this.#staleResends++
    if (decision.spends !== 'none') this.#upstream.stats.retries++
    const log = this.#upstream.log
    if (log.enabled('debug')) {
      // spends: `attempt` a retry (retries.attempts), `resend`/`stale` a request that never reached the pod.
      log.debug('request retried', {
        upstream: this.#upstream.name, method: plan.method, path: plan.path, endpoint: endpoint.key,
        cause: failure.code, error: message, try: this.#tries, spends: decision.spends, delayMs: decision.delayMs,
      })
    }
    if (decision.exclude) (this.#tried ??= new Set()).add(endpoint)
    if (decision.reroute && this.#reroute() === null) return
    if (decision.delayMs === 0) {
      this.#resend()
      return
    }
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = null
      this.#resend()
    }, decision.delayMs)
  }

  /** The next try, once the body copy it needs has arrived whole (the app may still be sending). */
  #resend(): void {
    const body = this.#plan.body
    if (body === null || Buffer.isBuffer(body) || !body.pending) {
      this.#next()
      return
    }
    body.whenComplete(() => {
      if (this.#over) return
      // Outgrew the copy while arriving: it can no longer be sent again.
      if (body.canSendAgain) {
        this.#next()
        return
      }
      const last = this.#last
      this.#fail(last?.code ?? 'upstream_reset', last?.message ?? 'the body outgrew the copy kept for sending it again')
    })
  }

  #fail(code: ErrorCode, message: string): void {
    if (this.#end()) this.#answerer.failed(code, message)
  }
}
