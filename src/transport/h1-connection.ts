// One HTTP/1.1 keep-alive connection to a pod, spoken by spoke itself over a socket dial.ts
// connected: one request at a time, its head (and a body held whole) in one write, the answer
// read straight from the socket's reads by a state machine over spoke's strict codec (src/http1,
// h1-answer-reader.ts).
// It tells the engine what undici's handlers would hear (head, body chunks, end or error), as
// spoke's h2c streams do, so that forwarding, retries and the pool treat both alike; a request
// costs one small object here, no stream objects and no per-request closures.
import type net from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { H1AnswerReader, NO_TRAILERS, onRead, READ_BUFFER, READER, type ReadingSocket } from './h1-answer-reader.ts'
import { BodyWriter } from './h1-body-writer.ts'
import { type ExchangeOwner, H1Exchange, loss } from './h1-exchange.ts'
import { requestHead } from './h1-request-head.ts'
import { UNTIL_CLOSE } from './h1-response-head.ts'
import { type Connection, type ConnectionEvents, type DispatchHandler, type UpstreamRequest, NO_CONTEXT } from './connection.ts'
import { type DialConfig, dial } from './dial.ts'
import { Failure } from './failure.ts'
import { unrefTimer } from './slot.ts'

/**
 * A body held whole up to this size goes out in the head's own buffer (one write, one copy);
 * a larger one is written after it, corked into the same writev, rather than copied.
 */
const COPY_BODY_LIMIT = 16 * 1024

