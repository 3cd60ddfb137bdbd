// The app's HTTP/1.1 connections: Node's server (llhttp, strict) parses them; what it refuses,
// and what it lets through but a proxy must not forward (h1-framing.ts), gets spoke's error
// answer and the connection closes. Each request that passes becomes an H1Downstream.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { logRequest } from './access-log.ts'
import type { AppSide } from './app-side.ts'
import { afterLastAnswer, closeAfterCurrentAnswer, endAfterAnswers, lastAnswer, partialRequestArrived, responseCreated, watchClientSocket } from './client-socket.ts'
import { type ErrorCode, rawHttp1Error } from './errors.ts'
import { asksToClose, checkRequest } from './h1-framing.ts'
import { H1Downstream } from './h1-downstream.ts'
import { readRequestHead } from './request-head.ts'

export class AppH1 {
  readonly #side: AppSide
  /** Never listens: the listener hands it the connections that are not HTTP/2. */
  readonly #server: http.Server
  /** At the drain, the answers these connections are waiting for close them. */
  readonly #sockets = new Set<Socket>()
  #draining = false

  constructor(side: AppSide) {
    this.#side = side
    const config = side.config
    this.#server = http.createServer({
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.idleTimeoutMs,
      // spoke's own per-upstream timeout governs whole requests.
      requestTimeout: 0,
      maxHeaderSize: config.maxHeaderSize,
      // Node checks headersTimeout on this interval; its 30 s default would stretch a 10 s limit.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, config.headersTimeoutMs / 4)),
      // A missing Host gets spoke's own 400 rather than Node's bare one.
      requireHostHeader: false,
    }, side.accessLog
      ? (req, res) => {
        logRequest(side, req.method!, req.url!, res, () => ({ headersSent: res.headersSent, status: res.statusCode }))
        this.#request(req, res)
      }
      : (req, res) => this.#request(req, res))
    this.#server.on('connection', (socket: Socket) => {
      watchClientSocket(socket)
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket))
    // CONNECT (authority-form) is a tunnel request, not one for the upstream; without this
    // listener Node would drop the connection without an answer.
    this.#server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
      this.#refuseRaw(socket, 'bad_request', `unsupported request target ${JSON.stringify(String(req.url).slice(0, 100))}`)
    })
    this.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, early: Buffer) => this.#upgrade(req, socket, early))
  }

  /** A connection whose first bytes are not HTTP/2's preface. */
  accept(socket: Socket): void {
    this.#server.emit('connection', socket)
  }

  /**
   * Node's server starts tracking connections (headersTimeout, idle closing) on its own
   * 'listening' event, which a server fed by another never emits.
   */
  started(): void {
    this.#server.emit('listening')
  }

  /** Idle connections close; answers from now on carry `connection: close`. */
  stopAccepting(): void {
    this.#draining = true
    // Stops the connection checks; closes idle connections.
    this.#server.close()
    // Requests already in flight: their answers carry `connection: close` too.
    for (const socket of this.#sockets) closeAfterCurrentAnswer(socket)
  }

  closeAllConnections(): void {
    this.#server.closeAllConnections()
  }

  #request(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Pipelined behind an answer that closes the connection (a refusal, the drain): its own
    // answer could never be sent, so it must not reach a pod either; unanswered, it is safe for
    // the client to send again.
    if (afterLastAnswer(req.socket)) return
    responseCreated(req.socket, res)
    if (this.#draining) {
      res.shouldKeepAlive = false
      lastAnswer(req.socket)
    }
    const side = this.#side
    const head = readRequestHead(req.rawHeaders, side.upstream.keyHeader)
    const checked = checkRequest(req, head)
    if (checked.path === null) {
      // The body (if any) cannot be trusted to delimit the next request: close after answering,
      // and forward nothing Node's parser finds after it.
      const refused = new H1Downstream(req, res, req.url!, head, false)
      refused.closeAfter()
      side.counts.byStatus[refused.fail('bad_request', checked.refusal, side.upstream.name, false)]++
      return
    }
    // llhttp keeps an HTTP/1.0 connection open when `keep-alive` is named, even beside `close`;
    // RFC 9112 §9.3: `close` ends it, and what follows on it is not to be forwarded.
    if (req.httpVersionMinor === 0 && res.shouldKeepAlive && asksToClose(req.rawHeaders)) {
      res.shouldKeepAlive = false
      lastAnswer(req.socket)
    }
    const hasBody = head.transferEncoding || (head.contentLength !== undefined && head.contentLength !== '0')
    side.serve(new H1Downstream(req, res, checked.path, head, hasBody))
  }

  /** Checked like any request; after the 101 the bytes are no longer HTTP (tunnel.ts). */
  #upgrade(req: http.IncomingMessage, client: Duplex, early: Buffer): void {
    const side = this.#side
    const head = readRequestHead(req.rawHeaders, side.upstream.keyHeader)
    const checked = checkRequest(req, head)
    if (checked.path === null) this.#refuseRaw(client, 'bad_request', checked.refusal)
    else side.upgrade({ method: req.method!, path: checked.path, head, rawHeaders: req.rawHeaders, client, early })
  }

  /** An answer spoke writes itself where Node has no response object (CONNECT, an upgrade). */
  #refuseRaw(socket: Duplex, code: ErrorCode, message: string): void {
    this.#side.counts.byStatus[400]++
    socket.on('error', () => {})
    endAfterAnswers(socket as Socket, rawHttp1Error(code, this.#side.upstream.name, message))
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const side = this.#side
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // headersTimeout: a 408 only if part of a request had arrived (SPEC §8), else just close.
      if (!partialRequestArrived(socket)) socket.destroy()
      else if (endAfterAnswers(socket, 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')) side.counts.byStatus[408]++
      return
    }
    const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request'
    // Node's errored parser reports again on every later segment: one answer is enough.
    if (!endAfterAnswers(socket, rawHttp1Error(code, side.upstream.name, code === 'bad_request' ? `malformed request: ${err.message}` : undefined))) return
    side.counts.byStatus[code === 'headers_too_large' ? 431 : 400]++
    side.log.debug('malformed request refused', { listener: side.config.name, code: err.code, reason: err.message })
  }
}
