// The scale-up promise (README "Scaling up"): an app holding one HTTP/2 connection to spoke, under
// load, while the headless Service goes from 3 pods to 6. Real DNS server (TTL 2 s), real pods on
// 127.0.0.2–.7, a real h2c client. Each new pod must carry at least 80 % of its fair share within
// the record TTL + 1 s of the DNS change, with no request failing.
import http2 from 'node:http2'
import t, { type Test } from 'tap'
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
    if (fresh.every((p) => shares[all.indexOf(p)] >= 0.8)) return Math.round(at + 250 - from)
  }
  return null
}

/**
 * 3 pods under load, then 6 in DNS. Returns the shares seen and when each new pod got its first
 * request, for the promise checks of each case.
 */
async function scaleUp(t: Test, slowStartMs: number): Promise<{ seen: Map<string, number[]>; all: Pod[]; fresh: Pod[]; changedAt: number; stoppedAt: number }> {
  const seen = new Map<string, number[]>()
  const cluster = await startCluster({
    pods: 3, ttl: TTL_S,
    podOptions: { delayMs: POD_DELAY_MS },
    upstream: { discovery: { refresh: '30s', minRefresh: '500ms' }, slowStart: `${slowStartMs}ms` },
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
  // The promise's deadline, then a second to measure the share in.
  await new Promise((r) => setTimeout(r, TTL_S * 1000 + 1000 + slowStartMs + 1000))
  const sent = await load.stop()
  t.same(load.failures, [], `no request failed (${sent} sent)`)
  return { seen, all, fresh, changedAt, stoppedAt: performance.now() }
}

t.test('3 → 6 pods under load on one h2c connection: each new pod has 80 % of its fair share within TTL + 1 s, no request fails', async (t) => {
  const { seen, all, fresh, changedAt, stoppedAt } = await scaleUp(t, 0)
  const deadline = changedAt + TTL_S * 1000 + 1000
  const after = shareOfFair(seen, all, deadline, deadline + 1000)
  const freshShares = fresh.map((p) => after[all.indexOf(p)])
  t.ok(freshShares.every((s) => s >= 0.8), `each new pod's share of its fair share in the second after TTL + 1 s: ${freshShares.map((s) => s.toFixed(2))}`)
  const reached = timeToFairShare(seen, all, fresh, changedAt, stoppedAt)
  t.ok(reached !== null && reached <= TTL_S * 1000 + 1000, `80 % of fair share reached ${reached} ms after the DNS change (promise: ${TTL_S * 1000 + 1000} ms)`)
  t.comment(`scale-up: 80 % of fair share ${reached} ms after the DNS change, TTL ${TTL_S} s`)
})

t.test('the same with slowStart 3 s: the new pods start near 10 % of their weight and carry 80 % of their fair share within TTL + 1 s + slowStart', async (t) => {
  const slowStartMs = 3000
  const { seen, all, fresh, changedAt, stoppedAt } = await scaleUp(t, slowStartMs)
  const firstSeen = Math.min(...fresh.map((p) => seen.get(p.name)![0] ?? Infinity))
  t.ok(firstSeen < changedAt + TTL_S * 1000 + 1000, `the new pods were found within TTL + 1 s (${Math.round(firstSeen - changedAt)} ms)`)
  const early = shareOfFair(seen, all, firstSeen, firstSeen + 500).filter((_, i) => i >= 3)
  // At a weight of 10–25 % a pod gets 2–6 % of six pods' requests: well under half its fair share.
  t.ok(early.every((s) => s < 0.5), `in their first 500 ms the new pods get a fraction of their fair share: ${early.map((s) => s.toFixed(2))}`)
  const deadline = changedAt + TTL_S * 1000 + 1000 + slowStartMs
  const after = shareOfFair(seen, all, deadline, deadline + 1000).filter((_, i) => i >= 3)
  t.ok(after.every((s) => s >= 0.8), `after TTL + 1 s + slowStart each has 80 % of its fair share or more: ${after.map((s) => s.toFixed(2))}`)
  const reached = timeToFairShare(seen, all, fresh, changedAt, stoppedAt)
  t.ok(reached !== null && reached <= TTL_S * 1000 + 1000 + slowStartMs, `80 % of fair share reached ${reached} ms after the DNS change (promise: ${TTL_S * 1000 + 1000 + slowStartMs} ms)`)
  t.comment(`scale-up with slowStart ${slowStartMs} ms: first request ${Math.round(firstSeen - changedAt)} ms after the DNS change, 80 % of fair share after ${reached} ms`)
})
