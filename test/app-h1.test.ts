// spoke's own HTTP/1.1 server on the app side (src/proxy/app-connection.ts, h1-downstream.ts):
// the choices it makes that Node's server used to make for it, seen from raw sockets. Pipelined
// requests answered in order and one at a time, heads and bodies arriving a byte at a time,
// 100 Continue, HTTP/1.0 framing and keep-alive, HEAD and 204 answers, the fields spoke adds,
// and the idle timeout between requests.
import net from 'node:net'
import t from 'tap'
import { startCluster, waitFor } from './helpers/harness.ts'
import { exchange, statuses } from './helpers/raw.ts'

interface Answer {
  readonly status: number
  /** Lower-case names. */
  readonly headers: Map<string, string[]>
  readonly body: string
}

/**
 * The answers in a raw reply, framed as a client would frame them (RFC 9112 §6.3): no body for
 * HEAD (`heads` lists which answers are to HEAD requests), 1xx, 204 and 304; else chunked,
 * Content-Length, or the rest of the reply. 100 Continue is kept as an answer of its own.
 */
function answers(text: string, heads: ReadonlySet<number> = new Set()): Answer[] {
  const out: Answer[] = []
  let pos = 0
  while (pos < text.length) {
    const end = text.indexOf('\r\n\r\n', pos)
    if (end === -1) throw new Error(`a head cut short: ${JSON.stringify(text.slice(pos, pos + 200))}`)
    const [line, ...fields] = text.slice(pos, end).split('\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(line)?.[1])
    const headers = new Map<string, string[]>()
    for (const f of fields) {
      const colon = f.indexOf(':')
      const name = f.slice(0, colon).toLowerCase()
      headers.set(name, [...(headers.get(name) ?? []), f.slice(colon + 1).trim()])
    }
    pos = end + 4
    let body = ''
    const interim = status < 200
    if (!interim && !heads.has(out.filter((a) => a.status >= 200).length) && status !== 204 && status !== 304) {
      if (headers.get('transfer-encoding')?.[0] === 'chunked') {
        for (;;) {
          const lineEnd = text.indexOf('\r\n', pos)
          const size = parseInt(text.slice(pos, lineEnd), 16)
          pos = lineEnd + 2
          if (size === 0) {
            pos = text.indexOf('\r\n\r\n', pos - 2) + 4
            break
          }
          body += text.slice(pos, pos + size)
          pos += size + 2
        }
      } else if (headers.has('content-length')) {
        const length = Number(headers.get('content-length')![0])
        body = text.slice(pos, pos + length)
        pos += length
      } else {
        body = text.slice(pos)
        pos = text.length
      }
    }
    out.push({ status, headers, body })
  }
  return out
}

/** A raw connection: write, and read what arrived so far, until it closes. */
function connect(port: number): Promise<{ socket: net.Socket; received: () => string; closed: () => boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve({ socket, received: () => text, closed: () => closed }))
    let text = ''
    let closed = false
    socket.on('data', (c: Buffer) => { text += c.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => { closed = true })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('pipelined requests are answered in order, each sent to a pod only once the one before is answered', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const pod = cluster.pods[0]
  // The slow one first: a server that answered in arrival order of the pod's answers would put it last.
  const reply = await exchange(port,
    'GET /slow?ms=200 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nwor\r\n2\r\nld\r\n0\r\n\r\n' +
    'GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /status/201 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { waitMs: 3000 })
  const got = answers(reply.text)
  t.same(got.map((a) => a.status), [200, 200, 200, 204, 201], 'in the order asked')
  t.same(got.slice(1, 3).map((a) => (JSON.parse(a.body) as { body: string }).body), ['hello', 'world'], 'each body with its own request')
  t.ok(reply.closed, 'closed after the request that asked for it')
  t.same(pod.received.map((r) => r.url), ['/slow?ms=200', '/echo', '/echo', '/status/204', '/status/201'])
  // One at a time: each request reached the pod after the answer before it was complete.
  const at = pod.received.map((r) => r.at)
  t.ok(at[1] - at[0] >= 150, `the second request left only when the slow first was answered (${Math.round(at[1] - at[0])} ms later)`)
})

t.test('requests pipelined in pieces while the one before is at its pod', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const c = await connect(cluster.spoke.listeners[0].address!.port)
  t.teardown(() => c.socket.destroy())
  c.socket.write('GET /slow?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n')
  await waitFor(() => cluster.pods[0].started === 1, 2000, 'the first request at the pod')
  const rest = 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\npiecesGET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n'
  for (let at = 0; at < rest.length; at += 7) {
    c.socket.write(rest.slice(at, at + 7))
    await sleep(5)
  }
  await waitFor(() => c.received().includes('HTTP/1.1 202 '), 3000, 'the last answer')
  const got = answers(c.received())
  t.same(got.map((a) => a.status), [200, 200, 202])
  t.equal((JSON.parse(got[1].body) as { body: string }).body, 'pieces')
})

t.test('a head and a chunked body arriving one byte at a time', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const c = await connect(cluster.spoke.listeners[0].address!.port)
  t.teardown(() => c.socket.destroy())
  const request = 'POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nX-Long: ' + 'v'.repeat(300) + '\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n'
  for (const byte of request) {
    c.socket.write(byte)
    await new Promise((r) => setImmediate(r))
  }
  await waitFor(() => /\r\n\r\n[\s\S]*\}/.test(c.received()), 3000, 'the answer')
  const [answer] = answers(c.received())
  t.equal(answer.status, 200)
  const seen = JSON.parse(answer.body) as { url: string; body: string; rawHeaders: string[] }
  t.equal(seen.url, '/echo?x=1')
  t.equal(seen.body, 'hello world')
  t.ok(seen.rawHeaders.includes('v'.repeat(300)), 'the long field whole')
  t.notOk(c.closed(), 'the connection stays open')
  c.socket.write('GET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n')
  // (statuses() reads status lines at line starts; this one follows the JSON body directly.)
  await waitFor(() => c.received().includes('HTTP/1.1 202 '), 2000, 'a second answer')
  t.same(answers(c.received()).map((a) => a.status), [200, 202], 'and takes the next request')
  // A head of 12 kB (under the 16 KiB maxHeaderSize) in 50-byte pieces: it grows in place.
  const fields = Array.from({ length: 120 }, (_, i) => `X-F${String(i).padStart(3, '0')}: ${'f'.repeat(92)}\r\n`).join('')
  const big = `GET /echo HTTP/1.1\r\nHost: a\r\n${fields}\r\n`
  for (let at = 0; at < big.length; at += 50) {
    c.socket.write(big.slice(at, at + 50))
    await new Promise((r) => setImmediate(r))
  }
  await waitFor(() => answers(c.received()).length === 3 && c.received().endsWith('}'), 3000, 'the third answer')
  const third = answers(c.received())[2]
  t.equal(third.status, 200)
  t.equal((JSON.parse(third.body) as { rawHeaders: string[] }).rawHeaders.filter((h) => h === 'f'.repeat(92)).length, 120, 'every field of the long head')
})

