import t from 'tap'
import { rawExchange, request, SERVICE, singleConnectionAgent, startCluster, waitFor } from './helpers/harness.ts'

function headerPairs(raw: readonly string[]): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase()
    m.set(k, [...(m.get(k) ?? []), raw[i + 1]])
  }
  return m
}

t.test('headers, host rewrite, body and status cross spoke as SPEC §4 says', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.pods[0].port

  const answer = await request(`${cluster.url}/echo?a=1&b=two`, {
    method: 'PUT',
    headers: {
      host: 'app.local',
      connection: 'keep-alive, x-conn-scoped',
      'x-conn-scoped': 'must go',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic abc',
      'proxy-connection': 'keep-alive',
      te: 'trailers, deflate',
      'x-spoke-retry': 'always',
      'x-custom': ['one', 'two'],
      'content-type': 'text/plain',
    },
    body: 'hello body',
  })
  t.equal(answer.status, 200)
  const seen = JSON.parse(answer.body) as { method: string; url: string; rawHeaders: string[]; body: string }
  t.equal(seen.method, 'PUT')
  t.equal(seen.url, '/echo?a=1&b=two', 'path and query kept')
  t.equal(seen.body, 'hello body', 'body kept')
  const h = headerPairs(seen.rawHeaders)
  t.same(h.get('host'), [`${SERVICE}:${port}`], 'Host rewritten to <service>:<port>')
  for (const gone of ['x-conn-scoped', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'x-spoke-retry']) {
    t.notOk(h.has(gone), `${gone} not forwarded`)
  }
  t.same(h.get('te'), ['trailers'], 'TE reduced to trailers')
  t.same(h.get('x-custom'), ['one', 'two'], 'repeated header kept, in order')
  t.equal(answer.headers['x-pod'], 'pod-0', 'response headers come back')
})

t.test('hostRewrite: keep sends the app\'s Host', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: { hostRewrite: 'keep' } })
  t.teardown(() => cluster.close())
  const answer = await request(`${cluster.url}/echo`, { headers: { host: 'app.local:1234' } })
  const h = headerPairs((JSON.parse(answer.body) as { rawHeaders: string[] }).rawHeaders)
  t.same(h.get('host'), ['app.local:1234'])
})

t.test('hop-by-hop response headers are dropped, others kept', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  const answer = await request(`${cluster.url}/`, { agent })
  t.equal(answer.headers['content-type'], 'text/plain')
  t.equal(answer.headers['content-length'], '6')
  t.equal(answer.body, 'pod-0\n')
})

t.test('ambiguous framing is refused with 400 and never reaches a pod', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const cases: Record<string, string> = {
    'CL + TE': 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'duplicate CL': 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'same CL twice': 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
    'no Host': 'GET /echo HTTP/1.1\r\n\r\n',
    'bad chunk size': 'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'space in header name': 'GET /echo HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n',
  }
  for (const [name, payload] of Object.entries(cases)) {
    const reply = await rawExchange(port, payload)
    t.match(reply, /^HTTP\/1\.1 400 /, `${name}: 400`)
    t.match(reply, /x-spoke-error: bad_request/i, `${name}: spoke's error header`)
    t.match(reply, /"error":"bad_request"/, `${name}: spoke's error body`)
    t.notMatch(reply, /HTTP\/1\.1 200/, `${name}: nothing answered by a pod`)
  }
  t.equal(cluster.pods[0].requests, 0, 'no request reached the pod')
})

t.test('headers over maxHeaderSize get 431', async (t) => {
  const cluster = await startCluster({ pods: 1, listener: { maxHeaderSize: '4KiB' } })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const reply = await rawExchange(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`)
  t.match(reply, /^HTTP\/1\.1 431 /)
  t.match(reply, /x-spoke-error: headers_too_large/i)
  t.equal(cluster.pods[0].requests, 0)
})

t.test('request timeout answers 504 timeout', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: { timeouts: { request: '200ms' } } })
  t.teardown(() => cluster.close())
  const started = Date.now()
  const answer = await request(`${cluster.url}/slow?ms=3000`)
  t.equal(answer.status, 504)
  t.equal(answer.headers['x-spoke-error'], 'timeout')
  t.same(JSON.parse(answer.body).error, 'timeout')
  t.ok(Date.now() - started < 1500, 'answered at the deadline, not when the pod finished')
})

t.test('gRPC to an HTTP/1.1 upstream is refused with a gRPC error, never forwarded', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const answer = await request(`${cluster.url}/pkg.Svc/Call`, { method: 'POST', headers: { 'content-type': 'application/grpc+proto' }, body: '' })
  t.equal(answer.status, 200, 'trailers-only gRPC answer')
  t.equal(answer.headers['grpc-status'], '3', 'INVALID_ARGUMENT')
  t.match(decodeURIComponent(String(answer.headers['grpc-message'])), /protocol: h2c/)
  t.equal(answer.headers['x-spoke-error'], 'bad_request')
  t.equal(cluster.pods[0].requests, 0)
})

t.test('beyond maxConcurrentRequests: 503 overloaded', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: { limits: { maxConcurrentRequests: 2 } } })
  t.teardown(() => cluster.close())
  const slow = [request(`${cluster.url}/slow?ms=500`), request(`${cluster.url}/slow?ms=500`)]
  const upstream = [...cluster.spoke.upstreams.values()][0]
  await waitFor(() => upstream.inFlight === 2, 2000, 'both slow requests admitted')
  const third = await request(`${cluster.url}/`)
  t.equal(third.status, 503)
  t.equal(third.headers['x-spoke-error'], 'overloaded')
  const done = await Promise.all(slow)
  t.same(done.map((a) => a.status), [200, 200], 'the admitted requests complete')
  const after = await request(`${cluster.url}/`)
  t.equal(after.status, 200, 'slots are given back')
})

t.test('large bodies stream both ways', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const big = 'x'.repeat(5 * 1024 * 1024)
  const echoed = await request(`${cluster.url}/echo`, { method: 'POST', body: big })
  t.equal(echoed.status, 200)
  t.equal((JSON.parse(echoed.body) as { body: string }).body.length, big.length)
  const streamed = await request(`${cluster.url}/stream?chunks=2000&size=4096`)
  t.equal(streamed.body.length, 2000 * 4096)
})
