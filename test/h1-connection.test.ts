// spoke's own HTTP/1.1 connection to a pod, at the edges of the protocol: answers a pod scripted
// byte by byte over raw sockets frames in every way RFC 9112 §6.3 allows (and some it refuses),
// and the connection must hand the engine exactly the answer, or an error, never a guess; and it
// must know whether the connection can carry the next request.
import net from 'node:net'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import type { DispatchController } from '../src/transport/connection.ts'
import { Call, get, ScriptedPod, sleep, startPool, waitFor, type TestPool } from './helpers/scripted-pod.ts'

const HOST = '127.0.0.2'

async function podAndPool(t: Test): Promise<{ pod: ScriptedPod; tp: TestPool }> {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  return { pod, tp }
}

/** Sends a GET, has the pod answer it with `bytes`, and waits for the final callback. */
async function answered(tp: TestPool, pod: ScriptedPod, bytes: string, method = 'GET'): Promise<Call> {
  const call = get(tp.pool, '/', method)
  ;(await pod.next()).write(bytes)
  return call.settled()
}

/** The next request goes out on connection `n` (1: the first, still open) and is answered. */
async function nextOn(t: Test, tp: TestPool, pod: ScriptedPod, n: number, what: string): Promise<void> {
  await waitFor(() => tp.pool.connected, 2000, 'a connection taking requests')
  const call = get(tp.pool, '/next')
  const request = await pod.next()
  t.equal(request.connection, n, what)
  request.ok('next')
  await call.settled()
  t.equal(call.body, 'next')
}

t.test('chunked with trailers: the body whole, the trailers as headers, and the connection kept', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = await answered(tp, pod, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n')
  t.same(call.events, ['start', 'head 200', 'end'])
  t.equal(call.body, 'hello world')
  t.same(call.trailers, { 'x-checksum': 'abc', 'x-multi': ['1', '2'] })
  t.equal(call.headers['transfer-encoding'], 'chunked', 'headers as the pod sent them, lower-case')
  await nextOn(t, tp, pod, 1, 'on the same connection')
  t.same(tp.closed, [])
})

t.test('no Content-Length, no chunked: the body runs until the pod closes, and the connection ends with it', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = get(tp.pool)
  const request = await pod.next()
  request.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ')
  await waitFor(() => call.body === 'until ', 2000, 'the first bytes')
  request.write('the end')
  await sleep(20)
  t.equal(call.finals, 0, 'not over before the FIN')
  request.end()
  await call.settled()
  t.same(call.events, ['start', 'head 200', 'end'])
  t.equal(call.body, 'until the end')
  await nextOn(t, tp, pod, 2, 'on a new connection')
  t.same(tp.closed, ['remote_close'])
})

t.test('a close-delimited body cut by a reset is an error, not an answer', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = get(tp.pool)
  const request = await pod.next()
  request.write('HTTP/1.1 200 OK\r\n\r\npartial')
  await waitFor(() => call.body === 'partial', 2000, 'the first bytes')
  request.reset()
  await call.settled()
  t.equal(call.failure?.code, 'reset')
})

t.test('interim answers (100, 103) are skipped; the final answer is the one forwarded', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = await answered(tp, pod, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  t.same(call.events, ['start', 'head 200', 'end'])
  t.equal(call.body, 'ok')
  t.equal(call.headers.link, undefined, 'no header of the interim answer')
  await nextOn(t, tp, pod, 1, 'on the same connection')
})

t.test('101 Switching Protocols on a request that asked for no upgrade is the pod failing', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = await answered(tp, pod, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  t.equal(call.failure?.code, 'reset')
  t.equal(call.status, 0, 'no head reached the handler')
  await nextOn(t, tp, pod, 2, 'on a new connection')
  t.same(tp.closed, ['error'])
})

t.test('an answer to HEAD ends with its head, whatever its Content-Length says', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = await answered(tp, pod, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', 'HEAD')
  t.same(call.events, ['start', 'head 200', 'end'])
  t.equal(call.headers['content-length'], '100')
  t.equal(call.body, '')
  await nextOn(t, tp, pod, 1, 'on the same connection')
})

