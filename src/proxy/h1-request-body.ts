// The body of one HTTP/1.1 request from the app as the Readable its consumers take
// (transport/request-body.ts, broadcast.ts): the app connection pushes what its decoder yields,
// ends it when the body is complete, and destroys it with an error when the body is cut short or
// malformed, so that a pod sees an aborted request and never a complete one. Only requests that
// have a body get one.
import { Readable } from 'node:stream'

/** The connection the body arrives on. */
export interface BodySource {
  /** The consumer wants more: reading may go on if the body pushed back. */
  bodyWanted(): void
  /** The consumer let go before the end: the rest is read and dropped. */
  bodyDropped(body: H1RequestBody): void
}

export class H1RequestBody extends Readable {
  readonly #source: BodySource

  constructor(source: BodySource) {
    super()
    this.#source = source
    // Its reader may attach after the body failed (a request still queued for a connection): the
    // error stays on the stream (`errored`) for it to find, rather than crashing spoke unheard.
    this.on('error', ignore)
  }

  override _read(): void {
    this.#source.bodyWanted()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.readableEnded) this.#source.bodyDropped(this)
    callback(error)
  }
}

function ignore(): void {}
