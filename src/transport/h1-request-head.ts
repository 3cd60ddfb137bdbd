// The head of an HTTP/1.1 request to a pod, as one latin1 string: the request line, the Host
// first (RFC 9112 §3.2), the engine's fields as given, and the framing spoke chooses for the body.
// A request whose method, path or fields cannot go on the wire as they are is refused before a
// byte is written (invalid_request): the connection stays as good as it was.
import { isToken, parseContentLength } from '../http1/fields.ts'
import { Failure } from './failure.ts'

/** Bytes outside field-vchar, SP and HTAB (RFC 9110 §5.5): a CR or LF would start a field of its own. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/
/** origin-form: printable, no spaces (RFC 9112 §3.2.1); spoke only ever sends paths. */
const INVALID_PATH = /[^\x21-\xff]/

/** Methods whose requests carry content: without a body they say `content-length: 0` (RFC 9110 §8.6). */
const PAYLOAD_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])

/** How a streamed body is framed: its declared Content-Length, or chunked. */
export const CHUNKED = -1

export interface RequestHead {
  readonly text: string
  /**
   * For a streamed body: the bytes it must have (its Content-Length), or CHUNKED. For a body
   * held whole, or none: its length.
   */
  readonly bodyLength: number
}

/**
 * `fields`: the engine's flat [name, value, …] list with its Host. `held`: the length of a body
 * held whole, or -1 for one streamed. Throws Failure('invalid_request').
 */
export function requestHead(method: string, path: string, fields: readonly string[], held: number): RequestHead {
  if (!isToken(method)) throw refused(`invalid method ${JSON.stringify(method.slice(0, 40))}`)
  if (path.charCodeAt(0) !== 47 /* / */ || INVALID_PATH.test(path)) throw refused('invalid path')
  let host: string | null = null
  let declared: string | null = null
  let lines = ''
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]
    const value = fields[i + 1]
    if (!isToken(name)) throw refused(`invalid header name ${JSON.stringify(name.slice(0, 40))}`)
    if (INVALID_VALUE.test(value)) throw refused(`invalid ${name} header`)
    // Only names of these lengths need a case-insensitive look: the rest are sent as they are.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host !== null) throw refused('more than one Host')
          host = value
          continue
        }
        break
      case 14:
        // The framing is spoke's to choose, from the body it sends.
        if (name.toLowerCase() === 'content-length') {
          if (declared !== null) throw refused('more than one Content-Length')
          declared = value
          continue
        }
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') throw refused('transfer-encoding is spoke\'s to set')
        break
    }
    lines += `${name}: ${value}\r\n`
  }
  let start = `${method} ${path} HTTP/1.1\r\n`
  if (host !== null) start += `host: ${host}\r\n`
  if (held > 0) return { text: `${start}${lines}content-length: ${held}\r\n\r\n`, bodyLength: held }
  if (held === 0) {
    const framing = PAYLOAD_METHODS.has(method) ? 'content-length: 0\r\n' : ''
    return { text: `${start}${lines}${framing}\r\n`, bodyLength: 0 }
  }
  if (declared === null) return { text: `${start}${lines}transfer-encoding: chunked\r\n\r\n`, bodyLength: CHUNKED }
  const length = parseContentLength(declared)
  if (length < 0) throw refused('invalid content-length header')
  return { text: `${start}${lines}content-length: ${length}\r\n\r\n`, bodyLength: length }
}

function refused(why: string): Failure {
  return new Failure('invalid_request', `request refused: ${why}`)
}
