// One port on 127.0.0.1 where the app sends its requests for one upstream, HTTP/1.1 and h2c
// alike: the first bytes tell them apart (RFC 9113 §3.4, the client connection preface). Node's
// parsers (llhttp strict, nghttp2) do the parsing; what they refuse gets spoke's error answer
// and the connection closes, and nothing refused is ever forwarded.
import http from 'node:http'
import http2 from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ListenerConfig } from '../config/types.ts'
import type { Logger } from '../log.ts'
import { listenOn } from '../net.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { type ErrorCode, rawHttp1Error } from './errors.ts'
import { Broadcast } from './broadcast.ts'
import { afterLastAnswer, closeAfterCurrentAnswer, endAfterAnswers, lastAnswer, partialRequestArrived, responseCreated, watchClientSocket } from './client-socket.ts'
import { Exchange } from './forward.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'
import { LegacyDownstream } from './legacy-downstream.ts'
import { readRequestHead, type RequestHead } from './request-head.ts'
import { endsStream, H2Response } from './h2-response.ts'
import { type AppRequest, type AppResponse, sendError } from './respond.ts'
import { tunnel } from './tunnel.ts'

export class HttpListener {
  readonly name: string
  readonly config: ListenerConfig
  readonly upstream: Upstream
  readonly counts: RequestCounts = { byStatus: new Float64Array(600) }
  /** Accepts every connection and sniffs its first bytes. */
  #server: net.Server
  /** HTTP/1.1 and HTTP/2 servers that never listen: the sniffer hands connections to them. */
  #h1: http.Server
  #h2: http2.Http2Server
  #sessions = new Set<http2.ServerHttp2Session>()
  #draining = false
  /** App connections on HTTP/1.1: at the drain, the answers they are waiting for close them. */
  readonly #h1Sockets = new Set<Socket>()
  /** Upgraded (WebSocket) connections: Node stops tracking them, so shutdown must. */
  #tunnels = new Set<Duplex>()
  /** Every request goes to every pod (mode: broadcast) rather than to one. */
  readonly #broadcast: boolean
  #log: Logger

