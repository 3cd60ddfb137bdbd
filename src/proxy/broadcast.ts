// Broadcast mode (SPEC §6): one request in, the same request to every pod in discovery at once
// over the pods' long-lived connections, one JSON envelope out listing every pod's answer.
//
// The body is read whole first (bounded by maxBodySize): a copy is only worth sending if every
// pod gets the same bytes, and a client that vanishes mid-body has not asked for anything yet.
// Once the fan-out starts it is no longer the client's: it runs to its end (an invalidation must
// not stop half-way) even if the client goes away.
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import type { BroadcastConfig } from '../config/types.ts'
import type { Connection } from '../transport/connection.ts'
import { ConnectError } from '../transport/dial.ts'
import { RefusedStreamError } from '../transport/h2-connection.ts'
import { PoolClosedError, type Waiter } from '../transport/pool.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { BroadcastOutcome } from '../upstream/stats.ts'
import type { Upstream } from '../upstream/upstream.ts'
import type { Downstream } from './downstream.ts'
import { type ErrorCode, isGrpcContentType } from './errors.ts'
import { IDEMPOTENT_METHODS } from './headers.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'
import type { RequestHead } from './request-head.ts'

/** SPEC §6: each pod's body in the envelope is cut at 64 KiB. */
const MAX_ENVELOPE_BODY = 64 * 1024
/** Streams a pod refused unprocessed are sent again to the same pod this many times at most. */
const MAX_REFUSED_RESENDS = 10
/** An id the app supplies (to let receivers drop a broadcast it sends again) must look like one. */
const BROADCAST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** One pod's line in the envelope. */
interface PodResult {
  endpoint: string
  hostname?: string
  status?: number
  error?: ErrorCode
  durationMs: number
  body?: string
  bodyTruncated?: true
}

export class Broadcast {
  readonly #app: Downstream
  readonly #method: string
  readonly #path: string
  readonly #head: RequestHead
  readonly #hasBody: boolean
  readonly #upstream: Upstream
  readonly #config: BroadcastConfig
  readonly #counts: RequestCounts
  readonly #startedAt = performance.now()
  readonly #mayRetry: boolean
  #chunks: Buffer[] = []
  #bodyLength = 0
  #copies: PodCopy[] = []
  #pending = 0
  #fanOutAt = 0
  #deadline: NodeJS.Timeout | null = null
  #id = ''
  #admitted = false
  /** The client went away: the fan-out goes on, the answer goes nowhere. */
  #clientGone = false
  #answered = false

  constructor(downstream: Downstream, upstream: Upstream, counts: RequestCounts) {
    const { method, head } = downstream
    this.#app = downstream
    this.#method = method
    this.#path = downstream.path
    this.#head = head
    this.#hasBody = downstream.hasBody
    this.#upstream = upstream
    this.#config = upstream.config.broadcast!
    this.#counts = counts
    this.#mayRetry = IDEMPOTENT_METHODS.has(method) || head.retryAlways
  }

