// The chunked transfer coding (RFC 9112 §7.1): a decoder fed the body in whatever pieces the
// socket delivers, and the framing a sender writes around its chunks.
//
// The decoder is a byte-level state machine: it never looks at a byte twice and never waits for
// a whole line, so a body arriving one byte per read costs the same per byte as one arriving whole,
// and the data itself is handed on as subarrays of the input without a copy.
import { CLASS, HEX, QDTEXT, TOKEN, VALUE, latin1, serializeFields } from './fields.ts'

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HTAB = 0x09

/**
 * chunk-size digits: the reference reader takes at most 13 (52 bits, so the size is always an
 * exact, safe integer), and a chunk of 2^52 bytes is already more than anyone sends. More digits,
 * even leading zeros, are refused rather than read modulo something.
 */
const MAX_SIZE_DIGITS = 13
/**
 * Bytes of one chunk-size line (size and extensions). Extensions are read and dropped, so they
 * cost no memory, but without a bound a client could keep spoke reading one endless line
 * (Node bounds them too, since CVE-2024-22019).
 */
const MAX_SIZE_LINE = 4096

/**
 * RFC 9112 §7.1.1 allows BWS (whitespace) before ";" and around "=" in a chunk-size line, and the
 * reference reader takes it; llhttp in strict mode refuses it, spoke refused it with llhttp, and
 * the codec still does: nobody generates it ("MUST NOT generate", RFC 9110 §5.6.3), and a size
 * line read two ways is where chunked smuggling lives.
 */
const BWS = 'whitespace in a chunk size line'

// Where the decoder is. chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF (RFC 9112 §7.1).
const SIZE_START = 0 // the first hex digit of a chunk-size
const SIZE = 1 // more hex digits, ";" or CR
const EXT_NAME_START = 2 // after ";": the first byte of an extension name
const EXT_NAME = 3
const EXT_VALUE_START = 4 // after "=": a token or a quoted-string
const EXT_TOKEN = 5
const EXT_QUOTED = 6
const EXT_QUOTED_PAIR = 7 // after a backslash inside the quoted-string
const EXT_AFTER_QUOTED = 8
const SIZE_LF = 9
const DATA = 10
const DATA_CR = 11
const DATA_LF = 12
const TRAILER_START = 13 // a trailer field line, or the CRLF ending the body
const TRAILER_NAME = 14
const TRAILER_OWS = 15
const TRAILER_VALUE = 16
const TRAILER_LF = 17
const FINAL_LF = 18
const DONE = 19
const FAILED = 20

/** Decodes one chunked body (RFC 9112 §7.1) fed in pieces. */
export class ChunkedDecoder {
  readonly #maxTrailerSize: number
  #state = SIZE_START
  /** While reading a size line: the size so far; in DATA: the bytes of the chunk still to come. */
  #size = 0
  #digits = 0
  #lineBytes = 0
  /** Bytes of trailer field lines so far (CRLFs included, the final empty line not). */
  #trailerBytes = 0
  /** The trailer field line being read, up to its CR; pieces from earlier feeds. */
  #line = ''
  /** Where the colon is in #line, once it has been read. */
  #colon = -1
  readonly #trailers: string[] = []
  #error: string | null = null

  /** maxTrailerSize: bytes of trailer field lines (with their CRLFs) a body may end with; 0 forbids trailers. */
  constructor(limits: { readonly maxTrailerSize: number }) {
    this.#maxTrailerSize = limits.maxTrailerSize
  }

  /** The last chunk and the trailer section (possibly empty) have been read. */
  get done(): boolean {
    return this.#state === DONE
  }

  /** Trailer fields as a flat [name, value, …] list (names as sent, values without OWS). */
  get trailers(): string[] {
    return this.#trailers
  }

  /** Why the framing was refused; null while it is fine. */
  get error(): string | null {
    return this.#error
  }

