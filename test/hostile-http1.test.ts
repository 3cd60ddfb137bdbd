// Hostile and malformed HTTP/1.1 at the listener: every input gets the right status or a closed
// connection, none reaches a pod as a request it would act on, and spoke keeps serving.
// (CL+TE, duplicate Content-Length, a missing Host, a bad chunk size and a space inside a header
// name are in forwarding.test.ts.)
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'
import { exchange, statuses } from './helpers/raw.ts'

const POST = 'POST /echo HTTP/1.1\r\nHost: a\r\n'
const GET = 'GET /echo HTTP/1.1\r\nHost: a\r\n'
const CHUNKED = `${POST}Transfer-Encoding: chunked\r\n\r\n`

/** Refused while the head is parsed: nothing reaches a pod at all. Input class → name → bytes. */
const REFUSED_HEADS: Record<string, Record<string, string>> = {
  'Transfer-Encoding / Content-Length': {
    'TE chunked with CL 0': `${POST}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n`,
    'TE identity with CL': `${POST}Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc`,
    'TE xchunked': `${POST}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    'TE gzip alone (not chunked last)': `${POST}Transfer-Encoding: gzip\r\n\r\nabc`,
    'TE chunked, gzip': `${POST}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
    'TE gzip, chunked (a coding spoke would lose)': `${POST}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    'TE gzip then TE chunked': `${POST}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    'TE chunked twice': `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    'TE with a space before the colon': `${POST}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    'TE with a vertical tab': `${POST}Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n`,
    'TE in HTTP/1.0': 'POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    'CL +5': `${POST}Content-Length: +5\r\n\r\nhello`,
    'CL -5': `${POST}Content-Length: -5\r\n\r\nhello`,
    'CL "5, 5"': `${POST}Content-Length: 5, 5\r\n\r\nhello`,
    'CL 0x5': `${POST}Content-Length: 0x5\r\n\r\nhello`,
    'CL "5 5"': `${POST}Content-Length: 5 5\r\n\r\nhello`,
    'CL beyond 2^64': `${POST}Content-Length: 99999999999999999999999\r\n\r\nhello`,
  },
  'obs-fold': {
    'folded with SP': `${GET}X-A: b\r\n c\r\n\r\n`,
    'folded with HTAB': `${GET}X-A: b\r\n\tc\r\n\r\n`,
    'folded Transfer-Encoding': `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
  },
  'bare LF / bare CR': {
    'bare LF after the request line': 'GET /echo HTTP/1.1\nHost: a\r\n\r\n',
    'bare LF after a header': `${GET}X-A: b\n\r\n`,
    'bare LF ending the head': `${GET}\n`,
    'bare LF everywhere': 'GET /echo HTTP/1.1\nHost: a\n\n',
    'bare CR inside a value': `${GET}X-A: b\rc\r\n\r\n`,
  },
  'header names': {
    'space before the colon': 'GET /echo HTTP/1.1\r\nHost : a\r\n\r\n',
    'leading space on the first header': 'GET /echo HTTP/1.1\r\n Host: a\r\n\r\n',
    'tab inside a name': `${GET}X\tA: b\r\n\r\n`,
    'empty name': `${GET}: b\r\n\r\n`,
    'no colon': `${GET}XA\r\n\r\n`,
    'quote inside a name': `${GET}X"A: b\r\n\r\n`,
  },
  'control bytes': {
    'NUL in a value': `${GET}X-A: b\x00c\r\n\r\n`,
    'DEL in a value': `${GET}X-A: b\x7fc\r\n\r\n`,
    'NUL in the target': 'GET /ec\x00ho HTTP/1.1\r\nHost: a\r\n\r\n',
    'space in the target': 'GET /ec ho HTTP/1.1\r\nHost: a\r\n\r\n',
    'byte 0xff in the target': 'GET /ec\xffho HTTP/1.1\r\nHost: a\r\n\r\n',
  },
  'invalid chunk sizes': {
    'negative': `${CHUNKED}-1\r\nhello\r\n0\r\n\r\n`,
    'overflowing': `${CHUNKED}fffffffffffffffff\r\nhello\r\n0\r\n\r\n`,
    '0x prefix': `${CHUNKED}0x5\r\nhello\r\n0\r\n\r\n`,
    'space before an extension': `${CHUNKED}5 ;a=b\r\nhello\r\n0\r\n\r\n`,
    'bare LF after the size': `${CHUNKED}5\nhello\r\n0\r\n\r\n`,
    'bare LF inside an extension': `${CHUNKED}5;a\nb\r\nhello\r\n0\r\n\r\n`,
    'empty size line': `${CHUNKED}\r\nhello\r\n0\r\n\r\n`,
  },
  'request line': {
    'HTTP/1.2': 'GET /echo HTTP/1.2\r\nHost: a\r\n\r\n',
    'HTTP/2.0 in an HTTP/1 request line': 'GET /echo HTTP/2.0\r\nHost: a\r\n\r\n',
    'HTTP/0.9 (no version)': 'GET /echo\r\n\r\n',
    'lowercase version': 'GET /echo http/1.1\r\nHost: a\r\n\r\n',
    'lowercase method': 'get /echo HTTP/1.1\r\nHost: a\r\n\r\n',
    'unknown method': 'FOO /echo HTTP/1.1\r\nHost: a\r\n\r\n',
    'junk after the version': 'GET /echo HTTP/1.1 x\r\nHost: a\r\n\r\n',
    'asterisk-form': 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
    'CONNECT (authority-form)': 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n',
    'fragment in the target': 'GET /echo#frag HTTP/1.1\r\nHost: a\r\n\r\n',
    'a 20 kB method': `${'A'.repeat(20_000)} /echo HTTP/1.1\r\nHost: a\r\n\r\n`,
  },
  'Host': {
    'two Host lines': 'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
    'Host with "/"': 'GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n',
    'Host with "@"': 'GET /echo HTTP/1.1\r\nHost: user@a\r\n\r\n',
    'Host with a space': 'GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n',
    'Host with an unclosed "["': 'GET /echo HTTP/1.1\r\nHost: [::1\r\n\r\n',
  },
}

