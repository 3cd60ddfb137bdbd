// HTTP/2 PING keepalive of one h2c session to a pod (SPEC §3 `keepalive`): once the pod has sent
// nothing on the session's streams for `keepalive`, it gets a PING, and a PING not answered within
// `connectTimeout` means the session is dead: the pod's network went silent without a FIN (a
// node gone, a partition, a flow a middlebox forgot) or its process froze.
//
// One PING per silence. gRPC servers (grpc-go, grpc-java, C-core) count a PING as a strike unless
// they have sent HEADERS or DATA since the previous one, or it comes long enough after it (5 min
// with streams open, 2 h without, by default), and answer the third strike with GOAWAY
// ENHANCE_YOUR_CALM "too_many_pings", which closes the connection and the streams on it. So
// after a PING, the next waits until the pod has sent HEADERS or DATA again: it never costs a
// strike. A session that stays silent longer is left to TCP keepalive (dial.ts), which the pod's
// kernel answers, not its gRPC server.
import type http2 from 'node:http2'
import type net from 'node:net'

/** Silence is checked this many times per `keepalive`: a PING goes 1 to 1.25 × `keepalive` after the pod's last frame. */
const CHECKS_PER_PERIOD = 4

export class H2Keepalive {
  /**
   * HEADERS and DATA the pod sent on the session's streams, counted by the streams: a counter
   * rather than a timestamp or a timer per frame.
   */
  heard = 0
  readonly #session: http2.ClientHttp2Session
  readonly #socket: net.Socket
  readonly #timeoutMs: number
  readonly #onDead: () => void
  #checks: NodeJS.Timeout | null = null
  /** `heard` at the last check, and how many checks in a row found it unchanged. */
  #seen = 0
  #quiet = 0
  /** A PING went out in this silence. */
  #pinged = false
  /** Fires `timeoutMs` after the PING awaiting its answer (null: none is); made once, refreshed. */
  #deadline: NodeJS.Timeout | null = null
  #awaiting = false
  /** The socket's bytesRead when the PING went out (or its deadline was last extended). */
  #bytesAtPing = 0
  readonly #onAnswer = (): void => this.#answered()

  /** `keepaliveMs` 0: off (the streams still count). */
  constructor(session: http2.ClientHttp2Session, socket: net.Socket, keepaliveMs: number, timeoutMs: number, onDead: () => void) {
    this.#session = session
    this.#socket = socket
    this.#timeoutMs = timeoutMs
    this.#onDead = onDead
    if (keepaliveMs === 0) return
    this.#checks = setInterval(() => this.#check(), keepaliveMs / CHECKS_PER_PERIOD)
    this.#checks.unref()
  }

  /** The session is gone. */
  stop(): void {
    if (this.#checks !== null) clearInterval(this.#checks)
    if (this.#deadline !== null) clearTimeout(this.#deadline)
    this.#checks = null
    this.#awaiting = false
  }

  #check(): void {
    if (this.heard !== this.#seen) {
      this.#seen = this.heard
      this.#quiet = 0
      this.#pinged = false
      return
    }
    if (++this.#quiet < CHECKS_PER_PERIOD || this.#pinged) return
    // Closing (close() waits for its streams): Node would cancel the PING.
    if (this.#session.closed || this.#session.destroyed) return
    this.#pinged = true
    this.#awaiting = true
    this.#bytesAtPing = this.#socket.bytesRead
    this.#session.ping(this.#onAnswer)
    if (this.#deadline === null) {
      this.#deadline = setTimeout(() => this.#expired(), this.#timeoutMs)
      this.#deadline.unref()
    } else {
      this.#deadline.refresh()
    }
  }

  /** The ACK, or Node cancelling the PING as the session closes (its own events tell the pool). */
  #answered(): void {
    if (!this.#awaiting) return
    this.#awaiting = false
    clearTimeout(this.#deadline!)
  }

  /**
   * Timers run before the event loop reads sockets: after a stall (a long collection, a busy
   * loop), the answer may be waiting unread. It is judged after the reads of this turn.
   */
  #expired(): void {
    if (this.#awaiting) setImmediate(() => this.#judge())
  }

  #judge(): void {
    if (!this.#awaiting) return
    // Other frames arrived ahead of the answer (a large body in the way): the connection lives,
    // and the answer is given another `timeoutMs` (as Envoy extends its PING timeout).
    const bytes = this.#socket.bytesRead
    if (bytes !== this.#bytesAtPing) {
      this.#bytesAtPing = bytes
      this.#deadline!.refresh()
      return
    }
    this.stop()
    this.#onDead()
  }
}
