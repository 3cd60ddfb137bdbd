// HTTP/1.1 connections to pods are opened up front and handed to undici only at their first
// request. Until then spoke alone owns the socket: a reset must not crash it, and a connection
// closed unused must close its socket.
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'

t.test('a pod resetting connections that never carried a request: spoke keeps serving', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { connection: { perEndpoint: 2 } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  await waitFor(() => cluster.pods.every((p) => p.openConnections === 2), 2000, 'the up-front connections')
  // RST on every connection (an uncaught ECONNRESET here used to end the whole process).
  await cluster.pods[0].kill()
  await waitFor(() => [...upstream.endpoints].find((e) => e.address === cluster.pods[0].host)!.pool.size === 0, 2000, 'the dead connections leaving the pool')
  for (let i = 0; i < 4; i++) t.equal((await request(`${cluster.url}/`)).status, 200, 'served by the other pod (or retried there)')
  t.equal(cluster.pods[1].requests, 4)
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
