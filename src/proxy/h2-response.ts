// An app's HTTP/2 stream answered through the few methods spoke writes with (the same as on an
// HTTP/1.1 ServerResponse). spoke takes streams straight from node:http2's 'stream' event:
// Node's compatibility API would build a request and a response object, and their listeners,
// for every stream, and on this hot path that garbage showed up as a quarter of the CPU.
import http2 from 'node:http2'

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants

export class H2Response {
  readonly stream: http2.ServerHttp2Stream
  /** The request body is the stream's readable side (sendError drains it). */
  readonly req: http2.ServerHttp2Stream
  statusCode = 200
  #trailers: http2.OutgoingHttpHeaders | null = null
  /** The headers ended the stream (a trailers-only answer): nothing more goes out. */
  #ended = false

  constructor(stream: http2.ServerHttp2Stream) {
    this.stream = stream
    this.req = stream
  }

  get headersSent(): boolean {
    return this.stream.headersSent
  }

  /**
   * Headers as a flat [name, value, …] list, as for HTTP/1.1. `endStream`: the answer is complete
   * with them, sent as one HEADERS frame flagged END_STREAM (gRPC's trailers-only response).
   */
  writeHead(status: number, flat: readonly string[], endStream = false): this {
    const headers: http2.OutgoingHttpHeaders = { ':status': status }
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i].toLowerCase()
      const prior = headers[name]
      if (prior === undefined) headers[name] = flat[i + 1]
      else if (Array.isArray(prior)) prior.push(flat[i + 1])
      else headers[name] = [String(prior), flat[i + 1]]
    }
    this.statusCode = status
    try {
      if (endStream) {
        this.#ended = true
        this.stream.respond(headers, { endStream: true })
        stopRequestBody(this.stream)
      } else {
        // Trailers are known only at the end (gRPC status), so always ask to send them then.
        this.stream.respond(headers, { waitForTrailers: true })
      }
    } catch {
      // A header HTTP/2 forbids that got past the hop-by-hop filter: a reset stream, not a crash.
      this.stream.close(NGHTTP2_INTERNAL_ERROR)
    }
    return this
  }

  write(chunk: Buffer): boolean {
    if (!this.stream.headersSent) this.writeHead(this.statusCode, [])
    return this.stream.write(chunk)
  }

  addTrailers(trailers: Record<string, string | string[]>): void {
    this.#trailers = trailers
  }

  end(body?: string): void {
    if (this.stream.destroyed || this.#ended) return
    if (!this.stream.headersSent) this.writeHead(this.statusCode, [])
    this.stream.once('wantTrailers', () => {
      this.stream.sendTrailers(this.#trailers ?? {})
      stopRequestBody(this.stream)
    })
    if (body === undefined) this.stream.end()
    else this.stream.end(body)
  }

  on(event: 'drain', listener: () => void): this {
    this.stream.on(event, listener)
    return this
  }
}

/** Whether the request's HEADERS frame ended the stream: then it has no body. */
export function endsStream(flags: number): boolean {
  return (flags & NGHTTP2_FLAG_END_STREAM) !== 0
}

/**
 * RFC 9113 §8.1: the answer is complete while the app is still sending its body (spoke's error, a
 * pod that answered early): RST_STREAM with NO_ERROR tells it to stop. Without it a client that
 * never ends its body would hold the stream, and so a graceful close of its session, open
 * forever. On the next turn, as Node does itself, so that the trailers go out first.
 */
export function stopRequestBody(stream: http2.ServerHttp2Stream): void {
  if (stream.endAfterHeaders || stream.readableEnded) return
  setImmediate(() => { if (!stream.closed) stream.close(NGHTTP2_NO_ERROR) })
}
