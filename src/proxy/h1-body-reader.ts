// The body of the request being read on an app's HTTP/1.1 connection (app-connection.ts): its
// bytes, by Content-Length or chunked (ChunkedDecoder), go to the request's H1RequestBody, with
// backpressure; a body nobody reads any more (answered, or let go) is read and dropped so that the
// connection can carry the next request; one cut short or malformed is destroyed, so that a pod
// sees an aborted request and never a complete one. One per connection; the connection keeps the
// socket and decides what the body's end or fault means for it.
import { ChunkedDecoder } from '../http1/chunked.ts'
import type { BodySource, H1RequestBody } from './h1-request-body.ts'

/** The request a body belongs to (H1Downstream). */
interface BodyRequest {
  requestCompleted(): void
}

/** What the reader asks of its connection. */
export interface BodyReaderOwner<R extends BodyRequest> {
  /** The connection is closing: nothing more is read. */
  closing(): boolean
  /** A dropped piece of a body arrived. */
  dropped(): void
  /** The socket pauses or resumes: `full` changed. */
  flow(): void
  /** The body ended whole: the next request's head is read next (before anyone hears of the end). */
  ending(): void
  /** The body ended whole, and everyone heard. */
  ended(): void
  /** A chunked body is malformed, after its head went on. `request` is whose body it was. */
  invalid(request: R | null, reason: string): void
}

export class H1BodyReader<R extends BodyRequest> implements BodySource {
  readonly #owner: BodyReaderOwner<R>
  /** The body being read; null when there is none or nobody reads it any more (then its bytes are dropped). */
  #body: H1RequestBody | null = null
  /** The request whose body is being read (it may already be answered). */
  #bodyOf: R | null = null
  #byLength = false
  #left = 0
  #chunked: ChunkedDecoder | null = null
  /** Reading is paused because the body's reader pushes back. */
  full = false
  readonly #onBodyData = (data: Buffer): void => this.#deliver(data)

  constructor(owner: BodyReaderOwner<R>) {
    this.#owner = owner
  }

  /** A body is being read (its request may already be answered). */
  get active(): boolean {
    return this.#bodyOf !== null
  }

  /** `request`'s body is read next: `length` bytes, or chunked (a trailer up to `maxTrailerSize`). */
  start(body: H1RequestBody, request: R, chunked: boolean, length: number, maxTrailerSize: number): void {
    this.#body = body
    this.#bodyOf = request
    if (chunked) {
      this.#byLength = false
      this.#chunked = new ChunkedDecoder({ maxTrailerSize })
    } else {
      this.#byLength = true
      this.#left = length
    }
  }

  /** Reads body bytes from `offset`; returns where the body ended in `data` (data.length if it did not). */
  read(data: Buffer, offset: number): number {
    if (this.#byLength) {
      const n = Math.min(this.#left, data.length - offset)
      this.#left -= n
      this.#deliver(offset === 0 && n === data.length ? data : data.subarray(offset, offset + n))
      // Its reader may have answered, and closed the connection, as the data arrived (broadcast's 413).
      if (this.#owner.closing()) return data.length
      if (this.#left === 0) this.#ended()
      return offset + n
    }
    const decoder = this.#chunked!
    const used = decoder.feed(data, offset, this.#onBodyData)
    if (this.#chunked !== decoder) return data.length
    if (used === -1) {
      this.#invalid(decoder.error ?? 'malformed chunked body')
      return data.length
    }
    if (decoder.done) this.#ended()
    return used
  }

  #deliver(data: Buffer): void {
    const body = this.#body
    if (body === null) {
      this.#owner.dropped()
      return
    }
    if (data.length > 0 && !body.push(data) && !this.full) {
      this.full = true
      this.#owner.flow()
    }
  }

  #ended(): void {
    const body = this.#body
    this.#body = null
    this.#chunked = null
    this.#owner.ending()
    this.#bodyOf?.requestCompleted()
    this.#bodyOf = null
    body?.push(null)
    if (this.full) {
      this.full = false
      this.#owner.flow()
    }
    this.#owner.ended()
  }

  /** A chunked body found malformed after its head went on: the pod sees its request aborted. */
  #invalid(reason: string): void {
    const body = this.#body
    const request = this.#bodyOf
    this.#body = null
    this.#bodyOf = null
    this.#chunked = null
    this.#owner.invalid(request, reason)
    body?.destroy(new Error(`malformed request body: ${reason}`))
  }

  bodyWanted(): void {
    if (!this.full) return
    this.full = false
    this.#owner.flow()
  }

  bodyDropped(body: H1RequestBody): void {
    if (body !== this.#body) return
    // The rest of the body is read and dropped (so that the connection can carry the next
    // request), unless the answer closes the connection first.
    this.#body = null
    if (this.full) {
      this.full = false
      this.#owner.flow()
    }
  }

  /**
   * `request` is answered: a body of its still arriving is read and dropped (Node's server does
   * the same); the next request is read once it has ended. Nobody reads it any more: the exchange
   * is over. False when no body of `request` is being read.
   */
  answered(request: R): boolean {
    if (this.#bodyOf !== request) return false
    this.#bodyOf = null
    this.#body = null
    return true
  }

  /** The connection closes: a body cut off here never completes; whoever still reads it sees it aborted. */
  abort(message: string): void {
    const body = this.#body
    this.#body = null
    this.#bodyOf = null
    this.#chunked = null
    body?.destroy(new Error(message))
  }

  /** The connection closed: whoever still reads the body sees it aborted. */
  closed(message: string): void {
    const body = this.#body
    this.#body = null
    body?.destroy(new Error(message))
  }
}
