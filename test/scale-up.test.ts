// The scale-up promise (README "Scaling up"): an app holding one HTTP/2 connection to spoke, under
// load, while the headless Service goes from 3 pods to 6. Real DNS server (TTL 2 s), real pods on
// 127.0.0.2–.7, a real h2c client. Each new pod must carry at least 80 % of its fair share within
// the record TTL + 1 s of the DNS change, with no request failing.
import http2 from 'node:http2'
import t from 'tap'
import { type Pod, startPods } from '../src/demo/pod.ts'
import { startCluster } from './helpers/harness.ts'

const TTL_S = 2
/** Concurrent streams on the app's one connection. */
const STREAMS = 8
/** Each answer takes this long, so the load is steady rather than CPU-bound on this machine. */
const POD_DELAY_MS = 5

interface Load {
  /** Requests answered, by pod name, with the time each pod saw it. */
  readonly seen: Map<string, number[]>
  readonly failures: string[]
  stop(): Promise<number>
}

/** STREAMS loops of GETs on one h2c session until stopped; each answer's x-pod is recorded. */
function startLoad(url: string, seen: Map<string, number[]>): Load {
  const session = http2.connect(url)
  const failures: string[] = []
  let running = true
  let sent = 0
  const one = (): Promise<void> => new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ':method': 'GET' })
    let pod = ''
    let status = 0
    stream.on('response', (headers) => { status = Number(headers[':status']); pod = String(headers['x-pod'] ?? '') })
    stream.on('data', () => {})
    stream.on('end', () => {
      if (status === 200) seen.get(pod)?.push(performance.now())
      else failures.push(`status ${status} from ${pod || 'spoke'}`)
      resolve()
    })
    stream.on('error', (err) => { failures.push(err.message); resolve() })
    stream.end()
  })
  const loop = async (): Promise<void> => {
    // Bounded: 20 000 requests per loop at most, whatever happens to the clock.
    for (let i = 0; running && i < 20_000; i++) { sent++; await one() }
  }
  const loops = Array.from({ length: STREAMS }, loop)
  return {
    seen, failures,
    async stop() {
      running = false
      await Promise.all(loops)
      session.close()
      return sent
    },
  }
}

/** Each pod's share of the answers in [from, to), as a fraction of the fair share 1/pods.length. */
function shareOfFair(seen: Map<string, number[]>, pods: readonly Pod[], from: number, to: number): number[] {
  const counts = pods.map((p) => (seen.get(p.name) ?? []).filter((at) => at >= from && at < to).length)
  const total = [...seen.values()].reduce((sum, ats) => sum + ats.filter((at) => at >= from && at < to).length, 0)
  return counts.map((c) => (total === 0 ? 0 : (c / total) * pods.length))
}

/** The first 250 ms window (stepping 50 ms) after `from` in which every new pod has 80 % of its fair share. */
function timeToFairShare(seen: Map<string, number[]>, all: readonly Pod[], fresh: readonly Pod[], from: number, until: number): number | null {
  for (let at = from; at + 250 <= until; at += 50) {
    const shares = shareOfFair(seen, all, at, at + 250)
    if (fresh.every((p) => shares[all.indexOf(p)] >= 0.8)) return at + 250 - from
  }
  return null
}

t.test('3 → 6 pods under load on one h2c connection: each new pod has 80 % of its fair share within TTL + 1 s, no request fails', async (t) => {
  const seen = new Map<string, number[]>()
  const cluster = await startCluster({
    pods: 3, ttl: TTL_S,
    podOptions: { delayMs: POD_DELAY_MS },
    upstream: { discovery: { refresh: '30s', minRefresh: '500ms' } },
  })
  t.teardown(() => cluster.close())
  for (const pod of cluster.pods) seen.set(pod.name, [])
  const fresh = await startPods(3, { first: 5, port: cluster.pods[0].port, namePrefix: 'new', delayMs: POD_DELAY_MS })
  t.teardown(() => Promise.all(fresh.map((p) => p.close())))
  for (const pod of fresh) seen.set(pod.name, [])
  const all = [...cluster.pods, ...fresh]

  const load = startLoad(cluster.url, seen)
  await new Promise((r) => setTimeout(r, 1000))
  const before = shareOfFair(seen, cluster.pods, performance.now() - 800, performance.now())
  t.ok(before.every((s) => s > 0.7), `the first 3 pods share the load before the change: ${before.map((s) => s.toFixed(2))}`)

  const changedAt = performance.now()
  cluster.publish(all)
  const deadline = changedAt + TTL_S * 1000 + 1000
  await new Promise((r) => setTimeout(r, deadline - performance.now() + 1000))
  const sent = await load.stop()

  t.same(load.failures, [], `no request failed (${sent} sent)`)
  const after = shareOfFair(seen, all, deadline, deadline + 1000)
  const freshShares = fresh.map((p) => after[all.indexOf(p)])
  t.ok(freshShares.every((s) => s >= 0.8), `each new pod's share of its fair share in the second after TTL + 1 s: ${freshShares.map((s) => s.toFixed(2))}`)
  const reached = timeToFairShare(seen, all, fresh, changedAt, deadline + 1000)
  t.ok(reached !== null && reached <= TTL_S * 1000 + 1000, `80 % of fair share reached ${reached} ms after the DNS change (promise: ${TTL_S * 1000 + 1000} ms)`)
  t.comment(`scale-up: 80 % of fair share ${reached} ms after the DNS change, TTL ${TTL_S} s, ${sent} requests, 0 failed`)
})
