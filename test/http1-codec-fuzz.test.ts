// A seeded differential fuzz of spoke's HTTP/1.1 codec (src/http1/) against the independent strict
// reference reader (helpers/http1-reference.ts), without sockets: random bytes, byte soup of
// HTTP's own tokens, valid requests, and valid requests mutated. Each input is read as a sequence
// of requests the way an app-side adapter reads a connection (head, then the body by
// Content-Length or chunked, refusing the framing h1-framing.ts refuses), fed whole, split at
// random points, and for some a byte at a time.
//
// Properties:
// - every request the codec accepts, the reference accepts too, with the same method, target and
//   body (a request the codec lets through that a strict reader would not is how smuggling starts);
// - the codec reads the same whatever the split of the input (partial heads are re-parsed on the
//   longer buffer, chunked bodies are fed piece by piece);
// - where the reference accepts a request the codec refuses, the codec's reason is one of the few
//   documented strictnesses below (DOCUMENTED_STRICTER), each on purpose.
//
// Response heads have no reference reader: they are fuzzed against the RFC's grammar written as
// regular expressions (an independent reading), and for consistency across every prefix.
//
// Reproduce a run: SPOKE_FUZZ_SEED=<seed> [SPOKE_FUZZ_INPUTS=<n>] npx tap test/http1-codec-fuzz.test.ts
import t from 'tap'
import { ChunkedDecoder } from '../src/http1/chunked.ts'
import { parseContentLength } from '../src/http1/fields.ts'
import { parseRequestHead, parseResponseHead, type RequestHeadWire } from '../src/http1/head.ts'
import { hostProblem, readRequestHead } from '../src/proxy/request-head.ts'
import { parseRequests, type ReferenceParse } from './helpers/http1-reference.ts'
import { Rng } from './helpers/rng.ts'

const SEED = Number(process.env.SPOKE_FUZZ_SEED ?? 0x5eed) >>> 0
const INPUTS = Number(process.env.SPOKE_FUZZ_INPUTS ?? 5000)
/** Large enough that no generated head reaches it: the reference reader has no size limit. */
const LIMITS = { maxHeaderSize: 1 << 20 }
const MAX_TRAILER_SIZE = 1 << 20

/**
 * Where the codec is stricter than the reference on purpose: its refusal reason → why. The
 * reference is lenient wherever RFC 9112 lets a recipient be; the codec takes the strict side
 * where that leniency would let spoke read a message differently from a strict next hop, or where
 * llhttp in strict mode (spoke's parser before the codec) refused too.
 */
const DOCUMENTED_STRICTER: Record<string, string> = {
  'more than one SP after the method': 'RFC 9112 §3 lets a recipient split the request line on runs of whitespace; the codec takes exactly one SP, as llhttp does',
  'more than one SP after the target': 'the same, after the target',
  'bare CR before the start line': 'the reference skips a stray CR between messages as llhttp does; the codec refuses a CR not followed by LF anywhere in a head',
  'whitespace in a chunk size line': 'BWS before ";" or around "=" in a chunk-size line: RFC 9112 §7.1.1 allows it, nobody generates it, llhttp refuses it too',
}

// ---- inputs (latin1 strings: one character per byte); the generators of fuzz-listener.test.ts,
// with more of what only a codec can get wrong: chunk extensions, trailers, obs-text, OWS, leading
// empty lines.

const SOUP = ['GET', 'POST', ' ', '  ', '/', '/echo', '?', '#', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', '\r\n', '\r\n\r\n', '\n', '\r', '\t', ':', ': ',
  'Host', 'a', 'Content-Length', 'Transfer-Encoding', 'chunked', 'Connection', 'close', 'Upgrade', '0', '5', 'ff', ';', ',', '"', '\x00', '\x0b', '\xff',
  'GET / HTTP/1.1\r\nHost: a\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 3\r\n', '0\r\n\r\n', '3\r\nabc\r\n', '=', '\\']

const EXTRA_HEADERS = ['Accept: */*', 'User-Agent: fuzz/1.0', 'Cache-Control: no-cache', 'Content-Type: text/plain', 'Connection: keep-alive', 'Accept-Encoding: gzip, br', 'X-Empty:',
  'X-OWS: \t padded \t', 'X-Latin: caf\xe9 \xa0\xff', 'x-lower:tight', 'X-Quote: "a, b"']