const TOO_LARGE: Record<string, string> = {
  'a 20 kB request line': `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`,
  '3000 small headers': GET + Array.from({ length: 3000 }, (_, i) => `a${i}: b`).join('\r\n') + '\r\n\r\n',
  'one 9 kB header': `${GET}X-Big: ${'b'.repeat(9000)}\r\n\r\n`,
}

t.test('malformed request heads get 400 (oversized ones 431), the connection closes, no pod sees anything', async (t) => {
  // hostRewrite: keep, so that a Host that got through would reach the pod as sent.
  const cluster = await startCluster({ pods: 2, listener: { maxHeaderSize: '8KiB' }, upstream: { hostRewrite: 'keep' } })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  let tried = 0
  for (const [inputClass, cases] of Object.entries(REFUSED_HEADS)) {
    for (const [name, payload] of Object.entries(cases)) {
      tried++
      const reply = await exchange(port, payload)
      t.same(statuses(reply.text), [400], `${inputClass}: ${name}: one 400`)
      t.match(reply.text, /x-spoke-error: bad_request/i, `${inputClass}: ${name}: spoke's error`)
      t.match(reply.text, /"upstream":"orders"/, `${inputClass}: ${name}: the body names the listener's upstream`)
      t.ok(reply.closed, `${inputClass}: ${name}: connection closed`)
    }
  }
  for (const [name, payload] of Object.entries(TOO_LARGE)) {
    tried++
    const reply = await exchange(port, payload)
    t.same(statuses(reply.text), [431], `${name}: 431`)
    t.match(reply.text, /x-spoke-error: headers_too_large/i)
    t.match(reply.text, /"upstream":"orders"/, `${name}: the body names the listener's upstream`)
    t.ok(reply.closed, `${name}: connection closed`)
  }
  t.same(cluster.pods.map((p) => p.started), [0, 0], `none of ${tried} inputs reached a pod, not even its head`)
  const after = await request(`${cluster.url}/`)
  t.equal(after.status, 200, 'a valid request on a fresh connection still works')
  t.comment(`hostile heads: ${tried} inputs, 0 forwarded`)
})

t.test('a malformed request pipelined behind a valid one: the valid one is answered first, then 400', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const smuggled = 'POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'
  // The first request is still at its pod when the parser refuses the second: the 400 must wait
  // for the first answer rather than take its place (a client matches answers to requests in order).
  for (const first of ['/slow?ms=100', '/']) {
    const reply = await exchange(port, `GET ${first} HTTP/1.1\r\nHost: a\r\n\r\n${smuggled}`)
    t.same(statuses(reply.text), [200, 400], `${first}: 200 then 400`)
    t.ok(reply.closed)
  }
  t.same(cluster.pods[0].received.map((r) => r.url), ['/slow?ms=100', '/'], 'only the valid requests reached the pod')
})

