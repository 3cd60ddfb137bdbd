// One port on 127.0.0.1 where the app sends its requests for one upstream, HTTP/1.1 and h2c
// alike: the first bytes tell them apart (RFC 9113 §3.4, the client connection preface), and the
// connection goes to that protocol's adapter (app-h1.ts, app-h2.ts). Whatever they accept
// arrives here as a Downstream and is forwarded (forward.ts) or broadcast (broadcast.ts).
import net, { type AddressInfo, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ListenerConfig } from '../config/types.ts'
import type { Logger } from '../log.ts'
import { listenOn } from '../net.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { AppH1 } from './app-h1.ts'
import { AppH2 } from './app-h2.ts'
import type { AppSide } from './app-side.ts'
import { Broadcast } from './broadcast.ts'
import type { Downstream } from './downstream.ts'
import { rawHttp1Error } from './errors.ts'
import { Exchange } from './forward.ts'
import { type RequestCounts, requestCounts } from './request-counts.ts'
import { tunnel, type Upgrade } from './tunnel.ts'

export class HttpListener {
  name: string
  /** A reload may swap both (retarget()): requests read them as they arrive. */
  config: ListenerConfig
  upstream: Upstream
  readonly counts: RequestCounts = requestCounts()
  /** Accepts every connection and sniffs its first bytes. */
  readonly #server: net.Server
  readonly #h1: AppH1
  readonly #h2: AppH2
  /** What the adapters read; the listener's own, so that a reload can swap its settings and upstream. */
  readonly #side: { config: ListenerConfig; upstream: Upstream; accessLog: boolean } & AppSide
  /** Upgraded (WebSocket) connections: Node stops tracking them, so shutdown must. */
  readonly #tunnels = new Set<Duplex>()
  /** Every request goes to every pod (mode: broadcast) rather than to one. */
  #broadcast: boolean

  constructor(config: ListenerConfig, upstream: Upstream, log: Logger, accessLog: boolean) {
    this.name = config.name
    this.config = config
    this.upstream = upstream
    this.#broadcast = upstream.config.mode === 'broadcast'
    const side = this.#side = {
      config, upstream, counts: this.counts, log, accessLog,
      serve: (downstream: Downstream) => this.#serve(downstream),
      upgrade: (request: Upgrade) => this.#upgrade(request),
    }
    this.#h1 = new AppH1(side)

    this.#h2 = new AppH2(side)
    this.#server = net.createServer({ noDelay: true }, (socket) => this.#sniff(socket))
  }

  /**
   * A reload kept this listener's address (SPEC §10): its socket and app connections stay, and new
   * requests go to `upstream` with `config`'s settings; requests in flight finish where they are.
   */
  retarget(config: ListenerConfig, upstream: Upstream, accessLog: boolean): void {
    this.#side.accessLog = accessLog
    this.name = config.name
    this.config = this.#side.config = config
    this.upstream = this.#side.upstream = upstream
    this.#broadcast = upstream.config.mode === 'broadcast'
    this.#h1.reconfigure()
    this.#h2.reconfigure()
  }

  async listen(): Promise<AddressInfo> {
    const address = await listenOn(this.#server, this.config.address, `listener ${this.name}`)
    this.#h1.started()
    return address
  }

  get address(): AddressInfo | null {
    return this.#server.address() as AddressInfo | null
  }

  /** Stop accepting; answers from now on carry `connection: close`; idle connections close. */
  stopAccepting(): void {
    this.#server.close()
    this.#h1.stopAccepting()
    this.#h2.stopAccepting()
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
    this.#h2.closeAllConnections()
    for (const socket of this.#tunnels) socket.destroy()
  }

  #serve(downstream: Downstream): void {
    if (this.#broadcast) new Broadcast(downstream, this.upstream, this.counts).start()
    else new Exchange(downstream, this.upstream, this.counts).start()
  }

  #upgrade(request: Upgrade): void {
    const socket = request.client
    if (this.#broadcast) {
      // A tunnel joins the app to one pod; a broadcast answers for all of them.
      this.counts.byStatus[400]++
      socket.on('error', () => {})
      socket.end(rawHttp1Error('bad_request', this.upstream.name, `upstream ${this.upstream.name} is a broadcast upstream; upgrades cannot be broadcast`))
      return
    }
    this.#tunnels.add(socket)
    socket.once('close', () => this.#tunnels.delete(socket))
    tunnel(request, this.upstream, this.counts)
  }

  /** Hands the connection to the HTTP/2 adapter if it opens with the preface, else to HTTP/1.1. */
  #sniff(socket: Socket): void {
    let seen: Buffer = EMPTY
    const silent = setTimeout(() => socket.destroy(), this.config.headersTimeoutMs)
    const handOver = (h2: boolean): void => {
      clearTimeout(silent)
      socket.off('data', onData)
      socket.off('error', onError)
      // The HTTP/2 session reads what is buffered on its next tick, so the socket must stop
      // flowing or the bytes would be emitted to no one; spoke's HTTP/1.1 adapter takes them as
      // they are and goes on reading.
      if (h2) {
        socket.pause()
        socket.unshift(seen)
        this.#h2.accept(socket)
      } else {
        this.#h1.accept(socket, seen)
      }
    }
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk])
      const n = Math.min(seen.length, PREFACE.length)
      // The preface can arrive split over several segments: decide only on a mismatch or on all 24 bytes.
      if (seen.compare(PREFACE, 0, n, 0, n) !== 0) handOver(false)
      else if (seen.length >= PREFACE.length) handOver(true)
    }
    const onError = (): void => {
      clearTimeout(silent)
      socket.destroy()
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.once('close', () => clearTimeout(silent))
  }
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const EMPTY = Buffer.alloc(0)
