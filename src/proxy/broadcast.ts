// Broadcast mode (SPEC §6): one request in, the same request to every pod in discovery at once
// over the pods' long-lived connections, one JSON envelope out listing every pod's answer.
//
// The body is read whole first (bounded by maxBodySize): a copy is only worth sending if every
// pod gets the same bytes, and a client that vanishes mid-body has not asked for anything yet.
// Once the fan-out starts it is no longer the client's: it runs to its end (an invalidation must
// not stop half-way) even if the client goes away. Each pod's copy is sent by the same attempt
// engine as a balanced request (attempts.ts), as a `copy` target: retried on its own pod only.
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { BroadcastConfig } from '../config/types.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { BroadcastOutcome } from '../upstream/stats.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { Admission } from './admission.ts'
import { type AttemptPlan, type Answerer, Attempts } from './attempts.ts'
import type { Downstream } from './downstream.ts'
import { type ErrorCode, isGrpcContentType } from './errors.ts'
import { IDEMPOTENT_METHODS } from './headers.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'

/** SPEC §6: each pod's body in the envelope is cut at 64 KiB. */
const MAX_ENVELOPE_BODY = 64 * 1024
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
  readonly #downstream: Downstream
  readonly #upstream: Upstream
  readonly #config: BroadcastConfig
  readonly #admission: Admission
  #chunks: Buffer[] = []
  #bodyLength = 0
  #copies: PodCopy[] = []
  #pending = 0
  #fanOutAt = 0
  #deadline: NodeJS.Timeout | null = null
  #id = ''
  /** The client went away: the fan-out goes on, the answer goes nowhere. */
  #clientGone = false

  constructor(downstream: Downstream, upstream: Upstream, counts: RequestCounts) {
    this.#downstream = downstream
    this.#upstream = upstream
    this.#config = upstream.config.broadcast!
    this.#admission = new Admission(upstream, downstream, counts)
  }

  start(): void {
    const downstream = this.#downstream
    if (isGrpcContentType(downstream.head.contentType)) {
      // The answer is a JSON envelope, which no gRPC client can read.
      this.#admission.refuse('bad_request', `upstream ${this.#upstream.name} is a broadcast upstream, which answers JSON; gRPC calls cannot be broadcast`, true)
      return
    }
    if (!this.#admission.enter(false)) return
    downstream.onGone(() => this.#gone())
    const declared = downstream.head.contentLength === undefined ? NaN : Number(downstream.head.contentLength)
    if (declared > this.#config.maxBodySize) {
      // Refused on the declared length: not a byte read, no pod contacted.
      this.#tooLarge()
      return
    }
    if (!downstream.hasBody) {
      this.#fanOut()
      return
    }
    const body = downstream.body
    const onData = (chunk: Buffer): void => {
      this.#bodyLength += chunk.length
      if (this.#bodyLength > this.#config.maxBodySize) {
        body.off('data', onData)
        body.off('end', onEnd)
        this.#chunks = []
        this.#tooLarge()
        return
      }
      this.#chunks.push(chunk)
    }
    const onEnd = (): void => {
      if (!this.#clientGone) this.#fanOut()
    }
    body.on('data', onData)
    body.once('end', onEnd)
    body.on('error', () => {})
  }

  /** The app's connection or stream closed. Before the fan-out: nothing is sent. After: it goes on. */
  #gone(): void {
    if (this.#clientGone || this.#admission.settled) return
    this.#clientGone = true
    if (this.#fanOutAt === 0) this.#admission.settle(CLIENT_CLOSED)
  }

  #tooLarge(): void {
    // The rest of the body is not read: the connection cannot carry another request.
    this.#downstream.closeAfter()
    this.#admission.refuse('body_too_large', `the request body is over broadcast.maxBodySize (${this.#config.maxBodySize} bytes)`, false)
  }

  #fanOut(): void {
    this.#fanOutAt = performance.now()
    const downstream = this.#downstream
    const head = downstream.head
    const supplied = head.broadcastId
    this.#id = supplied !== null && BROADCAST_ID.test(supplied) ? supplied : randomUUID()
    // Every pod in discovery, ejected ones too: ejection steers balanced traffic away from a
    // failing pod, but an invalidation must still reach it. Sorted for a stable envelope.
    const endpoints = [...this.#upstream.endpoints].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    downstream.attempts = endpoints.length
    if (endpoints.length === 0) {
      downstream.error = 'no_endpoints'
      this.#answer('no_endpoints')
      return
    }
    const body = this.#bodyLength === 0 ? null : this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#bodyLength)
    this.#chunks = []
    const base = head.upstreamHeaders.slice(0, -2)
    const keepHost = this.#upstream.config.hostRewrite === 'keep' && head.host !== null
    const request: CopyRequest = {
      method: downstream.method,
      path: downstream.path,
      body,
      idempotent: IDEMPOTENT_METHODS.has(downstream.method) || head.retryAlways,
    }
    this.#pending = endpoints.length
    for (const endpoint of endpoints) {
      const headers = [...base, 'host', keepHost ? head.host! : endpoint.authority, 'x-spoke-broadcast-id', this.#id]
      this.#copies.push(new PodCopy(this.#upstream, endpoint, request, headers, this.#config.includeBodies, () => this.#copyDone()))
    }
    this.#deadline = setTimeout(() => this.#timedOut(), this.#config.timeoutMs)
    for (const copy of this.#copies) copy.start(this.#fanOutAt)
  }

  #copyDone(): void {
    if (--this.#pending === 0) this.#complete()
  }

  #timedOut(): void {
    this.#deadline = null
    for (const copy of this.#copies) copy.expire(`no answer within broadcast.timeout (${this.#config.timeoutMs}ms)`)
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
      this.#admission.settle(CLIENT_CLOSED)
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
    this.#downstream.respond(status, headers)
    this.#downstream.end(null, body)
    this.#admission.settle(status)
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

/** What every pod's copy sends. */
interface CopyRequest {
  readonly method: string
  readonly path: string
  readonly body: Buffer | null
  readonly idempotent: boolean
}

/**
 * One pod's copy: its attempts (a `copy` target: retried on its own pod only), and its line in
 * the envelope. The answer's body is kept when the envelope carries bodies (else read and
 * dropped, so the connection goes back to the pool).
 */
class PodCopy implements AttemptPlan, Answerer {
  readonly target = 'copy'
  readonly pod: Endpoint
  readonly method: string
  readonly path: string
  readonly body: Buffer | null
  readonly idempotent: boolean
  // The broadcast's timeout ends every copy; it is each copy's only deadline.
  readonly bounded = true
  readonly perTryMs = 0
  readonly #headers: string[]
  readonly #keepBody: boolean
  readonly #done: () => void
  readonly #attempts: Attempts
  #startedAt = 0
  #status = 0
  #chunks: Buffer[] = []
  #kept = 0
  #truncated = false
  result: PodResult | null = null

  constructor(upstream: Upstream, endpoint: Endpoint, request: CopyRequest, headers: string[], keepBody: boolean, done: () => void) {
    this.pod = endpoint
    this.method = request.method
    this.path = request.path
    this.body = request.body
    this.idempotent = request.idempotent
    this.#headers = headers
    this.#keepBody = keepBody
    this.#done = done
    this.#attempts = new Attempts(upstream, this)
  }

  start(fanOutAt: number): void {
    this.#startedAt = fanOutAt
    this.#attempts.start()
  }

  /** The broadcast's deadline passed: whatever has not answered is a timeout. */
  expire(message: string): void {
    this.#attempts.expire(message)
  }

  headersFor(): string[] {
    return this.#headers
  }

  /** Never called: a copy stays on its pod. */
  reroute(): Endpoint {
    return this.pod
  }

  head(status: number, _headers: string[]): void {
    this.#status = status
    // A retried copy's earlier answer, had one begun, never reaches the envelope.
    this.#chunks = []
    this.#kept = 0
    this.#truncated = false
  }

  data(chunk: Buffer): boolean {
    if (!this.#keepBody) return true
    const room = MAX_ENVELOPE_BODY - this.#kept
    if (chunk.length > room) {
      this.#truncated = true
      if (room === 0) return true
      chunk = chunk.subarray(0, room)
    }
    // h2 chunks can be views of a larger buffer: copy the slice.
    this.#chunks.push(Buffer.from(chunk))
    this.#kept += chunk.length
    return true
  }

  end(): void {
    const result: Partial<PodResult> = { status: this.#status }
    if (this.#keepBody) {
      result.body = utf8Prefix(Buffer.concat(this.#chunks, this.#kept))
      if (this.#truncated) result.bodyTruncated = true
    }
    this.#settle(result)
  }

  /** A response cut mid-body is a failure whatever its status: never a success on half an answer. */
  failed(code: ErrorCode): void {
    this.#settle({ error: code })
  }

  #settle(outcome: Partial<PodResult>): void {
    const e = this.pod
    this.result = {
      endpoint: e.key,
      ...(e.hostname === null ? {} : { hostname: e.hostname }),
      ...outcome,
      durationMs: Math.round((performance.now() - this.#startedAt) * 1000) / 1000,
    }
    this.#done()
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
