// A small upstream "pod": a real HTTP/1.1 server on its own loopback address (127.0.0.2, .3 …)
// that counts what reaches it. Used by `spoke demo`, the tests and the benchmarks.
import http from 'node:http'
import type { Socket } from 'node:net'
import { formatHostPort, listenOn, onOnePort } from '../net.ts'

export interface PodRequest {
  readonly method: string
  readonly url: string
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
  /** Which TCP connection of this pod carried it (1, 2, …). */
  readonly connection: number
  /** performance.now() when its body was complete. */
  readonly at: number
}

export interface PodOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  /** Node's default is 5 s; tests of the keep-alive race shorten it. */
  readonly keepAliveTimeoutMs?: number
  /**
   * Close a connection idle this long without announcing it (no `Keep-Alive: timeout` hint, as
   * Go's net/http and nginx do), so a client cannot see it coming: the keep-alive race.
   */
  readonly silentIdleCloseMs?: number
  /** Every answer waits this long first (a slow pod). */
  readonly delayMs?: number
  /** Remember each request (tests); off for benchmarks. */
  readonly record?: boolean
  /** Told of each request as it is answered, recorded or not (fault tests count POSTs with it). */
  readonly onRequest?: (request: PodRequest) => void
}

/**
 * Routes (any of them with `?close` answers `connection: close`): `/slow?ms=N` answers after N ms; `/status/NNN` answers NNN; `/echo` answers what it
 * received as JSON; `/stream?chunks=N&size=B` streams N chunks; `/sink` reads the body without
 * keeping it and answers its length as JSON; `/partial?length=N&sent=M` declares a body of N
 * bytes (chunked when N is absent), sends M and resets the connection; anything else answers the
 * pod's name. Every answer carries `x-pod: <name>`.
 */
export class Pod {
  readonly name: string
  readonly host: string
  readonly port: number
  /** Requests whose body arrived whole (and were then answered). */
  requests = 0
  /** Requests whose head arrived, complete or not. */
  started = 0
  /** The target of every request whose head arrived, complete or not (when recording). */
  readonly heads: string[] = []
  /** Requests whose connection closed before their body was complete: the pod never acts on them. */
  aborted = 0
  /** TCP connections accepted. */
  connections = 0
  readonly received: PodRequest[] = []
  /**
   * Overrides every route (a broadcast sends one path to every pod, so a pod that fails must be
   * told so itself): answer `status`, after `delayMs` (Infinity: never answer); `reset`: read the
   * whole request, then reset the connection without a byte of answer (a crash mid-request).
   */
  behaviour: { readonly status?: number; readonly delayMs?: number; readonly reset?: boolean } | null = null
  #server: http.Server
  #sockets = new Set<Socket>()
  #socketIds = new WeakMap<Socket, number>()
  /** Connections with a request in flight. */
  #busy = new WeakSet<Socket>()
  #record: boolean
  #onRequest: ((request: PodRequest) => void) | null
  #delayMs: number
  #idleTimers: IdleCloser

