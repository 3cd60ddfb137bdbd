// A gRPC "pod" on its own loopback address, speaking the gRPC wire protocol over h2c with
// node:http2 (length-prefixed messages, status in trailers), so that tests and benchmarks can
// count its sessions, cap its streams and send GOAWAY. Messages are JSON.
//
// Methods (any service name): `/demo.Echo/Unary` answers {pod, echo}; `/demo.Echo/Stream`
// answers `count` messages; `/demo.Echo/Bidi` answers each message as it arrives;
// `/demo.Echo/Slow` answers after `ms`; `/demo.Echo/Fail` answers grpc-status `code`, after
// `messages` messages (0: trailers-only).
// A path of one segment (`/`, `/echo`; gRPC paths have two) gets plain HTTP/2: 200 with the pod's
// name after reading the body, so that fault tests can send idempotent GETs over h2c.
import http2 from 'node:http2'
import { listenOn, onOnePort } from '../net.ts'

export interface GrpcPodOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  /** SETTINGS_MAX_CONCURRENT_STREAMS the pod advertises. */
  readonly maxConcurrentStreams?: number
  /** Told of each plain-HTTP request (method and headers) as it arrives. */
  readonly onRequest?: (method: string, headers: http2.IncomingHttpHeaders) => void
}

export class GrpcPod {
  readonly name: string
  readonly host: string
  readonly port: number
  /** Calls answered. */
  calls = 0
  /** HTTP/2 sessions accepted. */
  sessions = 0
  /** grpc-timeout of each call, as received. */
  readonly timeouts: string[] = []
  /** PING frames received (not acknowledgements), all sessions together. */
  pings = 0
  #server: http2.Http2Server
  #open = new Set<http2.ServerHttp2Session>()
  #onRequest: GrpcPodOptions['onRequest'] | null

  private constructor(options: GrpcPodOptions) {
    this.name = options.name
    this.host = options.host
    this.port = options.port
    this.#onRequest = options.onRequest ?? null
    this.#server = http2.createServer({ settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 100 } })
    this.#server.on('session', (session) => {
      this.sessions++
      this.#open.add(session)
      session.once('close', () => this.#open.delete(session))
      session.on('error', () => {})
      session.on('ping', () => { this.pings++ })
    })
    this.#server.on('stream', (stream, headers) => {
      if (String(headers[':path']).lastIndexOf('/') === 0) this.#plain(stream, headers)
      else this.#call(stream, headers)
    })
  }

  static async start(options: GrpcPodOptions): Promise<GrpcPod> {
    const pod = new GrpcPod(options)
    await listenOn(pod.#server, options, `pod ${options.name}`)
    return pod
  }

  get openSessions(): number {
    return this.#open.size
  }

  /** GOAWAY on every session, as a gRPC server with a max connection age does; the pod stays up. */
  goAway(): void {
    for (const s of this.#open) s.close()
  }

  /** Like SIGKILL: every session torn down at once, the port closed. */
  async kill(): Promise<void> {
    for (const s of this.#open) s.socket?.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  async close(): Promise<void> {
    this.goAway()
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      setTimeout(() => { for (const s of this.#open) s.destroy() }, 1000).unref()
    })
  }

  #plain(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {})
    // Counted as it arrives, before its body: a stream the pod saw at all counts as sent.
    this.#onRequest?.(String(headers[':method']), headers)
    stream.resume()
    stream.once('end', () => {
      this.calls++
      if (stream.destroyed) return
      const text = `${this.name}\n`
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-pod': this.name, 'content-length': String(Buffer.byteLength(text)) })
      stream.end(text)
    })
  }

  #call(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {})
    const path = String(headers[':path'])
    const method = path.slice(path.lastIndexOf('/') + 1)
    if (headers['grpc-timeout'] !== undefined) this.timeouts.push(String(headers['grpc-timeout']))
    if (!METHODS.has(method)) {
      // Real servers answer an unknown method at once, trailers-only, without reading the body.
      this.calls++
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': encodeURIComponent(`unknown method ${method}`) }, { endStream: true })
      return
    }
    const reader = new MessageReader()
    let answered = false
    const respond = (): void => {
      if (answered || stream.destroyed) return
      answered = true
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-pod': this.name }, { waitForTrailers: true })
    }
    const finish = (code = 0, message = ''): void => {
      if (stream.destroyed) return
      this.calls++
      const status = { 'grpc-status': String(code), ...(message ? { 'grpc-message': encodeURIComponent(message) } : {}) }
      if (!answered) {
        // As grpc-js, grpcio and grpc-go do: a call ending before any message was sent is
        // answered trailers-only, one HEADERS frame with the status, flagged END_STREAM.
        answered = true
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-pod': this.name, ...status }, { endStream: true })
        return
      }
      stream.once('wantTrailers', () => stream.sendTrailers(status))
      stream.end()
    }
    const send = (value: unknown): void => {
      respond()
      stream.write(frame(value))
    }
    stream.on('data', (chunk: Buffer) => {
      for (const message of reader.push(chunk)) {
        if (method === 'Bidi') send({ pod: this.name, echo: message })
        else if (method === 'Unary') {
          send({ pod: this.name, echo: message })
          finish()
        } else if (method === 'Stream') {
          const count = Number((message as { count?: number }).count ?? 10)
          for (let i = 0; i < count; i++) send({ pod: this.name, i })
          finish()
        } else if (method === 'Slow') {
          const timer = setTimeout(() => {
            send({ pod: this.name })
            finish()
          }, Number((message as { ms?: number }).ms ?? 1000))
          stream.once('close', () => clearTimeout(timer))
        } else if (method === 'Fail') {
          const { code, messages } = message as { code?: number; messages?: number }
          for (let i = 0; i < (messages ?? 0); i++) send({ pod: this.name, i })
          finish(Number(code ?? 13), 'failed on purpose')
        }
      }
    })
    stream.on('end', () => { if (method === 'Bidi') finish() })
  }
}

const METHODS = new Set(['Unary', 'Stream', 'Bidi', 'Slow', 'Fail'])

/** gRPC message framing: 1 byte compressed flag (0), 4 bytes big-endian length, the message. */
export function frame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value))
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = 0
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}

class MessageReader {
  #buffer: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): unknown[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    const out: unknown[] = []
    while (this.#buffer.length >= 5) {
      const length = this.#buffer.readUInt32BE(1)
      if (this.#buffer.length < 5 + length) break
      out.push(JSON.parse(this.#buffer.subarray(5, 5 + length).toString('utf8') || 'null'))
      this.#buffer = this.#buffer.subarray(5 + length)
    }
    return out
  }
}

/** `count` gRPC pods on 127.0.0.<first>… sharing one port (A records carry none). */
export function startGrpcPods(count: number, options: { first?: number; namePrefix?: string } & Omit<GrpcPodOptions, 'name' | 'host' | 'port'> = {}): Promise<GrpcPod[]> {
  const { first, namePrefix, ...rest } = options
  return onOnePort(count, first ?? 2, (host, port, i) => GrpcPod.start({ ...rest, name: `${namePrefix ?? 'grpc'}-${i}`, host, port }))
}
