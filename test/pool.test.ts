// The pod's pool on its own, no proxy and no DNS: against a pod scripted byte by byte over raw
// sockets (HTTP/1.1), and node:http2 (h2c), so that each test decides when the pod answers,
// closes, half-answers or refuses. Each test checks what the caller and the metrics see: the
// handler's callbacks and Failure codes, the pool's size and counters, the close reasons, and
// how many TCP connections the pod saw.
import http2 from 'node:http2'
import t, { type Test } from 'tap'
import { ConnectError } from '../src/transport/dial.ts'
import { Call, deadAddress, get, H2Pod, ScriptedPod, sleep, startPool, waitFor } from './helpers/scripted-pod.ts'

const HOST = '127.0.0.2'

/** Every call got exactly one final callback, and nothing is left counted in flight. */
async function allSettled(t: Test, calls: Call[], pool: { counters: { inFlight: number } }): Promise<void> {
  await Promise.all(calls.map((c) => c.settled()))
  // A second final callback would come late, if at all.
  await sleep(20)
  t.same(calls.map((c) => c.finals), calls.map(() => 1), 'one final callback each')
  t.equal(pool.counters.inFlight, 0, 'inFlight back to 0')
}

t.test('HTTP/1.1: a request goes out on the up-front connection, and the next one reuses it', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  t.equal(pod.accepted, 1)
  t.equal(tp.pool.size, 1)
  t.equal(tp.opened, 1)
  t.equal(tp.connectedChanges, 1)

  const a = get(tp.pool, '/a')
  t.equal(a.events[0], 'start', 'onRequestStart at once')
  t.equal(tp.counters.inFlight, 1)
  const ra = await pod.next()
  t.equal(ra.path, '/a')
  ra.ok('hello')
  await a.settled()
  t.equal(a.status, 200)
  t.equal(a.body, 'hello')
  t.same(a.events, ['start', 'head 200', 'end'])
  t.equal(a.controller!.reusedIdle, true, 'it went out on a connection waiting in the pool')

  const b = get(tp.pool, '/b')
  const rb = await pod.next()
  t.equal(rb.connection, 1, 'on the same connection')
  rb.ok()
  await allSettled(t, [a, b], tp)
  t.equal(tp.counters.requests, 2)
  t.equal(pod.accepted, 1, 'one TCP connection in all')
  t.same(tp.closed, [])
})

t.test('HTTP/1.1: requests queue while every connection is busy, and connections open up to maxPerEndpoint', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod, { perEndpoint: 1, maxPerEndpoint: 3 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const calls = [1, 2, 3, 4, 5].map((i) => get(tp.pool, `/${i}`))
  await waitFor(() => pod.requests.length === 3, 2000, 'three requests at the pod')
  await sleep(30)
  t.equal(pod.accepted, 3, 'two more connections, not four')
  t.equal(tp.pool.size, 3)
  t.equal(tp.counters.inFlight, 3, 'the queued two are not in flight')
  t.equal(pod.requests.length, 3, 'the other two wait for a connection')
  for (let i = 0; i < 5; i++) (await pod.next()).ok(`r${i}`)
  await allSettled(t, calls, tp)
  t.same(calls.map((c) => c.status), [200, 200, 200, 200, 200])
  t.equal(tp.counters.requests, 5)
  t.equal(pod.accepted, 3, 'the queued requests went out on the connections that freed up')
  t.equal(calls[3].controller!.reusedIdle, true, 'a queued request went out on a connection just freed: the pod may be closing it (its idle timer runs from its answer)')
  t.equal(calls[1].controller!.reusedIdle, false, 'the first request on a connection opened for it is no race')
})

t.test('HTTP/1.1: first fit, an idle pool sends every request on its oldest connection', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  pod.onRequest = (r) => r.ok()
  const tp = startPool(t, pod, { perEndpoint: 3, maxPerEndpoint: 3 })
  await waitFor(() => pod.accepted === 3 && tp.pool.size === 3, 2000, 'three up-front connections')
  for (let i = 0; i < 4; i++) await get(tp.pool).settled()
  t.same(pod.requests.map((r) => r.connection), [1, 1, 1, 1])
})