  start(): void {
    if (isGrpcContentType(this.#head.contentType)) {
      // The answer is a JSON envelope, which no gRPC client can read.
      this.#refuse('bad_request', `upstream ${this.#upstream.name} is a broadcast upstream, which answers JSON; gRPC calls cannot be broadcast`, true)
      return
    }
    const upstream = this.#upstream
    if (upstream.inFlight >= upstream.config.limits.maxConcurrentRequests) {
      this.#refuse('overloaded', 'too many concurrent requests for the upstream', false)
      return
    }
    upstream.inFlight++
    this.#admitted = true
    this.#app.onGone(() => this.clientGone())
    const declared = this.#head.contentLength === undefined ? NaN : Number(this.#head.contentLength)
    if (declared > this.#config.maxBodySize) {
      // Refused on the declared length: not a byte read, no pod contacted.
      this.#tooLarge()
      return
    }
    if (!this.#hasBody) {
      this.#fanOut()
      return
    }
    const req = this.#app.body
    const onData = (chunk: Buffer): void => {
      this.#bodyLength += chunk.length
      if (this.#bodyLength > this.#config.maxBodySize) {
        req.off('data', onData)
        req.off('end', onEnd)
        this.#chunks = []
        this.#tooLarge()
        return
      }
      this.#chunks.push(chunk)
    }
    const onEnd = (): void => {
      if (!this.#clientGone) this.#fanOut()
    }
    req.on('data', onData)
    req.once('end', onEnd)
    req.on('error', () => {})
  }

  /** The app's connection or stream closed. Before the fan-out: nothing is sent. After: it goes on. */
  clientGone(): void {
    if (this.#clientGone || this.#answered) return
    this.#clientGone = true
    if (this.#fanOutAt === 0) this.#end(CLIENT_CLOSED)
  }

  #tooLarge(): void {
    // The rest of the body is not read: the connection cannot carry another request.
    this.#app.closeAfter()
    this.#answered = true
    const status = this.#app.fail('body_too_large', `the request body is over broadcast.maxBodySize (${this.#config.maxBodySize} bytes)`, this.#upstream.name, false)
    this.#end(status)
  }

  #refuse(code: ErrorCode, message: string, grpc: boolean): void {
    this.#answered = true
    this.#counts.byStatus[this.#app.fail(code, message, this.#upstream.name, grpc)]++
    this.#app.finished()
  }

  #fanOut(): void {
    this.#fanOutAt = performance.now()
    const supplied = this.#head.broadcastId
    this.#id = supplied !== null && BROADCAST_ID.test(supplied) ? supplied : randomUUID()
    // Every pod in discovery, ejected ones too: ejection steers balanced traffic away from a
    // failing pod, but an invalidation must still reach it. Sorted for a stable envelope.
    const endpoints = [...this.#upstream.endpoints].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    if (endpoints.length === 0) {
      this.#answer('no_endpoints')
      return
    }
    const body = this.#bodyLength === 0 ? null : this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#bodyLength)
    this.#chunks = []
    const base = this.#head.upstreamHeaders.slice(0, -2)
    const keepHost = this.#upstream.config.hostRewrite === 'keep' && this.#head.host !== null
    this.#pending = endpoints.length
    for (const endpoint of endpoints) {
      const headers = [...base, 'host', keepHost ? this.#head.host! : endpoint.authority, 'x-spoke-broadcast-id', this.#id]
      this.#copies.push(new PodCopy(this, endpoint, { path: this.#path, method: this.#method as Dispatcher.HttpMethod, headers, body }))
    }
    this.#deadline = setTimeout(() => this.#timedOut(), this.#config.timeoutMs)
    for (const copy of this.#copies) copy.send()
  }

  get fanOutAt(): number {
    return this.#fanOutAt
  }

  get mayRetry(): boolean {
    return this.#mayRetry
  }

  get upstream(): Upstream {
    return this.#upstream
  }

  get includeBodies(): boolean {
    return this.#config.includeBodies
  }

  /** Called once per pod, when its copy has an answer or an error. */
  copyDone(): void {
    if (--this.#pending === 0) this.#complete()
  }

  #timedOut(): void {
    this.#deadline = null
    for (const copy of this.#copies) copy.expire()
  }

  #complete(): void {
    if (this.#deadline !== null) clearTimeout(this.#deadline)
    this.#deadline = null
    const results = this.#copies.map((c) => c.result!)
    const succeeded = results.filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300).length
    this.#answer(met(this.#config.require, succeeded, results.length) ? 'success' : 'failure', results, succeeded)
  }

  #answer(outcome: BroadcastOutcome, results: PodResult[] = [], succeeded = 0): void {
    this.#upstream.stats.broadcastDone(outcome)
    if (this.#clientGone) {
      this.#end(CLIENT_CLOSED)
      return
    }
    const envelope = {
      broadcastId: this.#id,
      upstream: this.#upstream.name,
      require: this.#config.require,
      outcome,
      endpoints: results.length,
      succeeded,
      failed: results.length - succeeded,
      responses: results,
    }
    const body = JSON.stringify(envelope)
    const status = outcome === 'success' ? 200 : outcome === 'failure' ? 502 : 503
    const headers = ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'x-spoke-broadcast-id', this.#id]
    if (outcome === 'no_endpoints') headers.push('x-spoke-error', 'no_endpoints')
    this.#answered = true
    this.#app.respond(status, headers)
    this.#app.end(null, body)
    this.#end(status)
  }

  #end(status: number): void {
    this.#app.finished()
    if (this.#admitted) {
      this.#admitted = false
      this.#upstream.inFlight--
    }
    this.#counts.byStatus[status]++
    this.#upstream.stats.duration.observe((performance.now() - this.#startedAt) / 1000)
  }
}

/** SPEC §6 `require`: all, any, quorum (more than half), or at least N. */
export function met(require: BroadcastConfig['require'], succeeded: number, total: number): boolean {
  switch (require) {
    case 'all': return succeeded === total
    case 'any': return succeeded >= 1
    case 'quorum': return succeeded >= Math.floor(total / 2) + 1
    default: return succeeded >= require
  }
}

/**
 * The copy for one pod: a connection from the pod's pool, the request, the answer's status (and
 * body, when the envelope carries bodies; else it is read and dropped so the connection goes
 * back to the pool). A copy that fails before any answer is sent again to the same pod where a
 * balanced request would be retried: another pod cannot stand in for this one.
 */
class PodCopy implements Waiter {
  readonly #broadcast: Broadcast
  readonly #endpoint: Endpoint
  readonly #options: Dispatcher.DispatchOptions
  #attempt: CopyAttempt | null = null
  #waiting = false
  #attempts = 0
  #refusals = 0
  result: PodResult | null = null