t.test('Expect: 100-continue gets 100 Continue before the body is sent; not for HTTP/1.0 or a request without a body', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const c = await connect(port)
  t.teardown(() => c.socket.destroy())
  c.socket.write('PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')
  await waitFor(() => c.received().includes('\r\n\r\n'), 2000, '100 Continue')
  t.equal(c.received(), 'HTTP/1.1 100 Continue\r\n\r\n', 'only the interim answer, before any of the body')
  c.socket.write('data')
  await waitFor(() => /\}$/.test(c.received()), 2000, 'the final answer')
  const [interim, final] = answers(c.received())
  t.equal(interim.status, 100)
  t.equal(final.status, 200)
  t.equal((JSON.parse(final.body) as { body: string; rawHeaders: string[] }).body, 'data')
  t.notOk((JSON.parse(final.body) as { rawHeaders: string[] }).rawHeaders.some((h) => h.toLowerCase() === 'expect'), 'Expect is not forwarded')

  const noBody = await exchange(port, 'GET /status/200 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n')
  t.same(statuses(noBody.text), [200], 'no 100 for a request without a body')
  const http10 = await exchange(port, 'POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok')
  t.same(statuses(http10.text), [200], 'no 100 for HTTP/1.0')
})

t.test('HTTP/1.0: closed after the answer unless keep-alive is asked for; never chunked', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port

  const plain = await exchange(port, 'GET / HTTP/1.0\r\n\r\n')
  t.same(statuses(plain.text), [200])
  t.match(plain.text, /\r\nconnection: close\r\n/i, 'announces the close')
  t.ok(plain.closed, 'and closes')

  // Keep-alive with a known length: echoed, and the connection takes the next request.
  const kept = await exchange(port, 'GET /status/201 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /status/202 HTTP/1.0\r\n\r\n')
  const two = answers(kept.text)
  t.same(two.map((a) => a.status), [201, 202])
  t.same(two[0].headers.get('connection'), ['keep-alive'], 'keep-alive echoed')
  t.same(two[1].headers.get('connection'), ['close'])
  t.ok(kept.closed)

  // A body of unknown length (the pod streams it chunked): delimited by the close, not chunked.
  const streamed = await exchange(port, 'GET /stream?chunks=3&size=5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /second HTTP/1.0\r\n\r\n')
  const [answer] = answers(streamed.text)
  t.equal(answer.status, 200)
  t.notOk(answer.headers.has('transfer-encoding'), 'no Transfer-Encoding for an HTTP/1.0 client')
  t.same(answer.headers.get('connection'), ['close'], 'the close delimits the body, whatever was asked')
  t.equal(answer.body, 'a'.repeat(15))
  t.ok(streamed.closed)
  t.notOk(cluster.pods[0].received.some((r) => r.url === '/second'), 'nothing after it was forwarded')
})

