// spoke's HTTP/1.1 codec on its own (src/http1/): no sockets, one case per rule of its syntax
// (RFC 9112, RFC 9110 fields), valid and invalid, whole and fed a byte at a time. The differential
// fuzz against the reference reader is http1-codec-fuzz.test.ts.
import t from 'tap'
import { ChunkedDecoder, chunkHeader, lastChunk } from '../src/http1/chunked.ts'
import { isToken, parseContentLength, serializeRequestHead, serializeResponseHead } from '../src/http1/fields.ts'
import { type HeadLimits, type HeadResult, parseRequestHead, parseResponseHead, type RequestHeadWire } from '../src/http1/head.ts'

const LIMITS: HeadLimits = { maxHeaderSize: 8192 }
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1')
const request = (s: string, limits = LIMITS): HeadResult<RequestHeadWire> => parseRequestHead(bytes(s), 0, limits)
const response = (s: string, limits = LIMITS) => parseResponseHead(bytes(s), 0, limits)

/** The head parsed, or an exception saying what came back instead (which fails the test). */
function head<T>(r: HeadResult<T>, what: string): T {
  if (r.kind !== 'head') throw new Error(`${what}: ${JSON.stringify(r)}`)
  return r.head
}

/** What parsing each proper prefix of `s` gives. */
function prefixes(s: string, parse: (b: Buffer) => { kind: string }): string[] {
  const kinds: string[] = []
  for (let n = 0; n < s.length; n++) kinds.push(parse(bytes(s.slice(0, n))).kind)
  return kinds
}

t.test('a request head: method, target, version and fields as sent, values without OWS', async (t) => {
  const s = 'GET /a/b?c=d HTTP/1.1\r\nHost: svc:8080\r\nX-Spaces: \t one  two \t\r\nX-Empty:\r\nX-OWS-Only:   \r\nx-lower: v\r\n\r\nNEXT'
  const r = request(s)
  t.same(r, {
    kind: 'head',
    head: { method: 'GET', target: '/a/b?c=d', versionMinor: 1, raw: ['Host', 'svc:8080', 'X-Spaces', 'one  two', 'X-Empty', '', 'X-OWS-Only', '', 'x-lower', 'v'] },
    size: s.indexOf('NEXT'),
  })
  t.same(head(request('POST / HTTP/1.0\r\n\r\n'), 'HTTP/1.0'), { method: 'POST', target: '/', versionMinor: 0, raw: [] })
  // The target's form is the caller's call: all four are returned as sent.
  for (const target of ['/', 'http://a.example/x?y', 'a.example:443', '*', '/%7e?q=a;b,c!$&\'()*+@:/?'] as const) {
    t.equal(head(request(`OPTIONS ${target} HTTP/1.1\r\nHost: a\r\n\r\n`), target).target, target)
  }
  t.equal(head(request("M-!#$%&'*+.^_`|~9 / HTTP/1.1\r\n\r\n"), 'tchar method').method, "M-!#$%&'*+.^_`|~9", 'any token is a method')
})

t.test('a head starting at an offset, and empty lines before the request line (RFC 9112 §2.2)', async (t) => {
  const buf = bytes('xxxxGET / HTTP/1.1\r\n\r\n')
  t.same(parseRequestHead(buf, 4, LIMITS), { kind: 'head', head: { method: 'GET', target: '/', versionMinor: 1, raw: [] }, size: buf.length - 4 })
  const lead = '\r\n\n\r\n'
  const r = request(`${lead}GET / HTTP/1.1\r\n\r\n`)
  t.equal(r.kind === 'head' && r.size, lead.length + 18, 'CRLF and bare LF lines are skipped and counted in size')
  t.same(request('\r\n\r\n'), { kind: 'partial' }, 'only empty lines so far: partial')
  t.same(request('\rGET / HTTP/1.1\r\n\r\n'), { kind: 'invalid', status: 400, reason: 'bare CR before the start line' })
  t.same(request('\r'), { kind: 'partial' }, 'a CR at the end may yet be followed by LF')
})

