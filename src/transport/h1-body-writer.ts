// A request streamed to a pod over HTTP/1.1: its head goes out with the body's first bytes (so
// that a body the app side refuses before any of it arrives never reaches the pod, and head and
// first chunk share a write), and the body is read from the app's stream (or the copy's) only as
// fast as the socket takes it, framed as chunked or held to the Content-Length the head declared,
// so that the pod never sees a body end where it did not.
import type net from 'node:net'
import type { Readable } from 'node:stream'
import { chunkHeader, lastChunk } from '../http1/chunked.ts'
import { CHUNKED } from './h1-request-head.ts'

/** Told when the body cannot be sent whole. */
export interface BodyOwner {
  bodyFailed(error: Error): void
}

export class BodyWriter {
  readonly #body: Readable
  readonly #socket: net.Socket
  readonly #owner: BodyOwner
  /** The request's head until it goes out. */
  #head: string | null
  /** Bytes still due under a Content-Length; CHUNKED when chunked. */
  #left: number
  /** Sent whole, failed, or stopped: its listeners are off. */
  #over = false
  #sent = false
  readonly #onData = (chunk: Buffer): void => this.#data(chunk)
  readonly #onEnd = (): void => this.#end()
  readonly #onError = (error: Error): void => this.#fail(error)
  // A stream that closes without 'end' was cut off (the app went away mid-body).
  readonly #onClose = (): void => this.#fail(new Error('the request body ended before it was complete'))

  /** `length`: the declared Content-Length, or CHUNKED. */
  constructor(head: string, body: Readable, socket: net.Socket, length: number, owner: BodyOwner) {
    this.#head = head
    this.#body = body
    this.#socket = socket
    this.#left = length
    this.#owner = owner
  }

  /** Some of the request went out (its head, at least): the pod may have seen it. */
  get started(): boolean {
    return this.#head === null
  }

  /** The whole body went out. */
  get sent(): boolean {
    return this.#sent
  }

  /** Starts reading the body, in this tick: a RequestBody that keeps a copy relies on it. */
  start(): void {
    const body = this.#body
    body.on('data', this.#onData)
    body.once('end', this.#onEnd)
    body.once('error', this.#onError)
    body.once('close', this.#onClose)
    // A body an earlier attempt left unread was paused by it (stop()).
    body.resume()
  }

  /** The socket took what it had buffered. */
  drained(): void {
    if (!this.#over) this.#body.resume()
  }

  /**
   * The attempt is over (answered early, failed, abandoned): nothing more is sent. A body none
   * of which was read is left so, paused, for another attempt to send whole. Otherwise the rest
   * is read and dropped, as Node's server drops a body nobody reads (a RequestBody keeping a
   * copy reads it into the copy).
   */
  stop(): void {
    if (this.#over) return
    this.#detach()
    if (this.#head !== null) this.#body.pause()
    else if (!this.#body.readableEnded) this.#body.resume()
  }

  #data(chunk: Buffer): void {
    if (chunk.length === 0) return
    const socket = this.#socket
    const chunked = this.#left === CHUNKED
    if (!chunked && chunk.length > this.#left) {
      this.#fail(new Error('the request body is longer than its Content-Length'))
      return
    }
    // One writev for the pieces.
    socket.cork()
    this.#writeHead()
    let more: boolean
    if (chunked) {
      socket.write(chunkHeader(chunk.length), 'latin1')
      socket.write(chunk)
      more = socket.write('\r\n', 'latin1')
    } else {
      this.#left -= chunk.length
      more = socket.write(chunk)
      // All the pod was promised is on its way: it may answer before the stream says 'end'.
      if (this.#left === 0) this.#sent = true
    }
    socket.uncork()
    if (!more) this.#body.pause()
  }

  #end(): void {
    if (this.#left > 0) {
      this.#fail(new Error(`the request body ended ${this.#left} bytes short of its Content-Length`))
      return
    }
    const socket = this.#socket
    socket.cork()
    this.#writeHead()
    if (this.#left === CHUNKED) socket.write(lastChunk(), 'latin1')
    socket.uncork()
    this.#sent = true
    this.#detach()
  }

  #writeHead(): void {
    if (this.#head === null) return
    this.#socket.write(this.#head, 'latin1')
    this.#head = null
  }

  #fail(error: Error): void {
    if (this.#over) return
    this.#detach()
    this.#owner.bodyFailed(error)
  }

  #detach(): void {
    this.#over = true
    const body = this.#body
    body.off('data', this.#onData)
    body.off('end', this.#onEnd)
    body.off('close', this.#onClose)
    // The error listener stays: an app stream erroring after the attempt must not be unhandled.
  }
}