t.test('a request aborted while queued leaves the queue and fails as aborted, once', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod, { perEndpoint: 1, maxPerEndpoint: 1 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool, '/a')
  const b = get(tp.pool, '/b')
  const ra = await pod.next()
  b.controller!.abort(new Error('the app went away'))
  t.equal(b.failure?.code, 'aborted')
  t.equal(b.controller!.aborted, true)
  ra.ok()
  const c = get(tp.pool, '/c')
  const rc = await pod.next()
  t.equal(rc.path, '/c', 'the aborted request was never sent')
  rc.ok()
  await allSettled(t, [a, b, c], tp)
  t.same(pod.requests.map((r) => r.path), ['/a', '/c'])
  t.equal(tp.counters.requests, 2, 'only what was sent is counted')
})

t.test('a request aborted in onRequestStart is never queued nor sent', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const call = new Call()
  call.onRequestStart = function (controller) {
    Call.prototype.onRequestStart.call(this, controller)
    controller.abort(new Error('deadline passed'))
  }
  tp.pool.dispatch({ method: 'GET', path: '/', headers: ['host', 'x'] }, call)
  await allSettled(t, [call], tp)
  t.equal(call.failure?.code, 'aborted')
  await sleep(30)
  t.equal(pod.requests.length, 0)
  t.equal(tp.counters.requests, 0)
})

t.test('HTTP/1.1: a request aborted in flight fails as aborted once, and its connection closes as error', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool, '/a')
  const ra = await pod.next()
  a.controller!.abort(new Error('per-try timeout'))
  await a.settled()
  t.equal(a.failure?.code, 'aborted')
  ra.ok('too late')
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a replacement connection')
  t.same(tp.closed, ['error'])
  t.equal(tp.pool.size, 1)
  await allSettled(t, [a], tp)
  t.equal(a.status, 0, 'no answer reached the handler')
})

t.test('HTTP/1.1: an answer with Connection: close closes the connection as remote_close, and another opens', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool)
  ;(await pod.next()).ok('bye', 'Connection: close\r\n')
  await a.settled()
  t.equal(a.body, 'bye')
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a replacement connection')
  t.same(tp.closed, ['remote_close'])
  t.equal(tp.pool.size, 1)
  const b = get(tp.pool)
  const rb = await pod.next()
  t.equal(rb.connection, 2, 'the next request goes on the new connection')
  rb.ok()
  await allSettled(t, [a, b], tp)
})

t.test('HTTP/1.1: the pod closing an idle connection is remote_close, and another opens', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  // Never used: the socket is still the connection's own, not undici's.
  for (const s of pod.sockets) s.end()
  await waitFor(() => pod.accepted === 2 && tp.closed.length === 1 && tp.pool.connected, 2000, 'a replacement connection')
  t.same(tp.closed, ['remote_close'])
  // Used once: the socket is undici's now.
  const a = get(tp.pool)
  ;(await pod.next()).ok()
  await a.settled()
  for (const s of pod.sockets) s.end()
  await waitFor(() => pod.accepted === 3 && tp.closed.length === 2 && tp.pool.connected, 2000, 'another replacement')
  t.same(tp.closed, ['remote_close', 'remote_close'])
  t.equal(tp.pool.size, 1)
  const b = get(tp.pool)
  ;(await pod.next()).ok()
  await allSettled(t, [a, b], tp)
  t.equal(b.status, 200)
})

t.test('HTTP/1.1: a connection idle beyond the pod\'s Keep-Alive hint is closed by spoke first, as idle', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool)
  // undici closes one second before the hint runs out: here after one second.
  ;(await pod.next()).ok('ok', 'Keep-Alive: timeout=2\r\n')
  await a.settled()
  await waitFor(() => tp.closed.length === 1, 3000, 'the connection closed')
  t.same(tp.closed, ['idle'])
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a replacement')
})