t.test('request line: exactly one SP each, a token method, a VCHAR target, HTTP/1.0 or HTTP/1.1', async (t) => {
  const invalid: Record<string, [string, 400 | 505]> = {
    'two SP after the method': ['GET  / HTTP/1.1\r\n\r\n', 400],
    'two SP after the target': ['GET /  HTTP/1.1\r\n\r\n', 400],
    'HTAB as separator': ['GET\t/ HTTP/1.1\r\n\r\n', 400],
    'leading SP': [' GET / HTTP/1.1\r\n\r\n', 400],
    'leading SP after an empty line': ['\r\n / HTTP/1.1\r\n\r\n', 400],
    'no method': [' / HTTP/1.1\r\n\r\n', 400],
    'method not a token': ['GE"T / HTTP/1.1\r\n\r\n', 400],
    'method with obs-text': ['G\xe9T / HTTP/1.1\r\n\r\n', 400],
    'method of 65 bytes': [`${'A'.repeat(65)} / HTTP/1.1\r\n\r\n`, 400],
    'NUL in the target': ['GET /a\x00b HTTP/1.1\r\n\r\n', 400],
    'DEL in the target': ['GET /a\x7fb HTTP/1.1\r\n\r\n', 400],
    'obs-text in the target': ['GET /a\xffb HTTP/1.1\r\n\r\n', 400],
    'HTAB in the target': ['GET /a\tb HTTP/1.1\r\n\r\n', 400],
    'no version (HTTP/0.9)': ['GET /\r\n\r\n', 400],
    'no target': ['GET HTTP/1.1\r\n\r\n', 400],
    'junk after the version': ['GET / HTTP/1.1 x\r\n\r\n', 400],
    'lower-case version': ['GET / http/1.1\r\n\r\n', 400],
    'HTTP/1.2': ['GET / HTTP/1.2\r\n\r\n', 400],
    'HTTP/1.10': ['GET / HTTP/1.10\r\n\r\n', 400],
    'HTTP/1': ['GET / HTTP/1\r\n\r\n', 400],
    'HTTP/2 (no minor)': ['GET / HTTP/2\r\n\r\n', 400],
    'HTTP/2.0': ['GET / HTTP/2.0\r\n\r\n', 505],
    'HTTP/0.9': ['GET / HTTP/0.9\r\n\r\n', 505],
    'HTTP/3.0': ['GET / HTTP/3.0\r\n\r\n', 505],
    'bare LF after the version': ['GET / HTTP/1.1\nHost: a\r\n\r\n', 400],
    'bare CR after the version': ['GET / HTTP/1.1\rHost: a\r\n\r\n', 400],
  }
  for (const [name, [s, status]] of Object.entries(invalid)) {
    const r = request(s)
    t.equal(r.kind === 'invalid' && r.status, status, `${name}: ${status} (${r.kind === 'invalid' ? r.reason : r.kind})`)
  }
  t.ok(request(`${'A'.repeat(64)} / HTTP/1.1\r\n\r\n`).kind === 'head', 'a 64-byte method is fine')
})

