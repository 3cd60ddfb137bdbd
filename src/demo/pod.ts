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
  /** Remember each request (tests); off for benchmarks. */
  readonly record?: boolean
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
  #server: http.Server
  #sockets = new Set<Socket>()
  #socketIds = new WeakMap<Socket, number>()
  #record: boolean

  private constructor(options: PodOptions) {
    this.name = options.name
    this.host = options.host
    this.port = options.port
    this.#record = options.record ?? true
    this.#server = http.createServer({ keepAliveTimeout: options.keepAliveTimeoutMs ?? 5000, noDelay: true }, (req, res) => this.#handle(req, res))
    this.#server.on('connection', (socket: Socket) => {
      this.connections++
      this.#socketIds.set(socket, this.connections)
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
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
      if (this.#record) {
        this.received.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body, connection: this.#socketIds.get(req.socket) ?? 0, at: performance.now() })
      }
      this.#answer(req, res, body)
    })
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
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

/** `count` pods on 127.0.0.<first>, <first+1>, … sharing one port. */
export function startPods(count: number, options: { first?: number; port?: number; namePrefix?: string; record?: boolean; keepAliveTimeoutMs?: number } = {}): Promise<Pod[]> {
  return onOnePort(count, options.first ?? 2, (host, port, i) => Pod.start({
    name: `${options.namePrefix ?? 'pod'}-${i}`, host, port, record: options.record, keepAliveTimeoutMs: options.keepAliveTimeoutMs,
  }), options.port)
}