  constructor(config: ListenerConfig, upstream: Upstream, log: Logger, accessLog: boolean) {
    this.name = config.name
    this.config = config
    this.upstream = upstream
    this.#log = log
    this.#broadcast = upstream.config.mode === 'broadcast'
    const handler = accessLog
      ? (req: http.IncomingMessage, res: http.ServerResponse) => this.#logged(req, res, req.method!, req.url!, () => this.#handle(req, res))
      : (req: http.IncomingMessage, res: http.ServerResponse) => this.#handle(req, res)
    this.#h1 = http.createServer({
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.idleTimeoutMs,
      // spoke's own per-upstream timeout governs whole requests.
      requestTimeout: 0,
      maxHeaderSize: config.maxHeaderSize,
      // Node checks headersTimeout on this interval; its 30 s default would stretch a 10 s limit.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, config.headersTimeoutMs / 4)),
      // A missing Host gets spoke's own 400 below rather than Node's bare one.
      requireHostHeader: false,
    }, handler)
    this.#h1.on('connection', (socket: Socket) => {
      watchClientSocket(socket)
      this.#h1Sockets.add(socket)
      socket.once('close', () => this.#h1Sockets.delete(socket))
    })
    this.#h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket))
    // CONNECT (authority-form) is a tunnel request, not one for the upstream; without this
    // listener Node would drop the connection without an answer.
    this.#h1.on('connect', (req: http.IncomingMessage, socket: Socket) => {
      this.counts.byStatus[400]++
      socket.on('error', () => {})
      endAfterAnswers(socket, rawHttp1Error('bad_request', this.upstream.name, `unsupported request target ${JSON.stringify(String(req.url).slice(0, 100))}`))
    })
    this.#h1.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      if (this.#broadcast) {
        // A tunnel joins the app to one pod; a broadcast answers for all of them.
        this.counts.byStatus[400]++
        socket.on('error', () => {})
        socket.end(rawHttp1Error('bad_request', upstream.name, `upstream ${upstream.name} is a broadcast upstream; upgrades cannot be broadcast`))
        return
      }
      this.#tunnels.add(socket)
      socket.once('close', () => this.#tunnels.delete(socket))
      tunnel(req, socket, head, upstream, this.counts)
    })
    this.#h2 = http2.createServer({
      // Large enough that an oversized block reaches spoke and gets its 431; nghttp2 resets
      // anything beyond.
      maxSendHeaderBlockLength: 64 * 1024,
      settings: {
        maxHeaderListSize: config.maxHeaderSize * 2,
        enablePush: false,
        // Node advertises no limit by default: one connection could then take every one of the
        // upstream's maxConcurrentRequests and starve the app's other connections. 250 is Go's
        // net/http2 default; HTTP/2 clients queue streams beyond it themselves.
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
      },
      // The limits below are Node's defaults, pinned so that a change of default cannot loosen
      // them unnoticed (test/hostile-h2.test.ts measures each). Rapid reset (CVE-2023-44487):
      // nghttp2 takes a burst of 1000 RST_STREAM, then 33 a second, and ends the session beyond.
      streamResetBurst: 1000,
      streamResetRate: 33,
      // Streams refused past maxConcurrentStreams, and frames nghttp2 finds invalid, end the
      // session once there are this many.
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 1000,
      // At most this many entries in one SETTINGS frame (ENHANCE_YOUR_CALM beyond), at most 128
      // header fields per request, and 10 MB of session state beyond which new streams are refused.
      maxSettings: 32,
      maxHeaderListPairs: 128,
      maxSessionMemory: 10,
    })
    this.#h2.on('stream', accessLog
      ? (stream, headers, flags, raw) => {
        const res = new H2Response(stream)
        this.#logged(stream, res, String(headers[':method']), String(headers[':path']), () => this.#handleH2(stream, res, headers, flags, raw))
      }
      : (stream, headers, flags, raw) => this.#handleH2(stream, new H2Response(stream), headers, flags, raw))
    this.#h2.on('session', (session) => this.#trackSession(session))
    this.#server = net.createServer({ noDelay: true }, (socket) => this.#sniff(socket))
  }

  async listen(): Promise<AddressInfo> {
    const address = await listenOn(this.#server, this.config.address, `listener ${this.name}`)
    // Node's HTTP server starts tracking connections (headersTimeout, idle closing) on its own
    // 'listening' event, which a server fed by another never emits.
    this.#h1.emit('listening')
    return address
  }

  get address(): AddressInfo | null {
    return this.#server.address() as AddressInfo | null
  }

  /** Stop accepting; answers from now on carry `connection: close`; idle connections close. */
  stopAccepting(): void {
    this.#draining = true
    this.#server.close()
    // Stops the connection checks; closes idle HTTP/1.1 connections.
    this.#h1.close()
    // Requests already in flight: their answers carry `connection: close` too.
    for (const socket of this.#h1Sockets) closeAfterCurrentAnswer(socket)
    // GOAWAY: HTTP/2 clients open no new streams; the open ones finish.
    for (const session of this.#sessions) session.close()
  }

  /** Resolves once every connection is closed (after stopAccepting). */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.getConnections((_err, count) => {
        if (!this.#server.listening && count === 0) resolve()
        else this.#server.once('close', () => resolve())
      })
    })
  }

  closeAllConnections(): void {
    this.#h1.closeAllConnections()
    for (const session of this.#sessions) session.destroy()
    for (const socket of this.#tunnels) socket.destroy()
  }

  /** Hands the connection to the HTTP/2 server if it opens with the preface, else to HTTP/1.1. */
  #sniff(socket: Socket): void {
    let seen: Buffer = EMPTY
    const silent = setTimeout(() => socket.destroy(), this.config.headersTimeoutMs)
    const handOver = (server: net.Server): void => {
      clearTimeout(silent)
      socket.off('data', onData)
      socket.off('error', onError)
      // The two servers take the bytes back differently. The HTTP/2 session reads what is
      // buffered on its next tick, so the socket must stop flowing or the bytes would be emitted
      // to no one; the HTTP/1.1 server attaches its reader at once but never resumes a paused
      // socket, so it must keep flowing.
      if (server === this.#h2) socket.pause()
      socket.unshift(seen)
      server.emit('connection', socket)
    }
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk])
      const n = Math.min(seen.length, PREFACE.length)
      // The preface can arrive split over several segments: decide only on a mismatch or on all 24 bytes.
      if (seen.compare(PREFACE, 0, n, 0, n) !== 0) handOver(this.#h1)
      else if (seen.length >= PREFACE.length) handOver(this.#h2)
    }
    const onError = (): void => {
      clearTimeout(silent)
      socket.destroy()
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.once('close', () => clearTimeout(silent))
  }

  #trackSession(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session)
    session.once('close', () => this.#sessions.delete(session))
    if (this.#draining) session.close()
    // idleTimeout: no frame for that long closes the session with GOAWAY (streams in flight
    // exchange frames, so a busy session is not idle). Another idle period with no stream open
    // means a client stalled in the middle of a frame, which keeps nghttp2's graceful close from
    // ever completing: the session is destroyed then.
    const idle = (): void => {
      if (!session.closed) session.close()
      else if (((session as CountedSession)[kOpenStreams] ?? 0) === 0) {
        session.destroy()
        return
      }
      session.setTimeout(this.config.idleTimeoutMs, idle)
    }
    session.setTimeout(this.config.idleTimeoutMs, idle)
  }

  #handle(req: http.IncomingMessage, h1: http.ServerResponse): void {
    // Pipelined behind an answer that closes the connection (a refusal, the drain): its own
    // answer could never be sent, so it must not reach a pod either; unanswered, it is safe for
    // the client to send again.
    if (afterLastAnswer(req.socket)) return
    responseCreated(req.socket, h1)
    if (this.#draining) {
      h1.shouldKeepAlive = false
      lastAnswer(req.socket)
    }
    const head = readRequestHead(req.rawHeaders, this.upstream.keyHeader)
    const refusal = framingProblem(req, head)
    if (refusal !== null) {
      this.#refuse(h1, 'bad_request', refusal)
      return
    }
    let path = req.url!
    if (path.includes('#')) {
      this.#refuse(h1, 'bad_request', 'fragment in the request target')
      return
    }
    if (path.charCodeAt(0) !== 47 /* '/' */) {
      const absolute = absoluteFormPath(path)
      if (absolute === null) {
        this.#refuse(h1, 'bad_request', `unsupported request target ${JSON.stringify(path.slice(0, 100))}`)
        return
      }
      path = absolute
    }
    // llhttp keeps an HTTP/1.0 connection open when `keep-alive` is named, even beside `close`;
    // RFC 9112 §9.3: `close` ends it, and what follows on it is not to be forwarded.
    if (req.httpVersionMinor === 0 && h1.shouldKeepAlive && asksToClose(req.rawHeaders)) {
      h1.shouldKeepAlive = false
      lastAnswer(req.socket)
    }
    const hasBody = head.transferEncoding || (head.contentLength !== undefined && head.contentLength !== '0')
    if (this.#broadcast) new Broadcast(new LegacyDownstream(req, h1, req.method!, path, head, hasBody), this.upstream, this.counts).start()
    else new Exchange(new LegacyDownstream(req, h1, req.method!, path, head, hasBody), this.upstream, this.counts).start()
  }

  #handleH2(stream: http2.ServerHttp2Stream, res: H2Response, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
    stream.on('error', () => {})
    // Gone when the session was destroyed in the same turn (a fatal frame after this stream's).
    const session = stream.session as CountedSession | undefined
    if (session === undefined) return
    session[kOpenStreams] = (session[kOpenStreams] ?? 0) + 1
    stream.once('close', () => { session[kOpenStreams]!-- })
    const head = readRequestHead(raw, this.upstream.keyHeader)
    const grpc = head.contentType?.startsWith('application/grpc') === true
    if (headerListSize(raw) > this.config.maxHeaderSize) {
      this.counts.byStatus[sendError(res, 'headers_too_large', 'request headers too large', this.upstream.name, grpc)]++
      return
    }
    const method = String(headers[':method'])
    const path = String(headers[':path'] ?? '')
    // CONNECT and absolute :path forms have no place on a sidecar's loopback port.
    if (method === 'CONNECT' || path.charCodeAt(0) !== 47 /* '/' */ || path.includes('#')) {
      this.counts.byStatus[sendError(res, 'bad_request', `unsupported request target ${JSON.stringify(path.slice(0, 100))}`, this.upstream.name, grpc)]++
      return
    }
    const refusal = hostProblem(head)
    if (refusal !== null) {
      this.counts.byStatus[sendError(res, 'bad_request', refusal, this.upstream.name, grpc)]++
      return
    }
    // HTTP/2 has no framing headers: the request has a body unless its HEADERS ended the stream.
    if (this.#broadcast) new Broadcast(new LegacyDownstream(stream, res, method, path, head, !endsStream(flags)), this.upstream, this.counts).start()
    else new Exchange(new LegacyDownstream(stream, res, method, path, head, !endsStream(flags)), this.upstream, this.counts).start()
  }

  #logged(req: AppRequest, res: AppResponse, method: string, path: string, handle: () => void): void {
    const started = performance.now()
    // The answer's end: the HTTP/2 stream, or the HTTP/1.1 response (its request closes earlier).
    const done = 'stream' in res ? res.stream : res
    done.once('close', () => {
      this.#log.info('request', {
        listener: this.name, upstream: this.upstream.name, method, path,
        status: res.headersSent ? res.statusCode : CLIENT_CLOSED, durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      })
    })
    handle()
  }

  #refuse(res: http.ServerResponse, code: ErrorCode, message: string): void {
    // The body (if any) cannot be trusted to delimit the next request: close after answering,
    // and forward nothing Node's parser finds after it.
    res.shouldKeepAlive = false
    lastAnswer(res.req.socket)
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
      if (!partialRequestArrived(socket)) socket.destroy()
      else if (endAfterAnswers(socket, 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')) this.counts.byStatus[408]++
      return
    }
    const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request'
    // Node's errored parser reports again on every later segment: one answer is enough.
    if (!endAfterAnswers(socket, rawHttp1Error(code, this.upstream.name, code === 'bad_request' ? `malformed request: ${err.message}` : undefined))) return
    this.counts.byStatus[code === 'headers_too_large' ? 431 : 400]++
    this.#log.debug('malformed request refused', { listener: this.name, code: err.code, reason: err.message })
  }
}