t.test('HTTP/1.1: a request cut off mid-answer fails as reset, once, and its connection closes as error', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool)
  const ra = await pod.next()
  ra.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf')
  await waitFor(() => a.status === 200, 2000, 'the head')
  ra.reset()
  await allSettled(t, [a], tp)
  t.equal(a.failure?.code, 'reset')
  t.equal(a.body, 'half')
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a replacement connection')
  t.same(tp.closed, ['error'])
  t.equal(tp.pool.size, 1)
})

t.test('HTTP/1.1: the keep-alive race, a pooled connection closed as the request arrives, is flagged reusedIdle', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  pod.onRequest = (r) => r.end()
  const a = get(tp.pool, '/', 'POST', 'x')
  await allSettled(t, [a], tp)
  t.equal(a.controller!.reusedIdle, true)
  t.equal(a.failure?.code, 'reset', 'written, so the pod may have seen it')
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a replacement connection')
  t.equal(tp.closed.length, 1)
})

t.test('a refused connect fails the queued requests as connect_failed when nothing else can serve them', async (t) => {
  const dead = await deadAddress(HOST)
  const tp = startPool(t, dead)
  const a = get(tp.pool)
  await allSettled(t, [a], tp)
  t.equal(a.failure?.code, 'connect_failed')
  t.ok(a.failure?.cause instanceof ConnectError, 'with the ConnectError as its cause')
  t.equal(tp.connectFailures[0].errno, 'ECONNREFUSED')
  t.equal(tp.connectFailures[0].refused, true)
  t.equal(tp.pool.connected, false)
  t.equal(tp.pool.size, 0)
  t.equal(tp.counters.requests, 0)
})

t.test('a failed extra connect leaves queued requests to the busy connection that can still serve them', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const dead = await deadAddress('127.0.0.3')
  const tp = startPool(t, pod, { perEndpoint: 1, maxPerEndpoint: 2 }, {
    // The up-front connection reaches the pod; the extra one is refused.
    connect: (n, connect) => n === 1 ? connect() : Promise.reject(new ConnectError('ECONNREFUSED', `connect to ${dead.host}:${dead.port} refused`)),
  })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool, '/a')
  const b = get(tp.pool, '/b')
  const ra = await pod.next()
  await waitFor(() => tp.connectFailures.length === 1, 2000, 'the extra connect refused')
  t.equal(b.finals, 0, 'the queued request still waits')
  ra.ok()
  const rb = await pod.next()
  t.equal(rb.path, '/b')
  t.equal(rb.connection, 1)
  rb.ok()
  await allSettled(t, [a, b], tp)
  t.same([a.status, b.status], [200, 200])
})

t.test('a dead pod is not connected to in a loop: reconnects back off', async (t) => {
  const dead = await deadAddress(HOST)
  const tp = startPool(t, dead, { perEndpoint: 2, maxPerEndpoint: 2 })
  await sleep(1000)
  // 2 at start, then a round after 100 ms, 400 ms, 1600 ms…: a handful, not hundreds.
  t.ok(tp.connectFailures.length >= 2 && tp.connectFailures.length <= 8, `${tp.connectFailures.length} connects in a second`)
})
t.test('a pod that accepts connections and closes them at once is not connected to in a loop', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  pod.onConnection = (socket) => socket.destroy()
  const tp = startPool(t, pod)
  await sleep(1000)
  t.ok(pod.accepted >= 2 && pod.accepted <= 10, `${pod.accepted} connections in a second`)
  t.equal(tp.pool.size, 0)
})

t.test('maxLifetime: the replacement is open before the old connection stops taking requests (make-before-break)', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  pod.onRequest = (r) => r.ok()
  let releaseSecond: () => void = () => {}
  const tp = startPool(t, pod, { maxLifetimeMs: 200 }, {
    // The replacement's connect is held until the test lets it go.
    connect: (n, connect) => n === 2 ? new Promise((resolve) => { releaseSecond = () => resolve(connect()) }) : connect(),
  })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  await sleep(300)
  t.same(tp.closed, [], 'past its lifetime, the old connection stays while the replacement connects')
  await get(tp.pool, '/during').settled()
  t.equal(pod.requests[0].connection, 1, 'and takes requests')
  t.equal(tp.pool.connected, true)
  releaseSecond()
  await waitFor(() => tp.closed.length === 1, 2000, 'the old connection closed')
  t.same(tp.closed, ['max_lifetime'])
  t.equal(tp.pool.size, 1)
  t.equal(tp.pool.connected, true)
  t.equal(tp.connectedChanges, 1, 'never without a connection taking requests')
  await get(tp.pool, '/after').settled()
  t.equal(pod.requests[1].connection, 2, 'requests go on the replacement')
})

