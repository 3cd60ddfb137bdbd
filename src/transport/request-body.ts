// A request body as the attempts of one exchange read it (SPEC §4). The first attempt streams it
// from the app; up to 64 KiB is kept as it passes, so that a later attempt (a retry, or a resend of
// a request the pod never processed) can send it again, on either protocol. The app's stream is
// read only as an attempt asks for more, so a request that never got a connection leaves its body
// untouched and can go elsewhere whatever its size. Envoy keeps such a retry buffer too.
import { Readable } from 'node:stream'

/** gRPC unary messages and ordinary API bodies fit; uploads do not need to. */
export const REPLAY_LIMIT_BYTES = 64 * 1024

export class RequestBody {
  readonly #source: Readable
  /** The copy; null once the body outgrew the limit. */
  #chunks: Buffer[] | null = []
  #bytes = 0
  #attached = false
  /** Some of the body was read from the app, and so may have reached a pod. */
  #started = false
  #complete = false
  /** The current attempt's view of the body; null between attempts. */
  #tap: Readable | null = null
  #waiting: (() => void) | null = null

  constructor(source: Readable) {
    this.#source = source
  }

  /** Whether another attempt can send the body: none of it read yet, or all of it read so far kept. */
  get canSendAgain(): boolean {
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
    if (this.#started || this.#complete) return Buffer.concat(this.#chunks ?? [], this.#bytes)
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
    if (this.#attached) {
      this.#source.resume()
      return
    }
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
