// HTTP/1.1 connections to pods are opened up front and handed to undici only at their first
// request. Until then spoke alone owns the socket: a reset must not crash it, a close must be
// noticed, and a connection spoke closes unused must close its socket.
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'

t.test('a pod resetting connections that never carried a request: spoke stays up and reconnects', async (t) => {
  // spoke opens perEndpoint connections up front; undici only takes a socket with its first
  // request. A reset before then was an unhandled 'error' event that ended the process.
  const cluster = await startCluster({ pods: 2, upstream: { connection: { perEndpoint: 2 } } })
  t.teardown(() => cluster.close())
  await waitFor(() => cluster.pods.every((p) => p.openConnections === 2), 2000, 'connections opened up front')
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const [victim, other] = cluster.pods
  await victim.kill()
  await waitFor(() => (upstream.stats.connectionsClosed.get('error') ?? 0) === 2, 2000, 'both reset connections noticed')
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await request(`${cluster.url}/`)).status)
  t.same(statuses, statuses.map(() => 200), 'every GET answered by the live pod (retried off the dead one)')
  t.equal(other.requests, 6)
})

t.test('a pod closing idle connections before their first request: noticed and replaced', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const pod = cluster.pods[0]
  await waitFor(() => pod.openConnections === 1, 2000, 'the up-front connection')
  const upstream = [...cluster.spoke.upstreams.values()][0]
  pod.closeIdleConnections()
  await waitFor(() => (upstream.stats.connectionsClosed.get('remote_close') ?? 0) === 1, 2000, 'the close noticed as remote_close')
  await waitFor(() => pod.connections === 2 && pod.openConnections === 1, 2000, 'a replacement opened at once')
  t.equal((await request(`${cluster.url}/`)).status, 200)
})

t.test('a connection closed before its first request closes its socket', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { connection: { perEndpoint: 3 } } })
  t.teardown(() => cluster.close())
  await waitFor(() => cluster.pods.every((p) => p.openConnections === 3), 2000, 'connections opened up front')
  cluster.publish([cluster.pods[0]])
  // Nothing ever used the removed pod's connections; draining them must still close the sockets.
  await waitFor(() => cluster.pods[1].openConnections === 0, 3000, "the removed pod's idle connections to close")
  t.equal(cluster.pods[0].openConnections, 3, 'the remaining pod keeps its three')
})

t.test('connections recycled before their first request are closed, not leaked', async (t) => {
  const cluster = await startCluster({
    pods: 1,
    upstream: { connection: { perEndpoint: 1, maxLifetime: '200ms', lifetimeJitter: '0%' } },
    // The pod itself would keep an idle connection for a minute.
    podOptions: { keepAliveTimeoutMs: 60_000 },
  })
  t.teardown(() => cluster.close())
  const pod = cluster.pods[0]
  await waitFor(() => pod.connections >= 6, 5000, 'several recycled connections')
  t.ok(pod.openConnections <= 2, `${pod.openConnections} connections open at the pod after ${pod.connections} were opened`)
})
