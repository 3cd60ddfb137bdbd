import http from 'node:http'
import t from 'tap'
import { request, singleConnectionAgent, startCluster, waitFor } from './helpers/harness.ts'

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

t.test('a pod killed under load: GETs see zero errors and the pod leaves the rotation', async (t) => {
  const cluster = await startCluster({ pods: 3, upstream: { outlierDetection: { consecutiveFailures: 3, ejectionTime: '30s' } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const traffic = load(`${cluster.url}/`, 8)
  await waitFor(() => cluster.pods.every((p) => p.requests > 50), 5000, 'traffic on every pod')
  const victim = cluster.pods[1]
  const victimKey = `${victim.host}:${victim.port}`
  await victim.kill()
  const killedAt = victim.requests
  // Ejected after its failures, or (SPEC v2 §4) skipped for having no open connection.
  const out = (): string[] => [...upstream.endpoints].filter((e) => e.state.tag === 'ejected' || !e.connected).map((e) => e.key)
  await waitFor(() => out().includes(victimKey), 5000, 'the dead pod to leave the rotation')
  const survivorsBefore = cluster.pods[0].requests + cluster.pods[2].requests
  await waitFor(() => cluster.pods[0].requests + cluster.pods[2].requests > survivorsBefore + 300, 5000, 'more traffic after it left')
  const statuses = await traffic.stop()
  t.same([...statuses.keys()], [200], `only 200s: ${JSON.stringify([...statuses])}`)
  t.same(out(), [victimKey], 'the killed pod, and only it, gets no new requests')
  t.equal(victim.requests, killedAt, 'nothing reached the dead pod')
  t.ok(upstream.stats.ejections <= 1, `no live pod was ejected (${upstream.stats.ejections} ejections)`)
})

t.test('a POST the pod took and reset before answering is not retried; with x-spoke-retry: always it is, from the kept body', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { policy: 'round_robin', outlierDetection: { consecutiveFailures: 0 } } })
  t.teardown(() => cluster.close())
  const [crashing, live] = cluster.pods
  crashing.behaviour = { reset: true }
  const statuses: number[] = []
  for (let i = 0; i < 10; i++) statuses.push((await request(`${cluster.url}/echo`, { method: 'POST', body: `once-${i}` })).status)
  t.ok(statuses.includes(502), 'the POSTs the crashing pod took failed with 502')
  t.ok(statuses.includes(200), 'the others reached the live pod')
  const posts = [...crashing.received, ...live.received].filter((r) => r.method === 'POST').map((r) => r.body.toString())
  t.equal(new Set(posts).size, posts.length, 'each POST reached a pod at most once')
  t.equal(posts.length, 10, 'and every one reached a pod')

  // A small body is kept (up to 64 KiB), so an HTTP/1.1 POST can go again to the other pod.
  const body = 'x'.repeat(40 * 1024)
  const answers = []
  for (let i = 0; i < 4; i++) answers.push(await request(`${cluster.url}/echo`, { method: 'POST', body: `${i}${body}`, headers: { 'x-spoke-retry': 'always' } }))
  t.same(answers.map((a) => a.status), [200, 200, 200, 200], 'x-spoke-retry: always: every POST answered by the live pod')
  t.same(answers.map((a) => JSON.parse(a.body).body.length), [body.length + 1, body.length + 1, body.length + 1, body.length + 1], 'with its whole body')

  // A body over the kept 64 KiB that went out cannot be sent again: the failure is visible.
  const large = 'y'.repeat(100 * 1024)
  const big = []
  for (let i = 0; i < 4; i++) big.push((await request(`${cluster.url}/echo`, { method: 'POST', body: large, headers: { 'x-spoke-retry': 'always' } })).status)
  t.ok(big.includes(502), `a POST over 64 KiB the crashing pod took is not sent again (${big.join(', ')})`)
})

t.test('a pod that resets every GET it reads on a kept-alive connection is ejected, though each reset looks like the keep-alive race', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { policy: 'round_robin', outlierDetection: { consecutiveFailures: 3, ejectionTime: '30s' } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const [crashing] = cluster.pods
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  // Warm: both pods' connections have carried a request, so every reset now meets a reused connection.
  for (let i = 0; i < 4; i++) await request(`${cluster.url}/`, { agent })
  crashing.behaviour = { reset: true }
  const statuses: number[] = []
  for (let i = 0; i < 40 && upstream.stats.ejections === 0; i++) statuses.push((await request(`${cluster.url}/`, { agent })).status)
  t.equal(upstream.stats.ejections, 1, `ejected after ${statuses.length} GETs`)
  t.same(new Set(statuses), new Set([200]), 'every GET answered by the live pod in the end')
  t.same([...upstream.endpoints].filter((e) => e.state.tag === 'ejected').map((e) => e.key), [`${crashing.host}:${crashing.port}`])
})

t.test('connect failures answer 502 connect_failed when no pod is left to try', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  await cluster.pods[0].kill()
  const answer = await request(`${cluster.url}/`)
  t.equal(answer.status, 502)
  t.equal(answer.headers['x-spoke-error'], 'connect_failed')
})
