// The answer to a request on a pod's HTTP/1.1 connection (h1-connection.ts), read straight from
// the socket's reads: a state machine over spoke's strict codec (src/http1) that parses the head,
// takes its framing, and hands the body to the engine by length, chunked or until the pod closes.
// One per connection; it keeps no request of its own: the connection says which is in flight, and
// ends the exchange when the reader finds it answered or broken.
import type net from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import { ChunkedDecoder } from '../http1/chunked.ts'
import { parseResponseHead } from '../http1/head.ts'
import type { H1Exchange } from './h1-exchange.ts'
import { CHUNKED, fieldsObject, Framing, LENGTH, NO_BODY, readResponseHead } from './h1-response-head.ts'
import { Failure } from './failure.ts'

/** Node's own limit for a head (--max-http-header-size), which undici applied to answers too. */
const HEAD_LIMITS = { maxHeaderSize: 16 * 1024 }
const TRAILER_LIMITS = { maxTrailerSize: 16 * 1024 }
export const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({})

/**
 * Every HTTP/1.1 connection's socket reads into this one buffer (net's `onread`) and hands the
 * bytes to its connection at once: no Buffer allocated per read, none of a Readable's machinery
 * (its buffering, 'data' events, a nextTick per read). What must outlive the call (body chunks
 * for the engine, an incomplete head) is copied out; the rest is parsed in place.
 */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
export const READER = Symbol('spoke.h1.reader')
export type ReadingSocket = net.Socket & { [READER]?: (length: number) => void }

/** net's onread callback, called on the socket; true: go on reading (pausing is socket.pause()). */
export function onRead(this: ReadingSocket, length: number): boolean {
  const reader = this[READER]
  // Bytes before the connection exists: no request was sent, so the pod is broken.
  if (reader === undefined) this.destroy()
  else reader(length)
  return true
}

/** A copy of buffer[start, end) that outlives the read it came in. */
function copied(buffer: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  buffer.copy(out, 0, start, end)
  return out
}

/** What the reader asks of its connection. */
export interface AnswerOwner {
  /** The request in flight: an exchange ended (or replaced) under a callback is read no further. */
  current(): H1Exchange | null
  /** The exchange fails, and the connection closes. */
  fail(exchange: H1Exchange, failure: Error): void
  /** The answer is complete (see H1Connection's #finish). */
  finish(exchange: H1Exchange, trailers: IncomingHttpHeaders, extra: boolean): void
}

export class H1AnswerReader {
  readonly #owner: AnswerOwner
  /** Where the answer in flight is: waiting for its head, or in a body framed per `framing`. */
  #inBody = false
  readonly framing = new Framing()
  /** Body bytes still due under a Content-Length. */
  #left = 0
  #chunks: ChunkedDecoder | null = null
  /** The head's bytes so far, while it is incomplete. */
  #partial: Buffer | null = null
  readonly #onBodyChunk = (data: Buffer): void => {
    const exchange = this.#owner.current()
    if (exchange !== null) exchange.handler.onResponseData?.(exchange, copied(data, 0, data.length))
  }

  constructor(owner: AnswerOwner) {
    this.#owner = owner
  }

  get inBody(): boolean {
    return this.#inBody
  }

  /** Part of a head arrived. */
  get inHead(): boolean {
    return this.#partial !== null
  }

  /** The answer is over: the next one starts with a head. */
  answered(): void {
    this.#inBody = false
    this.#chunks = null
  }

  /** The exchange ended before its answer did: whatever was read of it is dropped. */
  abandoned(): void {
    this.#inBody = false
    this.#chunks = null
    this.#partial = null
  }

  /** `length` bytes of `exchange`'s answer arrived in READ_BUFFER. */
  read(exchange: H1Exchange, length: number): void {
    let buffer: Buffer
    if (this.#partial === null) {
      buffer = READ_BUFFER.subarray(0, length)
    } else {
      buffer = Buffer.concat([this.#partial, READ_BUFFER.subarray(0, length)])
      this.#partial = null
    }
    let at = 0
    while (at < buffer.length) {
      at = this.#inBody ? this.#body(exchange, buffer, at) : this.#head(exchange, buffer, at)
      if (at < 0 || this.#owner.current() !== exchange) return
    }
  }

  /** Returns where the bytes after the head start, or -1 once the exchange is over. */
  #head(exchange: H1Exchange, buffer: Buffer, at: number): number {
    const result = parseResponseHead(buffer, at, HEAD_LIMITS)
    if (result.kind === 'partial') {
      this.#partial = copied(buffer, at, buffer.length)
      return buffer.length
    }
    if (result.kind === 'invalid') {
      this.#owner.fail(exchange, new Failure('reset', `the pod's answer is malformed: ${result.reason}`))
      return -1
    }
    const wire = result.head
    const next = at + result.size
    if (wire.status < 200) {
      // 101 switches protocols, which spoke never asks a pod for (tunnels do not come here).
      if (wire.status === 101) {
        this.#owner.fail(exchange, new Failure('reset', 'the pod switched protocols (101) on a request that asked for no upgrade'))
        return -1
      }
      // 100 Continue, 103 Early Hints: interim; the final answer follows.
      return next
    }
    const framing = this.framing
    const headers = readResponseHead(wire, exchange.head, framing)
    if (typeof headers === 'string') {
      this.#owner.fail(exchange, new Failure('reset', `the pod's answer is framed ambiguously: ${headers}`))
      return -1
    }
    exchange.handler.onResponseStart?.(exchange, wire.status, headers, wire.reason)
    if (this.#owner.current() !== exchange) return -1
    switch (framing.kind) {
      case NO_BODY:
        this.#owner.finish(exchange, NO_TRAILERS, next < buffer.length)
        return -1
      case LENGTH: this.#left = framing.length; break
      case CHUNKED: this.#chunks = new ChunkedDecoder(TRAILER_LIMITS); break
    }
    this.#inBody = true
    return next
  }

  /** Returns where the bytes after the body start, or -1 once the exchange is over. */
  #body(exchange: H1Exchange, buffer: Buffer, at: number): number {
    switch (this.framing.kind) {
      case LENGTH: {
        const end = Math.min(buffer.length, at + this.#left)
        this.#left -= end - at
        exchange.handler.onResponseData?.(exchange, copied(buffer, at, end))
        if (this.#owner.current() !== exchange) return -1
        if (this.#left > 0) return end
        this.#owner.finish(exchange, NO_TRAILERS, end < buffer.length)
        return -1
      }
      case CHUNKED: {
        const chunks = this.#chunks!
        const end = chunks.feed(buffer, at, this.#onBodyChunk)
        if (this.#owner.current() !== exchange) return -1
        if (end < 0) {
          this.#owner.fail(exchange, new Failure('reset', `the pod's chunked answer is malformed: ${chunks.error}`))
          return -1
        }
        if (!chunks.done) return buffer.length
        this.#owner.finish(exchange, chunks.trailers.length === 0 ? NO_TRAILERS : fieldsObject(chunks.trailers), end < buffer.length)
        return -1
      }
      default:
        // UNTIL_CLOSE: everything until the pod's FIN.
        exchange.handler.onResponseData?.(exchange, copied(buffer, at, buffer.length))
        return buffer.length
    }
  }
}
