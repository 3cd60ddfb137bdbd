// What the head of a pod's HTTP/1.1 answer means for the engine and for the connection, read in
// one pass over its fields: the headers as the engine takes them, how the body is framed (RFC 9112
// §6.3), and whether the connection carries another request after it (§9.3, and the pod's
// Keep-Alive hint). Framing that two readers could read two ways is refused, never guessed at.
import type { IncomingHttpHeaders } from 'node:http'
import type { ResponseHeadWire } from '../http1/head.ts'
import { parseContentLength } from '../http1/fields.ts'

/** How the body ends. */
export const NO_BODY = 0
export const LENGTH = 1
export const CHUNKED = 2
/** Read until the pod closes the connection (no Content-Length, no chunked coding). */
export const UNTIL_CLOSE = 3

/**
 * The pod's Keep-Alive hint is a moment it may close an idle connection at: spoke closes it one
 * second before, so that a request is not sent as the pod closes it (undici's threshold too).
 */
const HINT_MARGIN_MS = 1000

/**
 * How the answer in progress is framed and what follows it; one per connection, rewritten by
 * each answer's head rather than allocated per answer.
 */
export class Framing {
  kind: typeof NO_BODY | typeof LENGTH | typeof CHUNKED | typeof UNTIL_CLOSE = NO_BODY
  /** The Content-Length, for LENGTH. */
  length = 0
  /** The connection carries another request after this answer. */
  reusable = false
  /** How long it may then sit idle, from the pod's Keep-Alive hint; 0: no hint. */
  idleMs = 0
}

/**
 * Reads the answer's head into `framing` and returns its headers, or why the answer cannot be
 * read safely (a string). `head`: the request was a HEAD. The headers are the codec's own list,
 * its names lower-cased in place (see DispatchHandler): no object or second list is built.
 */
export function readResponseHead(wire: ResponseHeadWire, head: boolean, framing: Framing): string[] | string {
  const headers = wire.raw
  let contentLength: string | null = null
  let codings: string | null = null
  let connection: string | null = null
  let keepAlive: string | null = null
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase()
    const value = headers[i + 1]
    headers[i] = name
    switch (name) {
      case 'content-length':
        if (contentLength !== null) return 'more than one Content-Length'
        contentLength = value
        break
      case 'transfer-encoding': codings = codings === null ? value : `${codings}, ${value}`; break
      case 'connection': connection = connection === null ? value : `${connection}, ${value}`; break
      case 'keep-alive': keepAlive = value; break
    }
  }
  // RFC 9112 §9.3: HTTP/1.1 persists unless the pod says close; HTTP/1.0 only if it says keep-alive.
  let close = false
  let persistent = wire.versionMinor === 1
  // Almost every pod says just one of the two.
  if (connection === 'keep-alive') persistent = true
  else if (connection === 'close') close = true
  else if (connection !== null) {
    for (const token of connection.toLowerCase().split(',')) {
      const t = token.trim()
      if (t === 'close') close = true
      else if (t === 'keep-alive') persistent = true
    }
  }
  let reusable = persistent && !close
  let idleMs = 0
  if (reusable && keepAlive !== null) {
    idleMs = hintMs(keepAlive)
    // A hint of a second or less: the pod may close before spoke could send another request.
    if (idleMs < 0) {
      reusable = false
      idleMs = 0
    }
  }
  framing.reusable = reusable
  framing.idleMs = idleMs
  framing.length = 0
  const status = wire.status
  // §6.3 (1, 2): whatever the fields say, these answers end with their head.
  if (head || status === 204 || status === 304) {
    framing.kind = NO_BODY
    return headers
  }
  if (codings !== null) {
    // §6.3 (3): both is how request smuggling starts; an HTTP/1.0 sender cannot mean chunked.
    if (contentLength !== null) return 'both Transfer-Encoding and Content-Length'
    if (wire.versionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 answer'
    if (lastCoding(codings) === 'chunked') {
      framing.kind = CHUNKED
      return headers
    }
  } else if (contentLength !== null) {
    const length = parseContentLength(contentLength)
    if (length < 0) return `invalid Content-Length ${JSON.stringify(contentLength.slice(0, 40))}`
    framing.kind = length === 0 ? NO_BODY : LENGTH
    framing.length = length
    return headers
  }
  // §6.3 (7): the body runs until the pod closes; nothing can follow it.
  framing.kind = UNTIL_CLOSE
  framing.reusable = false
  framing.idleMs = 0
  return headers
}

/** Trailers of a chunked answer, as Node shapes them: lower-case names, a repeated name's values in an array. */
export function fieldsObject(raw: readonly string[]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const value = raw[i + 1]
    const prior = out[name]
    if (prior === undefined) out[name] = value
    // A name the object inherits (`constructor`, `__proto__`): its own property, never the prototype's.
    else if (!Object.hasOwn(out, name)) Object.defineProperty(out, name, { value, enumerable: true, configurable: true, writable: true })
    else if (typeof prior === 'string') out[name] = [prior, value]
    else prior.push(value)
  }
  return out
}

function lastCoding(codings: string): string {
  const comma = codings.lastIndexOf(',')
  return (comma < 0 ? codings : codings.slice(comma + 1)).trim().toLowerCase()
}

/** `timeout=N` (seconds) less the margin; -1: too short to reuse; 0: no timeout in the hint. */
function hintMs(value: string): number {
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value)
  if (match === null) return 0
  const ms = Number(match[1]) * 1000 - HINT_MARGIN_MS
  return ms > 0 ? ms : -1
}
