// Which response headers cross spoke back to the app (SPEC §4). Request headers: request-head.ts.
import { connectionTokens } from './request-head.ts'

const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te'])

/**
 * The pod's response headers for the app: its flat list (lower-case names) without the hop-by-hop
 * fields and those its Connection names, as a flat array for writeHead.
 */
export function downstreamResponseHeaders(headers: readonly string[]): string[] {
  let connection: string[] | null = null
  for (let i = 0; i < headers.length; i += 2) {
    const value = headers[i + 1]
    // Almost every pod says just "keep-alive" or "close": nothing else is named, nothing to split.
    if (headers[i] === 'connection' && value !== 'keep-alive' && value !== 'close') (connection ??= []).push(value)
  }
  const tokens = connection === null ? null : connectionTokens(connection)
  const out: string[] = []
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]
    if (RESPONSE_DROPPED.has(name) || (tokens !== null && tokens.has(name))) continue
    out.push(name, headers[i + 1])
  }
  return out
}

/** RFC 9110 §9.2.2: safe to send twice. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
