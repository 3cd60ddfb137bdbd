// Which response headers cross spoke back to the app (SPEC §4). Request headers: request-head.ts.
import type { IncomingHttpHeaders } from 'node:http'
import { connectionTokens } from './request-head.ts'

const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te'])

/** The pod's response headers for the app, as a flat array for writeHead. */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders): string[] {
  const out: string[] = []
  const connection = headers.connection
  // Almost every pod says just "keep-alive" or "close": nothing else is named, nothing to split.
  const tokens = connection === undefined || connection === 'keep-alive' || connection === 'close'
    ? null
    : connectionTokens(Array.isArray(connection) ? connection : [connection])
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
