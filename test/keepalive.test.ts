// SPEC v2 §3 `keepalive` for h2c pods: a session that has heard nothing from its pod for
// `keepalive` gets an HTTP/2 PING, and one unanswered within `connectTimeout` is closed as
// failed (reason `error`) and replaced, before a request is lost to it. The pod here sits behind
// a relay that goes silent without closing anything (its kernel still answers TCP, as a frozen
// node's network path can), so only the PING can find it. And one PING per silence: gRPC servers
// answer repeated PINGs from a client that hears nothing with GOAWAY "too_many_pings".
import http2 from 'node:http2'
import t from 'tap'
import { frame, GrpcPod } from '../src/demo/grpc-pod.ts'
import { onOnePort } from '../src/net.ts'
import type { Upstream } from '../src/upstream/upstream.ts'
import { type FaultCluster, sleep, startFaultCluster } from './helpers/fault-cluster.ts'
import { request, waitFor } from './helpers/harness.ts'
import { SilentRelay } from './helpers/silent-relay.ts'

const KEEPALIVE_MS = 500
const CONNECT_TIMEOUT_MS = 500

/** A healthy gRPC pod, and a second one reached only through a relay; DNS names the healthy one and the relay. */
async function setUp(t: { teardown(fn: () => unknown): void }, connection: Record<string, unknown>) {
  let behindRelay: GrpcPod | null = null
  const [healthy, hidden, relay] = await onOnePort<GrpcPod | SilentRelay>(3, 2, async (host, port, i) => {
    if (i === 0) return GrpcPod.start({ name: 'healthy', host, port })
    if (i === 1) return (behindRelay = await GrpcPod.start({ name: 'behind-relay', host, port }))
    return SilentRelay.start(host, port, { host: behindRelay!.host, port })
  }) as [GrpcPod, GrpcPod, SilentRelay]
  t.teardown(() => Promise.all([healthy.close(), hidden.close(), relay.close()]))
  const cluster = await startFaultCluster({ hosts: [healthy.host, relay.host], port: healthy.port, upstream: { protocol: 'h2c', connection } })
  t.teardown(() => cluster.close())
  const upstream = cluster.upstream
  const behind = [...upstream.endpoints].find((e) => e.address === relay.host)!
  await waitFor(() => [...upstream.endpoints].every((e) => e.connected), 3000, 'a session to each pod')
  return { healthy, hidden, relay, cluster, upstream, behind }
}

const closedBy = (upstream: Upstream, reason: 'error' | 'remote_close'): number => upstream.stats.connectionsClosed.get(reason) ?? 0

/** GETs through spoke until the relay's pod has answered one: its session has just heard HEADERS and DATA. */
async function prime(cluster: FaultCluster, hidden: GrpcPod): Promise<void> {
  for (let i = 0; i < 20 && hidden.calls === 0; i++) {
    const answer = await request(`${cluster.url}/`)
    if (answer.status !== 200) throw new Error(`priming GET answered ${answer.status}`)
  }
  if (hidden.calls === 0) throw new Error('no GET reached the pod behind the relay')
}

t.test('an h2c pod gone silent without a FIN: found by PING within keepalive + connectTimeout, replaced, no request lost to it', async (t) => {
  const { hidden, relay, cluster, upstream, behind } = await setUp(t, { keepalive: `${KEEPALIVE_MS}ms`, connectTimeout: `${CONNECT_TIMEOUT_MS}ms` })
  await prime(cluster, hidden)
  const accepted = relay.connections
  relay.silence()
  const silencedAt = performance.now()
  await waitFor(() => closedBy(upstream, 'error') > 0, 10_000, 'the silent session closed as failed')
  const detectedMs = performance.now() - silencedAt
  t.comment(`silent h2c session detected in ${Math.round(detectedMs)} ms (keepalive ${KEEPALIVE_MS} ms, connectTimeout ${CONNECT_TIMEOUT_MS} ms; bound 1.25 × keepalive + connectTimeout = ${1.25 * KEEPALIVE_MS + CONNECT_TIMEOUT_MS} ms)`)
  // The PING goes 1–1.25 × keepalive after the pod's last frame, and waits connectTimeout.
  t.ok(detectedMs >= CONNECT_TIMEOUT_MS - 50, `not before the PING could have been answered (${Math.round(detectedMs)} ms)`)
  t.ok(detectedMs < 3 * (1.25 * KEEPALIVE_MS + CONNECT_TIMEOUT_MS), `within 3 × (1.25 × keepalive + connectTimeout) (${Math.round(detectedMs)} ms)`)
  t.equal(closedBy(upstream, 'remote_close'), 0, 'not read as the pod closing it')
  t.notOk(behind.connected, 'the pod behind the relay has no session taking requests')
  await waitFor(() => relay.connections > accepted, 3000, 'a new connection attempted')
  const before = behind.requests
  const answers = await Promise.all(Array.from({ length: 10 }, () => request(`${cluster.url}/`)))
  t.same(answers.map((a) => a.status), Array(10).fill(200), 'every request after detection answered')
  t.same(new Set(answers.map((a) => a.headers['x-pod'])), new Set(['healthy']), 'by the healthy pod')
  t.equal(behind.requests, before, 'none was sent to the silent pod')
})

