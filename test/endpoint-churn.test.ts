import t from 'tap'
import { Pod } from '../src/demo/pod.ts'
import { request, singleConnectionAgent, startCluster, waitFor } from './helpers/harness.ts'

t.test('a pod added to DNS gets traffic within refresh + 1 s, without the client reconnecting', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { discovery: { refresh: '1s', minRefresh: '100ms' } } })
  t.teardown(() => cluster.close())
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  const newcomer = await Pod.start({ name: 'pod-new', host: '127.0.0.9', port: cluster.pods[0].port })
  t.teardown(() => newcomer.close())
  await request(`${cluster.url}/`, { agent })
  cluster.publish([...cluster.pods, newcomer])
  const published = Date.now()
  let errors = 0
  while (newcomer.requests === 0 && Date.now() - published < 5000) {
    const a = await request(`${cluster.url}/`, { agent })
    if (a.status !== 200) errors++
  }
  const took = Date.now() - published
  t.ok(newcomer.requests > 0, `the new pod answered after ${took} ms`)
  t.ok(took <= 2000, 'within refresh (1 s) + 1 s')
  t.equal(errors, 0)
  t.equal(Object.values(agent.freeSockets).flat().length + Object.values(agent.sockets).flat().length, 1, 'still one client connection')
})

t.test('a pod removed from DNS gets no new requests, and its in-flight slow request completes', async (t) => {
  const cluster = await startCluster({ pods: 3, upstream: { discovery: { refresh: '1s', minRefresh: '100ms' } } })
  t.teardown(() => cluster.close())
  const [gone, ...staying] = cluster.pods
  const upstream = [...cluster.spoke.upstreams.values()][0]
  // Send slow requests until one lands on the pod that will leave.
  const slow: Promise<{ status: number; body: string }>[] = []
  while (gone.received.length === 0 || !gone.received.some((r) => r.url.startsWith('/slow'))) {
    slow.push(request(`${cluster.url}/slow?ms=1500`))
    await new Promise((r) => setTimeout(r, 20))
    if (slow.length > 10) break
  }
  await waitFor(() => upstream.inFlight >= slow.length, 1000, 'slow requests in flight')
  cluster.publish(staying)
  await waitFor(() => [...upstream.endpoints].length === 2, 3000, 'the pod to leave discovery')
  const before = gone.requests + gone.received.length
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 60; i++) {
    const a = await request(`${cluster.url}/`, { agent })
    t.not(a.headers['x-pod'], gone.name, 'no new request to the removed pod')
  }
  t.equal(gone.received.length + gone.requests, before, 'the removed pod received nothing new')
  const results = await Promise.all(slow)
  t.same(results.map((r) => r.status), results.map(() => 200), 'every slow request completed, including on the removed pod')
  t.ok(results.some((r) => r.body === `${gone.name}\n`), 'one of them was answered by the removed pod')
  await waitFor(() => gone.openConnections === 0, 3000, 'the removed pod\'s connections to close')
})

t.test('NXDOMAIN means zero pods: 503 no_endpoints', async (t) => {
  const cluster = await startCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  cluster.publish([])
  const upstream = [...cluster.spoke.upstreams.values()][0]
  await waitFor(() => upstream.endpointCount === 0, 3000, 'the pods to leave')
  const answer = await request(`${cluster.url}/`)
  t.equal(answer.status, 503)
  t.equal(answer.headers['x-spoke-error'], 'no_endpoints')
  const body = JSON.parse(answer.body) as Record<string, unknown>
  t.equal(body.error, 'no_endpoints')
  t.equal(body.upstream, 'orders')
  t.type(body.message, 'string')
})

t.test('DNS stops answering: traffic keeps flowing to the last pods', async (t) => {
  const cluster = await startCluster({ pods: 3 })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  cluster.dns.setBehaviour('*', 'drop')
  const errorsBefore = upstream.stats.dnsQueries.error
  await waitFor(() => upstream.stats.dnsQueries.error >= errorsBefore + 2, 8000, 'two failed DNS queries')
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  const counts = new Map<string, number>()
  for (let i = 0; i < 30; i++) {
    const a = await request(`${cluster.url}/`, { agent })
    t.equal(a.status, 200)
    counts.set(String(a.headers['x-pod']), (counts.get(String(a.headers['x-pod'])) ?? 0) + 1)
  }
  t.equal(counts.size, 3, 'all three pods still serve')
  t.equal(upstream.lastDiscovery?.result, 'error')
  cluster.dns.setBehaviour('*', 'servfail')
  await waitFor(() => upstream.lastDiscovery?.result === 'error' && upstream.stats.dnsQueries.error >= errorsBefore + 3, 8000, 'a SERVFAIL')
  t.equal(upstream.endpointCount, 3, 'SERVFAIL keeps the set too')
})
