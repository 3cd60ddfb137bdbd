// TEMPORARY bridge (replaced by the app-h1/app-h2 adapters): a Downstream over (req, res).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { requestEnded, requestStarted } from './client-socket.ts'
import type { Downstream } from './downstream.ts'
import type { ErrorCode } from './errors.ts'
import { H2Response } from './h2-response.ts'
import type { RequestHead } from './request-head.ts'
import { abortResponse, type AppRequest, type AppResponse, sendError, writer } from './respond.ts'

export class LegacyDownstream implements Downstream {
  readonly protocol: 'http1' | 'h2'
  readonly method: string
  readonly path: string
  readonly head: RequestHead
  readonly hasBody: boolean
  readonly body: Readable
  readonly #res: AppResponse
  readonly #socket: import('node:net').Socket | null
  #gone: (() => void) | null = null
  #inFlight = { clientGone: () => this.#gone?.() }

  constructor(req: AppRequest, res: AppResponse, method: string, path: string, head: RequestHead, hasBody: boolean) {
    this.protocol = 'stream' in res ? 'h2' : 'http1'
    this.method = method
    this.path = path
    this.head = head
    this.hasBody = hasBody
    this.body = req as Readable
    this.#res = res
    this.#socket = 'stream' in res ? null : (req as IncomingMessage).socket
  }

  get headersSent(): boolean { return this.#res.headersSent }
  get status(): number { return this.#res.statusCode }

  respond(status: number, headers: readonly string[], complete?: boolean): void {
    if (complete && this.#res instanceof H2Response) this.#res.writeHead(status, headers, true)
    else writer(this.#res).writeHead(status, headers as string[])
  }

  write(chunk: Buffer): boolean { return writer(this.#res).write(chunk) }
  onDrain(listener: () => void): void { writer(this.#res).on('drain', listener) }

  end(trailers?: IncomingHttpHeaders | null, body?: string): void {
    const out = writer(this.#res)
    if (trailers) for (const _ in trailers) { out.addTrailers(trailers as Record<string, string>); break }
    if (body === undefined) out.end()
    else out.end(body)
  }

  fail(code: ErrorCode, message: string, upstream: string, grpc: boolean): number {
    return sendError(this.#res, code, message, upstream, grpc)
  }

  abort(): void { abortResponse(this.#res) }

  closeAfter(): void { if (!('stream' in this.#res)) this.#res.shouldKeepAlive = false }

  onGone(listener: () => void): void {
    this.#gone = listener
    if ('stream' in this.#res) this.#res.stream.once('close', listener)
    else requestStarted(this.#socket!, this.#inFlight)
  }

  finished(): void {
    if (this.#socket !== null) requestEnded(this.#socket, this.#inFlight)
  }
}
