import http from 'node:http'
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'

/** Bounded load: `concurrency` keep-alive clients sending back to back until `stop()`. */
function load(url: string, concurrency: number, options: { method?: string; maxRequests?: number } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const statuses = new Map<number, number>()
  let running = true
  let sent = 0
  const worker = async (): Promise<void> => {
    while (running && sent < (options.maxRequests ?? 50_000)) {
      sent++
      try {
        const a = await request(url, { agent, method: options.method, body: options.method === 'POST' ? 'x' : undefined })
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1)
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1)
      }
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, worker))
  return {
    statuses,
    async stop() {
      running = false
      await done
      agent.destroy()
      return statuses
    },
  }
}

t.test('a pod killed under load: GETs see zero errors and the pod is ejected', async (t) => {
  const cluster = await startCluster({ pods: 3, upstream: { outlierDetection: { consecutiveFailures: 3, ejectionTime: '30s' } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const traffic = load(`${cluster.url}/`, 8)
  await waitFor(() => cluster.pods.every((p) => p.requests > 50), 5000, 'traffic on every pod')
  const victim = cluster.pods[1]
  await victim.kill()
  const killedAt = victim.requests
  await waitFor(() => [...upstream.endpoints].some((e) => e.state.tag === 'ejected'), 5000, 'an ejection')
  const survivorsBefore = cluster.pods[0].requests + cluster.pods[2].requests
  await waitFor(() => cluster.pods[0].requests + cluster.pods[2].requests > survivorsBefore + 300, 5000, 'more traffic after the ejection')
  const statuses = await traffic.stop()
  t.same([...statuses.keys()], [200], `only 200s: ${JSON.stringify([...statuses])}`)
  const ejected = [...upstream.endpoints].filter((e) => e.state.tag === 'ejected').map((e) => e.key)
  t.same(ejected, [`${victim.host}:${victim.port}`], 'the killed pod is the one ejected')
  t.equal(victim.requests, killedAt, 'nothing reached the dead pod')
  t.ok(upstream.stats.retries > 0, `retries happened (${upstream.stats.retries})`)
  t.equal(upstream.stats.ejections, 1)
})

t.test('POST is not retried: its failure is visible, never sent twice', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { outlierDetection: { consecutiveFailures: 0 } } })
  t.teardown(() => cluster.close())
  const victim = cluster.pods[0]
  await victim.kill()
  const statuses: number[] = []
  for (let i = 0; i < 10; i++) statuses.push((await request(`${cluster.url}/echo`, { method: 'POST', body: 'once' })).status)
  t.ok(statuses.includes(502), 'some POSTs failed with 502')
  t.ok(statuses.includes(200), 'the others reached the live pod')
  const answered = statuses.filter((s) => s === 200).length
  t.equal(cluster.pods[1].received.filter((r) => r.method === 'POST').length, answered, 'each POST reached a pod at most once')
  const retried = await request(`${cluster.url}/echo`, { method: 'POST', body: 'x', headers: { 'x-spoke-retry': 'always' } })
  const again = await request(`${cluster.url}/echo`, { method: 'POST', body: 'x', headers: { 'x-spoke-retry': 'always' } })
  t.same([retried.status, again.status], [200, 200], 'x-spoke-retry: always lets a POST retry on another pod')
})

t.test('connect failures answer 502 connect_failed when no pod is left to try', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  await cluster.pods[0].kill()
  const answer = await request(`${cluster.url}/`)
  t.equal(answer.status, 502)
  t.equal(answer.headers['x-spoke-error'], 'connect_failed')
})
