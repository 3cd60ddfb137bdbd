// Request and response heads of HTTP/1.1 (RFC 9112 §2–§5), read strictly: with the caller's
// checks of the target's form, Host and framing on top, whatever this parser accepts the strict
// reference reader (test/helpers/http1-reference.ts) accepts the same way, and everything a
// request-smuggling attack leans on (bare CR or LF, obs-fold, whitespace before a colon, control
// bytes, odd versions) is refused with the reason. Lines end in CRLF only; a bare LF is taken as
// a line end only in the empty lines before a start line (see skipEmptyLines and lineEnd).
//
// Pure functions over a Buffer, no I/O and no state between calls. A caller whose head is still
// incomplete calls again on the longer buffer and the scan starts over: heads are small and
// capped by maxHeaderSize, most arrive in one read, and a parser without a resumable state is
// simpler and faster for them. Nothing is allocated until the head is complete, so an
// incomplete call costs only the scan, and a byte that can never be part of a valid head is
// refused as soon as it is seen, complete head or not.
import { CLASS, TARGET, TOKEN, VALUE, latin1 } from './fields.ts'

export interface HeadLimits {
  /** Bytes of start line + field lines + the empty line together (like Node's maxHeaderSize). */
  readonly maxHeaderSize: number
}

export type HeadResult<T> =
  | { readonly kind: 'head'; readonly head: T; readonly size: number }
  | { readonly kind: 'partial' }
  | { readonly kind: 'invalid'; readonly status: 400 | 431 | 505; readonly reason: string }

export interface RequestHeadWire {
  readonly method: string
  /** As sent: origin-form, absolute-form, authority-form or '*'; the caller judges which it takes. */
  readonly target: string
  readonly versionMinor: 0 | 1
  /** Flat [name, value, …]: names as sent, values without their leading and trailing OWS. */
  readonly raw: string[]
}

export interface ResponseHeadWire {
  /** Three digits, 100–999; the caller judges what the code means. */
  readonly status: number
  readonly reason: string
  readonly versionMinor: 0 | 1
  readonly raw: string[]
}

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HTAB = 0x09
const COLON = 0x3a
/** "HTTP/" */
const HTTP_NAME = [0x48, 0x54, 0x54, 0x50, 0x2f]

/**
 * Longer methods are refused (400) without waiting for maxHeaderSize: every registered method is
 * under 20 bytes, and a client sending kilobytes of method is not sending HTTP (llhttp, which
 * knows its methods, refuses such a line at its second byte; spoke answered 400 there too).
 */
const MAX_METHOD = 64

const PARTIAL = Object.freeze({ kind: 'partial' as const })
const TOO_LARGE = Object.freeze({ kind: 'invalid' as const, status: 431 as const, reason: 'head larger than maxHeaderSize' })

// What a scan found, kept in module state rather than in objects allocated per call (the
// functions below run to completion, so nothing else can touch it in between).
/** A scan step's outcome when it did not find the end of what it scans: the bytes ran out. */
const RAN_OUT = -1
/** …or a byte was refused: `failure` and `failureStatus` say why. */
const REFUSED = -2
let failure = ''
let failureStatus: 400 | 505 = 400
let versionMinor: 0 | 1 = 1
/** [name start, name end, value start, value end] of each field line of the last scan. */
let offsets = new Int32Array(4 * 32)
let fieldCount = 0

/**
 * Parses one request head beginning at buf[start].
 *
 * Empty lines before the request line (CRLF, or a bare LF, which RFC 9112 §2.2 lets a recipient
 * take as a line end) are skipped and counted in `size`; a bare CR there is refused.
 */
export function parseRequestHead(buf: Buffer, start: number, limits: HeadLimits): HeadResult<RequestHeadWire> {
  const limit = start + limits.maxHeaderSize
  // Nothing past the limit is ever looked at: a head still incomplete there is too large (431) at
  // once, however many more bytes the client means to send.
  const lim = buf.length < limit ? buf.length : limit
  let p = skipEmptyLines(buf, start, lim)
  if (p < 0) return stopped(p, lim, limit)

  // RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF, with exactly one SP
  // each. (§3 lets a recipient split on runs of whitespace; no client sends them, llhttp refuses
  // them, and a proxy is the last place to read one message two ways: refused.)
  const methodStart = p
  while (p < lim && (CLASS[buf[p]] & TOKEN) !== 0) p++
  if (p - methodStart > MAX_METHOD) return refused(`method longer than ${MAX_METHOD} bytes`)
  if (p === lim) return stopped(RAN_OUT, lim, limit)
  if (p === methodStart) return refused('request line does not begin with a method')
  if (buf[p] !== SP) return refused('method is not a token')
  const methodEnd = p++

  // request-target: any visible ASCII (RFC 9112 §3.2, RFC 3986); its form is the caller's call.
  const targetStart = p
  while (p < lim && (CLASS[buf[p]] & TARGET) !== 0) p++
  if (p === lim) return stopped(RAN_OUT, lim, limit)
  const c = buf[p]
  if (p === targetStart) return refused(c === SP ? 'more than one SP after the method' : 'request target missing or not VCHAR')
  if (c !== SP) return refused(c === CR || c === LF ? 'request line without an HTTP version' : 'request target has a byte outside VCHAR')
  const targetEnd = p++
  if (p < lim && buf[p] === SP) return refused('more than one SP after the target')

  p = scanVersion(buf, p, lim)
  if (p < 0) return stopped(p, lim, limit)
  p = lineEnd(buf, p, lim, 'after the HTTP version')
  if (p < 0) return stopped(p, lim, limit)
  const end = scanFields(buf, p, lim)
  if (end < 0) return stopped(end, lim, limit)

  const text = latin1(buf, methodStart, end)
  return {
    kind: 'head',
    head: {
      method: text.slice(0, methodEnd - methodStart),
      target: text.slice(targetStart - methodStart, targetEnd - methodStart),
      versionMinor,
      raw: fieldList(text, methodStart),
    },
    size: end - start,
  }
}