export class H1Connection implements Connection {
  readonly connectedAt: number
  readonly capacity = 1
  readonly exclusive = true
  readonly #socket: net.Socket
  readonly #events: ConnectionEvents
  /**
   * Nothing more is sent on it, nor reported of it: spoke closed it, it was lost, or it closes
   * once the answer in progress ends (the pool reads `closed` as the pod's close then).
   */
  #over = false
  /** The request in flight. */
  #exchange: H1Exchange | null = null
  /** The answer in flight, as far as it has been read. */
  readonly #answer = new H1AnswerReader({
    current: () => this.#exchange,
    fail: (exchange, failure) => this.#fail(exchange, failure, true),
    finish: (exchange, trailers, extra) => this.#finish(exchange, trailers, extra),
  })
  /** The socket reported an error (a reset): a loss is then `error`, not the pod's close. */
  #errored = false
  /** Closes the connection after sitting idle as long as the pod's Keep-Alive hint allows. */
  #idleTimer: NodeJS.Timeout | null = null
  #idleMs = 0
  readonly #owner: ExchangeOwner = {
    abort: (exchange, reason) => this.#fail(exchange, reason, true),
    pause: () => this.#socket.pause(),
    resume: () => this.#socket.resume(),
    bodyFailed: (exchange, error) => this.#fail(exchange, new Failure('reset', `the request body could not be sent whole: ${error.message}`, { cause: error }), true),
  }

  /**
   * Connects to the pod, its socket reading as the connection needs (see READ_BUFFER). HTTP/1.1
   * has no way to ask an idle connection whether the pod is there: TCP keepalive (dial.ts) does.
   */
  static open(host: string, port: number, config: DialConfig, events: ConnectionEvents): Promise<H1Connection> {
    return dial(host, port, config, { buffer: READ_BUFFER, callback: onRead }).then((socket) => new H1Connection(socket, events))
  }

  private constructor(socket: net.Socket, events: ConnectionEvents) {
    this.connectedAt = performance.now()
    this.#socket = socket
    this.#events = events
    ;(socket as ReadingSocket)[READER] = (length) => this.#read(length)
    // allowHalfOpen is off: Node ends spoke's side too, and 'close' follows.
    socket.on('end', () => this.#ended())
    // For good: no late error of this socket is ever unhandled.
    socket.on('error', (error: Error) => this.#closedUnder(error))
    socket.on('close', () => this.#closedUnder(null))
    socket.on('drain', () => this.#exchange?.body?.drained())
  }

  get closed(): boolean {
    return this.#over || this.#socket.destroyed
  }

  dispatch(request: UpstreamRequest, handler: DispatchHandler): void {
    const method = request.method
    const exchange = new H1Exchange(handler, method === 'HEAD', this.#owner)
    this.#exchange = exchange
    handler.onRequestStart?.(exchange, NO_CONTEXT)
    // Aborted as it started: failed already.
    if (exchange.done) return
    if (this.closed) {
      // Closed since the pool chose it (the pod's FIN arrived in between): nothing was written.
      this.#fail(exchange, new Failure('not_sent', 'connection to the pod closed before the request was written'), false)
      return
    }
    const body = request.body
    const held = body === null || body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : -1
    let head
    try {
      head = requestHead(method, request.path, request.headers, held)
    } catch (failure) {
      // Nothing was written: the connection is as good as it was.
      this.#fail(exchange, failure as Failure, false)
      return
    }
    const socket = this.#socket
    if (held < 0) {
      const writer = new BodyWriter(head.text, body as Readable, socket, head.bodyLength, exchange)
      exchange.body = writer
      writer.start()
      return
    }
    if (held === 0) {
      socket.write(head.text, 'latin1')
      return
    }
    const bytes = typeof body === 'string' ? Buffer.from(body) : body as Buffer
    const text = head.text
    if (held <= COPY_BODY_LIMIT) {
      const out = Buffer.allocUnsafe(text.length + held)
      out.write(text, 0, 'latin1')
      bytes.copy(out, text.length)
      socket.write(out)
    } else {
      socket.cork()
      socket.write(text, 'latin1')
      socket.write(bytes)
      socket.uncork()
    }
  }

  failureOf(error: Error): Failure {
    return error instanceof Failure ? error : new Failure('reset', error.message, { cause: error })
  }

  /** HTTP/1.1 cannot tell the pod that no request follows; the pool closes it once it is idle. */
  retire(): void {}

  close(): void {
    this.destroy()
  }

  /**
   * A request still in flight fails when the socket's close is reported, not from inside this
   * call: the pool destroys a connection from its own bookkeeping, which must be done first.
   */
  destroy(): void {
    if (this.#over && this.#socket.destroyed) return
    this.#over = true
    this.#stopIdleTimer()
    this.#socket.destroy()
  }

  // The answer (read by h1-answer-reader.ts).

  /** `length` bytes arrived in READ_BUFFER. */
  #read(length: number): void {
    const exchange = this.#exchange
    if (exchange === null) {
      // Bytes with no request in flight: the pod is broken, whatever they say.
      if (!this.#over) this.#lost('error')
      return
    }
    if (exchange.body !== null && !exchange.body.started) {
      // …or before any of the request went out (its head waits for the body's first bytes).
      this.#fail(exchange, new Failure('not_sent', 'the pod sent bytes before the request was written'), true)
      return
    }
    this.#answer.read(exchange, length)
  }

  /**
   * The answer is complete. `extra`: bytes followed it, which no request asked for: the pod is
   * broken, and the connection closes as an error.
   */
  #finish(exchange: H1Exchange, trailers: IncomingHttpHeaders, extra: boolean): void {
    this.#exchange = null
    exchange.done = true
    this.#answer.answered()
    const body = exchange.body
    // Answered before its body was sent whole (an early 413, say): what the pod makes of the
    // rest is unknown, so nothing else goes on this connection.
    const early = body !== null && !body.sent
    body?.stop()
    const last = extra || early || !this.#answer.framing.reusable
    if (extra) this.#lost('error')
    else if (last) this.#over = true
    else {
      if (exchange.paused) this.#socket.resume()
      this.#armIdleTimer(this.#answer.framing.idleMs)
    }
    exchange.handler.onResponseEnd?.(exchange, trailers)
    if (last) this.#socket.destroy()
  }

  /**
   * Ends the exchange with `failure`. `broken`: the connection cannot carry another request (its
   * framing is lost, or bytes may be on the wire), so it closes; the pool reads it as closed.
   */
  #fail(exchange: H1Exchange, failure: Error, broken: boolean): void {
    if (exchange.done) return
    exchange.done = true
    if (this.#exchange === exchange) {
      this.#exchange = null
      this.#answer.abandoned()
    }
    exchange.body?.stop()
    if (broken) {
      this.#over = true
      this.#stopIdleTimer()
      this.#socket.destroy()
    } else if (exchange.paused) {
      // Refused before a byte went out, after the engine paused it: the connection reads on.
      this.#socket.resume()
    }
    exchange.handler.onResponseError?.(exchange, failure)
  }

  /** The pod's FIN. */
  #ended(): void {
    const exchange = this.#exchange
    if (exchange === null) {
      // A FIN on an idle connection: the pod closing it (its idle timeout).
      this.#lost('remote_close')
      return
    }
    const answer = this.#answer
    if (answer.inBody && answer.framing.kind === UNTIL_CLOSE) {
      this.#finish(exchange, NO_TRAILERS, false)
      return
    }
    const what = answer.inBody ? 'in the middle of its answer' : answer.inHead ? 'in the middle of its answer\'s head' : 'without answering'
    this.#fail(exchange, loss(exchange, `the pod closed the connection ${what}`), true)
  }

  /** The socket errored or closed (a reset, or spoke's own destroy). */
  #closedUnder(error: Error | null): void {
    if (error !== null) this.#errored = true
    const exchange = this.#exchange
    if (exchange !== null) {
      const why = error?.message ?? (this.#answer.inBody && this.#answer.framing.kind === UNTIL_CLOSE ? 'the connection broke before the pod closed it' : 'the connection closed')
      this.#fail(exchange, loss(exchange, why, error), true)
      return
    }
    this.#lost(this.#errored ? 'error' : 'remote_close')
  }

  /** The connection is gone by itself, with no request in flight: the pool hears why. */
  #lost(reason: 'error' | 'remote_close' | 'idle'): void {
    if (this.#over) return
    this.#over = true
    this.#stopIdleTimer()
    this.#socket.destroy()
    this.#events.lost(reason)
  }

  /** After each answer, so that the timer runs from the moment the connection went idle. */
  #armIdleTimer(ms: number): void {
    if (ms === 0) {
      this.#stopIdleTimer()
      return
    }
    if (this.#idleTimer !== null && this.#idleMs === ms) {
      this.#idleTimer.refresh()
      return
    }
    this.#stopIdleTimer()
    this.#idleMs = ms
    // Firing while a request is in flight does nothing: its answer arms the timer again.
    this.#idleTimer = unrefTimer(() => {
      if (this.#exchange === null) this.#lost('idle')
    }, ms)
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer === null) return
    clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    this.#idleMs = 0
  }
}