  constructor(broadcast: Broadcast, endpoint: Endpoint, options: Dispatcher.DispatchOptions) {
    this.#broadcast = broadcast
    this.#endpoint = endpoint
    this.#options = options
  }

  send(): void {
    this.#attempts++
    const connection = this.#endpoint.pool.acquire(this)
    if (connection !== null) this.#dispatch(connection)
    else if (this.result === null) this.#waiting = true
  }

  granted(connection: Connection): void {
    this.#waiting = false
    if (this.result !== null) {
      this.#endpoint.pool.release(connection)
      return
    }
    this.#dispatch(connection)
  }

  failed(error: Error): void {
    this.#waiting = false
    if (this.result !== null) return
    // A pool closed under us: the pod left discovery after the fan-out began.
    if (error instanceof ConnectError || error instanceof PoolClosedError) this.#failed('connect_failed', 'connect-failure')
    else this.#failed('upstream_reset', 'reset-before-response')
  }

  /** The broadcast deadline passed: whatever has not answered is a timeout. */
  expire(): void {
    if (this.result !== null) return
    if (this.#waiting) {
      this.#endpoint.pool.cancel(this)
      this.#waiting = false
    }
    this.#attempt?.abort()
    this.#endpoint.countError('timeout')
    this.#settle({ error: 'timeout' })
  }