/**
 * Parses one response head beginning at buf[start]: `HTTP/1.x SP 3DIGIT SP reason CRLF`, fields,
 * CRLF. Empty lines before the status line are skipped as for requests (they frame nothing).
 *
 * obs-fold is refused here too (400), though RFC 9112 §5.2 would let a recipient of a response
 * replace it with SP: no server that spoke proxies to has a reason to fold, and one that does is
 * answered with an error rather than with a field value it did not quite send.
 */
export function parseResponseHead(buf: Buffer, start: number, limits: HeadLimits): HeadResult<ResponseHeadWire> {
  const limit = start + limits.maxHeaderSize
  const lim = buf.length < limit ? buf.length : limit
  let p = skipEmptyLines(buf, start, lim)
  if (p < 0) return stopped(p, lim, limit)
  const lineStart = p
  p = scanVersion(buf, p, lim)
  if (p < 0) return stopped(p, lim, limit)
  if (p === lim) return stopped(RAN_OUT, lim, limit)
  if (buf[p] !== SP) return refused('status line: no SP after the HTTP version')
  p++

  // status-code = 3DIGIT (RFC 9112 §4), read as 100–999: a code below 100 has no class.
  let status = 0
  for (let i = 0; i < 3; i++, p++) {
    if (p === lim) return stopped(RAN_OUT, lim, limit)
    const d = buf[p] - 0x30
    if (d < 0 || d > 9 || (i === 0 && d === 0)) return refused('status code is not three digits (100–999)')
    status = status * 10 + d
  }
  if (p === lim) return stopped(RAN_OUT, lim, limit)
  // RFC 9112 §4: SP then a reason that may be empty. Servers that leave it out often drop the SP
  // too ("HTTP/1.1 200\r\n"); the line is still unambiguous, so that is taken as an empty reason.
  let reasonStart = p
  let reasonEnd = p
  if (buf[p] === SP) {
    reasonStart = ++p
    // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): the field value bytes exactly.
    while (p < lim && (CLASS[buf[p]] & VALUE) !== 0) p++
    reasonEnd = p
  } else if (buf[p] !== CR && buf[p] !== LF) {
    return refused('status code is not three digits (100–999)')
  }
  p = lineEnd(buf, p, lim, 'in the status line')
  if (p < 0) return stopped(p, lim, limit)
  const end = scanFields(buf, p, lim)
  if (end < 0) return stopped(end, lim, limit)

  const text = latin1(buf, lineStart, end)
  return {
    kind: 'head',
    head: {
      status,
      reason: text.slice(reasonStart - lineStart, reasonEnd - lineStart),
      versionMinor,
      raw: fieldList(text, lineStart),
    },
    size: end - start,
  }
}

function stopped(code: number, lim: number, limit: number): HeadResult<never> {
  if (code === REFUSED) return { kind: 'invalid', status: failureStatus, reason: failure }
  return lim === limit ? TOO_LARGE : PARTIAL
}

function refused(reason: string): HeadResult<never> {
  return { kind: 'invalid', status: 400, reason }
}

function refuse(reason: string, status: 400 | 505 = 400): number {
  failure = reason
  failureStatus = status
  return REFUSED
}

/**
 * RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line. Both
 * CRLF and a bare LF are skipped (§2.2 lets a recipient read a bare LF as a line end, and between
 * messages it frames nothing); a CR not followed by LF is refused, here as everywhere in a head.
 */
function skipEmptyLines(buf: Buffer, p: number, lim: number): number {
  for (;;) {
    if (p >= lim) return RAN_OUT
    const c = buf[p]
    if (c === LF) p++
    else if (c === CR) {
      if (p + 1 >= lim) return RAN_OUT
      if (buf[p + 1] !== LF) return refuse('bare CR before the start line')
      p += 2
    } else return p
  }
}

/**
 * HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). HTTP/1.0 and HTTP/1.1
 * are read; another major version (HTTP/2.0, HTTP/0.9) is 505 Version Not Supported (RFC 9110
 * §15.6.6 is about the major version); HTTP/1.2 and up are 400: §2.3 would have them read as
 * HTTP/1.1, but no such version exists and llhttp refuses it too. Anything else is 400. Each byte
 * is checked as it arrives, so garbage is refused before the line ends.
 */
