// What llhttp lets through but a proxy must refuse in an HTTP/1.1 request head (RFC 9112), and
// the request target in the one form the pods get: origin-form.
import type { IncomingMessage } from 'node:http'
import { hostProblem, type RequestHead } from './request-head.ts'

/** The request's origin-form path, or why the request is refused. */
export type Checked = { readonly path: string; readonly refusal: null } | { readonly path: null; readonly refusal: string }

export function checkRequest(req: IncomingMessage, head: RequestHead): Checked {
  const refusal = framingProblem(req, head)
  if (refusal !== null) return { path: null, refusal }
  const target = req.url!
  if (target.includes('#')) return { path: null, refusal: 'fragment in the request target' }
  if (target.charCodeAt(0) === 47 /* '/' */) return { path: target, refusal: null }
  const path = absoluteFormPath(target)
  return path === null ? { path: null, refusal: `unsupported request target ${JSON.stringify(target.slice(0, 100))}` } : { path, refusal: null }
}

/** Whether a Connection field names `close`. */
export function asksToClose(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'connection' && raw[i + 1].split(',').some((t) => t.trim().toLowerCase() === 'close')) return true
  }
  return false
}

/**
 * A missing Host, and Content-Length that disagrees with itself or sits beside Transfer-Encoding
 * (RFC 9112 §6.3).
 */
function framingProblem(req: IncomingMessage, head: RequestHead): string | null {
  // llhttp reads "HTTP/2.0" and HTTP/0.9's bare "GET /" as request lines too.
  if (req.httpVersionMajor !== 1) return `unsupported HTTP version ${req.httpVersion}`
  if (head.host === null && req.httpVersionMinor === 1) return 'HTTP/1.1 request without Host'
  const host = hostProblem(head)
  if (host !== null) return host
  if (head.transferEncoding) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
    if (req.httpVersionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request'
    // llhttp accepts "gzip, chunked": spoke would de-chunk the body and send the gzip-coded
    // bytes on as if they were plain (transfer codings do not cross a hop). RFC 9112 §6.1: a
    // coding the server does not implement is refused.
    const coding = transferCoding(req.rawHeaders)
    if (coding !== 'chunked') return `unsupported Transfer-Encoding ${JSON.stringify(coding.slice(0, 100))} (only chunked)`
  }
  if (head.contentLengths === 0) return null
  if (head.transferEncoding) return 'both Content-Length and Transfer-Encoding'
  return head.contentLengths > 1 ? 'duplicate Content-Length' : null
}

/** Every Transfer-Encoding value as one lower-case list ("gzip, chunked"). */
function transferCoding(raw: readonly string[]): string {
  const values: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'transfer-encoding') values.push(raw[i + 1])
  return values.join(',').split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '').join(', ')
}

/** `http://host/path?q` → `/path?q`; anything else (`*`, authority-form) → null. */
function absoluteFormPath(target: string): string | null {
  if (!/^https?:\/\//i.test(target)) return null
  try {
    const url = new URL(target)
    return url.pathname + url.search
  } catch {
    return null
  }
}