t.test('requests pipelined behind a refused one are not forwarded: its framing cannot be trusted', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n'
  // Node's parser accepts each of these heads; spoke refuses them, and what Node then reads as
  // the next request is whatever the refused request's framing says.
  const cases: Record<string, string> = {
    'two Host lines': `GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${smuggled}`,
    'Content-Length twice': `POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello${smuggled}`,
    'TE gzip, chunked': `POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'fragment in the target': `GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n${smuggled}`,
    'no Host': `GET /a HTTP/1.1\r\n\r\n${smuggled}${smuggled}`,
  }
  for (const [name, payload] of Object.entries(cases)) {
    const reply = await exchange(port, payload)
    t.same(statuses(reply.text), [400], `${name}: one 400, nothing answered after it`)
    t.ok(reply.closed, `${name}: connection closed`)
  }
  t.equal(cluster.pods[0].started, 0, 'no pipelined request reached the pod')
})

t.test('HTTP/1.0 naming both close and keep-alive: close wins, nothing after it is forwarded', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  for (const connection of ['Connection: close\r\nConnection: keep-alive', 'Connection: keep-alive, close']) {
    const reply = await exchange(port, `GET /first HTTP/1.0\r\n${connection}\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n`)
    t.same(statuses(reply.text), [200], `${JSON.stringify(connection)}: the first answered`)
    t.match(reply.text, /connection: close/i)
    t.ok(reply.closed, 'and the connection closed')
  }
  t.same(cluster.pods[0].received.map((r) => r.url), ['/first', '/first'], 'the second request never reached the pod')
})

t.test('a body found malformed after its head went to a pod: the pod sees an aborted request, never a complete one', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const pod = cluster.pods[0]
  // spoke streams bodies (it never buffers one to check it first), so the head is on its way
  // to the pod when the parser finds the fault; what matters is that the request never completes.
  const cases: Record<string, string> = {
    'chunk longer than its size': `${CHUNKED}3\r\nhello\r\n0\r\n\r\n`,
    'bare LF after chunk data': `${CHUNKED}5\r\nhello\n0\r\n\r\n`,
    'bad second chunk size': `${CHUNKED}5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n`,
    'malformed trailer': `${CHUNKED}5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n`,
  }
  for (const [name, payload] of Object.entries(cases)) {
    const reply = await exchange(port, payload)
    t.same(statuses(reply.text), [400], `${name}: 400`)
    t.ok(reply.closed, `${name}: connection closed`)
    await waitFor(() => pod.started === pod.aborted, 2000, `${name}: the pod's request ended`)
  }
  t.equal(pod.requests, 0, 'no request completed at the pod')
  t.same(pod.received, [])
  t.equal((await request(`${cluster.url}/`)).status, 200, 'spoke still serves')
})

t.test('a request body that stops mid-way: the pod sees an aborted request, never a truncated complete one', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const pod = cluster.pods[0]
  const http1Cases: Array<[string, string, 'close' | 'half-close']> = [
    ['Content-Length: 1000, 10 bytes, connection closed', `${POST}Content-Length: 1000\r\n\r\n0123456789`, 'close'],
    ['Content-Length: 1000, 10 bytes, then FIN', `${POST}Content-Length: 1000\r\n\r\n0123456789`, 'half-close'],
    ['chunked, one chunk, connection closed', `${CHUNKED}a\r\n0123456789\r\n`, 'close'],
    ['chunked, inside a chunk, then FIN', `${CHUNKED}3e8\r\n0123456789`, 'half-close'],
  ]
  for (const [name, payload, how] of http1Cases) {
    const before = pod.started
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((r) => socket.once('connect', r))
    socket.write(payload)
    await waitFor(() => pod.started > before, 2000, `${name}: the head reached the pod`)
    if (how === 'close') socket.destroy()
    else socket.end()
    await waitFor(() => pod.started === pod.aborted, 2000, `${name}: the pod's request aborted`)
    socket.destroy()
  }
  // HTTP/2: content-length 1000, 10 bytes of DATA, then RST_STREAM or an early END_STREAM.
  for (const how of ['RST_STREAM', 'END_STREAM'] as const) {
    const before = pod.started
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', () => {})
    const stream = session.request({ ':method': 'POST', ':path': '/echo', 'content-length': '1000' })
    stream.on('error', () => {})
    stream.write(Buffer.alloc(10, 0x30))
    await waitFor(() => pod.started > before, 2000, `HTTP/2 ${how}: the head reached the pod`)
    if (how === 'RST_STREAM') stream.close(http2.constants.NGHTTP2_CANCEL)
    else stream.end()
    await waitFor(() => pod.started === pod.aborted, 2000, `HTTP/2 ${how}: the pod's request aborted`)
    session.destroy()
  }
  t.equal(pod.started, 6, 'six requests started at the pod')
  t.equal(pod.aborted, 6, 'all six aborted')
  t.equal(pod.requests, 0, 'none completed')
  t.equal((await request(`${cluster.url}/`)).status, 200, 'spoke still serves')
})