const HOSTILE_LINES = ['Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: 0', 'Transfer-Encoding: gzip, chunked', 'Host: b', 'Connection: close',
  'Expect: 100-continue', 'Content-Length: -1', ' X-Folded: y', 'Transfer-Encoding : chunked', 'Content-Length: 1, 2', 'X-Nul: a\x00b', 'Transfer-Encoding: chunked,',
  'Transfer-Encoding:', 'Content-Length: 05', 'Transfer-Encoding: CHUNKED', 'Connection: upgrade', 'Upgrade: websocket']

const SPECIALS = ['\r', '\n', '\r\n', ' ', '\t', '\x00', ':', ';', ',', '"', '\x0b', '\x7f', '\xff', '0', 'f', '#', '@', '/', '=', '\\']

const EXTENSIONS = [';a', ';ext=v', ';a=b;c', ';q="x y"', ';q="a\\"b\\\\"', ';q="\xe9\t"', ';a=1;b="";c=d']

function validRequest(r: Rng, last: boolean): string {
  const version = r.chance(0.1) ? 'HTTP/1.0' : 'HTTP/1.1'
  const method = r.pick(['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'M-SEARCH', 'PROPFIND'])
  const path = `${r.pick(['/echo', '/', '/status/204', '/echo/x', '/%7e/a;b'])}?q=${r.printable(8).replace(/[#%]/g, '_')}`
  const target = r.chance(0.05) ? `http://svc.local${path}` : path
  const lines = [`${method} ${target} ${version}`]
  if (version === 'HTTP/1.1' || r.chance(0.5)) lines.push(`Host: ${r.pick(['a', 'svc.local:8080', '127.0.0.1:15001', '[::1]:80'])}`)
  for (let n = r.int(5); n > 0; n--) lines.push(r.chance(0.7) ? r.pick(EXTRA_HEADERS) : `X-R${r.int(100)}: ${r.printable(20)}`)
  if (version === 'HTTP/1.0' && r.chance(0.5)) lines.push('Connection: keep-alive')
  if (last && r.chance(0.1)) lines.push('Connection: close')
  const wantsBody = ['POST', 'PUT', 'PATCH'].includes(method) ? r.chance(0.9) : r.chance(0.1)
  let body = ''
  if (wantsBody) {
    const content = r.chance(0.7) ? r.printable(200) : r.bytes(200)
    if (version === 'HTTP/1.1' && r.chance(0.45)) {
      lines.push(r.pick(['Transfer-Encoding: chunked', 'transfer-encoding: Chunked', 'Transfer-Encoding:chunked ']))
      let rest = content
      while (rest.length > 0) {
        const n = 1 + r.int(rest.length)
        const size = n.toString(16)
        body += `${r.chance(0.1) ? '00' : ''}${r.chance(0.3) ? size.toUpperCase() : size}${r.chance(0.2) ? r.pick(EXTENSIONS) : ''}\r\n${rest.slice(0, n)}\r\n`
        rest = rest.slice(n)
      }
      body += `0${r.chance(0.1) ? r.pick(EXTENSIONS) : ''}\r\n`
      for (let n = r.chance(0.2) ? 1 + r.int(3) : 0; n > 0; n--) body += r.pick(['X-Trailer: t\r\n', 'grpc-status: 0\r\n', 'X-T:\r\n', 'X-OWS:  v  \r\n', 'X-L: \xe9\r\n'])
      body += '\r\n'
    } else {
      lines.push(`Content-Length: ${r.chance(0.05) ? '0' : ''}${content.length}`)
      body = content
    }
  }
  return `${r.chance(0.05) ? r.pick(['\r\n', '\n', '\r\n\r\n']) : ''}${lines.join('\r\n')}\r\n\r\n${body}`
}

function mutate(r: Rng, s: string): string {
  const at = (): number => r.int(s.length + 1)
  switch (r.int(13)) {
    case 0: { const i = at(); return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i + 1) }
    case 1: { const i = at(); return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i) }
    case 2: { const i = at(); return s.slice(0, i) + r.pick(SPECIALS) + s.slice(i) }
    case 3: { const i = at(); return s.slice(0, i) + s.slice(i + 1 + r.int(10)) }
    case 4: { const i = at(); const j = i + 1 + r.int(20); return s.slice(0, j) + s.slice(i, j) + s.slice(j) }
    case 5: case 6: {
      const lines = s.split('\r\n')
      const i = r.int(lines.length)
      if (r.int(2) === 0) lines.splice(i, 0, lines[i])
      else lines.splice(i, 1)
      return lines.join('\r\n')
    }
    case 7: {
      const positions = [...s.matchAll(/\r\n/g)].map((m) => m.index)
      if (positions.length === 0) return s
      const i = r.pick(positions)
      return r.chance(0.5) ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i + 1) + s.slice(i + 2)
    }
    case 8: { const i = s.indexOf('\r\n'); return i < 0 ? s : `${s.slice(0, i + 2)}${r.pick(HOSTILE_LINES)}\r\n${s.slice(i + 2)}` }
    case 9: {
      const digits = [...s.matchAll(/[0-9a-f]/g)].map((m) => m.index)
      if (digits.length === 0) return s
      const i = r.pick(digits)
      return s.slice(0, i) + r.pick([...'0123456789abcdef']) + s.slice(i + 1)
    }
    case 10: return s.slice(0, at())
    case 11: {
      // Whitespace where a lenient reader skips it: around ";", "=", ":" and the request line's SPs.
      const spots = [...s.matchAll(/[;=: ]/g)].map((m) => m.index)
      if (spots.length === 0) return s
      const i = r.pick(spots) + (r.chance(0.5) ? 1 : 0)
      return s.slice(0, i) + r.pick([' ', '\t', '  ']) + s.slice(i)
    }
    default: {
      const letters = [...s.matchAll(/[A-Za-z]/g)].map((m) => m.index)
      if (letters.length === 0) return s
      const i = r.pick(letters)
      const c = s[i]
      return s.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + s.slice(i + 1)
    }
  }
}

