// A pod that speaks HTTP/1.1 by hand, for pool tests: it reads request heads off raw sockets and
// answers only what, and when, the test says, so that a test decides exactly when the pod
// answers, half-answers, closes a connection, or says `Connection: close`. Plus the pieces a test
// of the Pool needs around it: a Pool on the real H1/H2 transports with its hooks recorded, and a
// handler that records every callback of one dispatch.
import http2 from 'node:http2'
import net from 'node:net'
import type { ConnectionConfig } from '../../src/config/types.ts'
import type { CloseReason, Connection, DispatchController, DispatchHandler, UpstreamRequest } from '../../src/transport/connection.ts'
import { type ConnectError, dial } from '../../src/transport/dial.ts'
import type { Failure } from '../../src/transport/failure.ts'
import { H1Connection } from '../../src/transport/h1-connection.ts'
import { H2Connection } from '../../src/transport/h2-connection.ts'
import { type Connector, type PodCounters, Pool } from '../../src/transport/pool.ts'
import type { PoolRequest } from '../../src/transport/pool-request.ts'

interface Teardown { teardown(fn: () => unknown): void }

/** One request as the pod read it, with the means to answer it on its connection. */
export interface PodRequest {
  readonly head: string
  readonly path: string
  /** Which connection it came on: 1 for the first the pod accepted. */
  readonly connection: number
  readonly socket: net.Socket
  /** Writes these bytes as they are. */
  write(bytes: string): void
  /** 200 with `body`, and any extra header lines (each ending in CRLF). */
  ok(body?: string, extra?: string): void
  /** FIN. */
  end(): void
  /** RST. */
  reset(): void
}

export function okBytes(body = 'ok', extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`
}

export class ScriptedPod {
  readonly host: string
  readonly port: number
  /** TCP connections accepted so far. */
  accepted = 0
  readonly sockets = new Set<net.Socket>()
  readonly requests: PodRequest[] = []
  /** Called on each new connection (e.g. to close it at once); default: nothing. */
  onConnection: (socket: net.Socket, n: number) => void = () => {}
  /** Called on each request; default: left unanswered, for the test to answer (see `next`). */
  onRequest: (request: PodRequest) => void = () => {}
  readonly #server: net.Server
  #taken = 0
  #waiters: (() => void)[] = []

  private constructor(server: net.Server, host: string, port: number) {
    this.#server = server
    this.host = host
    this.port = port
  }

  static async start(host: string, t: Teardown): Promise<ScriptedPod> {
    const server = net.createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: 0 }, () => resolve())
    })
    const pod = new ScriptedPod(server, host, (server.address() as net.AddressInfo).port)
    server.on('connection', (socket) => pod.#accept(socket))
    t.teardown(() => pod.close())
    return pod
  }

  /** Open connections now. */
  get open(): number {
    return this.sockets.size
  }

  /** The next request not taken yet, waiting for it if need be. */
  async next(timeoutMs = 2000): Promise<PodRequest> {
    const deadline = Date.now() + timeoutMs
    while (this.#taken >= this.requests.length) {
      if (Date.now() > deadline) throw new Error(`pod ${this.host}: no request #${this.#taken + 1} within ${timeoutMs}ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return this.requests[this.#taken++]
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  #accept(socket: net.Socket): void {
    const n = ++this.accepted
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    let buffered = ''
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1')
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end)
        // Bodies: Content-Length only, which is all these tests send.
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        if (buffered.length < end + 4 + length) break
        buffered = buffered.slice(end + 4 + length)
        const request: PodRequest = {
          head,
          path: head.split(' ')[1],
          connection: n,
          socket,
          write: (bytes) => { if (!socket.destroyed) socket.write(bytes, 'latin1') },
          ok: (body, extra) => request.write(okBytes(body, extra)),
          end: () => socket.end(),
          reset: () => socket.resetAndDestroy(),
        }
        this.requests.push(request)
        this.onRequest(request)
        for (const w of this.#waiters.splice(0)) w()
      }
    })
    this.onConnection(socket, n)
  }
}

/** An h2c pod on node:http2 that counts sessions and answers per `onStream` (default 200 "ok"). */
export class H2Pod {
  readonly host: string
  readonly port: number
  accepted = 0
  readonly sessions = new Set<http2.ServerHttp2Session>()
  readonly streams: http2.ServerHttp2Stream[] = []
  onStream: (stream: http2.ServerHttp2Stream, session: http2.ServerHttp2Session) => void = (stream) => {
    stream.respond({ ':status': 200 })
    stream.end('ok')
  }
  readonly #server: http2.Http2Server
  readonly #sockets = new Set<net.Socket>()

  private constructor(server: http2.Http2Server, host: string, port: number) {
    this.#server = server
    this.host = host
    this.port = port
  }

  static async start(host: string, settings: http2.Settings, t: Teardown): Promise<H2Pod> {
    const server = http2.createServer({ settings })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: 0 }, () => resolve())
    })
    const pod = new H2Pod(server, host, (server.address() as net.AddressInfo).port)
    server.on('connection', (socket: net.Socket) => {
      pod.#sockets.add(socket)
      socket.on('close', () => pod.#sockets.delete(socket))
    })
    server.on('session', (session) => {
      pod.accepted++
      pod.sessions.add(session)
      session.on('close', () => pod.sessions.delete(session))
      session.on('error', () => {})
    })
    server.on('stream', (stream, _headers) => {
      pod.streams.push(stream)
      stream.on('error', () => {})
      pod.onStream(stream, stream.session as http2.ServerHttp2Session)
    })
    t.teardown(() => pod.close())
    return pod
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }
}

