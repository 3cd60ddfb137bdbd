// One pass over the app's raw request headers gives both what spoke needs to know (framing,
// gRPC, retry permission) and the header list sent upstream. Reading Node's `req.headers`
// instead would make Node build a second, object-shaped copy of every header per request.

/** Request headers that never cross spoke (RFC 9110 §7.6.1 hop-by-hop, plus spoke's own). */
export const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'transfer-encoding', 'upgrade',
  'http2-settings',
  // Replaced by the rewritten authority, or re-added as the app sent it with hostRewrite: keep.
  'host',
  // spoke has already answered 100-continue to the app: the pod gets the body without asking.
  'expect',
  // Instructions to spoke.
  'x-spoke-retry', 'x-spoke-pod',
  // Set by spoke on every copy of a broadcast (the app may choose its value).
  'x-spoke-broadcast-id',
])

export interface RequestHead {
  /**
   * The headers for the pod as a flat [name, value, …] list. The last pair is the Host:
   * set its value with `setAuthority` before each attempt.
   */
  readonly upstreamHeaders: string[]
  readonly host: string | null
  /** Host header lines (more than one is malformed: RFC 9112 §3.2). */
  readonly hosts: number
  /** HTTP/2's :authority; null on HTTP/1.1. */
  readonly authority: string | null
  readonly contentType: string | undefined
  /** How many Content-Length fields arrived (more than one is ambiguous framing). */
  readonly contentLengths: number
  readonly contentLength: string | undefined
  readonly transferEncoding: boolean
  readonly retryAlways: boolean
  /** x-spoke-broadcast-id as the app sent it (broadcast mode uses it as the broadcast's id). */
  readonly broadcastId: string | null
  /** `x-spoke-pod`: the pod the app asks for by name, bypassing the policy. */
  readonly pod: string | null
  /**
   * The value of the header a hash key is read from (`keyHeader`), repeated fields joined as
   * HTTP joins them (RFC 9110 §5.3; Cookie with "; ", RFC 9113 §8.2.3). Null when absent or not asked for.
   */
  readonly keyField: string | null
}

/** `keyHeader` (lower case) is read for sharded upstreams only: `x-account-id`, or `cookie` for a cookie key. */
export function readRequestHead(raw: readonly string[], keyHeader: string | null = null): RequestHead {
  const out: string[] = []
  let host: string | null = null
  let hosts = 0
  let authority: string | null = null
  let connection: string[] | null = null
  let contentType: string | undefined
  let contentLength: string | undefined
  let contentLengths = 0
  let transferEncoding = false
  let retryAlways = false
  let broadcastId: string | null = null
  let pod: string | null = null
  let keyField: string | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const value = raw[i + 1]
    if (name.charCodeAt(0) === 58 /* ':' */) {
      // HTTP/2 pseudo-headers: :authority is the Host; the others become the request line.
      if (name === ':authority') host = authority = value
      continue
    }
    const lower = name.toLowerCase()
    if (lower === 'content-type') contentType = value
    else if (lower === 'content-length') {
      contentLength = value
      contentLengths++
    }
    if (lower === keyHeader) keyField = keyField === null ? value : `${keyField}${lower === 'cookie' ? '; ' : ', '}${value}`
    if (!DROPPED_REQUEST_HEADERS.has(lower)) {
      out.push(name, value)
      continue
    }
    switch (lower) {
      case 'connection': (connection ??= []).push(value); break
      case 'host': host = value; hosts++; break
      case 'transfer-encoding': transferEncoding = true; break
      case 'x-spoke-retry': retryAlways = value === 'always'; break
      case 'x-spoke-broadcast-id': broadcastId = value; break
      // Repeated, it names no single pod: joined, it matches none (404 unknown_pod).
      case 'x-spoke-pod': pod = pod === null ? value : `${pod}, ${value}`; break
      // gRPC needs `te: trailers` end to end; any other TE coding is this hop's business.
      case 'te': if (/(^|,)\s*trailers\s*(;|,|$)/i.test(value)) out.push('te', 'trailers'); break
    }
  }
  const upstreamHeaders = connection === null ? out : withoutTokens(out, connectionTokens(connection))
  upstreamHeaders.push('host', host ?? '')
  return { upstreamHeaders, host, hosts, authority, contentType, contentLengths, contentLength, transferEncoding, retryAlways, broadcastId, pod, keyField }
}

/** Sets the Host sent upstream (the last pair of upstreamHeaders). */
export function setAuthority(head: RequestHead, authority: string): void {
  head.upstreamHeaders[head.upstreamHeaders.length - 1] = authority
}

/** Lower-cased header names listed in Connection values (each of them is hop-by-hop too). */
export function connectionTokens(values: readonly string[]): Set<string> {
  const tokens = new Set<string>()
  for (const v of values) {
    for (const t of v.split(',')) {
      const name = t.trim().toLowerCase()
      if (name !== '' && name !== 'close' && name !== 'keep-alive') tokens.add(name)
    }
  }
  return tokens
}

function withoutTokens(flat: string[], tokens: Set<string>): string[] {
  if (tokens.size === 0) return flat
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) if (!tokens.has(flat[i].toLowerCase())) out.push(flat[i], flat[i + 1])
  return out
}

/**
 * RFC 9112 §3.2 and RFC 9113 §8.3.1: one Host, agreeing with :authority, shaped like
 * uri-host[:port] (RFC 3986). A Host with "@", "/" or spaces in it only ever serves to confuse
 * whatever builds URLs from it behind the proxy.
 */
export function hostProblem(head: RequestHead): string | null {
  if (head.hosts > 1) return 'more than one Host'
  if (head.authority !== null && head.hosts === 1 && head.host !== head.authority) return 'Host differs from :authority'
  if (head.host !== null && !HOST.test(head.host)) return `invalid Host ${JSON.stringify(head.host.slice(0, 100))}`
  return null
}

/** IP-literal or reg-name (unreserved, sub-delims, pct-encoded), then an optional port. */
const HOST = /^(?:\[[0-9A-Za-z:.%_~-]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d*)?$/
