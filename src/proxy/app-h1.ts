// The app's HTTP/1.1 connections, served by spoke itself rather than by Node's HTTP server: each
// is an AppConnection (app-connection.ts) that reads requests with spoke's codec (src/http1/),
// refuses what a proxy must not forward (h1-framing.ts) with spoke's error answer, and turns each
// request that passes into an H1Downstream. Node's server cost a quarter of spoke's CPU per
// request in request and response objects, their streams and its per-message bookkeeping.
//
// The timeouts (headersTimeout, idleTimeout) are kept by one sweep over the connections a few
// times per timeout, as Node's server checks headersTimeout, rather than by a timer per
// connection re-armed for every request.
import type { Socket } from 'node:net'
import { AppConnection, type AppH1Settings } from './app-connection.ts'
import type { AppSide } from './app-side.ts'

export class AppH1 implements AppH1Settings {
  readonly side: AppSide
  limits!: { readonly maxHeaderSize: number }
  keepAliveFields!: string
  readAhead!: number
  #draining = false
  readonly #connections = new Set<AppConnection>()
  #sweeper: NodeJS.Timeout | null = null

  constructor(side: AppSide) {
    this.side = side
    this.reconfigure()
  }

  /** The listener's settings changed (a reload): what is derived from them is derived again. */
  reconfigure(): void {
    const config = this.side.config
    this.limits = { maxHeaderSize: config.maxHeaderSize }
    // Clients that read the hint (Node's agent, undici) stop using a connection before spoke's
    // idleTimeout closes it under them.
    this.keepAliveFields = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(config.idleTimeoutMs / 1000)}\r\n`
    this.readAhead = Math.max(64 * 1024, config.maxHeaderSize)
    if (this.#sweeper !== null) {
      clearInterval(this.#sweeper)
      this.#sweeper = null
      this.started()
    }
  }

  get draining(): boolean {
    return this.#draining
  }

  /** A connection whose first bytes (`first`, read by the listener) are not HTTP/2's preface. */
  accept(socket: Socket, first: Buffer): void {
    const connection = new AppConnection(socket, this)
    this.#connections.add(connection)
    connection.start(first)
  }

  /** The listener listens: the sweep starts. */
  started(): void {
    if (this.#sweeper !== null) return
    const config = this.side.config
    const every = Math.max(100, Math.min(1000, Math.min(config.headersTimeoutMs, config.idleTimeoutMs) / 4))
    this.#sweeper = setInterval(() => this.#sweep(), every)
    this.#sweeper.unref()
  }

  /** Idle connections close; answers from now on carry `connection: close`. */
  stopAccepting(): void {
    this.#draining = true
    for (const connection of this.#connections) connection.drain()
    this.#stopSweeping()
  }

  closeAllConnections(): void {
    for (const connection of this.#connections) connection.destroy()
  }

  /** AppH1Settings: the connection closed, or was handed over to a tunnel. */
  closed(connection: AppConnection): void {
    this.#connections.delete(connection)
    this.#stopSweeping()
  }

  #sweep(): void {
    const config = this.side.config
    const now = performance.now()
    for (const connection of this.#connections) connection.sweep(now, config.headersTimeoutMs, config.idleTimeoutMs)
  }

  #stopSweeping(): void {
    if (!this.#draining || this.#connections.size > 0 || this.#sweeper === null) return
    clearInterval(this.#sweeper)
    this.#sweeper = null
  }
}
