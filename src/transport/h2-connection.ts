// One HTTP/2 cleartext session to a pod, carrying many requests at once as streams. It speaks
// undici's dispatch(options, handler) contract so that forwarding, retries and the pool treat
// HTTP/1.1 and h2c alike. node:http2 rather than undici's h2c client: on this machine undici's
// costs about twice the CPU per request (DESIGN.md).
import http2 from 'node:http2'
import type { IncomingHttpHeaders } from 'node:http'
import type net from 'node:net'
import type { Readable } from 'node:stream'
import { type Connection, type ConnectionEvents, type DispatchHandler, type SpokeDispatchController, type UpstreamRequest, NO_CONTEXT } from './connection.ts'
import { ConnectError, type DialConfig } from './dial.ts'
import { Failure } from './failure.ts'
import { H2Keepalive } from './h2-keepalive.ts'

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants

/** Streams per session when the pod sets no limit: the HTTP/2 default is unlimited, spoke is not. */
const DEFAULT_STREAM_LIMIT = 100
const MAX_STREAM_LIMIT = 1000

export class H2Connection implements Connection {
  readonly connectedAt: number
  readonly exclusive = false
  #session: http2.ClientHttp2Session
  /** The pod sent GOAWAY or refused a stream: the session is left to finish what it accepted. */
  #shedding = false
  #events: ConnectionEvents
  readonly #keepalive: H2Keepalive
  readonly #onRefused = (): void => this.#shed()