t.test('maxLifetime: a connection busy when it expires finishes its request, then closes as max_lifetime', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod, { maxLifetimeMs: 150 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool, '/slow')
  const ra = await pod.next()
  await waitFor(() => pod.accepted === 2 && tp.pool.size === 2, 2000, 'the replacement')
  t.same(tp.closed, [], 'the old one is retiring, not closed')
  const b = get(tp.pool, '/new')
  const rb = await pod.next()
  t.equal(rb.connection, 2, 'new requests go on the replacement')
  rb.ok()
  ra.ok('late')
  await allSettled(t, [a, b], tp)
  t.equal(a.body, 'late')
  await waitFor(() => tp.closed.length === 1, 2000, 'the old connection closed')
  t.same(tp.closed, ['max_lifetime'])
  t.equal(tp.pool.size, 1)
})

t.test('maxLifetime: when the replacement cannot connect, the old connection goes on serving', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  pod.onRequest = (r) => r.ok()
  const tp = startPool(t, pod, { maxLifetimeMs: 100 }, {
    connect: (n, connect) => n === 1 ? connect() : Promise.reject(new ConnectError('ECONNREFUSED', 'refused')),
  })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  await waitFor(() => tp.connectFailures.length >= 1, 2000, 'the replacement refused')
  await sleep(20)
  t.same(tp.closed, [], 'the old connection was not retired for a replacement that never came')
  t.equal(tp.pool.connected, true)
  const a = get(tp.pool)
  await allSettled(t, [a], tp)
  t.equal(a.status, 200)
  t.equal(pod.requests[0].connection, 1)
})

t.test('maxRequests: the connection that carried maxRequests closes as max_requests once done, and the next request opens another', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  pod.onRequest = (r) => r.ok()
  const tp = startPool(t, pod, { maxRequests: 2 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const calls: Call[] = []
  for (let i = 0; i < 3; i++) calls.push(await get(tp.pool, `/${i}`).settled())
  await allSettled(t, calls, tp)
  t.same(pod.requests.map((r) => r.connection), [1, 1, 2])
  t.same(tp.closed, ['max_requests'])
  t.equal(pod.accepted, 2)
  t.equal(tp.pool.size, 1)
})

t.test('the idle sweep closes connections beyond perEndpoint idle for idleTimeout, newest first, as idle', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod, { perEndpoint: 1, maxPerEndpoint: 3, idleTimeoutMs: 100 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const calls = [1, 2, 3].map(() => get(tp.pool))
  for (let i = 0; i < 3; i++) (await pod.next()).ok()
  await allSettled(t, calls, tp)
  t.equal(tp.pool.size, 3)
  tp.pool.sweepIdle(performance.now())
  t.same(tp.closed, [], 'not idle long enough yet')
  await sleep(120)
  tp.pool.sweepIdle(performance.now())
  t.same(tp.closed, ['idle', 'idle'])
  t.equal(tp.pool.size, 1)
  await waitFor(() => pod.open === 1, 2000, 'the pod sees one connection left')
  const a = get(tp.pool)
  const ra = await pod.next()
  t.equal(ra.connection, 1, 'the oldest one stays')
  ra.ok()
  await allSettled(t, [a], tp)
})

t.test('drain: queued requests fail as pool_closed, the one in flight finishes, and it resolves once closed', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod, { perEndpoint: 1, maxPerEndpoint: 1 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool, '/a')
  const b = get(tp.pool, '/b')
  const ra = await pod.next()
  let drained = false
  const drain = tp.pool.drain('endpoint_removed', 2000).then(() => { drained = true })
  t.equal(b.failure?.code, 'pool_closed')
  t.equal(tp.pool.connected, false, 'takes no new requests')
  const c = get(tp.pool, '/c')
  t.equal(c.failure?.code, 'pool_closed', 'nor afterwards')
  await sleep(30)
  t.equal(drained, false, 'still finishing /a')
  t.equal(a.finals, 0)
  ra.ok('done')
  await drain
  await allSettled(t, [a, b, c], tp)
  t.equal(a.body, 'done')
  t.same(tp.closed, ['endpoint_removed'])
  t.equal(tp.pool.size, 0)
  await waitFor(() => pod.open === 0, 2000, 'the pod sees the connection closed')
  t.equal(pod.accepted, 1, 'and no other opened')
})