t.test('HTTP/1.1: chunked when the pod gives no length; Date, keep-alive fields; Connection: close honoured', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const reply = await exchange(port, 'GET /stream?chunks=4&size=3 HTTP/1.1\r\nHost: a\r\n\r\nGET /status/200 HTTP/1.1\r\nHost: a\r\nx-spoke-pod: nope\r\nConnection: close\r\n\r\n')
  const [streamed, refused] = answers(reply.text)
  t.same(streamed.headers.get('transfer-encoding'), ['chunked'])
  t.equal(streamed.body, 'a'.repeat(12))
  t.same(streamed.headers.get('connection'), ['keep-alive'])
  t.same(streamed.headers.get('keep-alive'), ['timeout=60'], 'the idle timeout as a hint')
  t.equal(refused.status, 404, 'spoke\'s own answer (unknown_pod)')
  t.equal(refused.headers.get('date')?.length, 1, 'one Date, added by spoke')
  t.ok(!Number.isNaN(Date.parse(refused.headers.get('date')![0])))
  t.same(refused.headers.get('connection'), ['close'])
  t.ok(reply.closed)
})

t.test('HEAD, 204 and 304 answers carry no body, and the next request is read where they end', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const reply = await exchange(port,
    'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n' +
    'HEAD /stream?chunks=2&size=10 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /status/304 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET /status/203 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { waitMs: 3000 })
  const got = answers(reply.text, new Set([0, 1]))
  t.same(got.map((a) => a.status), [200, 200, 204, 304, 203])
  t.same(got[0].headers.get('content-length'), ['6'], 'HEAD: the length of the body it would have had')
  t.notOk(got[1].headers.has('transfer-encoding'), 'HEAD without a length: not announced as chunked either')
  t.notOk(got[2].headers.has('transfer-encoding'), '204: no framing')
  t.equal(got[4].body, 'pod-0\n', 'the answer after them is read where they end')
  t.ok(reply.closed)
})

t.test('idleTimeout closes a keep-alive connection idle between requests, silently', async (t) => {
  const cluster = await startCluster({ pods: 1, listener: { idleTimeout: '400ms', headersTimeout: '5s' } })
  t.teardown(() => cluster.close())
  const c = await connect(cluster.spoke.listeners[0].address!.port)
  t.teardown(() => c.socket.destroy())
  for (let i = 0; i < 3; i++) {
    // Busy for longer than the idle timeout in all, but never idle for as long.
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    await waitFor(() => statuses(c.received()).length === i + 1, 2000, `answer ${i + 1}`)
    await sleep(200)
  }
  t.notOk(c.closed(), 'open while requests keep coming')
  const idleSince = performance.now()
  await waitFor(() => c.closed(), 3000, 'the idle close')
  const idle = performance.now() - idleSince
  t.ok(idle >= 150 && idle < 1500, `closed after ${Math.round(idle + 200)} ms idle`)
  t.same(statuses(c.received()), [200, 200, 200], 'nothing sent at the close')
})

t.test('a slow reader: the answer waits for it (backpressure), on every request of a connection', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const c = await connect(cluster.spoke.listeners[0].address!.port)
  t.teardown(() => c.socket.destroy())
  const size = 4 * 1024 * 1024
  for (let i = 1; i <= 3; i++) {
    c.socket.write(`GET /stream?chunks=${size / 16384}&size=16384 HTTP/1.1\r\nHost: a\r\n\r\n`)
    // Not read for a while: spoke's writes to the app fill the socket buffers and must wait.
    c.socket.pause()
    await sleep(150)
    c.socket.resume()
    await waitFor(() => c.received().endsWith('\r\n0\r\n\r\n') && answers(c.received()).length === i, 10_000, `answer ${i} whole`)
    const got = answers(c.received())
    t.equal(got.length, i)
    t.equal(got[i - 1].body.length, size, `answer ${i}: every byte`)
  }
})
