// One stream of an app's HTTP/2 session as a Downstream. spoke takes streams straight from
// node:http2's 'stream' event: Node's compatibility API would build a request and a response
// object, and their listeners, for every stream, and on this hot path that garbage showed up as a
// quarter of the CPU.
import type { IncomingHttpHeaders } from 'node:http'
import http2 from 'node:http2'
import type { Readable } from 'node:stream'
import type { Downstream } from './downstream.ts'
import { errorAnswer } from './error-answer.ts'
import type { ErrorCode } from './errors.ts'
import { grpcStatusOf } from './errors.ts'
import { GRPC_INTERNAL } from './grpc-status.ts'
import type { RequestHead } from './request-head.ts'

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants

export class H2Downstream implements Downstream {
  readonly protocol = 'h2'
  readonly method: string
  readonly path: string
  readonly head: RequestHead
  readonly hasBody: boolean
  endpoint: string | null = null
  attempts = 0
  error: ErrorCode | null = null
  grpcStatus = -1
  readonly #stream: http2.ServerHttp2Stream
  #status = 200
  /** The head ended the stream (a trailers-only answer): nothing more goes out. */
  #ended = false
  #finished = false

  constructor(stream: http2.ServerHttp2Stream, method: string, path: string, head: RequestHead, hasBody: boolean) {
    this.#stream = stream
    this.method = method
    this.path = path
    this.head = head
    this.hasBody = hasBody
  }

  /** HTTP/2 bodies always stream (DATA frames after HEADERS). */
  get wholeBody(): null {
    return null
  }

  /** The stream's readable side: the same stream carries the answer. */
  get body(): Readable {
    return this.#stream
  }

  get headersSent(): boolean {
    return this.#stream.headersSent
  }

  get status(): number {
    return this.#status
  }

  respond(status: number, flat: readonly string[], complete = false): void {
    const headers: http2.OutgoingHttpHeaders = { ':status': status }
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i].toLowerCase()
      const prior = headers[name]
      if (prior === undefined) headers[name] = flat[i + 1]
      else if (Array.isArray(prior)) prior.push(flat[i + 1])
      else headers[name] = [String(prior), flat[i + 1]]
    }
    this.#status = status
    try {
      if (complete) {
        this.#ended = true
        this.#stream.respond(headers, { endStream: true })
        stopRequestBody(this.#stream)
      } else {
        // Trailers are known only at the end (gRPC status), so always ask to send them then.
        this.#stream.respond(headers, { waitForTrailers: true })
      }
    } catch {
      // A header HTTP/2 forbids that got past the hop-by-hop filter: a reset stream, not a crash.
      this.#stream.close(NGHTTP2_INTERNAL_ERROR)
    }
  }

  write(chunk: Buffer): boolean {
    if (!this.#stream.headersSent) this.respond(this.#status, [])
    return this.#stream.write(chunk)
  }

  onDrain(listener: () => void): void {
    this.#stream.on('drain', listener)
  }

  end(trailers?: IncomingHttpHeaders | null, body?: string): void {
    const stream = this.#stream
    if (stream.destroyed || this.#ended) return
    if (!stream.headersSent) this.respond(this.#status, [])
    stream.once('wantTrailers', () => {
      stream.sendTrailers((trailers ?? {}) as http2.OutgoingHttpHeaders)
      stopRequestBody(stream)
    })
    if (body === undefined) stream.end()
    else stream.end(body)
  }

  fail(code: ErrorCode, message: string, upstream: string, grpc: boolean): number {
    this.error = code
    // A stream reset after its head reads as INTERNAL to a gRPC client.
    if (grpc) this.grpcStatus = this.#stream.headersSent ? GRPC_INTERNAL : grpcStatusOf(code)
    if (this.#stream.headersSent) {
      // Too late for a status: a reset stream, never a silently truncated 200.
      this.abort()
      return this.#status
    }
    const answer = errorAnswer(code, message, upstream, grpc)
    if (grpc) {
      // Trailers-only: one HEADERS frame that ends the stream. Through Node's compatibility API it
      // would take HEADERS, an empty DATA and a reset, which clients read as "ended without
      // status". Whatever the app still sends is read and dropped.
      this.respond(answer.status, answer.headers, true)
      this.#stream.resume()
      return answer.status
    }
    this.respond(answer.status, answer.headers)
    this.end(null, answer.body)
    return answer.status
  }

  abort(): void {
    this.#stream.close(NGHTTP2_INTERNAL_ERROR)
  }

  // A stream carries one request: once answered, stopRequestBody ends what the app still sends.
  closeAfter(): void {}

  onGone(listener: () => void): void {
    // An HTTP/2 request ends with its stream (RST_STREAM), not with the connection.
    this.#stream.once('close', () => { if (!this.#finished) listener() })
  }

  finished(): void {
    this.#finished = true
  }
}

/**
 * RFC 9113 §8.1: the answer is complete while the app is still sending its body (spoke's error, a
 * pod that answered early): RST_STREAM with NO_ERROR tells it to stop. Without it a client that
 * never ends its body would hold the stream, and so a graceful close of its session, open
 * forever. On the next turn, as Node does itself, so that the trailers go out first.
 */
function stopRequestBody(stream: http2.ServerHttp2Stream): void {
  if (stream.endAfterHeaders || stream.readableEnded) return
  setImmediate(() => { if (!stream.closed) stream.close(NGHTTP2_NO_ERROR) })
}