t.test('drain: at the deadline the connection is destroyed and the request in flight fails, once', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool)
  await pod.next()
  const started = performance.now()
  await tp.pool.drain('shutdown', 100)
  const took = performance.now() - started
  t.ok(took >= 90 && took < 500, `resolved after the deadline (${Math.round(took)} ms)`)
  await allSettled(t, [a], tp)
  t.equal(a.failure?.code, 'reset')
  t.same(tp.closed, ['shutdown'])
  await waitFor(() => pod.open === 0, 2000, 'the pod sees the connection closed')
})
t.test('drain twice (the pod left, then spoke shuts down): both resolve', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod)
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool)
  const ra = await pod.next()
  let first = false
  let second = false
  const d1 = tp.pool.drain('endpoint_removed', 2000).then(() => { first = true })
  const d2 = tp.pool.drain('shutdown', 2000).then(() => { second = true })
  ra.ok()
  await Promise.race([Promise.all([d1, d2]), sleep(1000)])
  t.same([first, second], [true, true])
  t.same(tp.closed, ['endpoint_removed'])
  await allSettled(t, [a], tp)
})

t.test('drain: a connection already retiring (max_lifetime) is held to the drain\'s deadline, not its own', async (t) => {
  const pod = await ScriptedPod.start(HOST, t)
  const tp = startPool(t, pod, { maxLifetimeMs: 100, drainTimeoutMs: 10_000 })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front connection')
  const a = get(tp.pool)
  await pod.next()
  await waitFor(() => pod.accepted === 2 && tp.pool.size === 2, 2000, 'the replacement; the old one retiring')
  const started = performance.now()
  await Promise.race([tp.pool.drain('shutdown', 100), sleep(2000)])
  const took = performance.now() - started
  t.ok(took < 1000, `resolved at the drain's deadline (${Math.round(took)} ms)`)
  await allSettled(t, [a], tp)
  t.equal(a.failure?.code, 'reset')
  t.same(tp.closed.sort(), ['max_lifetime', 'shutdown'])
})

/** Answers a held h2 stream with 200 and `body`. */
function answer(stream: http2.ServerHttp2Stream, body = 'ok'): void {
  if (stream.closed) return
  stream.respond({ ':status': 200 })
  stream.end(body)
}

t.test('h2c: streams up to the pod\'s SETTINGS_MAX_CONCURRENT_STREAMS per session, and one more session per that many queued, not one per request', async (t) => {
  const pod = await H2Pod.start(HOST, { maxConcurrentStreams: 2 }, t)
  pod.onStream = () => {}
  const tp = startPool(t, pod, { perEndpoint: 1, maxPerEndpoint: 4 }, { protocol: 'h2c' })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front session')
  const calls = [1, 2, 3, 4].map((i) => get(tp.pool, `/${i}`))
  await waitFor(() => pod.streams.length === 4, 2000, 'four streams at the pod')
  await sleep(30)
  t.equal(pod.accepted, 2, 'two sessions for four streams')
  t.equal(tp.pool.size, 2)
  t.equal(tp.counters.inFlight, 4)
  for (const s of pod.streams) answer(s)
  await allSettled(t, calls, tp)
  t.same(calls.map((c) => c.body), ['ok', 'ok', 'ok', 'ok'])
  t.equal(calls[0].controller!.reusedIdle, false, 'h2c has no keep-alive race')
})