t.test('field lines: token name, colon right after it, OWS, value bytes; no obs-fold', async (t) => {
  const GET = 'GET / HTTP/1.1\r\n'
  const invalid: Record<string, string> = {
    'space before the colon': 'Host : a\r\n\r\n',
    'tab before the colon': 'Host\t: a\r\n\r\n',
    'leading space on the first field': ' Host: a\r\n\r\n',
    'obs-fold with SP': 'X-A: b\r\n c\r\n\r\n',
    'obs-fold with HTAB': 'X-A: b\r\n\tc\r\n\r\n',
    'empty name': ': b\r\n\r\n',
    'no colon': 'XA\r\n\r\n',
    'quote in a name': 'X"A: b\r\n\r\n',
    'space inside a name': 'X A: b\r\n\r\n',
    'obs-text in a name': 'X\xe9: b\r\n\r\n',
    'NUL in a value': 'X-A: b\x00c\r\n\r\n',
    'DEL in a value': 'X-A: b\x7fc\r\n\r\n',
    'VT in a value': 'Transfer-Encoding: \x0bchunked\r\n\r\n',
    'ESC in a value': 'X-A: \x1b[0m\r\n\r\n',
    'bare CR in a value': 'X-A: b\rc\r\n\r\n',
    'bare LF after a field': 'X-A: b\n\r\n',
    'bare LF ending the head': 'X-A: b\r\n\n',
    'bare LF everywhere': 'X-A: b\n\n',
    'bare CR ending the head': 'X-A: b\r\n\rX',
  }
  for (const [name, s] of Object.entries(invalid)) {
    const r = request(GET + s)
    t.equal(r.kind === 'invalid' && r.status, 400, `${name}: 400 (${r.kind === 'invalid' ? r.reason : r.kind})`)
  }
  // obs-text (0x80–0xFF) is kept byte for byte as latin1.
  const h = head(request(`${GET}X-Latin: caf\xe9 \xa0\xff\r\n\r\n`), 'obs-text')
  t.same(h.raw, ['X-Latin', 'caf\xe9 \xa0\xff'], 'obs-text kept, NBSP (0xA0) is not OWS')
  t.same(Buffer.from(h.raw[1], 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xa0, 0xff]))
  t.same(head(request(`${GET}A:b\r\nB:\tc\td\t\r\n\r\n`), 'no OWS').raw, ['A', 'b', 'B', 'c\td'], 'OWS is optional, HTAB inside a value stays')
})

t.test('an invalid byte is reported at once, before the head is complete', async (t) => {
  for (const s of ['GET /a\x00', 'GET / HTTP/1.1\r\nX-A: b\x00', 'GET / HTTP/1.1\r\nX A', 'GET / HTTP/1.1\r\n ', 'GET / HTTP/3x', 'GET / HTTP/1.1x', 'GET / HTTP/1.1\r\nA: b\rc', 'GET / HTTP/1.1\r\nA: b\n']) {
    t.equal(request(s).kind, 'invalid', JSON.stringify(s))
  }
  t.same(request('GET / HTTP/2.0'), { kind: 'invalid', status: 505, reason: 'HTTP/2.0 is not supported' }, '505 as soon as the version is read')
})

t.test('fed a byte at a time: partial until the last byte, then the same head', async (t) => {
  const s = '\r\nPOST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-E:\r\n\r\n'
  t.same(new Set(prefixes(s, (b) => parseRequestHead(b, 0, LIMITS))), new Set(['partial']), 'every proper prefix is partial')
  t.same(request(s), { kind: 'head', head: { method: 'POST', target: '/x?y', versionMinor: 1, raw: ['Host', 'a', 'Content-Length', '3', 'X-E', ''] }, size: s.length })
  const res = 'HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n'
  t.same(new Set(prefixes(res, (b) => parseResponseHead(b, 0, LIMITS))), new Set(['partial']), 'every proper prefix of a response is partial')
  t.equal(response(res).kind, 'head')
})