t.test('keepalive 0: the silent session stays, a request sent to it would hang', async (t) => {
  const { hidden, relay, cluster, upstream, behind } = await setUp(t, { keepalive: '0s', connectTimeout: `${CONNECT_TIMEOUT_MS}ms` })
  await prime(cluster, hidden)
  relay.silence()
  await sleep(3 * (1.25 * KEEPALIVE_MS + CONNECT_TIMEOUT_MS))
  t.equal(closedBy(upstream, 'error'), 0, 'nothing closed')
  t.ok(behind.connected, 'the dead session still takes requests')
})

t.test('one PING per silence: an idle session gets one however long it lasts, a silent call at most one', async (t) => {
  const keepaliveMs = 100
  const { healthy, hidden, cluster, upstream } = await setUp(t, { keepalive: `${keepaliveMs}ms`, connectTimeout: '1s' })
  const pods = [healthy, hidden]
  // Fresh sessions, idle for 15 × keepalive: one PING each.
  await sleep(15 * keepaliveMs)
  t.same(pods.map((p) => p.pings), [1, 1], 'idle sessions: one PING each')
  // The pod sends HEADERS and DATA: the next silence may have its PING.
  await prime(cluster, hidden)
  await sleep(15 * keepaliveMs)
  t.equal(hidden.pings, 2, 'one more after the pod answered a request')
  // A call in flight for 15 × keepalive with nothing from the pod meanwhile (a long poll).
  const client = http2.connect(cluster.url)
  t.teardown(() => client.close())
  const before = pods.map((p) => p.pings)
  const answers = await Promise.all([0, 1].map(() => new Promise<string>((resolve, reject) => {
    const stream = client.request({ ':method': 'POST', ':path': '/demo.Echo/Slow', 'content-type': 'application/grpc', te: 'trailers' })
    let status = ''
    stream.on('trailers', (trailers) => { status = String(trailers['grpc-status']) })
    stream.on('response', (headers) => { if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']) })
    stream.on('error', reject)
    stream.on('close', () => resolve(status))
    stream.resume()
    stream.end(frame({ ms: 15 * keepaliveMs }))
  })))
  t.same(answers, ['0', '0'], 'the slow calls succeeded')
  const during = pods.map((p, i) => p.pings - before[i])
  t.ok(during.every((n) => n <= 1), `at most one PING per session while its call was silent (${during.join(', ')})`)
  t.equal(closedBy(upstream, 'error') + closedBy(upstream, 'remote_close'), 0, 'no session closed')
  t.equal(upstream.stats.connectionsOpened, 2, 'the two sessions served throughout')
})

t.test('PINGs are not activity: an extra session opened for a burst still closes after idleTimeout', async (t) => {
  // One stream per session: two calls at once need two sessions, one beyond perEndpoint.
  const [pod] = await onOnePort(1, 2, (host, port) => GrpcPod.start({ name: 'one-stream', host, port, maxConcurrentStreams: 1 }))
  t.teardown(() => pod.close())
  const cluster = await startFaultCluster({
    hosts: [pod.host], port: pod.port,
    upstream: { protocol: 'h2c', connection: { perEndpoint: 1, maxPerEndpoint: 2, keepalive: '100ms', idleTimeout: '800ms' } },
  })
  t.teardown(() => cluster.close())
  const upstream = cluster.upstream
  const client = http2.connect(cluster.url)
  t.teardown(() => client.close())
  await Promise.all([0, 1].map(() => new Promise<void>((resolve, reject) => {
    const stream = client.request({ ':method': 'POST', ':path': '/demo.Echo/Slow', 'content-type': 'application/grpc', te: 'trailers' })
    stream.on('error', reject)
    stream.on('close', () => resolve())
    stream.resume()
    stream.end(frame({ ms: 200 }))
  })))
  t.equal(upstream.stats.connectionsOpened, 2, 'a second session for the burst')
  const pingsBefore = pod.pings
  await waitFor(() => (upstream.stats.connectionsClosed.get('idle') ?? 0) > 0, 5000, 'the extra session closed as idle')
  t.ok(pod.pings > pingsBefore, `the sessions were pinged while idle (${pod.pings - pingsBefore} PINGs)`)
  t.same([...upstream.endpoints].map((e) => e.connections), [1], 'perEndpoint sessions stay')
})
