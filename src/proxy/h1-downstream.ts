// One HTTP/1.1 request from the app as a Downstream, and the writing of its answer: the status
// line and fields as spoke frames them for the app (Content-Length as the pod sent it, else
// chunked, or close-delimited for an HTTP/1.0 client), in as few socket writes as the answer
// allows. An answer whose head, body and end are handed over in one turn of the event loop (the
// common small answer) goes out in one write.
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import { chunkHeader, lastChunk } from '../http1/chunked.ts'
import type { AnswerStatus } from './access-log.ts'
import type { AppConnection } from './app-connection.ts'
import type { Downstream } from './downstream.ts'
import { errorAnswer } from './error-answer.ts'
import { type ErrorCode, grpcStatusOf } from './errors.ts'
import { GRPC_INTERNAL } from './grpc-status.ts'
import type { H1RequestBody } from './h1-request-body.ts'
import type { RequestHead } from './request-head.ts'

/**
 * A body chunk this small is copied next to the text around it (an answer's head, a chunk's
 * framing) into one buffer, one write; a larger one goes in a write of its own, corked with them.
 */
export const COPY_LIMIT = 16 * 1024

/** How the answer's body is delimited on the wire. */
type Framing = 'none' | 'length' | 'chunked' | 'close'

export class H1Downstream implements Downstream, AnswerStatus {
  readonly protocol = 'http1'
  readonly method: string
  readonly path: string
  readonly head: RequestHead
  readonly hasBody: boolean
  readonly wholeBody: Buffer | null
  endpoint: string | null = null
  attempts = 0
  error: ErrorCode | null = null
  grpcStatus = -1
  readonly #connection: AppConnection
  readonly #http10: boolean
  #body: Readable | null
  /** The connection may carry another request after this answer. */
  #keepAlive: boolean
  /** The whole request body has arrived (or there was none). */
  #requestComplete: boolean
  #status = 200
  #headersSent = false
  #framing: Framing = 'none'
  /** The answer's head, not written yet: it waits for the first chunk of the body, or the end, in this turn. */
  #pendingHead = ''
  /** One chunk held back to go out with the head. */
  #pendingChunk: Buffer | null = null
  /** The answer is complete, or was cut: nothing more goes out. */
  #done = false
  #finished = false
  #gone: (() => void) | null = null
  #log: ((answer: AnswerStatus) => void) | null = null

  /** `body`: the body as it arrives, unless `wholeBody` holds it all already (or there is none). */
  constructor(connection: AppConnection, method: string, path: string, head: RequestHead, body: H1RequestBody | null, wholeBody: Buffer | null, http10: boolean, keepAlive: boolean) {
    this.#connection = connection
    this.method = method
    this.path = path
    this.head = head
    this.hasBody = body !== null || wholeBody !== null
    this.wholeBody = wholeBody
    this.#body = body
    this.#requestComplete = body === null
    this.#http10 = http10
    this.#keepAlive = keepAlive
  }

  /** For a body that arrived whole, or none, a stream is made only if asked for. */
  get body(): Readable {
    return this.#body ??= Readable.from(this.wholeBody === null ? [] : [this.wholeBody], { objectMode: false })
  }

  get headersSent(): boolean {
    return this.#headersSent
  }

  get status(): number {
    return this.#status
  }

  /** Whether the connection may carry another request after this answer. */
  get keepAlive(): boolean {
    return this.#keepAlive
  }