t.test('the size limit: 431 as soon as the head passes it, even mid-line', async (t) => {
  const s = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'
  t.equal(request(s, { maxHeaderSize: s.length }).kind, 'head', 'exactly at the limit: fine')
  t.same(request(s, { maxHeaderSize: s.length - 1 }), { kind: 'invalid', status: 431, reason: 'head larger than maxHeaderSize' }, 'one byte over: 431')
  t.equal(request(s.slice(0, -1), { maxHeaderSize: s.length - 1 }).kind, 'invalid', 'the limit reached before the end arrived: 431 already')
  t.equal(request(s.slice(0, -2), { maxHeaderSize: s.length - 1 }).kind, 'partial', 'below the limit: partial')
  const endless = `GET / HTTP/1.1\r\nX-Big: ${'b'.repeat(100_000)}`
  t.equal((request(endless) as { status: number }).status, 431, 'an endless value: 431 without waiting for its end')
  t.equal((request(`GET /${'a'.repeat(20_000)}`) as { status: number }).status, 431, 'an endless target: 431')
  t.equal((request(`${'\r\n'.repeat(5000)}GET / HTTP/1.1\r\n\r\n`) as { status: number }).status, 431, 'skipped empty lines count')
  t.equal((request(`${'A'.repeat(20_000)} / HTTP/1.1\r\n\r\n`) as { status: number }).status, 400, 'a 20 kB method is 400 (too long a method), not 431')
  const h = `GET / HTTP/1.1\r\n${Array.from({ length: 3000 }, (_, i) => `a${i}: b`).join('\r\n')}\r\n\r\n`
  t.equal((request(h) as { status: number }).status, 431, '3000 small fields: 431')
  t.equal(request(h, { maxHeaderSize: 1 << 20 }).kind === 'head' && (request(h, { maxHeaderSize: 1 << 20 }) as { head: RequestHeadWire }).head.raw.length, 6000, 'and all 3000 read under a larger limit')
  const buf = bytes(`xxxx${s}`)
  t.equal(parseRequestHead(buf, 4, { maxHeaderSize: s.length }).kind, 'head', 'the limit counts from start')
  t.equal(parseResponseHead(bytes(`HTTP/1.1 200 OK\r\nX: ${'v'.repeat(100)}`), 0, { maxHeaderSize: 64 }).kind, 'invalid', 'responses too')
})

t.test('a response head: status line, reason (possibly empty), fields', async (t) => {
  t.same(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), { kind: 'head', head: { status: 200, reason: 'OK', versionMinor: 1, raw: ['Content-Length', '0'] }, size: 38 })
  t.same(head(response('HTTP/1.0 404 Not \tFound \xe9\r\n\r\n'), 'reason').reason, 'Not \tFound \xe9', 'reason: SP, HTAB, VCHAR, obs-text')
  t.same(head(response('HTTP/1.1 200 \r\n\r\n'), 'empty').reason, '', 'SP and an empty reason')
  t.same(head(response('HTTP/1.1 200\r\n\r\n'), 'no SP'), { status: 200, reason: '', versionMinor: 1, raw: [] }, 'no SP before an empty reason, as real servers send')
  t.equal(head(response('HTTP/1.1 999 X\r\n\r\n'), '999').status, 999)
  t.equal(head(response('HTTP/1.1 101 Switching Protocols\r\n\r\n'), '101').status, 101)
  t.equal(response('\r\nHTTP/1.1 200 OK\r\n\r\n').kind, 'head', 'an empty line before the status line is skipped')
  const invalid: Record<string, string> = {
    'two-digit status': 'HTTP/1.1 20 OK\r\n\r\n',
    'four-digit status': 'HTTP/1.1 2000 OK\r\n\r\n',
    'status below 100': 'HTTP/1.1 099 OK\r\n\r\n',
    'status with a letter': 'HTTP/1.1 2x0 OK\r\n\r\n',
    'two SP before the status': 'HTTP/1.1  200 OK\r\n\r\n',
    'NUL in the reason': 'HTTP/1.1 200 O\x00K\r\n\r\n',
    'bare LF ending the status line': 'HTTP/1.1 200 OK\n\r\n',
    'bare CR in the reason': 'HTTP/1.1 200 O\rK\r\n\r\n',
    'lower-case version': 'http/1.1 200 OK\r\n\r\n',
    'obs-fold (refused in responses too)': 'HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n',
    'space before the colon': 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n',
    'bare LF in the fields': 'HTTP/1.1 200 OK\r\nA: b\n\r\n',
    'HTTP/1.2': 'HTTP/1.2 200 OK\r\n\r\n',
  }
  for (const [name, s] of Object.entries(invalid)) {
    const r = response(s)
    t.equal(r.kind === 'invalid' && r.status, 400, `${name}: 400 (${r.kind === 'invalid' ? r.reason : r.kind})`)
  }
  t.equal((response('HTTP/2.0 200 OK\r\n\r\n') as { status: number }).status, 505, 'HTTP/2.0: 505')
})