  /**
   * Reads buf[offset..]; calls onData with each piece of body data as a subarray of buf (no copy).
   * Returns the index just past the last byte it consumed: buf.length unless the body ended inside
   * buf (then the rest belongs to the next message), or -1 on a framing error (see `error`).
   * Once done, it consumes nothing (returns offset); once failed, it returns -1.
   */
  feed(buf: Buffer, offset: number, onData: (data: Buffer) => void): number {
    let state = this.#state
    if (state === FAILED) return -1
    if (state === DONE) return offset
    const end = buf.length
    let p = offset
    /** Where the part of the current trailer line inside this buf begins. */
    let lineStart = state === TRAILER_NAME || state === TRAILER_OWS || state === TRAILER_VALUE ? offset : -1
    while (p < end) {
      const c = buf[p]
      switch (state) {
        case DATA: {
          const n = this.#size < end - p ? this.#size : end - p
          this.#size -= n
          state = this.#size === 0 ? DATA_CR : DATA
          // Stored before the callback: it may look at `done` or throw.
          this.#state = state
          onData(buf.subarray(p, p + n))
          p += n
          continue
        }
        case SIZE_START:
        case SIZE: {
          const d = HEX[c]
          if (d >= 0) {
            // chunk-size = 1*HEXDIG: no sign, no "0x", no whitespace before or after.
            if (++this.#digits > MAX_SIZE_DIGITS) return this.#fail(`chunk size longer than ${MAX_SIZE_DIGITS} hex digits`)
            this.#size = this.#size * 16 + d
            state = SIZE
          } else if (state === SIZE_START) {
            return this.#fail(c === CR || c === LF ? 'empty chunk size line' : 'chunk size is not hex digits')
          } else if (c === 0x3b /* ; */) {
            state = EXT_NAME_START
          } else if (c === CR) {
            state = SIZE_LF
          } else {
            return this.#fail(c === LF ? 'bare LF after a chunk size' : c === SP || c === HTAB ? BWS : 'chunk size followed by something other than ";" or CRLF')
          }
          break
        }
        // chunk-ext = *( ";" chunk-ext-name [ "=" chunk-ext-val ] ), token / quoted-string;
        // read to be sure of the framing and then ignored. No BWS around ";" or "=" (see BWS).
        case EXT_NAME_START:
          if ((CLASS[c] & TOKEN) === 0) return this.#fail(c === SP || c === HTAB ? BWS : 'chunk extension name is not a token')
          state = EXT_NAME
          break
        case EXT_NAME:
          if ((CLASS[c] & TOKEN) !== 0) break
          if (c === 0x3d /* = */) state = EXT_VALUE_START
          else state = this.#afterExtension(c)
          break
        case EXT_VALUE_START:
          if (c === 0x22 /* " */) state = EXT_QUOTED
          else if ((CLASS[c] & TOKEN) !== 0) state = EXT_TOKEN
          else return this.#fail(c === SP || c === HTAB ? BWS : 'chunk extension value is not a token or quoted-string')
          break
        case EXT_TOKEN:
          if ((CLASS[c] & TOKEN) === 0) state = this.#afterExtension(c)
          break
        case EXT_QUOTED:
          if (c === 0x22) state = EXT_AFTER_QUOTED
          else if (c === 0x5c /* \ */) state = EXT_QUOTED_PAIR
          else if ((CLASS[c] & QDTEXT) === 0) return this.#fail('control byte in a chunk extension')
          break
        case EXT_QUOTED_PAIR:
          // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
          if ((CLASS[c] & VALUE) === 0) return this.#fail('control byte in a chunk extension')
          state = EXT_QUOTED
          break
        case EXT_AFTER_QUOTED:
          state = this.#afterExtension(c)
          break
        case SIZE_LF:
          if (c !== LF) return this.#fail('bare CR in a chunk size line')
          this.#digits = 0
          this.#lineBytes = 0
          if (this.#size === 0) state = TRAILER_START
          else state = DATA
          p++
          continue
        case DATA_CR:
          if (c !== CR) return this.#fail('chunk data not followed by CRLF')
          state = DATA_LF
          p++
          continue
        case DATA_LF:
          if (c !== LF) return this.#fail('chunk data not followed by CRLF')
          state = SIZE_START
          p++
          continue
        // trailer-section = *( field-line CRLF ), the same syntax as header fields (RFC 9112 §7.1.2).
        case TRAILER_START:
          if (c === CR) state = FINAL_LF
          else if ((CLASS[c] & TOKEN) !== 0) {
            state = TRAILER_NAME
            lineStart = p
          } else {
            return this.#fail(c === SP || c === HTAB ? 'obs-fold or whitespace before a trailer field name' : c === LF ? 'bare LF in the trailer section' : 'trailer field name is not a token')
          }
          break
        case TRAILER_NAME:
          if (c === 0x3a /* : */) {
            this.#colon = this.#line.length + (p - lineStart)
            state = TRAILER_OWS
          } else if ((CLASS[c] & TOKEN) === 0) {
            return this.#fail(c === SP || c === HTAB ? 'whitespace between a trailer field name and its colon' : 'trailer field name is not a token')
          }
          break
        case TRAILER_OWS:
        case TRAILER_VALUE:
          if (c === CR) {
            this.#line += latin1(buf, lineStart, p)
            lineStart = -1
            state = TRAILER_LF
          } else if ((CLASS[c] & VALUE) === 0) {
            return this.#fail(c === LF ? 'bare LF in the trailer section' : 'trailer field value has a control byte')
          }
          break
        case TRAILER_LF:
          if (c !== LF) return this.#fail('bare CR in the trailer section')
          this.#addTrailer()
          state = TRAILER_START
          break
        case FINAL_LF:
          if (c !== LF) return this.#fail('bare CR in the trailer section')
          this.#state = DONE
          return p + 1
      }
      if (state === FAILED) return -1
      if (state >= TRAILER_START) {
        if (state !== FINAL_LF && ++this.#trailerBytes > this.#maxTrailerSize) return this.#fail('trailer section larger than maxTrailerSize')
      } else if (++this.#lineBytes > MAX_SIZE_LINE) {
        return this.#fail(`chunk size line longer than ${MAX_SIZE_LINE} bytes`)
      }
      p++
    }
    if (lineStart >= 0) this.#line += latin1(buf, lineStart, end)
    this.#state = state
    return end
  }

  /** After an extension (name, token value or quoted-string): another one, or the line's CR. */
  #afterExtension(c: number): number {
    if (c === 0x3b) return EXT_NAME_START
    if (c === CR) return SIZE_LF
    this.#fail(c === LF ? 'bare LF in a chunk size line' : c === SP || c === HTAB ? BWS : 'malformed chunk extension')
    return FAILED
  }

  #addTrailer(): void {
    const line = this.#line
    let from = this.#colon + 1
    let to = line.length
    // OWS around the value is not part of it (RFC 9110 §5.5); String#trim would also take NBSP (0xA0, obs-text).
    while (from < to && (line.charCodeAt(from) === SP || line.charCodeAt(from) === HTAB)) from++
    while (to > from && (line.charCodeAt(to - 1) === SP || line.charCodeAt(to - 1) === HTAB)) to--
    this.#trailers.push(line.slice(0, this.#colon), line.slice(from, to))
    this.#line = ''
    this.#colon = -1
  }

  #fail(reason: string): -1 {
    this.#error = reason
    this.#state = FAILED
    return -1
  }
}

/** The framing of one chunk of body on the wire: `<hex size>\r\n` (the caller writes data and then `\r\n`). */
export function chunkHeader(size: number): string {
  return `${size.toString(16)}\r\n`
}

/** The last chunk with trailers (flat list, may be empty): `0\r\n` + fields + `\r\n`. */
export function lastChunk(trailers?: readonly string[]): string {
  return trailers === undefined || trailers.length === 0 ? '0\r\n\r\n' : `0\r\n${serializeFields(trailers)}\r\n`
}
