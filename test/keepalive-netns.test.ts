// SPEC v2 §3 `keepalive` against a pod whose network really drops every packet (its own network
// namespace, iptables DROP; root only, see helpers/netns.ts) while spoke holds an idle connection
// to it: no FIN, no reset, nothing. HTTP/1.1 has no way to ask an idle connection whether the pod
// is there, so spoke's sockets to pods have TCP keepalive: probes after `keepalive` without a
// byte received, one a second, the connection reset (ETIMEDOUT) after `connectTimeout` worth of
// unanswered ones. An h2c session is found by its PING sooner.
import net from 'node:net'
import t from 'tap'
import { startGrpcPods } from '../src/demo/grpc-pod.ts'
import { startPods } from '../src/demo/pod.ts'
import type { Upstream } from '../src/upstream/upstream.ts'
import { startFaultCluster } from './helpers/fault-cluster.ts'
import { request, waitFor } from './helpers/harness.ts'
import { Netns, netnsUnavailable } from './helpers/netns.ts'
import { PodProcess } from './helpers/pod-process.ts'

const unavailable = netnsUnavailable()
// Node 24.19 added TCP_KEEPINTVL and TCP_KEEPCNT to setKeepAlive; before, libuv sends 10 probes a
// second apart, and the pod's own 5 s idle close (Keep-Alive: timeout=5) would come first.
const intervalSettable = net.Socket.prototype.setKeepAlive.length >= 4

async function setUp(t: { teardown(fn: () => unknown): void }, protocol: 'http1' | 'h2c', connection: Record<string, unknown>) {
  const ns = Netns.create()
  t.teardown(() => ns.close())
  const [local] = protocol === 'h2c' ? await startGrpcPods(1) : await startPods(1, { record: false })
  t.teardown(() => local.close())
  const remote = await PodProcess.start({ name: 'pod-ns', host: ns.podAddress, port: local.port, netns: ns.name, protocol })
  t.teardown(() => remote.close())
  const cluster = await startFaultCluster({ hosts: [local.host, remote.host], port: local.port, upstream: { protocol, connection } })
  t.teardown(() => cluster.close())
  const upstream = cluster.upstream
  const endpoint = [...upstream.endpoints].find((e) => e.address === remote.host)!
  await waitFor(() => endpoint.connected, 5000, 'a connection to the pod in the namespace')
  for (let i = 0; i < 20 && endpoint.requests === 0; i++) await request(`${cluster.url}/`)
  if (endpoint.requests === 0) throw new Error('no request reached the pod in the namespace')
  return { ns, upstream, endpoint }
}

const errors = (upstream: Upstream): number => upstream.stats.connectionsClosed.get('error') ?? 0

t.test('http1: an idle connection to a blackholed pod is reset by TCP keepalive after keepalive + connectTimeout', { skip: unavailable ?? (intervalSettable ? false : 'Node before 24.19 cannot set TCP_KEEPINTVL/TCP_KEEPCNT') }, async (t) => {
  const { ns, upstream, endpoint } = await setUp(t, 'http1', { keepalive: '1s', connectTimeout: '2s' })
  ns.blackhole()
  const blackholedAt = performance.now()
  // Probes after 1 s idle, then 2 s of them a second apart: about 3 s after the last byte.
  const expectedMs = 3000
  await waitFor(() => errors(upstream) > 0, 3 * expectedMs, 'the connection reset by TCP keepalive')
  const detectedMs = performance.now() - blackholedAt
  t.comment(`http1 connection to a blackholed pod reset after ${Math.round(detectedMs)} ms (TCP keepalive 1 s idle + 2 probes 1 s apart)`)
  t.ok(detectedMs >= 1500, `not before the probes could have been answered (${Math.round(detectedMs)} ms)`)
  t.notOk(upstream.stats.connectionsClosed.has('idle'), 'closed as failed, not by spoke\'s own idle timer')
  t.notOk(endpoint.connected, 'the pod has no connection taking requests')
})

t.test('h2c: a session to a blackholed pod is closed when its PING goes unanswered', { skip: unavailable ?? false }, async (t) => {
  const { ns, upstream, endpoint } = await setUp(t, 'h2c', { keepalive: '500ms', connectTimeout: '500ms' })
  ns.blackhole()
  const blackholedAt = performance.now()
  const boundMs = 1.25 * 500 + 500
  await waitFor(() => errors(upstream) > 0, 3 * boundMs, 'the session closed as failed')
  const detectedMs = performance.now() - blackholedAt
  t.comment(`h2c session to a blackholed pod closed after ${Math.round(detectedMs)} ms (bound 1.25 × keepalive + connectTimeout = ${boundMs} ms)`)
  t.notOk(endpoint.connected, 'the pod has no session taking requests')
})