t.test('fields.ts: isToken and parseContentLength', async (t) => {
  t.ok(isToken("!#$%&'*+-.^_`|~09azAZ"))
  for (const s of ['', 'a b', 'a:', 'a"', 'a\x00', 'é', 'a\u0100', '(', '@', '[', '{', '/']) t.notOk(isToken(s), JSON.stringify(s))
  t.equal(parseContentLength('0'), 0)
  t.equal(parseContentLength('1234'), 1234)
  t.equal(parseContentLength('007'), 7, 'leading zeros are digits')
  t.equal(parseContentLength(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER)
  t.equal(parseContentLength(`000000000000${Number.MAX_SAFE_INTEGER}`), Number.MAX_SAFE_INTEGER)
  for (const s of ['', '+5', '-5', '5, 5', '5,5', '5 5', ' 5', '5 ', '0x5', '5.0', '1e3', '9007199254740992', '99999999999999999999999', '٣']) {
    t.equal(parseContentLength(s), -1, JSON.stringify(s))
  }
})

t.test('the serializers', async (t) => {
  t.equal(serializeRequestHead('GET', '/a?b', ['Host', 'svc', 'X-A', 'b c']), 'GET /a?b HTTP/1.1\r\nHost: svc\r\nX-A: b c\r\n\r\n')
  t.equal(serializeRequestHead('GET', '/', []), 'GET / HTTP/1.1\r\n\r\n')
  t.equal(serializeResponseHead(200, 'OK', ['Content-Length', '0']), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
  t.equal(serializeResponseHead(204, '', []), 'HTTP/1.1 204 \r\n\r\n')
  t.equal(chunkHeader(0x4000), '4000\r\n')
  t.equal(chunkHeader(1), '1\r\n')
  t.equal(lastChunk(), '0\r\n\r\n')
  t.equal(lastChunk([]), '0\r\n\r\n')
  t.equal(lastChunk(['grpc-status', '0', 'grpc-message', '']), '0\r\ngrpc-status: 0\r\ngrpc-message: \r\n\r\n')
  // What the serializers write, the parsers read back.
  const fields = ['Host', 'svc', 'X-Latin', 'caf\xe9']
  const back = parseRequestHead(bytes(serializeRequestHead('PUT', '/p', fields)), 0, LIMITS)
  t.same(back.kind === 'head' && back.head, { method: 'PUT', target: '/p', versionMinor: 1, raw: fields })
  const res = parseResponseHead(bytes(serializeResponseHead(503, 'Service Unavailable', fields)), 0, LIMITS)
  t.same(res.kind === 'head' && res.head, { status: 503, reason: 'Service Unavailable', versionMinor: 1, raw: fields })
  const body = `${chunkHeader(5)}hello\r\n${lastChunk(['X-T', 'v'])}`
  const d = decode(body)
  t.same([d.data, d.done, d.trailers, d.end], ['hello', true, ['X-T', 'v'], body.length])
})

interface Decoded {
  readonly data: string
  readonly done: boolean
  readonly error: string | null
  readonly trailers: string[]
  /** What the last feed returned. */
  readonly end: number
  /** Every data piece was a subarray of the buffer fed. */
  readonly noCopies: boolean
}

/** Feeds `s` to a new decoder in pieces of `step` bytes (whole when 0), from `offset` in the first. */
function decode(s: string, step = 0, maxTrailerSize = 1024): Decoded {
  const decoder = new ChunkedDecoder({ maxTrailerSize })
  const all = bytes(s)
  const pieces: string[] = []
  let noCopies = true
  let end = 0
  for (let at = 0; at < all.length; at += step || all.length) {
    const piece = all.subarray(at, step === 0 ? all.length : at + step)
    end = decoder.feed(piece, 0, (data) => {
      if (data.buffer !== piece.buffer || data.byteOffset < piece.byteOffset || data.byteOffset + data.length > piece.byteOffset + piece.length) noCopies = false
      pieces.push(data.toString('latin1'))
    })
    if (end === -1) break
    if (decoder.done) {
      end += at
      break
    }
  }
  return { data: pieces.join(''), done: decoder.done, error: decoder.error, trailers: decoder.trailers, end, noCopies }
}

t.test('chunked: sizes, extensions, data, the last chunk and trailers; whole and a byte at a time', async (t) => {
  const cases: Record<string, [string, string, string[]]> = {
    'one chunk': ['5\r\nhello\r\n0\r\n\r\n', 'hello', []],
    'several chunks, hex sizes in both cases': ['1\r\na\r\nA\r\n0123456789\r\nb\r\n0123456789A\r\n0\r\n\r\n', 'a01234567890123456789A', []],
    'no data': ['0\r\n\r\n', '', []],
    'leading zeros': ['0005\r\nhello\r\n000\r\n\r\n', 'hello', []],
    'extensions': ['5;a\r\nhello\r\n3;a=b;c="d;\\"e\\\\ \t\xe9"\r\nabc\r\n0;last=1\r\n\r\n', 'helloabc', []],
    'trailers': ['2\r\nhi\r\n0\r\nX-T: a b \r\ngrpc-status:0\r\nX-E:\r\n\r\n', 'hi', ['X-T', 'a b', 'grpc-status', '0', 'X-E', '']],
    'obs-text in a trailer': ['0\r\nX-L: caf\xe9\r\n\r\n', '', ['X-L', 'caf\xe9']],
    'binary data': ['4\r\n\r\n\x00\xff\r\n0\r\n\r\n', '\r\n\x00\xff', []],
  }
  for (const [name, [s, data, trailers]] of Object.entries(cases)) {
    for (const step of [0, 1, 2, 3, 7]) {
      const d = decode(`${s}NEXT`, step)
      t.same({ data: d.data, done: d.done, error: d.error, trailers: d.trailers, end: d.end, noCopies: d.noCopies }, { data, done: true, error: null, trailers, end: s.length, noCopies: true }, `${name}, pieces of ${step || 'all'}`)
    }
  }
})

t.test('chunked: partial bodies are not done, and a done decoder consumes nothing more', async (t) => {
  const s = '5\r\nhello\r\n0\r\nX: y\r\n\r\n'
  for (let n = 0; n < s.length; n++) {
    const d = decode(s.slice(0, n), 1)
    if (d.done || d.error !== null) t.fail(`prefix of ${n} bytes: ${JSON.stringify(d)}`)
  }
  const decoder = new ChunkedDecoder({ maxTrailerSize: 100 })
  const buf = bytes(`${s}GET`)
  t.equal(decoder.feed(buf, 0, () => {}), s.length, 'returns the index just past the body')
  t.equal(decoder.feed(buf, s.length, () => {}), s.length, 'done: consumes nothing more')
  const offset = new ChunkedDecoder({ maxTrailerSize: 100 })
  const pieces: string[] = []
  t.equal(offset.feed(bytes(`xyz${s}`), 3, (d) => pieces.push(d.toString())), s.length + 3, 'from an offset')
  t.same(pieces, ['hello'])
})

t.test('chunked: framing errors', async (t) => {
  const invalid: Record<string, string> = {
    'negative size': '-1\r\nhello\r\n0\r\n\r\n',
    'empty size line': '\r\nhello\r\n0\r\n\r\n',
    '0x prefix': '0x5\r\nhello\r\n0\r\n\r\n',
    'overflowing size': 'fffffffffffffffff\r\nhello\r\n0\r\n\r\n',
    '14 hex digits (more than the reference reader takes)': '00000000000005\r\nhello\r\n0\r\n\r\n',
    'space before the size': ' 5\r\nhello\r\n0\r\n\r\n',
    'space after the size': '5 \r\nhello\r\n0\r\n\r\n',
    'space before an extension': '5 ;a=b\r\nhello\r\n0\r\n\r\n',
    'space after ";"': '5; a=b\r\nhello\r\n0\r\n\r\n',
    'space around "="': '5;a = b\r\nhello\r\n0\r\n\r\n',
    'empty extension name': '5;\r\nhello\r\n0\r\n\r\n',
    'extension name not a token': '5;a@b\r\nhello\r\n0\r\n\r\n',
    'empty extension value': '5;a=\r\nhello\r\n0\r\n\r\n',
    'unterminated quoted-string': '5;a="b\r\nhello\r\n0\r\n\r\n',
    'junk after a quoted-string': '5;a="b"c\r\nhello\r\n0\r\n\r\n',
    'NUL in a quoted-string': '5;a="b\x00"\r\nhello\r\n0\r\n\r\n',
    'bare LF after the size': '5\nhello\r\n0\r\n\r\n',
    'bare LF inside an extension': '5;a\nb\r\nhello\r\n0\r\n\r\n',
    'bare CR after the size': '5\rhello\r\n0\r\n\r\n',
    'chunk longer than its size': '3\r\nhello\r\n0\r\n\r\n',
    'chunk shorter than its size (then a CRLF where data ends)': '6\r\nhello\r\n0\r\n\r\n',
    'bare LF after chunk data': '5\r\nhello\n0\r\n\r\n',
    'no CRLF after chunk data': '5\r\nhello0\r\n\r\n',
    'bad second chunk size': '5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n',
    'malformed trailer (space in the name)': '5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n',
    'trailer with a space before the colon': '0\r\nX : y\r\n\r\n',
    'trailer without a colon': '0\r\nXY\r\n\r\n',
    'trailer obs-fold': '0\r\nX: y\r\n z\r\n\r\n',
    'NUL in a trailer value': '0\r\nX: y\x00\r\n\r\n',
    'bare LF after a trailer': '0\r\nX: y\n\r\n',
    'bare LF ending the trailers': '0\r\n\n',
    'bare CR ending the trailers': '0\r\n\rx',
  }
  for (const [name, s] of Object.entries(invalid)) {
    for (const step of [0, 1]) {
      const d = decode(s, step)
      t.ok(d.end === -1 && d.error !== null && !d.done, `${name}${step ? ', a byte at a time' : ''}: refused (${d.error})`)
    }
  }
  const decoder = new ChunkedDecoder({ maxTrailerSize: 100 })
  t.equal(decoder.feed(bytes('x'), 0, () => {}), -1)
  t.equal(decoder.feed(bytes('0\r\n\r\n'), 0, () => {}), -1, 'a failed decoder stays failed')
  t.equal(decoder.error, 'chunk size is not hex digits')
  for (const s of ['5 ;a\r\n', '5; a\r\n', '5;a =b\r\n', '5;a= b\r\n', '5;a="b" \r\n', '5\t\r\n']) {
    t.equal(decode(s).error, 'whitespace in a chunk size line', `BWS refused with its own reason: ${JSON.stringify(s)}`)
  }
  t.equal(decode(`5;${'a'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`).error, 'chunk size line longer than 4096 bytes', 'an endless extension is cut')
})

t.test('chunked: the trailer size limit', async (t) => {
  const fields = 'X-A: 12345\r\nX-B: 6\r\n'
  t.ok(decode(`0\r\n${fields}\r\n`, 0, fields.length).done, 'exactly at the limit (field lines with their CRLFs)')
  t.equal(decode(`0\r\n${fields}\r\n`, 0, fields.length - 1).error, 'trailer section larger than maxTrailerSize')
  t.equal(decode(`0\r\n${fields}`, 1, fields.length - 1).error, 'trailer section larger than maxTrailerSize', 'refused as soon as it passes, a byte at a time')
  t.ok(decode('0\r\n\r\n', 0, 0).done, 'maxTrailerSize 0: no trailers, and an empty trailer section is fine')
  t.equal(decode('0\r\nX: y\r\n\r\n', 0, 0).done, false, 'maxTrailerSize 0: a trailer is refused')
})
