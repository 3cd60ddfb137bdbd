// What the pool needs of one upstream connection, whatever the protocol: how many requests it can
// carry now, a way to send one, and ways to end it. The connection does I/O only; whether it takes
// requests, is retiring or is gone is the pool's state (pool.ts), kept in one place.
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Failure } from './failure.ts'

/**
 * How the caller steers one request in flight (undici's DispatchController, which spoke's
 * transports, pool and engine all speak): abandon it, or make the pod wait while the app's
 * connection pushes back.
 */
export interface DispatchController {
  readonly aborted: boolean
  readonly paused: boolean
  readonly reason: Error | null
  abort(reason: Error): void
  pause(): void
  resume(): void
}

/**
 * Spoke's controller: whether the response's HEADERS frame ended the stream (h2c). That is
 * gRPC's trailers-only answer (how grpc-js, grpcio and grpc-go send any error without a
 * message): its status is in that one frame, and forwarding it as headers followed by an empty
 * body would make clients read the status as initial metadata.
 */
export interface SpokeDispatchController extends DispatchController {
  readonly headersEndedStream?: boolean
  /**
   * The pool sent the request on an HTTP/1.1 connection that had sat idle in the pool or had
   * already carried a request: the pod may have been closing it as idle (the keep-alive race), so
   * a reset is not the pod failing.
   */
  readonly reusedIdle?: boolean
}

/**
 * What a request's sender hears (undici's DispatchHandler, with spoke's headers): the controller
 * at once, then the answer's head, body chunks and end, or an error; exactly one of
 * onResponseEnd and onResponseError.
 */
export interface DispatchHandler {
  onRequestStart?(controller: DispatchController, context: unknown): void
  /**
   * `headers`: flat [name, value, …] with lower-case names, in the pod's order, a repeated name
   * once per value: what the app is answered with is built from it without an object in between.
   */
  onResponseStart?(controller: DispatchController, status: number, headers: string[], statusText: string): void
  onResponseData?(controller: DispatchController, chunk: Buffer): void
  /** Trailers as Node shapes them (lower-case names, a repeated name's values in an array). */
  onResponseEnd?(controller: DispatchController, trailers: IncomingHttpHeaders): void
  onResponseError?(controller: DispatchController | null, error: Error): void
}

/** One request for a pod: method, origin-form path, flat [name, value, …] headers, body. */
export interface UpstreamRequest {
  readonly method: string
  readonly path: string
  /** The Host among them (HTTP/1.1 sends it as given; h2c makes it :authority). */
  readonly headers: readonly string[]
  /** A stream is read as the connection sends it; a string is sent as UTF-8 (tests). */
  readonly body?: Readable | Buffer | string | null
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
  /** performance.now() when the connection was established. */
  readonly connectedAt: number
  /** How many requests it may carry at once (1 for HTTP/1.1; the pod's stream limit for h2c). */
  readonly capacity: number
  /**
   * HTTP/1.1's kind: one request at a time, a failed request ends the connection, and a request
   * sent on it after it sat idle may meet the pod closing it (the keep-alive race).
   */
  readonly exclusive: boolean
  /** The transport is gone, or going (its socket destroyed): nothing more can be sent on it. */
  readonly closed: boolean
  dispatch(request: UpstreamRequest, handler: DispatchHandler): void
  /** The cause of an error the transport reported for a request on it. */
  failureOf(error: Error): Failure
  /** No request follows; in-flight ones go on (close() follows once they are done, or destroy()). */
  retire(): void
  /** Close it; nothing is in flight. */
  close(): void
  /** Close it at once, failing whatever is still in flight. */
  destroy(): void
}

/** What a connection tells its pool; set by the pool when it opens the connection. */
export interface ConnectionEvents {
  /** The transport closed under the connection (the pod closed it, a reset, a session error). */
  lost(reason: CloseReason): void
  /** The pod takes no new requests on it (GOAWAY, a refused stream) but finishes those it accepted. */
  shedding(): void
}

/** The handler's per-request context (undici's protocol), which spoke does not use: one object for every request. */
export const NO_CONTEXT: object = Object.freeze({})
