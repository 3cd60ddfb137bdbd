// One request from the app and its answer, whatever the protocol the app spoke: what forwarding
// and broadcast see of the app side. The HTTP/1.1 and HTTP/2 adapters (app-h1.ts, app-h2.ts)
// each make one per request; nothing past them asks which it was.
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { ErrorCode } from './errors.ts'
import type { RequestHead } from './request-head.ts'

export interface Downstream {
  /** 'h2' when the app spoke HTTP/2 (its body is the stream that also carries the answer). */
  readonly protocol: 'http1' | 'h2'
  readonly method: string
  /** origin-form (`/path?query`), whatever form the app sent. */
  readonly path: string
  readonly head: RequestHead
  /** Whether a body follows the head (HTTP/2: the HEADERS frame did not end the stream). */
  readonly hasBody: boolean
  /** The request body as it arrives; read once. */
  readonly body: Readable
  /**
   * The whole body, when all of it had arrived with the head (most small requests over
   * HTTP/1.1): it is sent as it is, and `body` need not be read; null otherwise.
   */
  readonly wholeBody: Buffer | null
  /** Whether the answer's head has gone out: no other status can be given after it. */
  readonly headersSent: boolean
  /** The status of the answer sent, or 200 before any. */
  readonly status: number
  // What the access log and spoke_grpc_responses_total tell of the request, set as it is
  // answered: plain fields, so that keeping them costs a store each and no allocation.
  /** The pod whose answer the app got (`ip:port`), else null. */
  endpoint: string | null
  /** Tries sent to pods (a broadcast: the pods asked). */
  attempts: number
  /** spoke's own error code (§5) when spoke answered, or broke the answer, itself; else null. */
  error: ErrorCode | null
  /** gRPC requests: the status the app received (grpc-status.ts); -1 for others, or while unknown. */
  grpcStatus: number
  /**
   * Sends the answer's head (a flat [name, value, …] list). `complete`: the head is the whole
   * answer (gRPC's trailers-only response: one HEADERS frame that ends the stream).
   */
  respond(status: number, headers: readonly string[], complete?: boolean): void
  /** One chunk of the answer's body; false when the app's connection pushes back (see onDrain). */
  write(chunk: Buffer): boolean
  /** `listener` runs each time the app's connection takes more after pushing back. */
  onDrain(listener: () => void): void
  /** Ends the answer, with trailers where the protocol carries them (HTTP/1.1: chunked only). */
  end(trailers?: IncomingHttpHeaders | null, body?: string): void
  /** spoke's own error answer (SPEC §5), or a broken answer if its head already went; the status to count. */
  fail(code: ErrorCode, message: string, upstream: string, grpc: boolean): number
  /** Ends an answer that cannot be completed so that the app sees it broken (reset stream, closed connection). */
  abort(): void
  /** The app's connection carries no request after this one (the rest of a body is left unread). */
  closeAfter(): void
  /** `listener` runs once if the app goes away before the answer is complete. */
  onGone(listener: () => void): void
  /** The exchange is over, answered or abandoned: the adapter's own bookkeeping ends. */
  finished(): void
}
