// One request through a pod's pool: the controller its caller steers it with, and the handler the
// connection reports to. It gives the connection back to the pool exactly once, when the request
// ends, so that callers never hold a connection and never have to give one back.
import type { DispatchController, DispatchHandler, SpokeDispatchController, UpstreamRequest } from './connection.ts'
import { Failure } from './failure.ts'
import type { Pool } from './pool.ts'
import type { Slot } from './slot.ts'

/** What takes a pod's response times: balance/'s PeakEwma. */
export interface ResponseTimes {
  /** Its clock (ms): response times are measured on it, two reads per request. */
  readonly now: () => number
  /** `ms` from dispatch (queueing for a connection included) to the head of the answer, which came at `at`. */
  observe(ms: number, at: number): void
}

export class PoolRequest implements SpokeDispatchController, DispatchHandler {
  readonly #pool: Pool
  readonly #request: UpstreamRequest
  readonly #handler: DispatchHandler
  readonly #latency: ResponseTimes | null
  /** When it was dispatched, on the clock of `#latency`. */
  readonly #dispatchedAt: number
  /** The connection it went out on; null while queued. */
  #slot: Slot | null = null
  /** The connection's own controller for it, once the connection started it. */
  #inner: SpokeDispatchController | null = null
  #reason: Error | null = null
  #paused = false
  #done = false
  /**
   * It went out at once on a connection that had been waiting in the pool: on HTTP/1.1 the pod
   * may have been closing it as idle (the keep-alive race).
   */
  reusedIdle = false

  constructor(pool: Pool, request: UpstreamRequest, handler: DispatchHandler, latency: ResponseTimes | null) {
    this.#pool = pool
    this.#request = request
    this.#handler = handler
    this.#latency = latency
    this.#dispatchedAt = latency === null ? 0 : latency.now()
  }

  get aborted(): boolean { return this.#reason !== null }
  get paused(): boolean { return this.#paused }
  get reason(): Error | null { return this.#reason }
  get headersEndedStream(): boolean { return this.#inner?.headersEndedStream === true }

  abort(reason: Error): void {
    if (this.#done || this.#reason !== null) return
    this.#reason = reason
    if (this.#slot === null) {
      this.#pool.unqueue(this)
      this.fail(new Failure('aborted', reason.message, { cause: reason }))
    } else {
      // Not started by its connection yet: onRequestStart aborts it.
      this.#inner?.abort(reason)
    }
  }

  pause(): void {
    this.#paused = true
    this.#inner?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#inner?.resume()
  }

  /** Ends it without a connection (queued, or refused before one): the handler's final callback. */
  fail(failure: Failure): void {
    if (this.#done) return
    this.#done = true
    this.#handler.onResponseError?.(this, failure)
  }

  /** The pool chose `slot` for it. */
  sendOn(slot: Slot): void {
    this.#slot = slot
    slot.connection!.dispatch(this.#request, this)
  }

  // The connection's callbacks.

  onRequestStart(controller: DispatchController): void {
    this.#inner = controller
    if (this.#reason !== null) controller.abort(this.#reason)
    else if (this.#paused) controller.pause()
  }

  onResponseStart(_controller: DispatchController, status: number, headers: string[], message: string): void {
    if (this.#done) return
    const latency = this.#latency
    if (latency !== null) {
      const at = latency.now()
      latency.observe(at - this.#dispatchedAt, at)
    }
    this.#handler.onResponseStart?.(this, status, headers, message)
  }

  onResponseData(_controller: DispatchController, chunk: Buffer): void {
    if (!this.#done) this.#handler.onResponseData?.(this, chunk)
  }

  onResponseEnd(_controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.#done) return
    this.#done = true
    // At once: a connection the answer ends (`Connection: close`, say) is already closed as it
    // reports the end, so the pool never hands it to the next request.
    this.#pool.release(this.#slot!, false)
    this.#handler.onResponseEnd?.(this, trailers)
  }

  onResponseError(_controller: DispatchController | null, error: Error): void {
    if (this.#done) return
    this.#done = true
    const slot = this.#slot!
    const failure = slot.connection!.failureOf(error)
    // A request refused before anything was written leaves its connection as it was (a closed
    // one is seen as closed by the pool).
    this.#pool.release(slot, failure.code !== 'invalid_request' && failure.code !== 'not_sent')
    this.#handler.onResponseError?.(this, this.#reason !== null ? new Failure('aborted', this.#reason.message, { cause: this.#reason }) : failure)
  }
}
