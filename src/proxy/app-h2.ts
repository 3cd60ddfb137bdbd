// The app's h2c sessions: nghttp2 parses them, with its limits pinned below; each stream that
// passes spoke's checks becomes an H2Downstream. Node's idle handling is patched here too: a
// client stalled mid-frame would otherwise keep a session open for ever.
import http2 from 'node:http2'
import type { Socket } from 'node:net'
import { logRequest } from './access-log.ts'
import type { AppSide } from './app-side.ts'
import { type ErrorCode, isGrpcContentType } from './errors.ts'
import { H2Downstream } from './h2-downstream.ts'
import { countAnswer } from './request-counts.ts'
import { hostProblem, readRequestHead } from './request-head.ts'

/** SETTINGS_MAX_CONCURRENT_STREAMS spoke advertises to an app connection, at most. */
export const MAX_CONCURRENT_STREAMS = 250

/**
 * The streams a listener's app sessions may have open together, at least: 4 sessions at
 * MAX_CONCURRENT_STREAMS each (see AppH2's #streamBudget).
 */
export const STREAM_BUDGET_FLOOR = 1024

/**
 * A new app session's share of the listener's stream budget: the budget split evenly among the
 * sessions open, rounded down to a power of two (Node's settings for new sessions change only
 * when the share halves or doubles), between 1 and MAX_CONCURRENT_STREAMS.
 */
export function streamShare(budget: number, sessions: number): number {
  const even = Math.floor(budget / Math.max(1, sessions))
  if (even >= MAX_CONCURRENT_STREAMS) return MAX_CONCURRENT_STREAMS
  return even < 1 ? 1 : 2 ** Math.floor(Math.log2(even))
}

const { NGHTTP2_FLAG_END_STREAM } = http2.constants

/**
 * How long a session's socket that Node has ended waits before it is destroyed. A socket closed
 * with unread bytes from the client sends a reset, and a reset makes the client's kernel drop
 * what it had received and not yet read: the GOAWAY that says why (a client flooding streams is
 * still writing when nghttp2 gives up on it). The pause lets a client that reads take the GOAWAY
 * first. Nothing more is read meanwhile, so a flood cannot go on through it.
 */
const CLOSE_DELAY_MS = 100

/**
 * How long a session's socket stays open at most once the session has ended (a graceful close
 * completed, an error, spoke's own destroy). Node ends and destroys it only once its last bytes
 * are written, which a client that does not read never lets happen; after a graceful close it
 * does not destroy it at all but waits for the client to close its side, reading and dropping
 * whatever the client sends meanwhile. A client that reads has taken the GOAWAY and closed well
 * within this; one that does not held the socket for ever.
 */
export const END_GRACE_MS = 2000

/** Streams of an app's session that spoke has not finished with (the idle close needs to know). */
const kOpenStreams = Symbol('spoke.openStreams')
type CountedSession = http2.ServerHttp2Session & { [kOpenStreams]?: number }

/**
 * On an app's socket: resets it END_GRACE_MS later if it is still open then (once). A reset, not a
 * FIN: whatever a client that does not read left in the socket buffers is dropped at once.
 */
const kCloseSoon = Symbol('spoke.closeSoon')
type AppSocket = Socket & { [kCloseSoon]?: () => void }

export class AppH2 {
  readonly #side: AppSide
  /** Never listens: the listener hands it the connections that open with the preface. */
  readonly #server: http2.Http2Server
  readonly #sessions = new Set<http2.ServerHttp2Session>()
  /**
   * The streams the app's sessions may have open together: what the upstream admits at
   * once (maxConcurrentRequests), and at least STREAM_BUDGET_FLOOR. Streams past what the
   * upstream admits are answered 503 `overloaded` anyway, and each open stream costs Node about
   * 4 KB of heap: 2 000 connections with 10 streams each held 20 000 of them and took spoke past
   * 400 MiB (docs/memory.md). Told a smaller SETTINGS_MAX_CONCURRENT_STREAMS, HTTP/2 clients
   * queue those requests themselves. The budget bounds the shares new sessions get.
   */
  #streamBudget: number
  #streamShare = MAX_CONCURRENT_STREAMS
  #draining = false

