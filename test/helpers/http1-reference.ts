// An independent, strict reading of HTTP/1.1 requests (RFC 9112, RFC 9110 field syntax) used to
// judge the fuzzer's results: a request that reached a pod must be one this parser accepts from
// the bytes the client sent. It is deliberately small and separate from spoke's own code (which
// relies on llhttp); where the RFC lets a recipient be lenient, it is lenient too, so that it never
// calls a valid request invalid.

export interface ReferenceRequest {
  readonly method: string
  readonly target: string
  /** What the pod sees as the URL: the target, or an absolute-form target's path and query. */
  readonly path: string
  readonly body: Buffer
}

export interface ReferenceParse {
  /** The requests accepted, in order, before parsing stopped. */
  readonly requests: ReferenceRequest[]
  /** Why parsing stopped: the bytes ran out cleanly, or at a fault, mid-message, a close, an upgrade. */
  readonly end: 'complete' | 'invalid' | 'incomplete' | 'closed' | 'upgrade'
  readonly reason?: string
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Field value bytes (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB inside. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** RFC 3986 IP-literal or reg-name, then an optional port (RFC 9110 §7.2). */
const HOST = /^(?:\[[0-9A-Za-z:.%_~-]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d*)?$/
const MAX_SAFE = Number.MAX_SAFE_INTEGER

class Stop extends Error {
  readonly end: 'invalid' | 'incomplete'
  constructor(end: 'invalid' | 'incomplete', reason: string) {
    super(reason)
    this.end = end
  }
}

function invalid(reason: string): never {
  throw new Stop('invalid', reason)
}

function incomplete(reason: string): never {
  throw new Stop('incomplete', reason)
}

export function parseRequests(bytes: Buffer): ReferenceParse {
  const s = bytes.toString('latin1')
  const requests: ReferenceRequest[] = []
  let pos = 0
  try {
    for (;;) {
      // RFC 9112 §2.2: empty lines before a request line may be ignored, and a bare LF may end
      // a line. llhttp also skips a stray CR there; between messages it frames nothing, so the
      // reference allows it too (docs/reliability.md lists this relaxation).
      while (s[pos] === '\r' || s[pos] === '\n') pos++
      if (pos >= s.length) return { requests, end: 'complete' }
      const parsed = parseOne(s, pos)
      requests.push(parsed.request)
      pos = parsed.next
      if (parsed.upgrade) return { requests, end: 'upgrade' }
      if (parsed.close) return { requests, end: 'closed' }
    }
  } catch (err) {
    if (err instanceof Stop) return { requests, end: err.end, reason: err.message }
    throw err
  }
}

/** The line starting at `pos`: it must end in CRLF and hold no other CR or LF. */
function line(s: string, pos: number, what: string): { text: string; next: number } {
  const lf = s.indexOf('\n', pos)
  if (lf === -1) incomplete(`${what} without CRLF`)
  if (lf === pos || s[lf - 1] !== '\r') invalid(`bare LF in ${what}`)
  const text = s.slice(pos, lf - 1)
  if (text.includes('\r')) invalid(`bare CR in ${what}`)
  return { text, next: lf + 1 }
}

function parseOne(s: string, start: number): { request: ReferenceRequest; next: number; close: boolean; upgrade: boolean } {
  const requestLine = line(s, start, 'request line')
  // RFC 9112 §3: method SP target SP version; recipients MAY split on runs of SP.
  const m = /^([^ ]+) +([^ ]+) +([^ ]+)$/.exec(requestLine.text)
  if (m === null) invalid('request line is not method SP target SP version')
  const [, method, target, version] = m
  if (!TOKEN.test(method)) invalid('method is not a token')
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') invalid(`version ${version}`)
  if (!/^[\x21-\x7e]+$/.test(target) || target.includes('#')) invalid('target has bytes outside VCHAR or a fragment')
  let path: string
  if (target.startsWith('/')) path = target
  else if (/^https?:\/\//i.test(target)) {
    let url: URL
    try {
      url = new URL(target)
    } catch {
      invalid('absolute-form target is not a URI')
    }
    path = url.pathname + url.search
  } else invalid('target is neither origin-form nor absolute-form')

  const fields: Array<[string, string]> = []
  let pos = requestLine.next
  for (;;) {
    const field = line(s, pos, 'header section')
    pos = field.next
    if (field.text === '') break
    fields.push(parseField(field.text))
  }
  const all = (name: string): string[] => fields.filter(([n]) => n === name).map(([, v]) => v)
  const hosts = all('host')
  if (hosts.length > 1 || (version === 'HTTP/1.1' && hosts.length === 0)) invalid('Host missing or repeated')
  if (hosts.length === 1 && !HOST.test(hosts[0])) invalid('Host is not uri-host[:port]')
  const transferEncodings = all('transfer-encoding')
  const contentLengths = all('content-length')
  let body: Buffer
  if (transferEncodings.length > 0) {
    // RFC 9112 §6.1, §6.3: chunked as the only and final coding, never beside Content-Length,
    // never in HTTP/1.0.
    if (version === 'HTTP/1.0') invalid('Transfer-Encoding in HTTP/1.0')
    if (contentLengths.length > 0) invalid('Transfer-Encoding with Content-Length')
    if (transferEncodings.length !== 1 || transferEncodings[0].toLowerCase() !== 'chunked') invalid('Transfer-Encoding other than chunked')
    const chunked = parseChunked(s, pos)
    body = chunked.body
    pos = chunked.next
  } else if (contentLengths.length > 0) {
    if (contentLengths.length > 1) invalid('repeated Content-Length')
    if (!/^\d+$/.test(contentLengths[0]) || Number(contentLengths[0]) > MAX_SAFE) invalid('Content-Length is not a byte count')
    const length = Number(contentLengths[0])
    if (s.length - pos < length) incomplete('body shorter than Content-Length')
    body = Buffer.from(s.slice(pos, pos + length), 'latin1')
    pos += length
  } else {
    body = Buffer.alloc(0)
  }
  const connection = all('connection').join(',').toLowerCase().split(',').map((t) => t.trim())
  const upgrade = connection.includes('upgrade') && all('upgrade').length > 0
  const close = connection.includes('close') || (version === 'HTTP/1.0' && !connection.includes('keep-alive'))
  return { request: { method, target, path, body }, next: pos, close, upgrade }
}

/** field-line = field-name ":" OWS field-value OWS (RFC 9112 §5); no obs-fold. */
function parseField(text: string): [string, string] {
  if (text[0] === ' ' || text[0] === '\t') invalid('obs-fold or leading whitespace')
  const colon = text.indexOf(':')
  if (colon <= 0) invalid('field line without a name and colon')
  const name = text.slice(0, colon)
  if (!TOKEN.test(name)) invalid('field name is not a token')
  const value = text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
  if (!FIELD_VALUE.test(value)) invalid('field value has control bytes')
  return [name.toLowerCase(), value]
}

/** RFC 9112 §7.1: chunks, the last chunk, trailer fields, CRLF. */
function parseChunked(s: string, start: number): { body: Buffer; next: number } {
  const parts: string[] = []
  let pos = start
  for (;;) {
    const sizeLine = line(s, pos, 'chunk size line')
    pos = sizeLine.next
    // chunk-size [ chunk-ext ], chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
    const m = /^([0-9A-Fa-f]+)((?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*)$/.exec(sizeLine.text)
    if (m === null) invalid('chunk size line')
    const size = parseInt(m[1], 16)
    if (!Number.isSafeInteger(size) || m[1].length > 13) invalid('chunk size overflow')
    if (size === 0) break
    if (s.length - pos < size + 2) incomplete('chunk shorter than its size')
    parts.push(s.slice(pos, pos + size))
    pos += size
    if (!s.startsWith('\r\n', pos)) invalid('chunk data not followed by CRLF')
    pos += 2
  }
  for (;;) {
    const trailer = line(s, pos, 'trailer section')
    pos = trailer.next
    if (trailer.text === '') break
    parseField(trailer.text)
  }
  return { body: Buffer.from(parts.join(''), 'latin1'), next: pos }
}
