// One HTTP/1.1 keep-alive connection to a pod: an undici Client fed a socket that is already
// connected. One Client per connection (rather than an undici Pool) because the pool above needs
// to see and steer each connection: its age, its request count, draining it on its own.
import type net from 'node:net'
import type { Dispatcher } from 'undici'
// Only the Client: undici's package root also loads fetch, WebSocket, caches and more, about
// 13 MB of resident memory a sidecar never uses. (undici 8 declares no "exports" map.)
import Client from 'undici/lib/dispatcher/client.js'
import type { CloseReason, Connection, ConnectionEvents, UpstreamRequest } from './connection.ts'
import { Failure } from './failure.ts'

/** Given to undici when it asks for a socket again: this connection's socket is gone for good. */
class SocketGone extends Error {
  constructor() {
    super('connection already closed')
    this.name = 'SocketGone'
  }
}

export class H1Connection implements Connection {
  readonly connectedAt: number
  readonly capacity = 1
  readonly exclusive = true
  #client: Client
  /** The socket until undici takes it: closing a connection never used must close it here. */
  #unclaimed: net.Socket | null
  /** undici's socket, to see whether it is being closed. */
  readonly #socket: net.Socket
  /** Closed by spoke, or lost: nothing more is reported. */
  #over = false
  /**
   * undici asked for a socket again to write a queued request: the socket was gone before that
   * request's first byte went out, so its failure is a request never sent.
   */
  #unsent = false
  readonly #events: ConnectionEvents

  constructor(socket: net.Socket, origin: string, events: ConnectionEvents) {
    this.connectedAt = performance.now()
    this.#events = events
    this.#socket = socket
    let handedOver = false
    // undici takes the socket only at the first request; until then nothing else listens to it.
    // A pod that resets a connection still unused must neither be an uncaught error (which would
    // end spoke) nor leave a dead connection in the pool. The error listener stays for good, so
    // that no late error of a socket undici has let go of is ever unhandled.
    this.#unclaimed = socket
    let early: Error | null = null
    socket.on('error', (err: Error) => { early ??= err })
    // A FIN is the pod closing an idle connection (its idle timeout); a reset is an error.
    const closedEarly = (): void => this.#lost(early === null ? 'remote_close' : 'error')
    socket.once('close', closedEarly)
    this.#client = new Client(origin, {
      // The first connect gets our socket; a later one means the socket is gone, and this
      // connection is over: the pool opens new connections, undici must not do it behind it.
      // undici must get the answer on a later tick: called synchronously, its re-entrant resume
      // is swallowed and the first request never goes out.
      connect: (_opts, callback) => {
        if (handedOver) {
          this.#unsent = true
          process.nextTick(callback, new SocketGone(), null)
          return
        }
        handedOver = true
        this.#unclaimed = null
        socket.off('close', closedEarly)
        // Lost while waiting for its first request: undici must fail the request (a request
        // never sent), not wait on a dead socket.
        if (socket.destroyed) {
          this.#unsent = true
          process.nextTick(callback, new SocketGone(), null)
        } else {
          process.nextTick(callback, null, socket)
        }
      },
      pipelining: 1,
      // spoke's own request timeout governs; a long poll through spoke is legitimate.
      headersTimeout: 0,
      bodyTimeout: 0,
      // Idle keep-alive is the pool's business. Below a server's Keep-Alive hint undici still
      // closes first, which avoids the race of a request sent as the server closes.
      keepAliveTimeout: 24 * 3600_000,
      keepAliveMaxTimeout: 24 * 3600_000,
      keepAliveTimeoutThreshold: 1000,
      strictContentLength: true,
    })
    this.#client.on('disconnect', (_origin, _targets, err) => this.#lost(classifyLoss(err)))
    this.#client.on('connectionError', (_origin, _targets, err) => this.#lost(classifyLoss(err)))
  }

  get closed(): boolean {
    return this.#over || this.#socket.destroyed
  }

  dispatch(request: UpstreamRequest, handler: Dispatcher.DispatchHandler): void {
    if (this.closed) {
      // Closed since the pool chose it (the pod's FIN arrived in between): nothing was written.
      this.#unsent = true
    }
    this.#client.dispatch(request, handler)
  }

  failureOf(error: Error): Failure {
    if (error instanceof Failure) return error
    if ((error as NodeJS.ErrnoException).code === 'UND_ERR_INVALID_ARG') return new Failure('invalid_request', `request refused: ${error.message}`, { cause: error })
    if (this.#unsent || error instanceof SocketGone) {
      return new Failure('not_sent', `connection to the pod closed before the request was written: ${error.message}`, { cause: error })
    }
    return new Failure('reset', error.message, { cause: error })
  }

  /** HTTP/1.1 cannot tell the pod that no request follows; the pool closes it once it is idle. */
  retire(): void {}

  close(): void {
    this.destroy()
  }

  destroy(): void {
    if (this.#over) return
    this.#over = true
    // Not from inside undici's own callbacks (the pool closes a connection whose request failed
    // as undici reports the failure): on the next tick, when undici is done with it.
    process.nextTick(() => {
      this.#client.destroy().catch(() => {})
      this.#unclaimed?.destroy()
    })
  }

  #lost(reason: CloseReason): void {
    if (this.#over) return
    this.#over = true
    if (!this.#client.destroyed) this.#client.destroy().catch(() => {})
    this.#unclaimed?.destroy()
    this.#events.lost(reason)
  }
}

/**
 * Why undici let go of the socket. It closes a socket itself (UND_ERR_INFO) when the server's
 * Keep-Alive hint runs out, and right after an answer that ends the connection; the pool has
 * already recorded the latter as the pod's close when the request ended, so what reaches here
 * while the connection is in the pool is the idle timeout. A FIN on an idle connection is the pod
 * closing it ("other side closed"); anything else is an error.
 */
function classifyLoss(err: Error | undefined): CloseReason {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'UND_ERR_INFO') return 'idle'
  if (code === 'UND_ERR_SOCKET') return 'remote_close'
  return 'error'
}
