// A request body as the attempts of one exchange read it (SPEC §4). The first attempt streams it
// from the app; up to 64 KiB is kept as it passes, so that a later attempt (a retry, or a resend of
// a request the pod never processed) can send it again, on either protocol. The app's stream is
// read only as an attempt asks for more, so a request that never got a connection leaves its body
// untouched and can go elsewhere whatever its size. Envoy keeps such a retry buffer too.
//
// Both transports (spoke's HTTP/1.1 connection and its h2c streams) start reading the body in the
// tick the connection takes the request, and never destroy it: each attempt reads the app's
// stream itself, beside a listener of ours that keeps the copy, with no stream in between; an
// exchange that can never send its body again from a copy keeps none.
import type { Readable } from 'node:stream'

/** gRPC unary messages and ordinary API bodies fit; uploads do not need to. */
export const REPLAY_LIMIT_BYTES = 64 * 1024

export class RequestBody {
  readonly #source: Readable
  /** A copy is kept (while it fits): otherwise the body can go again only while none of it was read. */
  readonly #keep: boolean
  /** The copy; null once the body outgrew the limit, or when none is kept. */
  #chunks: Buffer[] | null
  #bytes = 0
  #attached = false
  /** Some of the body was read from the app, and so may have reached a pod. */
  #started = false
  #complete = false
  #waiting: (() => void) | null = null

  /**
   * `keep`: keep the copy, because a later attempt may send the body again once some of it went
   * out (a retry, a refused stream). The attempt that gets the app's stream must start reading it
   * in the tick it gets it (the copy's listener is attached then too).
   */
  constructor(source: Readable, options: { readonly keep: boolean }) {
    this.#source = source
    this.#keep = options.keep
    this.#chunks = options.keep ? [] : null
  }

  /** Whether another attempt can send the body: none of it read yet, or all of it read so far kept. */
  get canSendAgain(): boolean {
    if (!this.#keep) return !this.#source.readableDidRead
    return !this.#started || this.#chunks !== null
  }

  /** Whether the copy is still arriving: an attempt must wait for it (whenComplete) before resending. */
  get pending(): boolean {
    return this.#started && !this.#complete && this.#chunks !== null
  }

  /**
   * Calls back once the body has arrived completely, or outgrew the limit (then canSendAgain is
   * false). The app's stream keeps being read into the copy meanwhile.
   */
  whenComplete(callback: () => void): void {
    if (!this.pending) {
      callback()
      return
    }
    this.#waiting = callback
    this.#source.resume()
  }

  /** The body for the next attempt: the app's stream while none of it was read, else the copy. */
  next(): Readable | Buffer {
    if (!this.#keep) return this.#source
    if (this.#started || this.#complete) return Buffer.concat(this.#chunks ?? [], this.#bytes)
    this.#attach()
    return this.#source
  }

  #attach(): void {
    if (this.#attached) return
    this.#attached = true
    const source = this.#source
    source.on('data', (chunk: Buffer) => {
      this.#started = true
      this.#record(chunk)
    })
    source.once('end', () => {
      this.#complete = true
      this.#wake()
    })
    // The attempt reading the stream hears its errors; this listener only keeps them handled.
    source.once('error', () => {})
  }

  #record(chunk: Buffer): void {
    if (this.#chunks === null) return
    this.#bytes += chunk.length
    if (this.#bytes <= REPLAY_LIMIT_BYTES) {
      this.#chunks.push(chunk)
      return
    }
    this.#chunks = null
    this.#wake()
  }

  #wake(): void {
    const waiting = this.#waiting
    this.#waiting = null
    waiting?.()
  }
}