t.test('204 and 304 have no body, even with a Content-Length or chunked', async (t) => {
  const { pod, tp } = await podAndPool(t)
  for (const answer of ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n']) {
    const call = await answered(tp, pod, answer)
    t.same(call.events, ['start', `head ${answer.slice(9, 12)}`, 'end'], JSON.stringify(answer))
    t.equal(call.body, '')
  }
  await nextOn(t, tp, pod, 1, 'all on the same connection')
  t.same(tp.closed, [])
})

t.test('framing that two readers could read two ways is refused as the pod failing, never forwarded', async (t) => {
  const cases: Record<string, string> = {
    'two Content-Length fields': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
    'two Content-Length fields that differ': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!',
    'a list of lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok',
    'a signed length': 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok',
    'Content-Length and Transfer-Encoding': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    'chunked in an HTTP/1.0 answer': 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    'a malformed chunk size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n',
    'a malformed head (space before the colon)': 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok',
    'a head of 20 kB': `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`,
  }
  const { pod, tp } = await podAndPool(t)
  let n = 1
  for (const [name, answer] of Object.entries(cases)) {
    const call = await answered(tp, pod, answer)
    t.equal(call.failure?.code, 'reset', `${name}: reset`)
    t.notOk(call.events.includes('end'), `${name}: never a complete answer`)
    await waitFor(() => tp.closed.length === n, 2000, `${name}: the connection closed`)
    n++
  }
  t.same(new Set(tp.closed), new Set(['error']), 'each connection closed as an error')
})

t.test('a body shorter than its Content-Length or its chunks (the pod closed) is an error', async (t) => {
  const { pod, tp } = await podAndPool(t)
  for (const partial of ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhalf', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n', 'HTTP/1.1 200 OK\r\nContent-Le']) {
    await waitFor(() => tp.pool.connected, 2000, 'a connection')
    const call = get(tp.pool)
    const request = await pod.next()
    request.write(partial)
    await sleep(20)
    request.end()
    await call.settled()
    t.equal(call.failure?.code, 'reset', JSON.stringify(partial))
    t.notOk(call.events.includes('end'), 'never a complete answer')
  }
})

t.test('bytes after the end of an answer: the answer is delivered, and the broken connection closes as an error', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = await answered(tp, pod, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
  t.same(call.events, ['start', 'head 200', 'end'])
  t.equal(call.body, 'ok')
  await nextOn(t, tp, pod, 2, 'the next request on a new connection')
  t.same(tp.closed, ['error'])
})

t.test('bytes from the pod with no request in flight: the connection closes as an error', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = await answered(tp, pod, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  t.equal(call.body, 'ok')
  const [socket] = pod.sockets
  socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
  await waitFor(() => tp.closed.length === 1, 2000, 'the connection closed')
  t.same(tp.closed, ['error'])
  await nextOn(t, tp, pod, 2, 'the next request on a new connection')
})

t.test('every byte of an answer in its own segment', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = get(tp.pool)
  const request = await pod.next()
  request.socket.setNoDelay(true)
  const answer = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n5\r\nhello\r\n1;x="y"\r\n!\r\n0\r\nX-T: done\r\n\r\n'
  for (const byte of answer) {
    request.write(byte)
    await sleep(1)
  }
  await call.settled()
  t.same(call.events, ['start', 'head 200', 'end'])
  t.equal(call.headers['x-a'], 'b')
  t.equal(call.body, 'hello!')
  t.same(call.trailers, { 'x-t': 'done' })
  await nextOn(t, tp, pod, 1, 'on the same connection')
})