  // HTTP/1.1 has no way to end an answer with its head: `complete` waits for end().
  respond(status: number, headers: readonly string[]): void {
    if (this.#headersSent || this.#done) return
    this.#status = status
    this.#headersSent = true
    // One pass: the fields as they go out, and what spoke must know of them. The framing and
    // persistence fields are spoke's own to set on this hop (RFC 9112 §6.1, §9.6): a pod's were
    // dropped already (headers.ts), this only keeps them from being sent twice.
    let fields = ''
    let length = false
    let date = false
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]
      switch (name.length) {
        case 4: date ||= name.toLowerCase() === 'date'; break
        case 10: { const lower = name.toLowerCase(); if (lower === 'connection' || lower === 'keep-alive') continue; break }
        case 14: length ||= name.toLowerCase() === 'content-length'; break
        case 17: if (name.toLowerCase() === 'transfer-encoding') continue; break
      }
      fields += `${name}: ${headers[i + 1]}\r\n`
    }
    const connection = this.#connection
    if (this.method === 'HEAD' || status < 200 || status === 204 || status === 304) this.#framing = 'none'
    else if (length) this.#framing = 'length'
    else if (this.#http10) this.#framing = 'close'
    else this.#framing = 'chunked'
    // An HTTP/1.0 client can only tell the end of a body of unknown length by the close.
    if (this.#framing === 'close' || connection.draining) this.#keepAlive = false
    let head = statusLine(status) + fields
    if (!date) head += dateField()
    if (this.#framing === 'chunked') head += 'transfer-encoding: chunked\r\n'
    head += this.#keepAlive ? connection.keepAliveFields : 'connection: close\r\n'
    this.#pendingHead = `${head}\r\n`
    connection.answers.flushSoon()
  }

  write(chunk: Buffer): boolean {
    if (this.#done) return true
    if (!this.#headersSent) this.respond(this.#status, [])
    if (this.#framing === 'none' || chunk.length === 0) return true
    if (this.#pendingChunk !== null) this.#flush('')
    this.#pendingChunk = chunk
    // Held back while the head waits (the flush is already due this turn): most answers end in the same turn.
    if (this.#pendingHead !== '' && chunk.length <= COPY_LIMIT) return true
    return this.#flush('')
  }

  onDrain(listener: () => void): void {
    this.#connection.answers.onDrain(listener)
  }

  end(trailers?: IncomingHttpHeaders | null, body?: string): void {
    if (this.#done) return
    if (!this.#headersSent) this.respond(this.#status, [])
    if (body !== undefined && body.length > 0 && this.#framing !== 'none') {
      if (this.#pendingChunk !== null) this.#flush('')
      this.#pendingChunk = Buffer.from(body, 'utf8')
    }
    // Trailers are delivered only where the answer is chunked (as Node's server did).
    const tail = this.#framing === 'chunked' ? lastChunk(trailers == null ? undefined : flatTrailers(trailers)) : ''
    this.#done = true
    this.#flush(tail)
    this.#connection.answered(this)
  }

  /** Writes what respond() and write() held back (the connection calls it at the end of the turn). */
  flushPending(): void {
    if (!this.#done && (this.#pendingHead !== '' || this.#pendingChunk !== null)) this.#flush('')
  }

  #flush(tail: string): boolean {
    let before = this.#pendingHead
    const chunk = this.#pendingChunk
    this.#pendingHead = ''
    this.#pendingChunk = null
    let after = tail
    if (chunk !== null && this.#framing === 'chunked') {
      before += chunkHeader(chunk.length)
      after = `\r\n${tail}`
    }
    return this.#connection.answers.send(before, chunk, after)
  }

  fail(code: ErrorCode, message: string, upstream: string, grpc: boolean): number {
    this.error = code
    if (grpc) this.grpcStatus = this.#headersSent ? GRPC_INTERNAL : grpcStatusOf(code)
    if (this.#headersSent) {
      // Too late for a status: cut the answer so the app sees it broken, never a silently
      // truncated 200.
      this.abort()
      return this.#status
    }
    // Answered before the app finished sending its body (a timeout, a refusal): waiting for the
    // rest would keep the connection busy for nothing, and a client that stalls mid-body would
    // hold it forever. It closes after the answer, as Envoy and nginx do.
    if (!this.#requestComplete) this.#keepAlive = false
    const answer = errorAnswer(code, message, upstream, grpc)
    this.respond(answer.status, answer.headers)
    this.end(null, answer.body)
    return answer.status
  }

  /** The answer cannot be completed: the connection is cut so that the app sees it broken. */
  abort(): void {
    if (this.#done) return
    this.#done = true
    this.#connection.answers.cut()
  }

  closeAfter(): void {
    this.#keepAlive = false
  }

  onGone(listener: () => void): void {
    this.#gone = listener
  }

  finished(): void {
    this.#finished = true
  }

  // What the connection tells its request.

  /** The whole body has arrived. */
  requestCompleted(): void {
    this.#requestComplete = true
  }

  /**
   * spoke's answer to a body found malformed after the head went on: a 400 if no answer has
   * begun (the exchange learns of the fault from its body), else the answer is cut.
   */
  refuseBody(text: string): void {
    if (this.#done) return
    if (this.#headersSent) {
      this.abort()
      return
    }
    this.#status = 400
    this.#headersSent = true
    this.#keepAlive = false
    this.#done = true
    this.#connection.answers.send(text, null, '')
    this.#connection.answered(this)
  }

  /** The app's connection closed. */
  closed(): void {
    if (!this.#finished) this.#gone?.()
    this.logged()
  }

  /** Logs the request where an access log is kept: once, when its answer is over. */
  logWith(log: (answer: AnswerStatus) => void): void {
    this.#log = log
  }

  logged(): void {
    const log = this.#log
    this.#log = null
    log?.(this)
  }
}

const statusLines: string[] = []

function statusLine(status: number): string {
  return statusLines[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`
}

/** Trailers as flat [name, value, …] (repeated fields as several lines). */
function flatTrailers(trailers: IncomingHttpHeaders): string[] | undefined {
  let flat: string[] | undefined
  for (const name in trailers) {
    const value = trailers[name]
    if (value === undefined) continue
    flat ??= []
    if (Array.isArray(value)) for (const v of value) flat.push(name, v)
    else flat.push(name, value)
  }
  return flat
}

let date = ''

/** The Date field (RFC 9110 §6.6.1), made at most once a second (Node's server did the same). */
function dateField(): string {
  if (date === '') {
    const now = new Date()
    date = `date: ${now.toUTCString()}\r\n`
    setTimeout(() => { date = '' }, 1000 - now.getMilliseconds()).unref()
  }
  return date
}
