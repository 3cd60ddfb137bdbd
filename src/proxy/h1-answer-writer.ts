// How the answers on an app's HTTP/1.1 connection (app-connection.ts) reach its socket: the
// request in flight (h1-downstream.ts) writes its head and body through it, small pieces in one
// write, what it held back flushed at the end of the turn, and its drain listener behind the
// socket's one. One per connection.
import type { Socket } from 'node:net'
import { COPY_LIMIT } from './h1-downstream.ts'

export class H1AnswerWriter {
  readonly #socket: Socket
  readonly #flushPending: () => void
  #drainListener: (() => void) | null = null
  #drainWatched = false
  #flushQueued = false
  readonly #flushSoon = (): void => {
    this.#flushQueued = false
    this.#flushPending()
  }

  /** `flushPending`: the request in flight writes what it held back. */
  constructor(socket: Socket, flushPending: () => void) {
    this.#socket = socket
    this.#flushPending = flushPending
  }

  /** Writes `before`, `chunk` and `after` (latin1 text around a body chunk) in one write where they are small. */
  send(before: string, chunk: Buffer | null, after: string): boolean {
    const socket = this.#socket
    if (chunk === null) {
      const text = before + after
      return text === '' || socket.write(text, 'latin1')
    }
    if (before === '' && after === '') return socket.write(chunk)
    if (chunk.length <= COPY_LIMIT) {
      const out = Buffer.allocUnsafe(before.length + chunk.length + after.length)
      out.write(before, 0, 'latin1')
      out.set(chunk, before.length)
      out.write(after, before.length + chunk.length, 'latin1')
      return socket.write(out)
    }
    socket.cork()
    if (before !== '') socket.write(before, 'latin1')
    let more = socket.write(chunk)
    if (after !== '') more = socket.write(after, 'latin1')
    socket.uncork()
    return more
  }

  /** What respond() and write() held back goes out at the end of this turn, if nothing else sends it first. */
  flushSoon(): void {
    if (this.#flushQueued) return
    this.#flushQueued = true
    queueMicrotask(this.#flushSoon)
  }

  /** The request in flight's drain listener; one socket listener per connection, added when first needed. */
  onDrain(listener: () => void): void {
    if (!this.#drainWatched) {
      this.#drainWatched = true
      this.#socket.on('drain', () => this.#drainListener?.())
    }
    this.#drainListener = listener
  }

  /** The answer is complete: its drain listener is heard no more. */
  answered(): void {
    this.#drainListener = null
  }

  /** The answer was cut: the app sees the connection close. */
  cut(): void {
    this.#socket.destroy()
  }
}