t.test('whether the connection carries another request: Connection, the HTTP version, the Keep-Alive hint', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['HTTP/1.1', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', true],
    ['HTTP/1.1, Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', false],
    ['HTTP/1.1, Connection: Keep-Alive, Close', 'HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\nok', false],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', false],
    ['HTTP/1.0, Connection: keep-alive', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', true],
    ['Keep-Alive: timeout=1 (too short to reuse)', 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok', false],
    ['Keep-Alive: timeout=60', 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=60, max=100\r\nContent-Length: 2\r\n\r\nok', true],
  ]
  for (const [name, answer, kept] of cases) {
    const { pod, tp } = await podAndPool(t)
    const call = await answered(tp, pod, answer)
    t.equal(call.body, 'ok', `${name}: answered`)
    await nextOn(t, tp, pod, kept ? 1 : 2, `${name}: ${kept ? 'kept' : 'closed after the answer'}`)
    t.same(tp.closed, kept ? [] : ['remote_close'], `${name}: ${kept ? 'not closed' : 'closed as the pod\'s doing'}`)
  }
})

t.test('the request head: the Host first, the framing spoke chooses, a held body in the same write', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const segments: string[] = []
  pod.onConnection = (socket) => socket.on('data', (chunk: Buffer) => segments.push(chunk.toString('latin1')))
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const call = new Call()
  // The engine's list has the Host last, and the app's Content-Length, which spoke sets again.
  tp.pool.dispatch({ method: 'POST', path: '/p?q=1', headers: ['X-A', 'b', 'Content-Length', '5', 'host', 'pod.test'], body: Buffer.from('hello') }, call)
  const request = await pod.next()
  t.equal(request.head, 'POST /p?q=1 HTTP/1.1\r\nhost: pod.test\r\nX-A: b\r\ncontent-length: 5')
  t.same(segments, [`${request.head}\r\n\r\nhello`], 'one segment: head and body written together')
  request.ok()
  await call.settled()
  t.equal(call.status, 200)

  const empty = new Call()
  tp.pool.dispatch({ method: 'POST', path: '/', headers: ['host', 'pod.test'], body: null }, empty)
  const second = await pod.next()
  t.equal(second.head, 'POST / HTTP/1.1\r\nhost: pod.test\r\ncontent-length: 0', 'a POST without a body says so')
  second.ok()
  await empty.settled()
})

t.test('a streamed body: chunked without a Content-Length, its head with its first bytes', async (t) => {
  const server = net.createServer()
  let raw = ''
  let podSocket: net.Socket | null = null
  server.on('connection', (socket) => {
    podSocket = socket
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1')
      if (raw.endsWith('0\r\n\r\n')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  t.teardown(() => { podSocket?.destroy(); server.close() })
  const tp = startPool(t, { host: HOST, port: (server.address() as net.AddressInfo).port })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const body = new PassThrough()
  const call = new Call()
  tp.pool.dispatch({ method: 'PUT', path: '/up', headers: ['host', 'pod.test'], body }, call)
  await sleep(30)
  t.equal(raw, '', 'nothing written before the body\'s first bytes')
  body.write('abc')
  await waitFor(() => raw.includes('abc'), 2000, 'the first chunk')
  t.equal(raw, 'PUT /up HTTP/1.1\r\nhost: pod.test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n')
  body.end('defgh')
  await call.settled()
  t.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), '3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n')
  t.equal(call.body, 'done')
})

t.test('a streamed body is read only as fast as the pod takes it', async (t) => {
  const total = 64 * 1024 * 1024
  const headLength = `POST / HTTP/1.1\r\nhost: pod.test\r\ncontent-length: ${total}\r\n\r\n`.length
  const server = net.createServer()
  let podSocket: net.Socket | null = null
  let received = 0
  server.on('connection', (socket) => {
    podSocket = socket
    // The pod reads nothing at first.
    socket.pause()
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received === headLength + total) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  t.teardown(() => { podSocket?.destroy(); server.close() })
  const tp = startPool(t, { host: HOST, port: (server.address() as net.AddressInfo).port })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const body = new PassThrough()
  const call = new Call()
  tp.pool.dispatch({ method: 'POST', path: '/', headers: ['host', 'pod.test', 'content-length', String(total)], body }, call)
  const piece = Buffer.alloc(256 * 1024, 0x61)
  let written = 0
  /** Writes until the body's stream stops draining for 300 ms (or all is written); true if it did. */
  const writeUntilStuck = async (): Promise<boolean> => {
    while (written < total) {
      written += piece.length
      if (body.write(piece)) continue
      const drained = await Promise.race([new Promise<boolean>((r) => body.once('drain', () => r(true))), sleep(300).then(() => false)])
      if (!drained) return true
    }
    return false
  }
  t.ok(await writeUntilStuck(), 'the app\'s stream stops draining while the pod reads nothing')
  t.ok(written < total / 2, `after ${written} of ${total} bytes: what the sockets hold, not the body`)
  podSocket!.resume()
  await new Promise((r) => body.once('drain', r))
  t.notOk(await writeUntilStuck(), 'and drains again once the pod reads')
  body.end()
  await call.settled(10_000)
  t.equal(call.body, 'ok')
  t.equal(received, headLength + total, 'the pod got the whole request')
})

t.test('bytes from the pod before a streamed request\'s head went out: not sent, and its body left unread', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const body = new PassThrough()
  const call = new Call()
  tp.pool.dispatch({ method: 'POST', path: '/', headers: ['host', 'pod.test'], body }, call)
  await sleep(20)
  const [socket] = pod.sockets
  socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
  await call.settled()
  t.equal(call.failure?.code, 'not_sent')
  t.equal(body.readableDidRead, false, 'none of the body was read: it can go elsewhere whole')
  await nextOn(t, tp, pod, 2, 'the next request on a new connection')
})

t.test('a streamed body with a Content-Length is sent as is, and one that ends short never completes at the pod', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const body = new PassThrough()
  const call = new Call()
  tp.pool.dispatch({ method: 'POST', path: '/', headers: ['host', 'pod.test', 'content-length', '10'], body }, call)
  body.write('12345')
  await waitFor(() => pod.accepted === 1 && pod.sockets.size === 1, 2000, 'the pod')
  body.end()
  await call.settled()
  t.equal(call.failure?.code, 'reset', 'the attempt fails')
  await waitFor(() => tp.closed.length === 1, 2000, 'the connection closed, so that the pod sees the request cut off')
  t.equal(pod.requests.length, 0, 'no complete request at the pod')
})

t.test('a header spoke cannot put on the wire is refused as invalid_request, and the connection stays', async (t) => {
  const { pod, tp } = await podAndPool(t)
  for (const headers of [['host', 'pod.test', 'x-a', 'b\r\nx-injected: 1'], ['host', 'pod.test', 'x a', 'b'], ['host', 'pod.test', 'x-a', 'b\x01']]) {
    const call = new Call()
    tp.pool.dispatch({ method: 'GET', path: '/', headers }, call)
    await call.settled()
    t.equal(call.failure?.code, 'invalid_request', JSON.stringify(headers))
  }
  await nextOn(t, tp, pod, 1, 'the connection still serves')
  t.same(tp.closed, [])
  t.equal(pod.requests.length, 1, 'only the valid request reached the pod')
})

t.test('pause() stops reading the pod until resume()', async (t) => {
  const { pod, tp } = await podAndPool(t)
  const call = new Call()
  let controller: DispatchController | null = null
  call.onResponseStart = function (c, status, headers) {
    Call.prototype.onResponseStart.call(this, c, status, headers)
    controller = c
    c.pause()
  }
  tp.pool.dispatch({ method: 'GET', path: '/', headers: ['host', 'pod.test'] }, call)
  const request = await pod.next()
  request.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n')
  await waitFor(() => call.status === 200, 2000, 'the head')
  request.write('body')
  await sleep(50)
  t.equal(call.body, '', 'nothing read while paused')
  controller!.resume()
  await call.settled()
  t.equal(call.body, 'body')
  await nextOn(t, tp, pod, 1, 'on the same connection')
})