type Kind = 'random bytes' | 'token soup' | 'valid' | 'mutated'

function input(r: Rng): { kind: Kind; bytes: Buffer } {
  const roll = r.next()
  let kind: Kind
  let text: string
  if (roll < 0.08) {
    kind = 'random bytes'
    text = r.bytes(400)
  } else if (roll < 0.18) {
    kind = 'token soup'
    text = ''
    for (let n = 1 + r.int(40); n > 0; n--) text += r.pick(SOUP)
  } else {
    const count = 1 + (r.chance(0.3) ? r.int(3) : 0)
    text = ''
    for (let i = 0; i < count; i++) text += validRequest(r, i === count - 1)
    if (roll < 0.35) kind = 'valid'
    else {
      kind = 'mutated'
      for (let n = 1 + r.int(4); n > 0; n--) text = mutate(r, text)
    }
  }
  return { kind, bytes: Buffer.from(text, 'latin1') }
}

// ---- the codec reading a connection, as an adapter would

interface CodecRequest {
  readonly method: string
  readonly target: string
  readonly body: Buffer
}

interface CodecParse {
  readonly requests: CodecRequest[]
  readonly end: 'complete' | 'invalid' | 'incomplete' | 'closed' | 'upgrade'
  readonly reason?: string
  /** A data piece from the chunked decoder that was not a subarray of what it was fed. */
  readonly copied: boolean
}

interface Framing {
  readonly length: number
  readonly chunked: boolean
  readonly close: boolean
  readonly upgrade: boolean
}

/**
 * What spoke refuses on top of the codec (h1-framing.ts, request-head.ts): Host, the target's
 * form, and framing — Transfer-Encoding must be exactly one field "chunked" (case-insensitive),
 * never in HTTP/1.0 and never beside Content-Length; one Content-Length of 1*DIGIT.
 */
