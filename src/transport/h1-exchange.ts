// One request on a pod's HTTP/1.1 connection (h1-connection.ts) and its controller: what the
// engine steers it with (abort, pause, resume), and what a request body's writer reports to.
// A request costs this one small object; its connection does the I/O.
import type { BodyOwner, BodyWriter } from './h1-body-writer.ts'
import type { DispatchHandler, SpokeDispatchController } from './connection.ts'
import { Failure } from './failure.ts'

/** What an exchange asks of its connection; one per connection. */
export interface ExchangeOwner {
  abort(exchange: H1Exchange, reason: Error): void
  pause(exchange: H1Exchange): void
  resume(exchange: H1Exchange): void
  bodyFailed(exchange: H1Exchange, error: Error): void
}

/** One request on the connection and its controller: what the engine steers it with. */
export class H1Exchange implements SpokeDispatchController, BodyOwner {
  readonly handler: DispatchHandler
  /** A HEAD request: the answer ends with its head. */
  readonly head: boolean
  readonly #owner: ExchangeOwner
  body: BodyWriter | null = null
  /** Answered, failed or abandoned: the engine has had its final callback. */
  done = false
  paused = false
  reason: Error | null = null

  constructor(handler: DispatchHandler, head: boolean, owner: ExchangeOwner) {
    this.handler = handler
    this.head = head
    this.#owner = owner
  }

  get aborted(): boolean { return this.reason !== null }

  abort(reason: Error): void {
    if (this.done || this.reason !== null) return
    this.reason = reason
    this.#owner.abort(this, reason)
  }

  pause(): void {
    this.paused = true
    if (!this.done) this.#owner.pause(this)
  }

  resume(): void {
    this.paused = false
    if (!this.done) this.#owner.resume(this)
  }

  bodyFailed(error: Error): void {
    if (!this.done) this.#owner.bodyFailed(this, error)
  }
}

/**
 * The connection broke under a request. Before any of it was written (its head waits for the
 * body's first bytes) the pod cannot have seen it: it goes again, whatever its method.
 */
export function loss(exchange: H1Exchange, why: string, cause: Error | null = null): Failure {
  const options = cause === null ? undefined : { cause }
  if (exchange.body !== null && !exchange.body.started) return new Failure('not_sent', `connection to the pod closed before the request was written: ${why}`, options)
  return new Failure('reset', why, options)
}
