// The bytes an app's HTTP/1.1 connection (app-connection.ts) has read and not yet consumed: the
// start of the next request's head, or pipelined requests waiting for the answer before them. A
// head that arrives in pieces grows in room spoke allocated for it, and is parsed again only once
// it may have ended: a client sending its head a byte at a time costs linear work, not quadratic.
// One per connection.
import { REPLAY_LIMIT_BYTES } from '../transport/request-body.ts'

const EMPTY = Buffer.alloc(0)

export class H1ReadBuffer {
  /** Bytes read and not yet consumed: the start of the next request, or pipelined ones. */
  bytes: Buffer = EMPTY
  /** The buffer spoke allocated for `bytes` to grow in (#append). */
  #store: Buffer = EMPTY
  /** `bytes`' length when the codec last found it partial (a head is parsed again only once it has grown enough). */
  tried = 0

  /** Adds `chunk`; true when nothing was buffered before it. */
  add(chunk: Buffer): boolean {
    if (this.bytes.length === 0) {
      this.bytes = chunk
      this.#store = EMPTY
      return true
    }
    this.#append(chunk)
    return false
  }

  /**
   * Adds `chunk` after the bytes buffered, in room left after them when there is some: a head
   * sent a byte at a time costs linear copying, not a copy of all of it per byte.
   */
  #append(chunk: Buffer): void {
    const buffered = this.bytes
    const store = this.#store
    const end = buffered.byteOffset + buffered.length - store.byteOffset
    const length = buffered.length + chunk.length
    if (buffered.buffer === store.buffer && end >= 0 && end + chunk.length <= store.length) {
      // Nothing after `end` in the store is in use: body data handed on lies before it.
      store.set(chunk, end)
      this.bytes = store.subarray(end - buffered.length, end + chunk.length)
      return
    }
    const grown = Buffer.allocUnsafe(Math.max(2 * length, 4096))
    grown.set(buffered, 0)
    grown.set(chunk, buffered.length)
    this.#store = grown
    this.bytes = grown.subarray(0, length)
  }

  /** The first `n` bytes of `buffered` (`bytes`) are read. */
  consume(buffered: Buffer, n: number): void {
    if (n < buffered.length) {
      this.bytes = buffered.subarray(n)
      return
    }
    this.clear()
  }

  /**
   * A body of `length` bytes that came whole with its head (most small ones) is handed on as it
   * is: no stream. Up to what an exchange keeps of a streamed body for sending again, so that
   * whether a body can go again does not depend on how it was read. Null when it is not so.
   */
  wholeBody(length: number): Buffer | null {
    const buffered = this.bytes
    if (length > 0 && length <= REPLAY_LIMIT_BYTES && buffered.length >= length) {
      this.consume(buffered, length)
      return buffered.subarray(0, length)
    }
    return null
  }

  /** What is buffered, handed over (to an upgrade's tunnel): nothing is buffered after. */
  take(): Buffer {
    const early = this.bytes
    this.bytes = EMPTY
    return early
  }

  /** Nothing is buffered; an idle connection holds no buffer of its own. */
  clear(): void {
    this.bytes = EMPTY
    this.#store = EMPTY
  }

  /**
   * A head that arrives in pieces is parsed again only when the new bytes may end it, or when the
   * buffer has doubled: a client sending its head a byte at a time costs linear work, not quadratic.
   */
  worthParsing(buffered: Buffer, maxHeaderSize: number): boolean {
    const tried = this.tried
    if (buffered.length >= tried * 2 || buffered.length > maxHeaderSize) return true
    for (let i = buffered.indexOf(10, Math.max(0, tried - 2)); i !== -1; i = buffered.indexOf(10, i + 1)) {
      const next = buffered[i + 1]
      if (next === 10 || (next === 13 && buffered[i + 2] === 10)) return true
    }
    return false
  }

  /** Only line ends are buffered (what may precede a request). */
  get blank(): boolean {
    for (const byte of this.bytes) if (byte !== 13 && byte !== 10) return false
    return true
  }
}
