// One HTTP/1.1 connection from the app. Requests are read with spoke's codec (src/http1/) one at
// a time: the next head is parsed only once the answer to the current request is complete, as
// HAProxy does. Pipelined requests wait in the buffer meanwhile, so answers go out in order, a
// refusal never overtakes the answer before it, and nothing behind an answer that closes the
// connection is ever forwarded.
//
// Time is kept without a timer per connection or per request: the adapter (app-h1.ts) sweeps
// its connections a few times per timeout. A connection notes when a head began to arrive in
// pieces; for its other waits (idle between requests, a close under way) when the sweep first
// saw it waiting, so that a request costs no reading of the clock.
import type { Socket } from 'node:net'
import { parseRequestHead, type RequestHeadWire } from '../http1/head.ts'
import { BAD_FRAMING, requestLog } from './access-log.ts'
import type { AppSide } from './app-side.ts'
import { type ErrorCode, rawHttp1Error } from './errors.ts'
import { H1AnswerWriter } from './h1-answer-writer.ts'
import { H1Downstream } from './h1-downstream.ts'
import { CHUNKED, readFraming } from './h1-framing.ts'
import { H1BodyReader } from './h1-body-reader.ts'
import { H1ReadBuffer } from './h1-read-buffer.ts'
import { H1RequestBody } from './h1-request-body.ts'
import { readRequestHead } from './request-head.ts'

/** What the adapter shares with all its connections. */
export interface AppH1Settings {
  readonly side: AppSide
  readonly limits: { readonly maxHeaderSize: number }
  /** The fields of an answer after which the connection stays open (Keep-Alive names idleTimeout). */
  readonly keepAliveFields: string
  /** The listener stopped accepting: answers carry `connection: close`, idle connections close. */
  readonly draining: boolean
  /** Bytes read ahead of the request in flight (pipelining) before the socket stops being read. */
  readonly readAhead: number
  closed(connection: AppConnection): void
}

/** What the connection is reading. */
type Reading =
  /** The next request's head (parsed once no answer is pending). */
  | 'head'
  /** A body of known length. */
  | 'length'
  | 'chunked'
  /** Nothing more: the connection is closing; whatever arrives is dropped. */
  | 'closing'

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n'