/**
 * What llhttp lets through but a proxy must refuse (RFC 9112 §6.3): a missing Host, and
 * Content-Length that disagrees with itself or sits beside Transfer-Encoding.
 */
function framingProblem(req: http.IncomingMessage, head: RequestHead): string | null {
  // llhttp reads "HTTP/2.0" and HTTP/0.9's bare "GET /" as request lines too.
  if (req.httpVersionMajor !== 1) return `unsupported HTTP version ${req.httpVersion}`
  if (head.host === null && req.httpVersionMinor === 1) return 'HTTP/1.1 request without Host'
  const host = hostProblem(head)
  if (host !== null) return host
  if (head.transferEncoding) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
    if (req.httpVersionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request'
    // llhttp accepts "gzip, chunked": spoke would de-chunk the body and send the gzip-coded
    // bytes on as if they were plain (transfer codings do not cross a hop). RFC 9112 §6.1: a
    // coding the server does not implement is refused.
    const coding = transferCoding(req.rawHeaders)
    if (coding !== 'chunked') return `unsupported Transfer-Encoding ${JSON.stringify(coding.slice(0, 100))} (only chunked)`
  }
  if (head.contentLengths === 0) return null
  if (head.transferEncoding) return 'both Content-Length and Transfer-Encoding'
  return head.contentLengths > 1 ? 'duplicate Content-Length' : null
}