  #dispatch(connection: Connection): void {
    const endpoint = this.#endpoint
    endpoint.inFlight++
    endpoint.requests++
    const attempt = new CopyAttempt(this, connection, endpoint, this.#broadcast.includeBodies)
    this.#attempt = attempt
    try {
      connection.dispatch(this.#options, attempt)
    } catch {
      attempt.release()
      this.#failed('upstream_reset', 'reset-before-response')
    }
  }

  /** From the current attempt: the pod answered in full. */
  answered(status: number, body: Buffer | null, truncated: boolean): void {
    if (this.result !== null) return
    this.#endpoint.countStatus(status)
    const result: Partial<PodResult> = { status }
    if (body !== null) {
      result.body = utf8Prefix(body)
      if (truncated) result.bodyTruncated = true
    }
    this.#settle(result)
  }

  /** From the current attempt: no complete answer. */
  broke(error: Error, started: boolean): void {
    if (this.result !== null) return
    if (!started && error instanceof RefusedStreamError) {
      this.#failed('upstream_reset', 'refused-stream')
      return
    }
    // A response cut mid-body is a failure whatever its status: never a success on half an answer.
    this.#failed('upstream_reset', started ? null : 'reset-before-response')
  }

  #failed(code: ErrorCode, reason: 'connect-failure' | 'reset-before-response' | 'refused-stream' | null): void {
    this.#attempt = null
    const upstream = this.#broadcast.upstream
    const retries = upstream.config.retries
    if (reason === 'refused-stream') {
      // RFC 9113 §8.7: not processed, safe to send again whatever the method.
      if (this.#refusals < MAX_REFUSED_RESENDS && retries.on.includes('refused-stream')) {
        this.#refusals++
        this.#attempts--
        upstream.stats.retries++
        this.send()
        return
      }
    } else if (reason !== null && this.#attempts <= retries.attempts && retries.on.includes(reason) && this.#broadcast.mayRetry) {
      this.#endpoint.countError(code)
      upstream.stats.retries++
      this.send()
      return
    }
    this.#endpoint.countError(code)
    this.#settle({ error: code })
  }

  #settle(outcome: Partial<PodResult>): void {
    const e = this.#endpoint
    this.result = {
      endpoint: e.key,
      ...(e.hostname === null ? {} : { hostname: e.hostname }),
      ...outcome,
      durationMs: Math.round((performance.now() - this.#broadcast.fanOutAt) * 1000) / 1000,
    }
    this.#broadcast.copyDone()
  }
}

/** undici's handler for one copy on one connection; gives the connection back exactly once. */
class CopyAttempt implements Dispatcher.DispatchHandler {
  readonly #copy: PodCopy
  readonly #connection: Connection
  readonly #endpoint: Endpoint
  readonly #keepBody: boolean
  #controller: Dispatcher.DispatchController | null = null
  #aborted = false
  #released = false
  #status = 0
  #started = false
  #chunks: Buffer[] = []
  #kept = 0
  #truncated = false

  constructor(copy: PodCopy, connection: Connection, endpoint: Endpoint, keepBody: boolean) {
    this.#copy = copy
    this.#connection = connection
    this.#endpoint = endpoint
    this.#keepBody = keepBody
  }

  abort(): void {
    this.#aborted = true
    this.#controller?.abort(new Error('broadcast timeout'))
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    this.#endpoint.inFlight--
    this.#endpoint.pool.release(this.#connection)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#aborted) controller.abort(new Error('broadcast timeout'))
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, _headers: IncomingHttpHeaders): void {
    this.#started = true
    this.#status = status
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#keepBody || this.#kept >= MAX_ENVELOPE_BODY) {
      if (this.#keepBody) this.#truncated = true
      return
    }
    const room = MAX_ENVELOPE_BODY - this.#kept
    if (chunk.length > room) {
      this.#truncated = true
      chunk = chunk.subarray(0, room)
    }
    // undici may reuse nothing here, but h2 chunks can be views of a larger buffer: copy the slice.
    this.#chunks.push(Buffer.from(chunk))
    this.#kept += chunk.length
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, _trailers: IncomingHttpHeaders): void {
    this.release()
    if (this.#aborted) return
    this.#copy.answered(this.#status, this.#keepBody ? Buffer.concat(this.#chunks, this.#kept) : null, this.#truncated)
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.release()
    if (this.#aborted) return
    this.#copy.broke(error, this.#started)
  }
}

/** The body as UTF-8 text; a character cut by the 64 KiB limit is dropped rather than mangled. */
function utf8Prefix(body: Buffer): string {
  let end = body.length
  if (end === MAX_ENVELOPE_BODY) {
    // Step back over continuation bytes (10xxxxxx) to the start of the last character, and
    // drop it unless it is complete.
    let i = end - 1
    while (i > 0 && end - i < 4 && (body[i] & 0xc0) === 0x80) i--
    const lead = body[i]
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1
    if (end - i < need) end = i
  }
  return body.toString('utf8', 0, end)
}
