import t from 'tap'
import { request, startCluster } from './helpers/harness.ts'

t.test('a request with a body gives back its concurrency slot when answered', async (t) => {
  // undici consumes and destroys the app's request body, after which req.socket is null: the
  // request must still be marked ended, or each POST holds one of maxConcurrentRequests for good.
  const cluster = await startCluster({ pods: 1, upstream: { limits: { maxConcurrentRequests: 3 } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const statuses: number[] = []
  for (let i = 0; i < 10; i++) statuses.push((await request(`${cluster.url}/echo`, { method: 'POST', body: `body ${i}` })).status)
  t.same(statuses, statuses.map(() => 200), 'ten POSTs in a row, none refused as overloaded')
  t.equal(upstream.inFlight, 0, 'nothing counted in flight afterwards')
  const endpoint = [...upstream.endpoints][0]
  t.equal(endpoint.errorCounts.get('timeout') ?? 0, 0, 'no request left to time out')
})