/** Whether a Connection field names `close`. */
function asksToClose(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection' && raw[i + 1].split(',').some((t) => t.trim().toLowerCase() === 'close')) return true
  }
  return false
}

/** Every Transfer-Encoding value as one lower-case list ("gzip, chunked"). */
function transferCoding(raw: readonly string[]): string {
  const values: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'transfer-encoding') values.push(raw[i + 1])
  return values.join(',').split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '').join(', ')
}

/**
 * RFC 9112 §3.2 and RFC 9113 §8.3.1: one Host, agreeing with :authority, shaped like
 * uri-host[:port] (RFC 3986). A Host with "@", "/" or spaces in it only ever serves to confuse
 * whatever builds URLs from it behind the proxy.
 */
function hostProblem(head: RequestHead): string | null {
  if (head.hosts > 1) return 'more than one Host'
  if (head.authority !== null && head.hosts === 1 && head.host !== head.authority) return 'Host differs from :authority'
  if (head.host !== null && !HOST.test(head.host)) return `invalid Host ${JSON.stringify(head.host.slice(0, 100))}`
  return null
}

/** IP-literal or reg-name (unreserved, sub-delims, pct-encoded), then an optional port. */
const HOST = /^(?:\[[0-9A-Za-z:.%_~-]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d*)?$/

/** Streams of an app's session that spoke has not finished with (the idle close needs to know). */
const kOpenStreams = Symbol('spoke.openStreams')
type CountedSession = http2.ServerHttp2Session & { [kOpenStreams]?: number }

/** SETTINGS_MAX_CONCURRENT_STREAMS spoke advertises to the app. */
export const MAX_CONCURRENT_STREAMS = 250

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const EMPTY = Buffer.alloc(0)

/** RFC 9113 §6.5.2: a header list's size counts each field's name and value plus 32 octets. */
function headerListSize(raw: readonly string[]): number {
  let size = 0
  for (let i = 0; i < raw.length; i += 2) size += raw[i].length + raw[i + 1].length + 32
  return size
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