t.test('h2c: maxRequests, the last request on a session is answered, then the session closes as max_requests', async (t) => {
  const pod = await H2Pod.start(HOST, {}, t)
  const tp = startPool(t, pod, { maxRequests: 2 }, { protocol: 'h2c' })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front session')
  const calls: Call[] = []
  for (let i = 0; i < 3; i++) calls.push(await get(tp.pool, `/${i}`).settled())
  await allSettled(t, calls, tp)
  t.same(calls.map((c) => c.failure?.code ?? c.status), [200, 200, 200])
  await waitFor(() => tp.closed.length === 1, 2000, 'the first session closed')
  t.same(tp.closed, ['max_requests'])
  t.equal(pod.accepted, 2)
})

t.test('h2c: a stream the pod refuses fails as refused_stream, and the session is left for a new one', async (t) => {
  const pod = await H2Pod.start(HOST, {}, t)
  pod.onStream = (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
  const tp = startPool(t, pod, {}, { protocol: 'h2c' })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front session')
  const a = get(tp.pool)
  await allSettled(t, [a], tp)
  t.equal(a.failure?.code, 'refused_stream')
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a new session')
  await waitFor(() => tp.closed.length === 1, 2000, 'the refusing session closed')
  t.same(tp.closed, ['remote_close'])
  pod.onStream = (stream) => answer(stream)
  const b = get(tp.pool)
  await allSettled(t, [b], tp)
  t.equal(b.status, 200)
  t.equal(pod.accepted, 2)
})

t.test('h2c: a session the pod closes is remote_close, and another opens', async (t) => {
  const pod = await H2Pod.start(HOST, {}, t)
  const tp = startPool(t, pod, {}, { protocol: 'h2c' })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front session')
  for (const s of pod.sessions) s.destroy()
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a new session')
  t.same(tp.closed, ['remote_close'])
  t.equal(tp.pool.size, 1)
})
t.test('h2c: a GOAWAY from the pod lets the streams it accepted finish, closes the session as remote_close, and another opens', async (t) => {
  const pod = await H2Pod.start(HOST, {}, t)
  pod.onStream = () => {}
  const tp = startPool(t, pod, {}, { protocol: 'h2c' })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front session')
  const a = get(tp.pool, '/a')
  await waitFor(() => pod.streams.length === 1, 2000, 'the stream at the pod')
  const [session] = pod.sessions
  session.goaway(http2.constants.NGHTTP2_NO_ERROR, pod.streams[0].id!)
  await waitFor(() => pod.accepted === 2 && tp.pool.connected, 2000, 'a replacement session')
  t.equal(tp.pool.size, 2, 'the old session still counts while it finishes its stream')
  t.same(tp.closed, [], 'and is not closed yet')
  pod.onStream = (stream) => answer(stream, 'new')
  const b = get(tp.pool, '/b')
  await b.settled()
  t.equal(b.body, 'new', 'new requests go on the replacement')
  answer(pod.streams[0], 'old')
  await allSettled(t, [a, b], tp)
  t.equal(a.body, 'old', 'the accepted stream finished')
  await waitFor(() => tp.closed.length === 1, 2000, 'the old session closed')
  t.same(tp.closed, ['remote_close'])
  t.equal(tp.pool.size, 1)
})
t.test('h2c: requests queued while the only session is replaced open one session, not one each', async (t) => {
  const pod = await H2Pod.start(HOST, {}, t)
  let releaseSecond: () => void = () => {}
  const tp = startPool(t, pod, { maxPerEndpoint: 4 }, {
    protocol: 'h2c',
    connect: (n, connect) => n === 2 ? new Promise((resolve) => { releaseSecond = () => resolve(connect()) }) : connect(),
  })
  await waitFor(() => tp.pool.connected, 2000, 'the up-front session')
  for (const s of pod.sessions) s.goaway(http2.constants.NGHTTP2_NO_ERROR)
  await waitFor(() => tp.closed.length === 1, 2000, 'the session gone')
  const calls = [1, 2, 3, 4].map(() => get(tp.pool))
  await sleep(30)
  releaseSecond()
  await allSettled(t, calls, tp)
  t.same(calls.map((c) => c.status), [200, 200, 200, 200])
  t.equal(pod.accepted, 2, 'one replacement session carried all four')
})
