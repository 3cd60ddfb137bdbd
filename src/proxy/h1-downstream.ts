// One HTTP/1.1 request from the app as a Downstream: Node's request and response, and the
// connection's bookkeeping (client-socket.ts) that pipelining and the drain need.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { type InFlight, lastAnswer, requestEnded, requestStarted } from './client-socket.ts'
import type { Downstream } from './downstream.ts'
import { errorAnswer } from './error-answer.ts'
import type { ErrorCode } from './errors.ts'
import type { RequestHead } from './request-head.ts'

export class H1Downstream implements Downstream, InFlight {
  readonly protocol = 'http1'
  readonly method: string
  readonly path: string
  readonly head: RequestHead
  readonly hasBody: boolean
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  /**
   * Kept from the start: once undici has consumed and destroyed the body, `req.socket` is null,
   * and the request would never be marked ended.
   */
  readonly #socket: Socket
  #gone: (() => void) | null = null
  #finished = false

  constructor(req: IncomingMessage, res: ServerResponse, path: string, head: RequestHead, hasBody: boolean) {
    this.#req = req
    this.#res = res
    this.#socket = req.socket
    this.method = req.method!
    this.path = path
    this.head = head
    this.hasBody = hasBody
  }

  get body(): Readable {
    return this.#req
  }

  get headersSent(): boolean {
    return this.#res.headersSent
  }

  get status(): number {
    return this.#res.statusCode
  }

  // HTTP/1.1 has no way to end an answer with its head: `complete` waits for end().
  respond(status: number, headers: readonly string[]): void {
    this.#res.writeHead(status, headers as string[])
  }

  write(chunk: Buffer): boolean {
    return this.#res.write(chunk)
  }

  onDrain(listener: () => void): void {
    this.#res.on('drain', listener)
  }

  end(trailers?: IncomingHttpHeaders | null, body?: string): void {
    for (const _ in trailers) {
      // Delivered only where the answer is chunked (Node drops them otherwise).
      this.#res.addTrailers(trailers as OutgoingHttpHeaders)
      break
    }
    this.#res.end(body)
  }

  fail(code: ErrorCode, message: string, upstream: string, grpc: boolean): number {
    if (this.#res.headersSent) {
      // Too late for a status: cut the answer so the app sees it broken, never a silently
      // truncated 200.
      this.abort()
      return this.#res.statusCode
    }
    // Answered before the app finished sending its body (a timeout, a refusal): waiting for the
    // rest would keep the connection busy for nothing, and a client that stalls mid-body would
    // hold it forever. It closes after the answer, as Envoy and nginx do.
    if (!this.#req.complete) this.#res.shouldKeepAlive = false
    const answer = errorAnswer(code, message, upstream, grpc)
    this.#res.writeHead(answer.status, answer.headers)
    this.#res.end(answer.body)
    return answer.status
  }

  abort(): void {
    this.#res.destroy()
  }

  closeAfter(): void {
    this.#res.shouldKeepAlive = false
    // Node's parser goes on delivering pipelined requests: they must not be forwarded, since
    // their answers could never be sent.
    lastAnswer(this.#socket)
  }

  onGone(listener: () => void): void {
    this.#gone = listener
    requestStarted(this.#socket, this)
  }

  /** InFlight: the app's connection closed. */
  clientGone(): void {
    if (!this.#finished) this.#gone?.()
  }

  finished(): void {
    if (this.#finished) return
    this.#finished = true
    // Also for answers given before onGone: the connection is at rest from here (headersTimeout).
    requestEnded(this.#socket, this)
  }
}
