// Which headers cross spoke (SPEC §4). Hop-by-hop headers (RFC 9110 §7.6.1) describe one
// connection and die with it; x-spoke-* request headers are instructions to spoke itself.
import type { IncomingHttpHeaders } from 'node:http'

const REQUEST_DROPPED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'transfer-encoding', 'upgrade',
  'http2-settings',
  // Replaced by the rewritten authority, or re-added as the app sent it with hostRewrite: keep.
  'host',
  // Node has already answered 100-continue to the app; undici refuses to send Expect itself.
  'expect',
  'x-spoke-retry', 'x-spoke-pod',
])

const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te'])

/** Lower-cased header names listed in Connection values (each of them is hop-by-hop too). */
function connectionTokens(values: readonly string[]): Set<string> {
  const tokens = new Set<string>()
  for (const v of values) for (const t of v.split(',')) {
    const name = t.trim().toLowerCase()
    if (name !== '' && name !== 'close' && name !== 'keep-alive') tokens.add(name)
  }
  return tokens
}

/**
 * The headers sent to the pod, as undici's flat [name, value, …] array, from Node's rawHeaders
 * (names in the app's case, duplicates kept in order). `authority` null keeps the app's Host.
 */
export function upstreamRequestHeaders(raw: readonly string[], authority: string | null): string[] {
  const out: string[] = []
  let host: string | null = null
  let connection: string[] | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const lower = name.toLowerCase()
    if (!REQUEST_DROPPED.has(lower)) {
      out.push(name, raw[i + 1])
      continue
    }
    if (lower === 'connection') (connection ??= []).push(raw[i + 1])
    else if (lower === 'host') host = raw[i + 1]
    // gRPC needs `te: trailers` end to end; any other TE coding is this hop's business.
    else if (lower === 'te' && /(^|,)\s*trailers\s*(;|,|$)/i.test(raw[i + 1])) out.push('te', 'trailers')
  }
  const result = connection === null ? out : withoutTokens(out, connectionTokens(connection))
  const sentHost = authority ?? host
  if (sentHost !== null) result.push('host', sentHost)
  return result
}

function withoutTokens(flat: string[], tokens: Set<string>): string[] {
  if (tokens.size === 0) return flat
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) if (!tokens.has(flat[i].toLowerCase())) out.push(flat[i], flat[i + 1])
  return out
}

/** The pod's response headers for the app, as a flat array for writeHead. */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders): string[] {
  const out: string[] = []
  const connection = headers.connection
  const tokens = connection === undefined ? null : connectionTokens(Array.isArray(connection) ? connection : [connection])
  for (const name in headers) {
    if (RESPONSE_DROPPED.has(name) || (tokens !== null && tokens.has(name))) continue
    const value = headers[name]
    if (value === undefined) continue
    if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, value)
  }
  return out
}

/** RFC 9110 §9.2.2: safe to send twice. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