export class AppConnection {
  /** What the request in flight writes its answer through. */
  readonly answers: H1AnswerWriter
  readonly #socket: Socket
  readonly #settings: AppH1Settings
  #reading: Reading = 'head'
  /** Bytes read and not yet consumed: the start of the next request, or pipelined ones. */
  readonly #input = new H1ReadBuffer()
  /** The request being answered. */
  #current: H1Downstream | null = null
  /**
   * The latest request: its exchange may outlast its answer (spoke refused its body, and the pod
   * has yet to notice), and must hear if the connection closes.
   */
  #latest: H1Downstream | null = null
  /** Reading is paused because too much was read ahead (or because the body's reader pushes back: #bodies.full). */
  #aheadFull = false
  /**
   * When the connection's present wait began (a head arriving) or the sweep first saw it (an idle
   * keep-alive, a close under way); 0 until then.
   */
  #since = 0
  /** The request bodies, as they arrive. */
  readonly #bodies = new H1BodyReader<H1Downstream>({
    closing: () => this.#reading === 'closing',
    // Dropped: after the answer, a body nobody reads (being drained) keeps the connection from idling out.
    dropped: () => { if (this.#current === null) this.#since = 0 },
    flow: () => this.#flow(),
    ending: () => { this.#reading = 'head' },
    // The answer came first (the body was being drained): the connection moves on now.
    ended: () => { if (this.#current === null) this.#afterAnswer() },
    // A chunked body found malformed after its head went on. spoke's 400 is the request's answer,
    // if none has begun; it goes before the body's reader learns of the fault, so that whatever
    // the exchange answers then is too late.
    invalid: (request, reason) => {
      const text = rawHttp1Error('bad_request', this.#settings.side.upstream.name, `malformed request body: ${reason}`)
      if (request !== null && request === this.#current) request.refuseBody(text)
      else this.#close()
    },
  })
  // The socket's listeners, kept to be removed when an upgrade hands the socket over.
  readonly #onSocketData = (chunk: Buffer): void => this.#onData(chunk)
  readonly #onSocketEnd = (): void => this.#onEnd()
  readonly #onSocketClose = (): void => this.#onClose()

  constructor(socket: Socket, settings: AppH1Settings) {
    this.#socket = socket
    this.#settings = settings
    this.answers = new H1AnswerWriter(socket, () => this.#current?.flushPending())
    socket.on('data', this.#onSocketData)
    socket.on('end', this.#onSocketEnd)
    socket.on('close', this.#onSocketClose)
    socket.on('error', noop)
  }

  /** The connection's first bytes, read by the listener while it told HTTP/1.1 from HTTP/2. */
  start(first: Buffer): void {
    this.#onData(first)
  }

  get keepAliveFields(): string {
    return this.#settings.keepAliveFields
  }

  get draining(): boolean {
    return this.#settings.draining
  }

  // Reading.

  #onData(chunk: Buffer): void {
    switch (this.#reading) {
      case 'closing':
        return
      case 'length':
      case 'chunked': {
        const used = this.#bodies.read(chunk, 0)
        if (used === chunk.length) return
        chunk = chunk.subarray(used)
        if ((this.#reading as Reading) === 'closing') return
        break
      }
    }
    const input = this.#input
    // The first bytes of a request: its headersTimeout starts.
    if (input.add(chunk) && this.#current === null) this.#since = 0
    if (this.#current === null) this.#readHeads()
    else if (input.bytes.length > this.#settings.readAhead && !this.#aheadFull) {
      this.#aheadFull = true
      this.#flow()
    }
  }

  /** Parses and starts the requests buffered, one at a time, while no answer is pending. */
  #readHeads(): void {
    const limits = this.#settings.limits
    const input = this.#input
    while (this.#current === null && this.#reading === 'head' && input.bytes.length > 0) {
      const buffered = input.bytes
      if (!input.worthParsing(buffered, limits.maxHeaderSize)) return
      const result = parseRequestHead(buffered, 0, limits)
      if (result.kind === 'partial') {
        // headersTimeout runs from here, to the millisecond (the sweep is late by at most its
        // interval); a head that arrives whole, nearly every one, never reads the clock.
        if (this.#since === 0) this.#since = performance.now()
        input.tried = buffered.length
        // The codec judges the size; this only guards against a head it would let grow without end.
        if (buffered.length > limits.maxHeaderSize * 2 + 1024) this.#refuse('headers_too_large', undefined)
        return
      }
      input.tried = 0
      if (result.kind === 'invalid') {
        if (result.status === 431) this.#refuse('headers_too_large', undefined)
        else this.#refuse('bad_request', `malformed request: ${result.reason}`)
        return
      }
      input.consume(buffered, result.size)
      this.#request(result.head)
    }
  }

  #request(wire: RequestHeadWire): void {
    const side = this.#settings.side
    const head = readRequestHead(wire.raw, side.upstream.keyHeader)
    const framing = readFraming(wire, head)
    if (typeof framing === 'string') {
      // The body (if any) cannot be trusted to delimit the next request: nothing after it is read.
      if (side.accessLog) requestLog(side, wire.method, wire.target)(BAD_FRAMING)
      this.#refuse('bad_request', framing)
      return
    }
    if (framing.upgrade) {
      this.#upgrade(wire, framing.path, head)
      return
    }
    const length = framing.length
    const input = this.#input
    const wholeBody = input.wholeBody(length)
    const body = length === 0 || wholeBody !== null ? null : new H1RequestBody(this.#bodies)
    const downstream = new H1Downstream(this, wire.method, framing.path, head, body, wholeBody, wire.versionMinor === 0, framing.keepAlive && !this.#settings.draining)
    this.#current = downstream
    this.#latest = downstream
    if (body !== null) {
      const chunked = length === CHUNKED
      this.#reading = chunked ? 'chunked' : 'length'
      this.#bodies.start(body, downstream, chunked, length, this.#settings.limits.maxHeaderSize)
      // At once, before any of the body is read (as Node's server did): the app may be waiting for it.
      if (framing.expectContinue) this.#socket.write(CONTINUE, 'latin1')
    }
    if (side.accessLog) downstream.logWith(requestLog(side, wire.method, framing.path))
    side.serve(downstream)
    if (input.bytes.length > 0 && (this.#reading === 'length' || this.#reading === 'chunked')) {
      const rest = input.bytes
      const used = this.#bodies.read(rest, 0)
      if ((this.#reading as Reading) !== 'closing') input.consume(rest, used)
    }
  }

  #flow(): void {
    const socket = this.#socket
    if (this.#bodies.full || this.#aheadFull) socket.pause()
    else socket.resume()
  }

  // Answering: what the request in flight calls (it writes through `answers`).

  /** The answer to `request` is complete. */
  answered(request: H1Downstream): void {
    if (request !== this.#current) return
    this.#current = null
    this.answers.answered()
    request.logged()
    if (!request.keepAlive || this.#settings.draining) {
      this.#close()
      return
    }
    // A body still arriving is read and dropped (Node's server does the same); the next
    // request is read once it has ended. Nobody reads it any more: the exchange is over.
    const bodies = this.#bodies
    if (bodies.answered(request)) {
      this.#since = 0
      if (bodies.full) {
        bodies.full = false
        this.#flow()
      }
      return
    }
    this.#afterAnswer()
  }

  /** The connection is ready for its next request. */
  #afterAnswer(): void {
    if (this.#settings.draining) {
      this.#close()
      return
    }
    this.#since = 0
    if (this.#aheadFull) {
      this.#aheadFull = false
      this.#flow()
    }
    // Pipelined requests: parsed on the next microtask, not inside the callback that ended this answer.
    if (this.#input.bytes.length > 0) queueMicrotask(() => this.#readHeads())
  }

  // Ending the connection.

  /** No more requests: the socket ends after what was written, with `text` (an answer spoke makes itself) last. */
  #close(text?: string): void {
    if (this.#reading === 'closing') return
    this.#reading = 'closing'
    this.#input.clear()
    this.#since = 0
    // A body cut off here never completes: whoever still reads it sees it aborted.
    this.#bodies.abort('aborted: the connection closes before the end of the body')
    // Whatever the app still sends is read and dropped until it closes its side (or the sweep
    // gives up on it): closing with unread bytes would reset the connection, and the app could
    // lose the answer.
    this.#aheadFull = false
    this.#bodies.full = false
    this.#flow()
    if (text === undefined) this.#socket.end()
    else this.#socket.end(text, 'latin1')
  }

  /** A refusal while no answer is pending: spoke's error, and the connection closes. */
  #refuse(code: ErrorCode, message: string | undefined): void {
    const side = this.#settings.side
    side.counts.byStatus[code === 'headers_too_large' ? 431 : 400]++
    side.log.debug('malformed request refused', { listener: side.config.name, code, reason: message })
    this.#close(rawHttp1Error(code, side.upstream.name, message))
  }

  #upgrade(wire: RequestHeadWire, path: string, head: ReturnType<typeof readRequestHead>): void {
    const socket = this.#socket
    const early = this.#input.take()
    this.#reading = 'closing'
    socket.off('data', this.#onSocketData)
    socket.off('end', this.#onSocketEnd)
    socket.off('close', this.#onSocketClose)
    socket.off('error', noop)
    // Not read until the tunnel pipes it (as Node's server leaves an upgraded socket).
    socket.pause()
    this.#settings.closed(this)
    this.#settings.side.upgrade({ method: wire.method, path, head, rawHeaders: wire.raw, client: socket, early })
  }

  /** The app half-closed. A request in flight is taken as abandoned (as Node's server takes it). */
  #onEnd(): void {
    if (this.#reading === 'closing') return
    if (this.#current !== null || this.#bodies.active) {
      this.#socket.destroy()
      return
    }
    // A head cut short by the end of the stream: a malformed request, as Node's parser found it.
    if (this.#input.bytes.length > 0 && !this.#input.blank) this.#refuse('bad_request', 'malformed request: the connection ended inside a request head')
  }

  #onClose(): void {
    this.#reading = 'closing'
    this.#settings.closed(this)
    this.#bodies.closed('aborted: the app closed the connection')
    this.#current = null
    const latest = this.#latest
    this.#latest = null
    latest?.closed()
  }

  /** At the drain: a connection with nothing in progress closes now; the others after their answer. */
  drain(): void {
    if (this.#current === null && this.#reading === 'head' && this.#input.bytes.length === 0) this.#socket.destroy()
  }

  destroy(): void {
    this.#socket.destroy()
  }

  /** The sweep: `now` in ms (performance.now()). */
  sweep(now: number, headersTimeoutMs: number, idleTimeoutMs: number): void {
    // A request in flight: spoke's request timeout governs it.
    if (this.#current !== null) return
    if (this.#since === 0) {
      this.#since = now
      return
    }
    const waited = now - this.#since
    if (this.#reading === 'closing') {
      // The app never closed its side after spoke's.
      if (waited > headersTimeoutMs) this.#socket.destroy()
    } else if (this.#reading !== 'head' || this.#input.bytes.length === 0) {
      // Idle between requests, or a body being drained after its answer that stopped arriving.
      if (waited > idleTimeoutMs) this.#socket.destroy()
    } else if (waited > headersTimeoutMs) {
      // headersTimeout: the head began but did not end in time (SPEC §8: 408 when part of a request arrived).
      this.#settings.side.counts.byStatus[408]++
      this.#close('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    }
  }
}

function noop(): void {}