  private constructor(session: http2.ClientHttp2Session, socket: net.Socket, config: DialConfig, events: ConnectionEvents) {
    this.#session = session
    this.#events = events
    this.connectedAt = performance.now()
    this.#keepalive = new H2Keepalive(session, socket, config.keepaliveMs, config.connectTimeoutMs, () => this.#dead(config.connectTimeoutMs))
    session.on('goaway', this.#onRefused)
    session.on('close', () => {
      this.#keepalive.stop()
      events.lost('remote_close')
    })
    session.on('error', () => events.lost('error'))
  }

  /**
   * Opens an h2c session over an already connected socket and waits for the pod's SETTINGS:
   * streams sent before them may be refused, and the stream limit is not known yet.
   */
  static open(socket: net.Socket, authority: string, config: DialConfig, events: ConnectionEvents): Promise<H2Connection> {
    const timeoutMs = config.connectTimeoutMs
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${authority}`, { createConnection: () => socket, settings: { enablePush: false } })
      const timer = setTimeout(() => {
        session.destroy()
        reject(new ConnectError('ETIMEDOUT', `no HTTP/2 SETTINGS from ${authority} within ${timeoutMs}ms`))
      }, timeoutMs)
      const failed = (err: Error): void => {
        clearTimeout(timer)
        session.destroy()
        reject(new ConnectError('ECONNRESET', `HTTP/2 session to ${authority} failed: ${err.message}`, { cause: err }))
      }
      session.once('error', failed)
      session.once('close', () => failed(new Error('closed before SETTINGS')))
      session.once('remoteSettings', () => {
        clearTimeout(timer)
        session.removeListener('error', failed)
        session.removeAllListeners('close')
        resolve(new H2Connection(session, socket, config, events))
      })
    })
  }

  get capacity(): number {
    const limit = this.#session.remoteSettings.maxConcurrentStreams
    return limit === undefined || limit > MAX_STREAM_LIMIT ? (limit === undefined ? DEFAULT_STREAM_LIMIT : MAX_STREAM_LIMIT) : limit
  }

  get closed(): boolean {
    return this.#shedding || this.#session.closed || this.#session.destroyed
  }

  dispatch(request: UpstreamRequest, handler: DispatchHandler): void {
    new H2Stream(this.#session, request, handler, this.#onRefused, this.#keepalive).start()
  }

  failureOf(error: Error): Failure {
    return error instanceof Failure ? error : new Failure('reset', error.message, { cause: error })
  }

  /**
   * The pod is going away (GOAWAY) or refuses streams: no new streams here, the ones it
   * accepted finish, and the pool opens another session at once. Without this, a refused
   * request could be offered the same session again before its GOAWAY reaches JavaScript.
   */
  #shed(): void {
    if (this.#shedding) return
    this.#shedding = true
    this.#events.shedding()
  }

  /**
   * Nothing yet: the GOAWAY goes with close(), once the pool has seen its streams end. Sent now,
   * it would refuse the stream submitted in this same tick and not yet written (nghttp2 starts
   * no stream once a GOAWAY is queued): the request that made the session reach maxRequests.
   */
  retire(): void {}

  close(): void {
    if (!this.#session.closed) this.#session.close()
  }

  /**
   * No answer to a keepalive PING: the pool hears `error` first, so that the session's own close
   * is not read as the pod's; its streams fail as resets.
   */
  #dead(timeoutMs: number): void {
    this.#events.lost('error')
    if (!this.#session.destroyed) this.#session.destroy(new Error(`the pod did not answer an HTTP/2 PING within ${timeoutMs}ms`), NGHTTP2_CANCEL)
  }

  destroy(): void {
    if (!this.#session.destroyed) this.#session.destroy(undefined, NGHTTP2_CANCEL)
  }
}

/** One request as an HTTP/2 stream, reported through undici's handler callbacks. */
class H2Stream implements SpokeDispatchController {
  readonly #session: http2.ClientHttp2Session
  readonly #options: UpstreamRequest
  readonly #handler: DispatchHandler
  readonly #onRefused: () => void
  readonly #keepalive: H2Keepalive
  #stream: http2.ClientHttp2Stream | null = null
  #aborted = false
  #paused = false
  #reason: Error | null = null
  #finished = false
  #responded = false
  #headersEndedStream = false
  #error: Error | null = null
  #trailers: IncomingHttpHeaders = {}

  constructor(session: http2.ClientHttp2Session, options: UpstreamRequest, handler: DispatchHandler, onRefused: () => void, keepalive: H2Keepalive) {
    this.#session = session
    this.#options = options
    this.#handler = handler
    this.#onRefused = onRefused
    this.#keepalive = keepalive
  }

  get aborted(): boolean { return this.#aborted }
  get paused(): boolean { return this.#paused }
  get reason(): Error | null { return this.#reason }
  get headersEndedStream(): boolean { return this.#headersEndedStream }

  abort(reason: Error): void {
    if (this.#aborted || this.#finished) return
    this.#aborted = true
    this.#reason = reason
    this.#stream?.close(NGHTTP2_CANCEL)
    this.#fail(reason)
  }

  pause(): void {
    this.#paused = true
    this.#stream?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#stream?.resume()
  }

  start(): void {
    this.#handler.onRequestStart?.(this, NO_CONTEXT)
    if (this.#aborted) return
    const body = this.#options.body as Readable | Buffer | null | undefined
    let stream: http2.ClientHttp2Stream
    try {
      stream = this.#session.request(requestHeaders(this.#options), { endStream: body === null || body === undefined })
    } catch (err) {
      // The session went away between the pool's choice and now: the pod never saw the stream.
      this.#onRefused()
      this.#fail(new Failure('refused_stream', `HTTP/2 session unavailable: ${(err as Error).message}`))
      return
    }
    this.#stream = stream
    stream.on('response', (headers, flags) => this.#response(headers, flags))
    stream.on('trailers', (trailers) => { this.#trailers = stripPseudo(trailers) })
    stream.on('data', (chunk: Buffer) => {
      this.#keepalive.heard++
      this.#handler.onResponseData?.(this, chunk)
    })
    stream.on('end', () => this.#end())
    stream.on('error', (err) => { this.#error = err })
    stream.on('close', () => this.#closed(stream))
    if (Buffer.isBuffer(body)) stream.end(body)
    else if (body !== null && body !== undefined) this.#sendBody(body, stream)
  }

  /**
   * Like pipe(), with back-pressure; reading starts in this tick (RequestBody relies on it). If the
   * stream closes first (the pod refused it, or answered early), the body is let go and read on:
   * it is the app's stream, and the exchange's own listener keeps what a resend needs (or the
   * rest is dropped, as Node's server drops a body nobody reads).
   */
  #sendBody(body: Readable, stream: http2.ClientHttp2Stream): void {
    const onData = (chunk: Buffer): void => {
      if (!stream.write(chunk)) body.pause()
    }
    const onEnd = (): void => { stream.end() }
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('error', (err: Error) => this.abort(err))
    stream.on('drain', () => body.resume())
    stream.once('close', () => {
      body.off('data', onData)
      body.off('end', onEnd)
      if (!body.readableEnded) body.resume()
    })
  }

  #response(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
    this.#keepalive.heard++
    if (this.#aborted) return
    const status = Number(headers[':status'])
    // 1xx (100 Continue, 103 Early Hints) are interim; the final answer follows.
    if (status >= 100 && status < 200) return
    this.#responded = true
    this.#headersEndedStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0
    this.#handler.onResponseStart?.(this, status, flatFields(headers), '')
  }

  #end(): void {
    if (this.#finished || this.#aborted) return
    this.#finished = true
    this.#handler.onResponseEnd?.(this, this.#trailers)
  }

  #closed(stream: http2.ClientHttp2Stream): void {
    if (this.#finished || this.#aborted) return
    const code = stream.rstCode
    // RFC 9113 §8.7: REFUSED_STREAM, and streams above a GOAWAY's last stream id, were not
    // processed by the pod.
    if (!this.#responded && (code === NGHTTP2_REFUSED_STREAM || (this.#error as NodeJS.ErrnoException | null)?.code === 'ERR_HTTP2_GOAWAY_SESSION')) {
      this.#onRefused()
      this.#fail(new Failure('refused_stream', `the pod did not process the stream (HTTP/2 code ${code})`))
      return
    }
    const why = this.#error?.message ?? `HTTP/2 error code ${code ?? 'none'}`
    this.#fail(new Failure('reset', `stream reset by the pod: ${why}`))
  }

  #fail(error: Error): void {
    if (this.#finished) return
    this.#finished = true
    this.#handler.onResponseError?.(this, error)
  }
}

function requestHeaders(options: UpstreamRequest): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ':method': options.method,
    ':path': options.path,
    ':scheme': 'http',
  }
  const flat = options.headers as string[]
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i].toLowerCase()
    const value = flat[i + 1]
    if (name === 'host') {
      headers[':authority'] = value
      continue
    }
    const prior = headers[name]
    if (prior === undefined) headers[name] = value
    else if (Array.isArray(prior)) prior.push(value)
    else headers[name] = [String(prior), value]
  }
  return headers
}

/** node:http2's headers as the engine takes them: flat, pseudo-headers left out. */
function flatFields(headers: http2.IncomingHttpHeaders): string[] {
  const out: string[] = []
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue
    const value = headers[name]
    if (value === undefined) continue
    if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, value)
  }
  return out
}

function stripPseudo(headers: http2.IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {}
  for (const name in headers) if (name.charCodeAt(0) !== 58 /* ':' */) out[name] = headers[name]
  return out
}
