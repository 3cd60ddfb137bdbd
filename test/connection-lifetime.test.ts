import t from 'tap'
import { request, singleConnectionAgent, startCluster, waitFor } from './helpers/harness.ts'

t.test('maxLifetime: connections are replaced make-before-break, no request fails', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { connection: { maxLifetime: '300ms', lifetimeJitter: '20%' } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  const started = Date.now()
  let failures = 0
  let sent = 0
  while (Date.now() - started < 1500) {
    const a = await request(`${cluster.url}/`, { agent })
    sent++
    if (a.status !== 200) failures++
  }
  t.equal(failures, 0, `no failures in ${sent} requests`)
  for (const pod of cluster.pods) t.ok(pod.connections >= 4, `${pod.name} saw ${pod.connections} TCP connections in 1.5 s`)
  t.ok((upstream.stats.connectionsClosed.get('max_lifetime') ?? 0) >= 6, 'closed for max_lifetime')
  for (const e of upstream.endpoints) {
    for (const age of e.connectionAgesSeconds(performance.now())) t.ok(age <= 0.35, `no connection older than maxLifetime (${age}s)`)
  }
})

t.test('maxRequests: a connection carries at most N requests', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: { connection: { maxRequests: 5 } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 50; i++) t.equal((await request(`${cluster.url}/`, { agent })).status, 200)
  const perConnection = new Map<number, number>()
  for (const r of cluster.pods[0].received) perConnection.set(r.connection, (perConnection.get(r.connection) ?? 0) + 1)
  t.ok(perConnection.size >= 10, `50 requests over ${perConnection.size} connections`)
  t.ok([...perConnection.values()].every((n) => n <= 5), 'none carried more than 5')
  t.ok((upstream.stats.connectionsClosed.get('max_requests') ?? 0) >= 9)
})

t.test('perEndpoint connections are open before the first request; extras close when idle', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { connection: { perEndpoint: 2, maxPerEndpoint: 8, idleTimeout: '200ms' } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  await waitFor(() => cluster.pods.every((p) => p.openConnections === 2), 2000, 'two connections per pod up front')
  t.same(cluster.pods.map((p) => p.requests), [0, 0], 'before any request')
  // 12 concurrent slow requests over 2 pods: 6 each, more than the 2 kept open.
  const slow = Array.from({ length: 12 }, () => request(`${cluster.url}/slow?ms=300`))
  await waitFor(() => cluster.pods.every((p) => p.openConnections >= 6), 2000, 'extra connections while busy')
  t.ok(cluster.pods.every((p) => p.openConnections <= 8), 'never beyond maxPerEndpoint')
  t.same((await Promise.all(slow)).map((a) => a.status), Array(12).fill(200))
  await waitFor(() => cluster.pods.every((p) => p.openConnections === 2), 3000, 'extras to close when idle')
  t.ok((upstream.stats.connectionsClosed.get('idle') ?? 0) >= 8, 'closed for idle')
})

t.test('maxPerEndpoint bounds connections; requests beyond it wait for a free one', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: { connection: { perEndpoint: 1, maxPerEndpoint: 2 } } })
  t.teardown(() => cluster.close())
  const slow = Array.from({ length: 6 }, () => request(`${cluster.url}/slow?ms=200`))
  const statuses = (await Promise.all(slow)).map((a) => a.status)
  t.same(statuses, Array(6).fill(200))
  t.ok(cluster.pods[0].connections <= 2, `pod saw ${cluster.pods[0].connections} connections`)
})