  constructor(side: AppSide) {
    this.#side = side
    this.#streamBudget = Math.max(STREAM_BUDGET_FLOOR, side.upstream.config.limits.maxConcurrentRequests)
    this.#server = http2.createServer({
      // Large enough that an oversized block reaches spoke and gets its 431; nghttp2 resets
      // anything beyond.
      maxSendHeaderBlockLength: 64 * 1024,
      settings: {
        maxHeaderListSize: side.config.maxHeaderSize * 2,
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
    this.#server.on('stream', (stream, headers, flags, raw) => this.#stream(stream, headers, flags, raw))
    this.#server.on('session', (session) => this.#trackSession(session))
  }

  /** The listener's settings or upstream changed (a reload): new sessions get what follows from them. */
  reconfigure(): void {
    this.#streamBudget = Math.max(STREAM_BUDGET_FLOOR, this.#side.upstream.config.limits.maxConcurrentRequests)
    this.#server.updateSettings({ maxHeaderListSize: this.#side.config.maxHeaderSize * 2 })
  }

  /** A connection that opened with the preface, paused, its first bytes put back. */
  accept(socket: Socket): void {
    closeInTime(socket)
    this.#server.emit('connection', socket)
  }

  /** GOAWAY: the app opens no new streams; the open ones finish. */
  stopAccepting(): void {
    this.#draining = true
    for (const session of this.#sessions) session.close()
  }

  closeAllConnections(): void {
    for (const session of this.#sessions) session.destroy()
  }

  #trackSession(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session)
    this.#shareStreams()
    session.once('close', () => {
      this.#sessions.delete(session)
      this.#shareStreams()
    })
    // However a session ends (its graceful close completed, an error, spoke's own destroy), Node
    // goes through destroy(): from then on its socket has END_GRACE_MS to close.
    const closeSoon = (session.socket as AppSocket)[kCloseSoon]
    if (closeSoon !== undefined) {
      const destroy = session.destroy.bind(session)
      session.destroy = (error?: Error, code?: number): void => {
        closeSoon()
        destroy(error, code)
      }
    }
    if (this.#draining) session.close()
    // idleTimeout: no frame for that long closes the session with GOAWAY (streams in flight
    // exchange frames, so a busy session is not idle). Another idle period with no stream open
    // means a client stalled in the middle of a frame, which keeps nghttp2's graceful close from
    // ever completing: the session is destroyed then.
    const idleMs = this.#side.config.idleTimeoutMs
    const idle = (): void => {
      if (!session.closed) session.close()
      else if (((session as CountedSession)[kOpenStreams] ?? 0) === 0) {
        session.destroy()
        return
      }
      session.setTimeout(idleMs, idle)
    }
    session.setTimeout(idleMs, idle)
  }

  /**
   * New sessions get the current share in their first SETTINGS. Open sessions keep what they
   * were told: a SETTINGS frame in the middle of a session races the client's own SETTINGS
   * exchange (h2spec 6.5.3 saw it in place of its ACK) and refuses streams already on their way.
   * A burst's sessions therefore get shares that halve as it grows (about 5 600 streams for 2 000
   * sessions rather than 20 000), and a session opened during it keeps its small share until the
   * client reconnects.
   */
  #shareStreams(): void {
    const share = streamShare(this.#streamBudget, this.#sessions.size)
    if (share === this.#streamShare) return
    this.#streamShare = share
    this.#server.updateSettings({ maxConcurrentStreams: share })
  }

  #stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
    const side = this.#side
    const method = String(headers[':method'])
    const head = readRequestHead(raw, side.upstream.keyHeader)
    // HTTP/2 has no framing headers: the request has a body unless its HEADERS ended the stream.
    const downstream = new H2Downstream(stream, method, String(headers[':path'] ?? ''), head, (flags & NGHTTP2_FLAG_END_STREAM) === 0)
    if (side.accessLog) logRequest(side, method, String(headers[':path']), stream, () => downstream)
    stream.on('error', () => {})
    // Gone when the session was destroyed in the same turn (a fatal frame after this stream's).
    const session = stream.session as CountedSession | undefined
    if (session === undefined) return
    session[kOpenStreams] = (session[kOpenStreams] ?? 0) + 1
    stream.once('close', () => { session[kOpenStreams]!-- })
    const refusal = refusalOf(downstream, raw, side.config.maxHeaderSize)
    if (refusal === null) {
      side.serve(downstream)
      return
    }
    const status = downstream.fail(refusal.code, refusal.message, side.upstream.name, isGrpcContentType(head.contentType))
    countAnswer(side.counts, status, downstream.grpcStatus)
  }
}

/** What nghttp2 lets through but spoke refuses in a request's head. */
function refusalOf(downstream: H2Downstream, raw: readonly string[], maxHeaderSize: number): { code: ErrorCode; message: string } | null {
  if (headerListSize(raw) > maxHeaderSize) return { code: 'headers_too_large', message: 'request headers too large' }
  const path = downstream.path
  // CONNECT and absolute :path forms have no place on a sidecar's loopback port.
  if (downstream.method === 'CONNECT' || path.charCodeAt(0) !== 47 /* '/' */ || path.includes('#')) {
    return { code: 'bad_request', message: `unsupported request target ${JSON.stringify(path.slice(0, 100))}` }
  }
  const host = hostProblem(downstream.head)
  return host === null ? null : { code: 'bad_request', message: host }
}

/** RFC 9113 §6.5.2: a header list's size counts each field's name and value plus 32 octets. */
function headerListSize(raw: readonly string[]): number {
  let size = 0
  for (let i = 0; i < raw.length; i += 2) size += raw[i].length + raw[i + 1].length + 32
  return size
}

/**
 * Node ends an HTTP/2 session's socket (its GOAWAY flushed), then destroys it: not at once
 * (CLOSE_DELAY_MS). And not always: [kCloseSoon], called as the session ends, sees to that.
 */
function closeInTime(socket: AppSocket): void {
  const destroy = socket.destroy.bind(socket)
  let delayed = false
  socket.destroy = (error?: Error): Socket => {
    if (delayed || socket.destroyed || !socket.writableEnded) return destroy(error)
    delayed = true
    setTimeout(() => destroy(error), CLOSE_DELAY_MS).unref()
    return socket
  }
  let grace: NodeJS.Timeout | undefined
  socket[kCloseSoon] = (): void => {
    if (grace !== undefined || socket.destroyed) return
    grace = setTimeout(() => socket.resetAndDestroy(), END_GRACE_MS).unref()
    socket.once('close', () => clearTimeout(grace))
  }
}
