// What an endpoint's pool needs of one upstream connection, whatever the protocol: how many
// requests it can take now, a way to send one, and a graceful and a hard way to end it.
import type { Dispatcher } from 'undici'

/**
 * undici's controller, as spoke's own h2c transport also tells it: whether the response's HEADERS
 * frame ended the stream. That is gRPC's trailers-only answer (how grpc-js, grpcio and grpc-go send
 * any error without a message): its status is in that one frame, and forwarding it as headers
 * followed by an empty body would make clients read the status as initial metadata.
 */
export interface SpokeDispatchController extends Dispatcher.DispatchController {
  readonly headersEndedStream?: boolean
}

/**
 * The request never left spoke on this connection: it turned out closed before any byte of the
 * request was written. The pod cannot have processed it, so it may go anywhere again, whatever
 * its method (SPEC §4).
 */
export class NotSentError extends Error {
  readonly code = 'SPOKE_NOT_SENT'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'NotSentError'
  }
}

/** The `reason` label of spoke_upstream_connections_closed_total (SPEC §8). */
export type CloseReason =
  | 'max_lifetime'
  | 'max_requests'
  | 'idle'
  | 'endpoint_removed'
  | 'error'
  | 'remote_close'
  | 'shutdown'

export interface Connection {
  readonly id: number
  /** performance.now() when the connection was established. */
  readonly connectedAt: number
  /** Requests in flight on this connection. */
  inFlight: number
  /** Requests sent on this connection since it opened. */
  requests: number
  /** performance.now() when the last request finished (idle accounting). */
  lastActiveAt: number
  /** How many requests it may carry at once (1 for HTTP/1.1; the peer's stream limit for h2c). */
  readonly capacity: number
  readonly closed: boolean
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void
  /**
   * Take no new requests; close once in-flight ones finish (the pool calls retire() again when the
   * last one is released), or force-close after drainTimeoutMs.
   */
  retire(reason: CloseReason, drainTimeoutMs: number): void
  /** Close at once, failing whatever is in flight. */
  destroy(reason: CloseReason): void
}

/** Told by a connection when it is gone, with why. Set by the pool that owns it. */
export type OnConnectionClosed = (connection: Connection, reason: CloseReason) => void

/**
 * How a connection retires, whatever its protocol: the first reason given is the one recorded,
 * in-flight requests get until the drain deadline, and it closes as soon as none is left.
 */
export class Retirement {
  /** Why the connection is retiring or closed; null while it is in service. */
  reason: CloseReason | null = null
  #deadline: NodeJS.Timeout | null = null

  /** Records the retirement; true when the connection should close now (nothing in flight). */
  begin(reason: CloseReason, inFlight: number, drainTimeoutMs: number, atDeadline: (reason: CloseReason) => void): boolean {
    if (this.reason === null) {
      this.reason = reason
      if (inFlight > 0) {
        this.#deadline = setTimeout(() => atDeadline(reason), drainTimeoutMs)
        this.#deadline.unref()
      }
    }
    return inFlight === 0
  }

  /** The connection is closed: no deadline any more. */
  done(): void {
    if (this.#deadline !== null) clearTimeout(this.#deadline)
  }
}