  private constructor(options: PodOptions) {
    this.name = options.name
    this.host = options.host
    this.port = options.port
    this.#record = options.record ?? true
    this.#onRequest = options.onRequest ?? null
    this.#delayMs = options.delayMs ?? 0
    const silentMs = options.silentIdleCloseMs ?? 0
    // keepAliveTimeout 0: Node neither sends the hint nor closes idle connections itself.
    const keepAliveTimeout = silentMs > 0 ? 0 : options.keepAliveTimeoutMs ?? 5000
    this.#server = http.createServer({ keepAliveTimeout, noDelay: true }, (req, res) => {
      const socket = req.socket
      this.#busy.add(socket)
      res.once('close', () => this.#busy.delete(socket))
      if (silentMs > 0) this.#idleTimers.busy(socket, res)
      this.#handle(req, res)
    })
    this.#idleTimers = new IdleCloser(silentMs)
    this.#server.on('connection', (socket: Socket) => {
      this.connections++
      this.#socketIds.set(socket, this.connections)
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
      if (silentMs > 0) this.#idleTimers.track(socket)
    })
  }

  static async start(options: PodOptions): Promise<Pod> {
    const pod = new Pod(options)
    await listenOn(pod.#server, options, `pod ${options.name}`)
    return pod
  }

  get address(): string {
    return formatHostPort(this.host, this.port)
  }

  /** Connections this pod closed for being idle (silentIdleCloseMs). */
  get idleClosed(): number {
    return this.#idleTimers.closed
  }

  get openConnections(): number {
    return this.#sockets.size
  }

  /** Graceful: stop accepting, let keep-alive connections close. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeIdleConnections()
      setTimeout(() => this.#server.closeAllConnections(), 2000).unref()
    })
  }

  /**
   * Closes every connection with no request in flight, as a server's idle timeout does, also
   * those that never carried one (Node's own closeIdleConnections() leaves these open).
   */
  closeIdleConnections(): void {
    for (const s of this.#sockets) if (!this.#busy.has(s)) s.destroy()
  }

  /** Like SIGKILL: every connection reset, the port closed at once. */
  async kill(): Promise<void> {
    for (const s of this.#sockets) s.resetAndDestroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.started++
    if (this.#record) this.heads.push(req.url!)
    req.once('close', () => { if (!req.complete) this.aborted++ })
    if (req.url === '/sink') {
      // Counted, not kept: a 1 GiB upload must not live in the pod's memory.
      let bytes = 0
      req.on('data', (c: Buffer) => { bytes += c.length })
      req.on('end', () => {
        this.requests++
        const json = JSON.stringify({ pod: this.name, bytes })
        res.writeHead(200, ['content-type', 'application/json', 'x-pod', this.name, 'content-length', String(Buffer.byteLength(json))])
        res.end(json)
      })
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      this.requests++
      const body = Buffer.concat(chunks)
      if (this.#record || this.#onRequest !== null) {
        const request = { method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body, connection: this.#socketIds.get(req.socket) ?? 0, at: performance.now() }
        if (this.#record) this.received.push(request)
        this.#onRequest?.(request)
      }
      if (this.#delayMs === 0) this.#answer(req, res, body)
      else {
        const timer = setTimeout(() => this.#answer(req, res, body), this.#delayMs)
        res.on('close', () => clearTimeout(timer))
      }
    })
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    if (this.behaviour !== null) {
      const { status = 200, delayMs = 0, reset = false } = this.behaviour
      if (reset) {
        req.socket.resetAndDestroy()
        return
      }
      if (delayMs === Infinity) return
      const timer = setTimeout(() => this.#text(res, status, `${this.name}\n`), delayMs)
      res.on('close', () => clearTimeout(timer))
      return
    }
    // A target like "//a:99999" is not a URL: the fuzz tests send such things through spoke.
    const url = URL.parse(req.url!, 'http://pod') ?? new URL('http://pod/')
    const path = url.pathname
    // `?close`: answer with `connection: close`, as a pod on its way out does.
    if (url.searchParams.has('close')) res.shouldKeepAlive = false
    if (path === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? 1000)
      const timer = setTimeout(() => this.#text(res, 200, `${this.name}\n`), ms)
      res.on('close', () => clearTimeout(timer))
      return
    }
    if (path.startsWith('/status/')) {
      const status = Number(path.slice(8))
      this.#text(res, status >= 200 && status <= 599 ? status : 500, `${this.name}\n`)
      return
    }
    if (path === '/echo') {
      const json = JSON.stringify({ pod: this.name, method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: body.toString('utf8') })
      res.writeHead(200, ['content-type', 'application/json', 'x-pod', this.name, 'content-length', String(Buffer.byteLength(json))])
      res.end(json)
      return
    }
    if (path === '/stream') {
      const n = Number(url.searchParams.get('chunks') ?? 10)
      const size = Number(url.searchParams.get('size') ?? 1024)
      res.writeHead(200, ['content-type', 'application/octet-stream', 'x-pod', this.name])
      const chunk = Buffer.alloc(size, 0x61)
      let sent = 0
      const more = (): void => {
        while (sent < n) {
          sent++
          if (!res.write(chunk)) {
            res.once('drain', more)
            return
          }
        }
        res.end()
      }
      more()
      return
    }
    if (path === '/partial') {
      // A pod that dies mid-answer: the body stops short of what the head promised.
      const length = url.searchParams.get('length')
      res.writeHead(200, ['content-type', 'application/octet-stream', 'x-pod', this.name, ...(length === null ? [] : ['content-length', length])])
      res.write(Buffer.alloc(Number(url.searchParams.get('sent') ?? 10), 0x62), () => res.socket?.resetAndDestroy())
      return
    }
    this.#text(res, 200, `${this.name}\n`)
  }

  #text(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, ['content-type', 'text/plain', 'x-pod', this.name, 'content-length', String(Buffer.byteLength(text))])
    res.end(text)
  }
}

/** Closes each connection once it has been idle for `ms`, the way a server's idle timeout does. */
class IdleCloser {
  readonly #ms: number
  readonly #timers = new WeakMap<Socket, NodeJS.Timeout>()
  /** Idle connections closed so far. */
  closed = 0

  constructor(ms: number) {
    this.#ms = ms
  }

  /** A new connection: idle until its first request. */
  track(socket: Socket): void {
    socket.once('close', () => clearTimeout(this.#timers.get(socket)))
    this.#arm(socket)
  }

  /** A request on it: not idle until the answer is sent. */
  busy(socket: Socket, res: http.ServerResponse): void {
    clearTimeout(this.#timers.get(socket))
    res.once('finish', () => { if (!socket.destroyed) this.#arm(socket) })
  }

  #arm(socket: Socket): void {
    const timer = setTimeout(() => {
      this.closed++
      // Bytes of a request arriving right now are unread: the kernel answers them with a reset.
      socket.destroy()
    }, this.#ms)
    timer.unref()
    this.#timers.set(socket, timer)
  }
}

/** `count` pods on 127.0.0.<first>, <first+1>, … sharing one port. */
export function startPods(count: number, options: { first?: number; port?: number; namePrefix?: string } & Omit<PodOptions, 'name' | 'host' | 'port'> = {}): Promise<Pod[]> {
  const { first, port: fixedPort, namePrefix, ...rest } = options
  return onOnePort(count, first ?? 2, (host, port, i) => Pod.start({ ...rest, name: `${namePrefix ?? 'pod'}-${i}`, host, port }), fixedPort)
}
