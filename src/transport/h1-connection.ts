// One HTTP/1.1 keep-alive connection to a pod: an undici Client fed a socket that is already
// connected. One Client per connection (rather than an undici Pool) because the pool above needs
// to see and steer each connection: its age, its request count, draining it on its own.
import type net from 'node:net'
import type { Dispatcher } from 'undici'
// Only the Client: undici's package root also loads fetch, WebSocket, caches and more, about
// 13 MB of resident memory a sidecar never uses. (undici 8 declares no "exports" map.)
import Client from 'undici/lib/dispatcher/client.js'
import { type CloseReason, type Connection, NotSentError, type OnConnectionClosed, Retirement } from './connection.ts'

let nextId = 1

/** The controller handed with a failure before undici saw the request: there is nothing to steer. */
const NOTHING_STARTED = { aborted: false, paused: false, reason: null, abort() {}, pause() {}, resume() {} } as unknown as Dispatcher.DispatchController

/** The error a retired connection's Client gets if it tries to reconnect: it must not. */
class RetiredConnectionError extends Error {
  readonly code = 'UND_ERR_SOCKET'
  constructor() {
    super('connection already closed')
    this.name = 'RetiredConnectionError'
  }
}

export class H1Connection implements Connection {
  readonly id = nextId++
  readonly connectedAt: number
  readonly capacity = 1
  inFlight = 0
  requests = 0
  lastActiveAt: number
  #client: Client
  /** The socket until undici takes it: closing a connection never used must close it here. */
  #unclaimed: net.Socket | null
  #closed = false
  /** undici's socket, to see whether it is being closed. */
  readonly #socket: net.Socket
  /**
   * A request on it failed: undici destroys an HTTP/1.1 connection whose request fails or is
   * aborted, but only after telling the handler, whose release would otherwise hand the dying
   * connection to the next request (which then fails with "The client is destroyed").
   */
  #failed = false
  /**
   * undici asked for a socket again to write a queued request: the socket was gone before that
   * request's first byte went out, so its failure is a request never sent.
   */
  #unsent = false
  /** The handler of the request in flight (one at a time), reached through #relay. */
  #handler: Dispatcher.DispatchHandler | null = null
  readonly #relay: Dispatcher.DispatchHandler = {
    onRequestStart: (controller, context) => this.#handler!.onRequestStart?.(controller, context),
    onResponseStart: (controller, status, headers, message) => this.#handler!.onResponseStart?.(controller, status, headers, message),
    onResponseData: (controller, chunk) => this.#handler!.onResponseData?.(controller, chunk),
    // undici closes the socket right after this call when it will not reuse it (a HEAD, a
    // `connection: close` answer, a keep-alive hint about to run out): the handler releases the
    // connection once undici has decided, so that `closed` already tells.
    onResponseEnd: (controller, trailers) => {
      const handler = this.#handler!
      queueMicrotask(() => handler.onResponseEnd?.(controller, trailers))
    },
    onResponseError: (controller, error) => {
      this.#failed = true
      // Normally undici's own 'disconnect' follows; this closes it if that never comes.
      process.nextTick(() => this.destroy('error'))
      this.#handler!.onResponseError?.(controller, this.#unsent ? new NotSentError(`connection to the pod closed before the request was written: ${error.message}`, { cause: error }) : error)
    },
  }
  #retirement = new Retirement()
  #onClosed: OnConnectionClosed

  constructor(socket: net.Socket, origin: string, onClosed: OnConnectionClosed) {
    this.connectedAt = performance.now()
    this.lastActiveAt = this.connectedAt
    this.#onClosed = onClosed
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
    const closedEarly = (): void => this.#closeWith(early === null ? 'remote_close' : 'error')
    socket.once('close', closedEarly)
    this.#client = new Client(origin, {
      // The first connect gets our socket; a later one means the socket is gone, and this
      // connection is over: the pool opens new connections, undici must not do it behind it.
      // undici must get the answer on a later tick: called synchronously, its re-entrant resume
      // is swallowed and the first request never goes out.
      connect: (_opts, callback) => {
        if (handedOver) {
          this.#unsent = true
          process.nextTick(callback, new RetiredConnectionError(), null)
          return
        }
        handedOver = true
        this.#unclaimed = null
        socket.off('close', closedEarly)
        // Lost while waiting for its first request: undici must fail the request (a reset
        // before the response, retried where allowed), not wait on a dead socket.
        if (socket.destroyed) {
          this.#unsent = true
          process.nextTick(callback, new RetiredConnectionError(), null)
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
    this.#client.on('disconnect', (_origin, _targets, err) => this.#lost(err))
    this.#client.on('connectionError', (_origin, _targets, err) => this.#lost(err))
  }

  get closed(): boolean {
    return this.#closed || this.#failed || this.#socket.destroyed
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    this.#handler = handler
    if (this.closed) {
      // Closed since the pool chose it (the pod's FIN arrived in between): nothing was written.
      queueMicrotask(() => handler.onResponseError?.(NOTHING_STARTED, new NotSentError('connection to the pod closed before the request was written')))
      return
    }
    this.#client.dispatch(options, this.#relay)
  }

  /**
   * Marks the connection retired; it closes when the pool releases its last request (the pool
   * calls retire() again then), or at the drain deadline. It does not call Client.close(),
   * because the request that made it retire (max requests) may not be dispatched yet.
   */
  retire(reason: CloseReason, drainTimeoutMs: number): void {
    if (this.#closed) return
    if (this.#retirement.begin(reason, this.inFlight, drainTimeoutMs, (r) => this.destroy(r))) this.destroy(this.#retirement.reason!)
  }

  destroy(reason: CloseReason): void {
    if (this.#closed) return
    this.#retirement.reason ??= reason
    this.#client.destroy().catch(() => {})
    this.#finish(this.#retirement.reason)
  }

  #lost(err: Error | undefined): void {
    this.#closeWith(classifyLoss(err))
  }

  #closeWith(reason: CloseReason): void {
    if (this.#closed) return
    this.#finish(this.#retirement.reason ?? reason)
  }

  #finish(reason: CloseReason): void {
    if (this.#closed) return
    this.#closed = true
    this.#retirement.done()
    if (!this.#client.destroyed) this.#client.destroy().catch(() => {})
    this.#unclaimed?.destroy()
    this.#onClosed(this, reason)
  }
}

function classifyLoss(err: Error | undefined): CloseReason {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'UND_ERR_INFO') {
    // undici closes a socket itself when the server's Keep-Alive hint runs out ("socket idle
    // timeout"), and after an answer that ends the connection: `Connection: close` (nginx's
    // keepalive_requests), an HTTP/1.0 answer without keep-alive, an answer that came before the
    // request was fully sent. Those are the pod's doing, not failures (SPEC §8).
    return err!.message.includes('idle timeout') ? 'idle' : 'remote_close'
  }
  // A FIN on an idle connection ("other side closed").
  if (code === 'UND_ERR_SOCKET') return 'remote_close'
  return 'error'
}
