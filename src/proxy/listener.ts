// One port on 127.0.0.1 where the app sends its requests for one upstream. Node's HTTP/1.1
// parser (llhttp, strict) does the parsing; what it refuses gets spoke's error answer and the
// connection closes, and nothing it refuses is ever forwarded.
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ListenerConfig } from '../config/types.ts'
import type { Logger } from '../log.ts'
import { listenOn } from '../net.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { type ErrorCode, rawHttp1Error } from './errors.ts'
import { partialRequestArrived, watchClientSocket } from './client-socket.ts'
import { CLIENT_CLOSED, Exchange, type RequestCounts } from './forward.ts'
import { readRequestHead, type RequestHead } from './request-head.ts'
import { sendError } from './respond.ts'
import { tunnel } from './tunnel.ts'

export class HttpListener {
  readonly name: string
  readonly config: ListenerConfig
  readonly upstream: Upstream
  readonly counts: RequestCounts = { byStatus: new Float64Array(600) }
  #server: http.Server
  #draining = false
  /** Upgraded (WebSocket) connections: Node stops tracking them, so shutdown must. */
  #tunnels = new Set<Duplex>()
  #log: Logger

  constructor(config: ListenerConfig, upstream: Upstream, log: Logger, accessLog: boolean) {
    this.name = config.name
    this.config = config
    this.upstream = upstream
    this.#log = log
    this.#server = http.createServer({
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.idleTimeoutMs,
      // spoke's own per-upstream timeout governs whole requests.
      requestTimeout: 0,
      maxHeaderSize: config.maxHeaderSize,
      // Node checks headersTimeout on this interval; its 30 s default would stretch a 10 s limit.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, config.headersTimeoutMs / 4)),
      // A missing Host gets spoke's own 400 below rather than Node's bare one.
      requireHostHeader: false,
      noDelay: true,
    }, accessLog ? (req, res) => this.#logged(req, res) : (req, res) => this.#handle(req, res))
    this.#server.on('connection', watchClientSocket)
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket))
    this.#server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      this.#tunnels.add(socket)
      socket.once('close', () => this.#tunnels.delete(socket))
      tunnel(req, socket, head, upstream, this.counts)
    })
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.config.address, `listener ${this.name}`)
  }

  get address(): AddressInfo | null {
    return this.#server.address() as AddressInfo | null
  }

  /** Stop accepting; answers from now on carry `connection: close`; idle connections close. */
  stopAccepting(): void {
    this.#draining = true
    this.#server.close()
    this.#server.closeIdleConnections()
  }

  /** Resolves once every connection is closed (after stopAccepting). */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening && this.#server.connections === 0) resolve()
      else this.#server.once('close', () => resolve())
    })
  }

  closeAllConnections(): void {
    this.#server.closeAllConnections()
    for (const socket of this.#tunnels) socket.destroy()
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#draining) res.shouldKeepAlive = false
    const head = readRequestHead(req.rawHeaders)
    const refusal = framingProblem(req, head)
    if (refusal !== null) {
      this.#refuse(res, 'bad_request', refusal)
      return
    }
    let path = req.url!
    if (path.charCodeAt(0) !== 47 /* '/' */) {
      const absolute = absoluteFormPath(path)
      if (absolute === null) {
        this.#refuse(res, 'bad_request', `unsupported request target ${JSON.stringify(path.slice(0, 100))}`)
        return
      }
      path = absolute
    }
    new Exchange(req, res, path, head, this.upstream, this.counts).start()
  }

  #logged(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now()
    res.once('close', () => {
      this.#log.info('request', {
        listener: this.name, upstream: this.upstream.name, method: req.method, path: req.url,
        status: res.headersSent ? res.statusCode : CLIENT_CLOSED, durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      })
    })
    this.#handle(req, res)
  }

  #refuse(res: http.ServerResponse, code: ErrorCode, message: string): void {
    // The body (if any) cannot be trusted to delimit the next request: close after answering.
    res.shouldKeepAlive = false
    const status = sendError(res, code, message, this.upstream.name, false)
    this.counts.byStatus[status]++
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // headersTimeout: a 408 only if part of a request had arrived (SPEC §8), else just close.
      if (partialRequestArrived(socket)) {
        this.counts.byStatus[408]++
        socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      } else {
        socket.destroy()
      }
      return
    }
    const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request'
    this.counts.byStatus[code === 'headers_too_large' ? 431 : 400]++
    this.#log.debug('malformed request refused', { listener: this.name, code: err.code, reason: err.message })
    socket.end(rawHttp1Error(code, code === 'bad_request' ? `malformed request: ${err.message}` : undefined))
  }
}

/**
 * What llhttp lets through but a proxy must refuse (RFC 9112 §6.3): a missing Host, and
 * Content-Length that disagrees with itself or sits beside Transfer-Encoding.
 */
function framingProblem(req: http.IncomingMessage, head: RequestHead): string | null {
  if (head.host === null && req.httpVersionMinor === 1 && req.httpVersionMajor === 1) return 'HTTP/1.1 request without Host'
  if (head.contentLengths === 0) return null
  if (head.transferEncoding) return 'both Content-Length and Transfer-Encoding'
  return head.contentLengths > 1 ? 'duplicate Content-Length' : null
}

/** `http://host/path?q` → `/path?q`; anything else (`*`, authority-form) → null. */
function absoluteFormPath(target: string): string | null {
  if (!/^https?:\/\//i.test(target)) return null
  try {
    const url = new URL(target)
    return url.pathname + url.search
  } catch {
    return null
  }
}