function judge(head: RequestHeadWire): Framing | string {
  const read = readRequestHead(head.raw)
  if (head.versionMinor === 1 && read.host === null) return 'HTTP/1.1 request without Host'
  const host = hostProblem(read)
  if (host !== null) return host
  const { target } = head
  if (target.includes('#')) return 'fragment in the request target'
  if (target.charCodeAt(0) !== 47 && absoluteFormPath(target) === null) return 'unsupported request target'
  const values = (name: string): string[] => {
    const out: string[] = []
    for (let i = 0; i < head.raw.length; i += 2) if (head.raw[i].toLowerCase() === name) out.push(head.raw[i + 1])
    return out
  }
  const te = values('transfer-encoding')
  const cl = values('content-length')
  let length = 0
  let chunked = false
  if (te.length > 0) {
    if (head.versionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request'
    if (cl.length > 0) return 'both Content-Length and Transfer-Encoding'
    if (te.length !== 1 || te[0].toLowerCase() !== 'chunked') return 'Transfer-Encoding other than chunked'
    chunked = true
  } else if (cl.length > 0) {
    if (cl.length > 1) return 'duplicate Content-Length'
    length = parseContentLength(cl[0])
    if (length < 0) return 'Content-Length is not a byte count'
  }
  const connection = values('connection').join(',').toLowerCase().split(',').map((v) => v.trim())
  const close = connection.includes('close') || (head.versionMinor === 0 && !connection.includes('keep-alive'))
  const upgrade = connection.includes('upgrade') && values('upgrade').length > 0
  return { length, chunked, close, upgrade }
}

function absoluteFormPath(target: string): string | null {
  if (!/^https?:\/\//i.test(target)) return null
  try {
    const url = new URL(target)
    return url.pathname + url.search
  } catch {
    return null
  }
}

/** Reads `pieces` (one connection's bytes, as the reads deliver them) with the codec. */
function codecParse(pieces: readonly Buffer[]): CodecParse {
  const requests: CodecRequest[] = []
  let buf: Buffer = Buffer.alloc(0)
  let pos = 0
  let current: { method: string; target: string; framing: Framing; body: Buffer[]; remaining: number; decoder: ChunkedDecoder | null } | null = null
  let copied = false
  const stop = (end: CodecParse['end'], reason?: string): CodecParse => ({ requests, end, reason, copied })
  for (const piece of pieces) {
    // What is left of the last read, then this one: a partial head is parsed again from its start.
    buf = pos === buf.length ? piece : Buffer.concat([buf.subarray(pos), piece])
    pos = 0
    for (;;) {
      if (current === null) {
        const r = parseRequestHead(buf, pos, LIMITS)
        if (r.kind === 'partial') break
        if (r.kind === 'invalid') return stop('invalid', r.reason)
        const framing = judge(r.head)
        if (typeof framing === 'string') return stop('invalid', framing)
        pos += r.size
        current = { method: r.head.method, target: r.head.target, framing, body: [], remaining: framing.length, decoder: framing.chunked ? new ChunkedDecoder({ maxTrailerSize: MAX_TRAILER_SIZE }) : null }
      } else if (current.decoder !== null) {
        const fed = buf
        const next = current.decoder.feed(buf, pos, (data) => {
          if (data.buffer !== fed.buffer) copied = true
          current!.body.push(Buffer.from(data))
        })
        if (next === -1) return stop('invalid', current.decoder.error!)
        pos = next
        if (!current.decoder.done) break
      } else {
        const n = Math.min(current.remaining, buf.length - pos)
        current.body.push(buf.subarray(pos, pos + n))
        pos += n
        current.remaining -= n
        if (current.remaining > 0) break
      }
      if (current.decoder === null ? current.remaining > 0 : !current.decoder.done) continue
      requests.push({ method: current.method, target: current.target, body: Buffer.concat(current.body) })
      const { close, upgrade } = current.framing
      current = null
      if (upgrade) return stop('upgrade')
      if (close) return stop('closed')
    }
  }
  if (current !== null) return stop('incomplete', 'body')
  // Only empty lines (or nothing) left: the connection ended cleanly between messages.
  for (let i = pos; i < buf.length; i++) if (buf[i] !== 0x0d && buf[i] !== 0x0a) return stop('incomplete', 'head')
  return stop('complete')
}

function splitRandomly(r: Rng, bytes: Buffer): Buffer[] {
  const pieces: Buffer[] = []
  for (let at = 0; at < bytes.length;) {
    const n = 1 + r.int(r.chance(0.5) ? 8 : 200)
    pieces.push(bytes.subarray(at, at + n))
    at += n
  }
  return pieces
}

function byteByByte(bytes: Buffer): Buffer[] {
  const pieces: Buffer[] = []
  for (let at = 0; at < bytes.length; at++) pieces.push(bytes.subarray(at, at + 1))
  return pieces
}

const summary = (p: CodecParse): string => JSON.stringify({ requests: p.requests.map((q) => [q.method, q.target, q.body.toString('latin1')]), end: p.end, reason: p.reason })

t.test(`differential fuzz of the HTTP/1.1 codec against the reference reader: ${INPUTS} inputs, seed ${SEED}`, async (t) => {
  t.comment(`seed ${SEED} (reproduce: SPOKE_FUZZ_SEED=${SEED} SPOKE_FUZZ_INPUTS=${INPUTS} npx tap test/http1-codec-fuzz.test.ts)`)
  const r = new Rng(SEED)
  const violations: string[] = []
  const splitDisagreements: string[] = []
  const undocumented: string[] = []
  const stricter = new Map<string, number>()
  const byKind = new Map<Kind, number>()
  let referenceRequests = 0
  let codecRequests = 0
  let agreeing = 0
  let byteFed = 0
  let copied = 0
  for (let i = 0; i < INPUTS; i++) {
    const { kind, bytes } = input(r)
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
    const reference: ReferenceParse = parseRequests(bytes)
    const whole = codecParse([bytes])
    const feeds = [splitRandomly(r, bytes)]
    if (i % 4 === 0) {
      feeds.push(byteByByte(bytes))
      byteFed++
    }
    for (const pieces of feeds) {
      const split = codecParse(pieces)
      if (summary(split) !== summary(whole)) splitDisagreements.push(`#${i} ${JSON.stringify(bytes.toString('latin1'))} in ${pieces.length} pieces: ${summary(split)} vs whole ${summary(whole)}`)
      if (split.copied) copied++
    }
    if (whole.copied) copied++
    referenceRequests += reference.requests.length
    codecRequests += whole.requests.length
    const describe = (): string => `#${i} ${kind} ${JSON.stringify(bytes.toString('latin1').slice(0, 600))}: codec ${summary(whole)}; reference ${reference.end} ${reference.reason ?? ''} with ${reference.requests.length}`
    let same = true
    whole.requests.forEach((q, k) => {
      const ref = reference.requests[k]
      if (ref === undefined || ref.method !== q.method || ref.target !== q.target || !ref.body.equals(q.body)) {
        same = false
        violations.push(`request ${k} of ${describe()}`)
      }
    })
    if (!same) continue
    if (reference.requests.length > whole.requests.length) {
      // The reference accepted a request the codec refused: only on purpose.
      const reason = whole.reason ?? whole.end
      if (whole.end === 'invalid' && reason in DOCUMENTED_STRICTER) stricter.set(reason, (stricter.get(reason) ?? 0) + 1)
      else undocumented.push(describe())
    } else {
      agreeing++
    }
  }
  t.comment(`${INPUTS} inputs: ${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}; each fed whole and split at random points, ${byteFed} also a byte at a time`)
  t.comment(`requests accepted: reference ${referenceRequests}, codec ${codecRequests}; inputs where both accept the same requests: ${agreeing}`)
  t.comment(`reference accepts, codec refuses (documented): ${stricter.size === 0 ? 'none' : [...stricter].map(([k, n]) => `${k} ×${n}`).join('; ')}`)
  t.same(violations, [], 'every request the codec accepted, the reference accepted with the same method, target and body')
  t.same(splitDisagreements, [], 'the codec reads the same input the same way however it is split')
  t.same(undocumented, [], 'where the reference accepts more, the codec refused for a documented reason')
  t.equal(copied, 0, 'chunked data pieces are subarrays of what was fed, never copies')
  t.ok(codecRequests > INPUTS / 4, `the generator is not all noise (${codecRequests} requests accepted)`)
})

// ---- response heads

const RESPONSE_FIELDS = ['Server: nginx/1.26.2', 'Date: Tue, 14 Oct 2025 09:21:07 GMT', 'Content-Type: application/json', 'Content-Length: 12',
  'Connection: keep-alive', 'Transfer-Encoding: chunked', 'ETag: "66e1a2b3-4d2"', 'X-Empty:', 'X-Latin: caf\xe9', 'Set-Cookie: a=b; Path=/']

function validResponse(r: Rng): string {
  const status = r.pick(['200 OK', '204 No Content', '404 Not Found', '101 Switching Protocols', '200', '200 ', '503 Service  Unavailable\t', '299 caf\xe9'])
  const lines = [`HTTP/1.${r.int(2)} ${status}`]
  for (let n = r.int(8); n > 0; n--) lines.push(r.pick(RESPONSE_FIELDS))
  return `${lines.join('\r\n')}\r\n\r\n${r.chance(0.5) ? 'body' : ''}`
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A field value as returned: no OWS at either end, VCHAR / obs-text with SP and HTAB inside. */
const VALUE_RE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/
const REASON_RE = /^[\t\x20-\x7e\x80-\xff]*$/
/** status-line and field lines as RFC 9112 §4 and §5 write them, CRLF only, no obs-fold. */
const RESPONSE_HEAD_RE = /^(?:\r?\n)*HTTP\/1\.[01] [1-9]\d\d(?: [\t\x20-\x7e\x80-\xff]*)?\r\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n$/

t.test(`fuzzed response heads: accepted ones match the RFC grammar, and every prefix reads consistently (seed ${SEED})`, async (t) => {
  const r = new Rng(SEED ^ 0x7e5)
  const problems: string[] = []
  let accepted = 0
  let refused = 0
  const n = Math.max(1000, INPUTS / 5)
  for (let i = 0; i < n; i++) {
    let text = validResponse(r)
    if (r.chance(0.7)) for (let k = 1 + r.int(3); k > 0; k--) text = mutate(r, text)
    const bytes = Buffer.from(text, 'latin1')
    const whole = parseResponseHead(bytes, 0, LIMITS)
    const show = JSON.stringify(text)
    if (whole.kind === 'head') {
      accepted++
      const { head, size } = whole
      const wire = text.slice(0, size)
      if (!RESPONSE_HEAD_RE.test(wire)) problems.push(`accepted a head outside the grammar: ${show}`)
      if (!REASON_RE.test(head.reason) || head.status < 100 || head.status > 999) problems.push(`status line ${head.status} ${JSON.stringify(head.reason)}: ${show}`)
      for (let k = 0; k < head.raw.length; k += 2) {
        if (!TOKEN_RE.test(head.raw[k]) || !VALUE_RE.test(head.raw[k + 1])) problems.push(`field ${JSON.stringify(head.raw.slice(k, k + 2))}: ${show}`)
      }
      // Every proper prefix of an accepted head is incomplete, never refused.
      for (let k = 0; k < size; k++) {
        if (parseResponseHead(bytes.subarray(0, k), 0, LIMITS).kind !== 'partial') {
          problems.push(`prefix of ${k} bytes not partial: ${show}`)
          break
        }
      }
    } else if (whole.kind === 'invalid') {
      refused++
      // Refused whole: each prefix is incomplete until the refusal, and refused the same way after.
      let seen = false
      for (let k = 0; k <= bytes.length; k++) {
        const p = parseResponseHead(bytes.subarray(0, k), 0, LIMITS)
        if (p.kind === 'head' || (seen && (p.kind !== 'invalid' || p.reason !== whole.reason))) {
          problems.push(`prefix of ${k} bytes reads ${JSON.stringify(p)} (whole: ${whole.reason}): ${show}`)
          break
        }
        if (p.kind === 'invalid') seen = true
      }
    }
  }
  t.comment(`${n} response heads: ${accepted} accepted, ${refused} refused, ${n - accepted - refused} incomplete`)
  t.same(problems, [], 'accepted response heads follow the grammar; prefixes read consistently')
  t.ok(accepted > n / 5 && refused > n / 10, 'both outcomes are exercised')
})
