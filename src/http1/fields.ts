// HTTP/1.1 field syntax (RFC 9110 §5, RFC 9112 §5) shared by the head parser, the chunked
// decoder's trailers and the adapters: byte classes, Content-Length, and writing a head.
//
// The byte classes live in one lookup table so that the parsers test a byte with one load and one
// AND; a regular expression or a per-byte switch costs several times that on the hot path.

/** tchar (RFC 9110 §5.6.2): a byte of a token (method, field name, chunk extension name). */
export const TOKEN = 1
/** A field value byte (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text. Never CR, LF, NUL, DEL or another CTL. */
export const VALUE = 2
/** A request-target byte: visible ASCII (0x21–0x7E); RFC 9112 §3.2 has no room for SP, CTLs or obs-text. */
export const TARGET = 4
/** qdtext (RFC 9110 §5.6.4): a byte inside a quoted-string that needs no backslash. */
export const QDTEXT = 8

/** Byte → the classes above it belongs to. */
export const CLASS: Uint8Array = (() => {
  const table = new Uint8Array(256)
  const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
  for (let i = 0; i < tchar.length; i++) table[tchar.charCodeAt(i)] |= TOKEN
  table[0x09] |= VALUE | QDTEXT
  table[0x20] |= VALUE | QDTEXT
  for (let b = 0x21; b <= 0x7e; b++) {
    table[b] |= VALUE | TARGET
    // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text: all but DQUOTE and backslash.
    if (b !== 0x22 && b !== 0x5c) table[b] |= QDTEXT
  }
  for (let b = 0x80; b <= 0xff; b++) table[b] |= VALUE | QDTEXT
  return table
})()

/** Hex digit → its value, or -1: chunk sizes. */
export const HEX: Int8Array = (() => {
  const table = new Int8Array(256).fill(-1)
  for (let d = 0; d < 10; d++) table[0x30 + d] = d
  for (let d = 0; d < 6; d++) table[0x41 + d] = table[0x61 + d] = 10 + d
  return table
})()

interface Latin1Sliceable {
  latin1Slice(start: number, end: number): string
}

/**
 * buf[start..end) as a latin1 string (one character per byte, obs-text kept as is). Buffer's own
 * latin1Slice, without toString's argument handling: it is a native call, so the parsers make one
 * per head and cut every piece from that string (a native call per field costs several times a
 * substring).
 */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Sliceable).latin1Slice(start, end)
}

/** Whether `s` is a non-empty token (RFC 9110 §5.6.2). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff || (CLASS[c] & TOKEN) === 0) return false
  }
  return true
}

/**
 * Content-Length value → number, or -1 if not 1*DIGIT within Number.MAX_SAFE_INTEGER.
 *
 * RFC 9110 §8.6 lets a recipient accept a list of identical values ("5, 5"); spoke refuses it, as
 * it refuses repeated Content-Length fields: a proxy that reads a list one way and a pod that
 * reads it another is how requests get smuggled. A sign, a space or "0x" is refused for the same
 * reason. Leading zeros are digits like any other.
 */
export function parseContentLength(value: string): number {
  const length = value.length
  if (length === 0) return -1
  let n = 0
  for (let i = 0; i < length; i++) {
    const d = value.charCodeAt(i) - 0x30
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
    // Checked at every digit: while n is safe, n * 10 + d is exact or rounds to at least 2^53,
    // so the comparison is right even for the digit that crosses the limit.
    if (n > Number.MAX_SAFE_INTEGER) return -1
  }
  return n
}

/**
 * The head of an HTTP/1.1 request as one latin1 string ready to write: request line, fields, and
 * the empty line. The names and values are written as given: they come from a parsed head (this
 * codec's or nghttp2's), which has already refused CR, LF and other control bytes, so checking
 * them again here would only cost time on every request.
 */
export function serializeRequestHead(method: string, path: string, fields: readonly string[]): string {
  return `${method} ${path} HTTP/1.1\r\n${serializeFields(fields)}\r\n`
}

/** The head of an HTTP/1.1 response ("HTTP/1.1 <status> <reason>"), as serializeRequestHead. */
export function serializeResponseHead(status: number, reason: string, fields: readonly string[]): string {
  return `HTTP/1.1 ${status} ${reason}\r\n${serializeFields(fields)}\r\n`
}

/** Flat [name, value, …] → `name: value\r\n` lines (also the trailer section of a last chunk). */
export function serializeFields(fields: readonly string[]): string {
  let out = ''
  for (let i = 0; i + 1 < fields.length; i += 2) out += `${fields[i]}: ${fields[i + 1]}\r\n`
  return out
}
