// What spoke decides from an HTTP/1.1 request head once the codec (src/http1/head.ts) has found
// its syntax sound: how its body is framed, whether the connection persists, whether it asks for
// an upgrade or for 100 Continue; what a proxy must refuse even in a well-formed head (RFC 9112:
// ambiguous framing, Host); and the request target in the one form the pods get: origin-form.
import { METHODS } from 'node:http'
import { parseContentLength } from '../http1/fields.ts'
import type { RequestHeadWire } from '../http1/head.ts'
import { hostProblem, type RequestHead } from './request-head.ts'

export interface Framing {
  /** origin-form */
  readonly path: string
  /** The body's length in bytes; CHUNKED for a chunked body; 0 for none. */
  readonly length: number
  /** The client wants the connection to persist after the answer (RFC 9112 §9.3). */
  readonly keepAlive: boolean
  /** Connection: upgrade with an Upgrade field: after the head, the bytes are no longer HTTP. */
  readonly upgrade: boolean
  /** Expect: 100-continue on an HTTP/1.1 request with a body. */
  readonly expectContinue: boolean
}

export const CHUNKED = -1

/**
 * The methods spoke forwards: those Node's parser knew (llhttp's list, `http.METHODS`), as before
 * spoke parsed requests itself. Any token is a method to the codec; one no server on the path is
 * likely to know (or a lower-case "get") is more often an attack on a parser than a request.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS)

/** The request's framing, or why it is refused (a string). */
export function readFraming(wire: RequestHeadWire, head: RequestHead): Framing | string {
  if (!KNOWN_METHODS.has(wire.method)) return `unknown method ${JSON.stringify(wire.method)}`
  const raw = wire.raw
  const http10 = wire.versionMinor === 0
  let close = false
  let keepAliveToken = false
  let upgradeToken = false
  let upgradeField = false
  let expectContinue = false
  let codings: string | null = null
  // The fields only HTTP/1.1 framing cares about, found by their length before any lower-casing.
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    switch (name.length) {
      case 6:
        if (name.toLowerCase() === 'expect' && raw[i + 1].toLowerCase().includes('100-continue')) expectContinue = true
        break
      case 7:
        if (name.toLowerCase() === 'upgrade') upgradeField = true
        break
      case 10:
        if (name.toLowerCase() !== 'connection') break
        for (const token of raw[i + 1].split(',')) {
          const t = token.trim().toLowerCase()
          if (t === 'close') close = true
          else if (t === 'keep-alive') keepAliveToken = true
          else if (t === 'upgrade') upgradeToken = true
        }
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') codings = codings === null ? raw[i + 1] : `${codings},${raw[i + 1]}`
        break
    }
  }
  if (head.host === null && !http10) return 'HTTP/1.1 request without Host'
  const host = hostProblem(head)
  if (host !== null) return host
  let length = 0
  if (codings !== null) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
    if (http10) return 'Transfer-Encoding in an HTTP/1.0 request'
    if (head.contentLengths > 0) return 'both Content-Length and Transfer-Encoding'
    // "gzip, chunked" would have spoke de-chunk the body and send the gzip-coded bytes on as if
    // they were plain (transfer codings do not cross a hop). RFC 9112 §6.1: a coding the server
    // does not implement is refused.
    const coding = codingList(codings)
    if (coding !== 'chunked') return `unsupported Transfer-Encoding ${JSON.stringify(coding.slice(0, 100))} (only chunked)`
    length = CHUNKED
  } else if (head.contentLengths > 1) {
    return 'duplicate Content-Length'
  } else if (head.contentLength !== undefined) {
    length = parseContentLength(head.contentLength)
    if (length < 0) return `invalid Content-Length ${JSON.stringify(head.contentLength.slice(0, 100))}`
  }
  const path = originForm(wire.method, wire.target)
  if (path === null) {
    return wire.target.includes('#') ? 'fragment in the request target' : `unsupported request target ${JSON.stringify(wire.target.slice(0, 100))}`
  }
  return {
    path,
    length,
    // An HTTP/1.0 connection persists only when asked to; `close` wins over `keep-alive` either way.
    keepAlive: !close && (!http10 || keepAliveToken),
    upgrade: upgradeToken && upgradeField,
    expectContinue: expectContinue && !http10 && length !== 0,
  }
}

/** Every Transfer-Encoding value as one lower-case list ("gzip, chunked"). */
function codingList(values: string): string {
  if (values.length === 7 && values.toLowerCase() === 'chunked') return 'chunked'
  return values.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '').join(', ')
}

/**
 * `/path?q` as it is; `http://host/path?q` → `/path?q`; anything else (`*`, CONNECT's
 * authority-form, a fragment) → null.
 */
function originForm(method: string, target: string): string | null {
  if (method === 'CONNECT' || target.includes('#')) return null
  if (target.charCodeAt(0) === 47 /* '/' */) return target
  if (!/^https?:\/\//i.test(target)) return null
  try {
    const url = new URL(target)
    return url.pathname + url.search
  } catch {
    return null
  }
}