function scanVersion(buf: Buffer, p: number, lim: number): number {
  for (let i = 0; i < 5; i++, p++) {
    if (p >= lim) return RAN_OUT
    if (buf[p] !== HTTP_NAME[i]) return refuse('malformed HTTP version')
  }
  if (p >= lim) return RAN_OUT
  const major = buf[p++] - 0x30
  if (major < 0 || major > 9) return refuse('malformed HTTP version')
  if (p >= lim) return RAN_OUT
  if (buf[p++] !== 0x2e /* . */) return refuse('malformed HTTP version')
  if (p >= lim) return RAN_OUT
  const minor = buf[p++] - 0x30
  if (minor < 0 || minor > 9) return refuse('malformed HTTP version')
  if (major !== 1) return refuse(`HTTP/${major}.${minor} is not supported`, 505)
  if (minor > 1) return refuse(`HTTP/1.${minor} is not HTTP/1.0 or HTTP/1.1`)
  versionMinor = minor as 0 | 1
  return p
}

/**
 * The CRLF ending a start line at buf[p]. Inside a head a line ends in CRLF only: the reference
 * reader (like llhttp in strict mode) refuses a bare LF there, and a proxy must not frame a
 * message where the next hop might not.
 */
function lineEnd(buf: Buffer, p: number, lim: number, where: string): number {
  if (p >= lim) return RAN_OUT
  const c = buf[p]
  if (c !== CR) return refuse(c === LF ? `bare LF ${where}` : `unexpected byte ${where}`)
  if (p + 1 >= lim) return RAN_OUT
  if (buf[p + 1] !== LF) return refuse(`bare CR ${where}`)
  return p + 2
}

/**
 * The field lines from buf[p] to the empty line ending the head (RFC 9112 §5); returns the index
 * just past that empty line. Their offsets go to `offsets`.
 *
 * field-line = field-name ":" OWS field-value OWS, where
 * - field-name is a non-empty token, directly followed by the colon: whitespace before the colon
 *   is refused (RFC 9112 §5.1 requires a server to, and a proxy to remove it or refuse);
 * - a line starting with SP or HTAB is obs-fold (or whitespace before the first field), refused
 *   (RFC 9112 §5.2);
 * - the value is HTAB, SP, VCHAR and obs-text; NUL, DEL and the other CTLs are refused, and CR
 *   must be followed by LF.
 */
function scanFields(buf: Buffer, p: number, lim: number): number {
  fieldCount = 0
  for (;;) {
    if (p >= lim) return RAN_OUT
    let c = buf[p]
    if (c === CR) {
      if (p + 1 >= lim) return RAN_OUT
      return buf[p + 1] === LF ? p + 2 : refuse('bare CR in the header section')
    }
    const nameStart = p
    while ((CLASS[c] & TOKEN) !== 0) {
      if (++p >= lim) return RAN_OUT
      c = buf[p]
    }
    if (c !== COLON || p === nameStart) return refuse(fieldLineProblem(c, p === nameStart))
    const nameEnd = p
    // OWS after the colon
    do {
      if (++p >= lim) return RAN_OUT
      c = buf[p]
    } while (c === SP || c === HTAB)
    const valueStart = p
    while ((CLASS[c] & VALUE) !== 0) {
      if (++p >= lim) return RAN_OUT
      c = buf[p]
    }
    if (c !== CR) return refuse(c === LF ? 'bare LF in the header section' : 'field value has a control byte')
    if (p + 1 >= lim) return RAN_OUT
    if (buf[p + 1] !== LF) return refuse('bare CR in the header section')
    // Trailing OWS is not part of the value (RFC 9110 §5.5); the leading OWS was skipped above.
    let valueEnd = p
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--
    const k = fieldCount * 4
    if (k === offsets.length) {
      const grown = new Int32Array(k * 2)
      grown.set(offsets)
      offsets = grown
    }
    offsets[k] = nameStart
    offsets[k + 1] = nameEnd
    offsets[k + 2] = valueStart
    offsets[k + 3] = valueEnd
    fieldCount++
    p += 2
  }
}

function fieldLineProblem(c: number, atLineStart: boolean): string {
  if (atLineStart) {
    if (c === SP || c === HTAB) return 'obs-fold or whitespace before a field name'
    if (c === LF) return 'bare LF in the header section'
    return c === COLON ? 'empty field name' : 'field name is not a token'
  }
  if (c === SP || c === HTAB) return 'whitespace between a field name and its colon'
  if (c === CR || c === LF) return 'field line without a colon'
  return 'field name is not a token'
}

/** The fields of the last scan as a flat [name, value, …] list, cut from the head's text. */
function fieldList(text: string, base: number): string[] {
  const raw: string[] = []
  for (let k = 0, n = fieldCount * 4; k < n; k += 4) {
    raw.push(text.slice(offsets[k] - base, offsets[k + 1] - base), text.slice(offsets[k + 2] - base, offsets[k + 3] - base))
  }
  return raw
}