t.test('a request body that stalls mid-way: 504 at the request timeout, then the connection closes', async (t) => {
  // undici lets go of the app's half-read body when it aborts the attempt (it nulls req.socket):
  // this used to crash spoke with a TypeError in the timeout path.
  const cluster = await startCluster({ pods: 1, upstream: { timeouts: { request: '300ms' } } })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  for (const payload of [`${POST}Content-Length: 1000\r\n\r\n0123456789`, `${CHUNKED}a\r\n0123456789\r\n`]) {
    const reply = await exchange(port, payload, { waitMs: 3000 })
    t.same(statuses(reply.text), [504], 'answered 504 at the request timeout')
    t.match(reply.text, /connection: close/i, 'announcing the close')
    t.ok(reply.closed && reply.ms < 2000, `and closed (after ${Math.round(reply.ms)} ms), not held open for the rest of the body`)
  }
  await waitFor(() => cluster.pods[0].started === cluster.pods[0].aborted, 2000, 'the pod\'s requests aborted')
  t.equal(cluster.pods[0].requests, 0, 'no request completed at the pod')
  t.equal((await request(`${cluster.url}/`)).status, 200, 'spoke still serves')
})

t.test('a response body that stops mid-way never reaches the app as a complete response', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  for (const path of ['/partial?length=1000&sent=10', '/partial?sent=10']) {
    // HTTP/1.1: Node's client reports an aborted response, whatever the framing.
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get(`http://127.0.0.1:${port}${path}`, (res) => {
        let bytes = 0
        res.on('data', (c: Buffer) => { bytes += c.length })
        res.on('end', () => resolve(`complete with ${bytes} bytes`))
        res.on('error', () => resolve(`broken after ${bytes} bytes`))
      })
      req.on('error', (e) => resolve(`request error ${e.message}`))
    })
    t.match(outcome, /^broken after 10 bytes$/, `HTTP/1.1 ${path}: ${outcome}`)
    // The raw bytes: neither the promised length nor chunked's last chunk arrived.
    const raw = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`)
    t.ok(raw.closed, `HTTP/1.1 ${path}: connection cut`)
    t.notMatch(raw.text, /\r\n0\r\n\r\n$/, `HTTP/1.1 ${path}: no terminating chunk`)
    // HTTP/2: the stream is reset rather than ended.
    const h2 = await new Promise<string>((resolve) => {
      const session = http2.connect(`http://127.0.0.1:${port}`)
      session.on('error', () => {})
      const stream = session.request({ ':path': path })
      let bytes = 0
      stream.on('data', (c: Buffer) => { bytes += c.length })
      stream.on('end', () => { session.close(); resolve(`ended cleanly with ${bytes} bytes`) })
      stream.on('error', () => { session.close(); resolve(`reset (code ${stream.rstCode}) after ${bytes} bytes`) })
    })
    t.match(h2, /^reset \(code 2\) after 10 bytes$/, `HTTP/2 ${path}: ${h2}`)
  }
  t.equal((await request(`${cluster.url}/`)).status, 200, 'spoke still serves')
})

t.test('slowloris: heads that never finish are cut at headersTimeout while other clients are served', async (t) => {
  const cluster = await startCluster({ pods: 1, listener: { headersTimeout: '600ms' } })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const loris = 50
  const started = performance.now()
  const results = await Promise.all([
    ...Array.from({ length: loris }, (_, i) => trickle(port, i % 2 === 0 ? 'byte' : 'line')),
    (async () => {
      // Meanwhile an ordinary client keeps getting answers.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      const codes: number[] = []
      while (performance.now() - started < 900) codes.push((await request(`${cluster.url}/`, { agent })).status)
      agent.destroy()
      return codes
    })(),
  ])
  const served = results.pop() as number[]
  const cut = results as Array<{ reply: string; ms: number; sent: number }>
  t.ok(served.length > 10 && served.every((s) => s === 200), `${served.length} requests served during the attack`)
  for (const r of cut) {
    t.match(r.reply, /^HTTP\/1\.1 408 /, '408 Request Timeout')
    t.ok(r.ms >= 550 && r.ms < 2500, `cut after ${Math.round(r.ms)} ms though bytes kept coming (${r.sent} sent)`)
  }
  t.equal(cluster.pods[0].started - served.length, 0, 'no slow head reached the pod')
})

/** Sends a head that never ends, a byte (or a header line) every 20 ms, until spoke closes. */
function trickle(port: number, unit: 'byte' | 'line'): Promise<{ reply: string; ms: number; sent: number }> {
  return new Promise((resolve) => {
    const started = performance.now()
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    const head = 'GET / HTTP/1.1\r\nHost: a\r\n'
    let sent = 0
    let reply = ''
    const timer = setInterval(() => {
      if (unit === 'byte') socket.write(sent < head.length ? head[sent] : 'x')
      else socket.write(sent === 0 ? head : `X-${sent}: y\r\n`)
      sent++
    }, 20)
    const stop = setTimeout(() => socket.destroy(), 5000)
    socket.on('data', (c: Buffer) => { reply += c.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      clearTimeout(stop)
      resolve({ reply, ms: performance.now() - started, sent })
    })
  })
}
