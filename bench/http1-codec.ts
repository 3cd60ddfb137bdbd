// CPU cost of spoke's HTTP/1.1 codec (src/http1/) on its hot path: `node bench/http1-codec.ts`.
// Reports ns per parse of a typical request head and a typical (nginx-like) response head, and
// MB/s decoding a chunked body of 16 KiB (and 1 KiB) chunks: the codec alone, no sockets.
// The machine is shared: each figure is the best of several rounds, the least disturbed one.
import { ChunkedDecoder, chunkHeader, lastChunk } from '../src/http1/chunked.ts'
import { parseRequestHead, parseResponseHead } from '../src/http1/head.ts'

const ROUNDS = 7
const LIMITS = { maxHeaderSize: 16 * 1024 }

// What an app's HTTP client sends: ~150 bytes, 6 fields.
const REQUEST = Buffer.from([
  'GET / HTTP/1.1',
  'Host: orders.svc:8080',
  'User-Agent: curl/8.5.0',
  'Accept: */*',
  'Accept-Encoding: gzip, br',
  'Connection: keep-alive',
  'X-Request-Id: 7f3a9c2e-5b1d',
  '', '',
].join('\r\n'), 'latin1')

// A browser-like one: longer values, ~300 bytes.
const LARGER = Buffer.from([
  'GET /api/v1/orders?id=12345 HTTP/1.1',
  'Host: orders.default.svc.cluster.local:8080',
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Accept: */*',
  'Accept-Encoding: gzip, deflate, br',
  'Connection: keep-alive',
  'X-Request-Id: 7f3a9c2e-5b1d-4e8f-a6c0-1d2e3f4a5b6c',
  '', '',
].join('\r\n'), 'latin1')

const RESPONSE = Buffer.from([
  'HTTP/1.1 200 OK',
  'Server: nginx/1.26.2',
  'Date: Tue, 14 Oct 2025 09:21:07 GMT',
  'Content-Type: application/json',
  'Content-Length: 1234',
  'Connection: keep-alive',
  'Cache-Control: no-cache',
  'ETag: "66e1a2b3-4d2"',
  '', '',
].join('\r\n'), 'latin1')

/** The best ns per call of `fn` over ROUNDS rounds of `n` calls. */
function nsPerCall(n: number, fn: () => unknown): number {
  let best = Infinity
  let sink = 0
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) if (fn() !== null) sink++
    const ns = Number(process.hrtime.bigint() - t0) / n
    if (ns < best) best = ns
  }
  if (sink === 0) throw new Error('nothing parsed')
  return best
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench input did not parse: ${what}`)
}

const req = parseRequestHead(REQUEST, 0, LIMITS)
if (req.kind !== 'head' || req.head.raw.length !== 12) throw new Error('the bench request does not parse')
const res = parseResponseHead(RESPONSE, 0, LIMITS)
if (res.kind !== 'head' || res.head.raw.length !== 14) throw new Error('the bench response does not parse')

// Warm up so that the figures are the optimized code's.
nsPerCall(200_000, () => parseRequestHead(REQUEST, 0, LIMITS))
nsPerCall(200_000, () => parseResponseHead(RESPONSE, 0, LIMITS))
const requestNs = nsPerCall(1_000_000, () => parseRequestHead(REQUEST, 0, LIMITS))
const largerNs = nsPerCall(1_000_000, () => parseRequestHead(LARGER, 0, LIMITS))
const responseNs = nsPerCall(1_000_000, () => parseResponseHead(RESPONSE, 0, LIMITS))
// A head still missing its last byte: what a caller pays for each incomplete read.
const partial = REQUEST.subarray(0, REQUEST.length - 1)
const partialNs = nsPerCall(1_000_000, () => parseRequestHead(partial, 0, LIMITS))

// 4 MiB of body in chunks of `size` bytes, fed as 64 KiB reads (a socket's usual read size).
function chunkedWire(size: number): Buffer {
  const pieces: Buffer[] = []
  for (let sent = 0; sent < 4 * 1024 * 1024; sent += size) pieces.push(Buffer.from(chunkHeader(size), 'latin1'), Buffer.alloc(size, 0x61), Buffer.from('\r\n', 'latin1'))
  pieces.push(Buffer.from(lastChunk(), 'latin1'))
  return Buffer.concat(pieces)
}
let received = 0
const count = (data: Buffer): void => {
  received += data.length
}
/** MB/s and ns per chunk decoding 4 MiB in chunks of `size` bytes. */
function chunkedFigures(size: number): { mbPerS: number; nsPerChunk: number } {
  const wire = chunkedWire(size)
  const reads: Buffer[] = []
  for (let at = 0; at < wire.length; at += 64 * 1024) reads.push(wire.subarray(at, at + 64 * 1024))
  const decodeBody = (): ChunkedDecoder => {
    const decoder = new ChunkedDecoder({ maxTrailerSize: 16 * 1024 })
    for (const read of reads) decoder.feed(read, 0, count)
    return decoder
  }
  received = 0
  check(decodeBody().done && received === 4 * 1024 * 1024, `chunked body of ${size}-byte chunks`)
  nsPerCall(100, decodeBody)
  const ns = nsPerCall(200, decodeBody)
  return { mbPerS: (4 * 1024 * 1024) / ns * 1000, nsPerChunk: ns / (4 * 1024 * 1024 / size) }
}
const big = chunkedFigures(16 * 1024)
const small = chunkedFigures(1024)
const wire = chunkedWire(16 * 1024)

// The same body one byte per feed: the state machine's worst case (every byte a separate read).
const bytes: Buffer[] = []
for (let i = 0; i < 64 * 1024; i++) bytes.push(wire.subarray(i, i + 1))
function decodeBytes(): ChunkedDecoder {
  const decoder = new ChunkedDecoder({ maxTrailerSize: 16 * 1024 })
  for (const byte of bytes) decoder.feed(byte, 0, count)
  return decoder
}
const byteNs = nsPerCall(20, decodeBytes) / bytes.length

console.log(`node ${process.version}, best of ${ROUNDS} rounds`)
console.log(`request head  (${REQUEST.length} bytes, ${req.head.raw.length / 2} fields): ${requestNs.toFixed(0)} ns per parse`)
console.log(`request head  (${LARGER.length} bytes, browser-like, 6 fields): ${largerNs.toFixed(0)} ns per parse`)
console.log(`response head (${RESPONSE.length} bytes, ${res.head.raw.length / 2} fields): ${responseNs.toFixed(0)} ns per parse`)
console.log(`request head missing its last byte (partial): ${partialNs.toFixed(0)} ns per call`)
console.log(`chunked body, 16 KiB chunks fed as 64 KiB reads: ${big.mbPerS.toFixed(0)} MB/s (${big.nsPerChunk.toFixed(0)} ns per chunk; data passed on as subarrays, never copied)`)
console.log(`chunked body, 1 KiB chunks fed as 64 KiB reads: ${small.mbPerS.toFixed(0)} MB/s (${small.nsPerChunk.toFixed(0)} ns per chunk)`)
console.log(`chunked body fed one byte per call: ${byteNs.toFixed(1)} ns per byte`)
