// A request body as the attempts of one exchange read it (SPEC §4). The first attempt streams it
// from the app; up to 64 KiB is kept as it passes, so that a later attempt (a retry, or a resend of
// a request the pod never processed) can send it again, on either protocol. The app's stream is
// read only as an attempt asks for more, so a request that never got a connection leaves its body
// untouched and can go elsewhere whatever its size. Envoy keeps such a retry buffer too.
//
// A view (a stream between the app's and the attempt) costs CPU on every request with a body, so
// it is used only where it must be: undici attaches its reader some time after dispatch and
// destroys the body it was given. A transport that starts reading the body in the same tick as
// dispatch (spoke's h2c streams) reads the app's stream itself, beside a listener that keeps the
// copy; an exchange that can never send its body again from a copy keeps none.
import { Readable } from 'node:stream'

/** gRPC unary messages and ordinary API bodies fit; uploads do not need to. */
export const REPLAY_LIMIT_BYTES = 64 * 1024

export class RequestBody {
  readonly #source: Readable
  /** The attempt reads the app's stream itself: no view, no copy. */
  readonly #direct: boolean
  /** The attempt reads the app's stream itself, and a listener of ours keeps the copy. */
  readonly #shared: boolean
  /** The copy; null once the body outgrew the limit, or when none is kept. */
  #chunks: Buffer[] | null
  #bytes = 0
  #attached = false
  /** Some of the body was read from the app, and so may have reached a pod. */
  #started = false
  #complete = false
  /** The current attempt's view of the body; null between attempts. */
  #tap: Readable | null = null
  #waiting: (() => void) | null = null

  /**
   * `keep`: keep the copy, because a later attempt may send the body again once some of it went
   * out (a retry, a refused stream). `view`: give each attempt a stream of its own (undici: it
   * attaches late, and destroys the body it was given, which for an HTTP/2 app is the stream that
   * carries the answer). Without a view, the attempt gets the app's stream itself and must start
   * reading it in the tick it gets it (the copy's listener is attached then too).
   */
  constructor(source: Readable, options: { readonly keep: boolean; readonly view: boolean }) {
    this.#source = source
    this.#chunks = options.keep ? [] : null
    this.#direct = !options.keep && !options.view
    this.#shared = options.keep && !options.view
  }

  /** Whether another attempt can send the body: none of it read yet, or all of it read so far kept. */
  get canSendAgain(): boolean {
    if (this.#direct) return !this.#source.readableDidRead
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
    if (this.#direct) return this.#source
    if (this.#started || this.#complete) return Buffer.concat(this.#chunks ?? [], this.#bytes)
    if (this.#shared) {
      this.#attach()
      return this.#source
    }
    const tap: Readable = new Readable({
      read: () => this.#read(),
      destroy: (err, callback) => {
        if (this.#tap === tap) this.#detach()
        callback(err)
      },
    })
    this.#tap = tap
    return tap
  }

  #read(): void {
    if (this.#attached) this.#source.resume()
    else this.#attach()
  }

  #attach(): void {
    if (this.#attached) return
    this.#attached = true
    const source = this.#source
    source.on('data', (chunk: Buffer) => {
      this.#started = true
      this.#record(chunk)
      if (this.#tap !== null && !this.#tap.push(chunk)) source.pause()
    })
    source.once('end', () => {
      this.#complete = true
      this.#tap?.push(null)
      this.#wake()
    })
    source.once('error', (err: Error) => this.#tap?.destroy(err))
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

  /**
   * The attempt is over (undici destroys its body when done or failed). The rest of the body is
   * still read, into the copy while it fits, so that a resend can have it whole and the app's
   * connection is not left holding unread bytes (Node's server does the same with a body nobody read).
   */
  #detach(): void {
    this.#tap = null
    if (this.#attached) this.#source.resume()
  }

  #wake(): void {
    const waiting = this.#waiting
    this.#waiting = null
    waiting?.()
  }
}