/** A loopback address and port where nothing listens: connecting is refused at once. */
export async function deadAddress(host: string): Promise<{ host: string; port: number }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, () => resolve()))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return { host, port }
}

export const BASE_CONFIG: ConnectionConfig = {
  perEndpoint: 1,
  maxPerEndpoint: 4,
  maxLifetimeMs: 0,
  lifetimeJitter: 0,
  maxRequests: 0,
  idleTimeoutMs: 0,
  connectTimeoutMs: 1000,
  keepaliveMs: 0,
  drainTimeoutMs: 1000,
}

/** A pool on the real transports, with what its hooks were told. */
export interface TestPool {
  readonly pool: Pool
  readonly counters: PodCounters
  readonly closed: CloseReason[]
  readonly connectFailures: ConnectError[]
  opened: number
  connectedChanges: number
}

export interface PoolOptions {
  protocol?: 'http1' | 'h2c'
  /** Wraps the n-th connect (1-based): delay it, fail it, or let it be. */
  connect?: (n: number, connect: () => Promise<Connection>) => Promise<Connection>
}

export function startPool(t: Teardown, target: { host: string; port: number }, config: Partial<ConnectionConfig> = {}, options: PoolOptions = {}): TestPool {
  const protocol = options.protocol ?? 'http1'
  const full = { ...BASE_CONFIG, ...config }
  const { host, port } = target
  const counters: PodCounters = { inFlight: 0, requests: 0, latency: null }
  const result: TestPool = {
    pool: undefined as unknown as Pool,
    counters,
    closed: [],
    connectFailures: [],
    opened: 0,
    connectedChanges: 0,
  }
  const connector: Connector = protocol === 'http1'
    ? (events) => H1Connection.open(host, port, full, events)
    : (events) => dial(host, port, full).then((s) => H2Connection.open(s, `${host}:${port}`, full, events))
  let connects = 0
  const wrapped: Connector = options.connect === undefined ? connector : (events) => options.connect!(++connects, () => connector(events))
  const pool = new Pool(full, wrapped, {
    connectFailed: (e) => { result.connectFailures.push(e) },
    opened: () => { result.opened++ },
    closed: (reason) => { result.closed.push(reason) },
    connectedChanged: () => { result.connectedChanges++ },
  }, counters)
  ;(result as { pool: Pool }).pool = pool
  t.teardown(() => pool.drain('shutdown', 200))
  pool.start()
  return result
}

/** Every callback one dispatch got, in order. */
export class Call implements DispatchHandler {
  controller: PoolRequest | null = null
  status = 0
  headers: Record<string, string | string[] | undefined> = {}
  body = ''
  trailers: Record<string, string | string[] | undefined> = {}
  failure: Failure | null = null
  /** onResponseEnd and onResponseError calls: exactly one is the contract. */
  finals = 0
  readonly events: string[] = []
  readonly done: Promise<void>
  #settle!: () => void

  constructor() {
    this.done = new Promise((resolve) => { this.#settle = resolve })
  }

  onRequestStart(controller: DispatchController): void {
    this.controller = controller as PoolRequest
    this.events.push('start')
  }

  onResponseStart(_c: DispatchController, status: number, headers: string[]): void {
    this.status = status
    // Shaped as an object for the tests' convenience; a repeated name's values in an array.
    const shaped: Record<string, string | string[] | undefined> = {}
    for (let i = 0; i < headers.length; i += 2) {
      const prior = shaped[headers[i]]
      shaped[headers[i]] = prior === undefined ? headers[i + 1] : [...(Array.isArray(prior) ? prior : [prior]), headers[i + 1]]
    }
    this.headers = shaped
    this.events.push(`head ${status}`)
  }

  onResponseData(_c: DispatchController, chunk: Buffer): void {
    this.body += chunk.toString()
  }

  onResponseEnd(_c: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.trailers = trailers
    this.finals++
    this.events.push('end')
    this.#settle()
  }

  onResponseError(_c: DispatchController | null, error: Error): void {
    this.finals++
    this.failure = error as Failure
    this.events.push(`error ${(error as Failure).code}`)
    this.#settle()
  }

  /** Waits for the final callback, failing after `timeoutMs`. */
  async settled(timeoutMs = 2000): Promise<this> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.done,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no final callback within ${timeoutMs}ms: ${this.events.join(', ')}`)), timeoutMs) }),
    ])
    clearTimeout(timer)
    return this
  }
}

export function get(pool: Pool, path = '/', method = 'GET', body?: string): Call {
  const call = new Call()
  const headers = ['host', 'pod.test']
  if (body !== undefined) headers.push('content-length', String(Buffer.byteLength(body)))
  const request: UpstreamRequest = { method, path, headers, body: body ?? null }
  pool.dispatch(request, call)
  return call
}

export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
