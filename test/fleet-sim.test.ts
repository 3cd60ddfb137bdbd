// The fleet simulation (bench/fleet.ts, docs/scale.md) at a tiny size: the invariants its figures
// rest on. Simulated time only: no sockets, no timers, a few seconds of CPU.
import t from 'tap'
import { runConnections } from '../bench/fleet/connections.ts'
import { runDns } from '../bench/fleet/dns-load.ts'
import { type LoadConfig, runLoad } from '../bench/fleet/load.ts'
import { MODEL, podName, sidecarNames } from '../bench/fleet/model.ts'
import { chooseSubset } from '../src/balance/subset.ts'
import { Rng } from './helpers/rng.ts'
import { scaleUp } from '../bench/fleet/stats.ts'

const TINY: LoadConfig = {
  sidecars: 20, pods: 5, policy: 'round_robin', subsetSize: 0, slowStartMs: 0, slowFraction: 0.2,
  warmupMs: 1000, durationMs: 6000, seed: 7, maxEvents: 2_000_000,
}

const sum = (values: ArrayLike<number>) => Array.from(values).reduce((a, b) => a + b, 0)

t.test('every request sent is answered once, and nothing stays in flight', async (t) => {
  for (const policy of ['round_robin', 'least_request', 'peak_ewma'] as const) {
    const r = runLoad({ ...TINY, policy })
    t.notOk(r.capped, `${policy}: not capped`)
    t.ok(r.requests > 1000, `${policy}: a real load (${r.requests} requests)`)
    t.equal(sum(r.arrivals), r.requests, `${policy}: the pods received every request`)
    t.equal(r.latency.fast.length + r.latency.slow.length, r.requests, `${policy}: every request answered`)
    t.equal(r.leftInFlight, 0, `${policy}: sidecars' in-flight counts back to 0`)
    t.equal(r.slow.size, 1, `${policy}: one pod of five is slow`)
  }
})

t.test('the same seed gives the same run', async (t) => {
  const a = runLoad({ ...TINY, policy: 'least_request' })
  const b = runLoad({ ...TINY, policy: 'least_request' })
  t.same([...a.arrivals], [...b.arrivals])
  t.same([...a.latency.slow], [...b.latency.slow])
})

t.test('round robin sends the slow pod its equal share; least_request and peak_ewma send it less', async (t) => {
  const share = (policy: LoadConfig['policy']) => {
    const r = runLoad({ ...TINY, policy })
    const slow = [...r.slow][0]
    return r.arrivals[slow] / (r.requests / TINY.pods)
  }
  const rr = share('round_robin')
  const lr = share('least_request')
  const pe = share('peak_ewma')
  t.ok(rr > 0.9 && rr < 1.1, `round_robin: the slow pod at ${rr.toFixed(2)} of an equal share`)
  t.ok(lr < rr * 0.8, `least_request: ${lr.toFixed(2)}, round_robin: ${rr.toFixed(2)}`)
  t.ok(pe < rr * 0.6, `peak_ewma: ${pe.toFixed(2)}, round_robin: ${rr.toFixed(2)}`)
})

t.test('without subsetting, every pod holds one connection per sidecar', async (t) => {
  const c = runConnections({ sidecars: 20, pods: 5, subsetSize: 0, identities: 'deployment', added: 1, seed: 7 })
  t.same([...c.perPod], Array(5).fill(20 * MODEL.perEndpoint))
  t.equal(c.perSidecar, 5 * MODEL.perEndpoint)
  t.equal(c.movedPerSidecar, 1 * MODEL.perEndpoint, 'one pod joining: one connection opened per sidecar, none closed')
})

t.test('with subsetSize, each sidecar balances over the pods chooseSubset gives it', async (t) => {
  const pods = [0, 1, 2, 3, 4]
  for (const identities of ['deployment', 'statefulset'] as const) {
    const r = runLoad({ ...TINY, subsetSize: 2, identities })
    const perPod = new Array<number>(pods.length).fill(0)
    for (const s of r.sidecars) {
      const chosen = chooseSubset(pods, 2, s.name, podName)
      t.same([...s.pods].sort(), [...chosen].sort(), `${identities}: ${s.name}`)
      for (const p of chosen) perPod[p]++
    }
    t.equal(sum(perPod), TINY.sidecars * 2)
    t.equal(sum(r.arrivals), r.requests, `${identities}: every request reached a pod`)

    const c = runConnections({ sidecars: 20, pods: 5, subsetSize: 2, identities, added: 1, seed: 9 })
    const expected = new Array<number>(pods.length).fill(0)
    for (const name of sidecarNames(20, identities, new Rng(9))) {
      for (const p of chooseSubset(pods, 2, name, podName)) expected[p] += MODEL.perEndpoint
    }
    t.same([...c.perPod], expected, `${identities}: connections per pod as chooseSubset gives them`)
    t.equal(c.perSidecar, 2 * MODEL.perEndpoint)
  }
})

t.test('DNS: queries per second from the refresh schedule', async (t) => {
  const sidecars = 50
  const r = runDns({ sidecars, queriesPerLookup: 2, start: 'spread', jitter: true, durationMs: 120_000, bucketMs: 100, seed: 3 })
  // refreshDelay is uniform over [0.9, 1] × the TTL-bounded interval: its mean is 0.95 of it.
  const meanDelayMs = 0.95 * Math.min(MODEL.refreshMs, MODEL.dnsTtlSeconds * 1000)
  const expected = (sidecars * 2 * 1000) / meanDelayMs
  t.ok(Math.abs(r.meanQps - expected) < expected * 0.05, `mean ${r.meanQps.toFixed(1)} q/s, expected ${expected.toFixed(1)}`)
  const together = runDns({ sidecars, queriesPerLookup: 2, start: 'together', jitter: false, durationMs: 60_000, bucketMs: 100, seed: 3 })
  t.equal(together.peakQps, sidecars * 2, 'without jitter a fleet started together stays in step')
})

t.test('scale-up: every sidecar learns of the new pods within one refresh, then they get their share', async (t) => {
  const r = runLoad({ ...TINY, pods: 4, slowFraction: 0, added: { count: 1, atMs: 1000 }, warmupMs: 1000, durationMs: 9000 })
  const u = scaleUp(r)
  t.equal(r.learntAfterMs.length, TINY.sidecars, 'every sidecar learnt')
  t.ok(u.allInformedMs <= MODEL.refreshMs, `last one after ${u.allInformedMs.toFixed(0)} ms`)
  t.ok(u.fairShareMs !== null && u.fairShareMs <= MODEL.refreshMs + 2000, `fair share after ${u.fairShareMs} ms`)
  t.ok(u.after !== null && u.after.low > 0.5 && u.after.high < 1.5, `then between ${u.after?.low.toFixed(2)} and ${u.after?.high.toFixed(2)} of it`)
})

t.test('slow start: a pod that joins gets a smaller share during the window, its full share after', async (t) => {
  const config: LoadConfig = { ...TINY, pods: 4, slowFraction: 0, added: { count: 1, atMs: 1000 }, warmupMs: 1000, durationMs: 28_000 }
  const plain = scaleUp(runLoad(config))
  const ramped = scaleUp(runLoad({ ...config, slowStartMs: 15_000 }))
  // Every sidecar knows the new pod 5 s after it joined; compare 6 to 8 s after.
  const early = (u: typeof plain) => {
    const points = u.share.filter((p) => p.atMs > 6000 && p.atMs <= 8000)
    return points.reduce((a, p) => a + p.share, 0) / points.length
  }
  t.ok(early(ramped) < early(plain) * 0.7, `6–8 s after: ${early(ramped).toFixed(2)} with slow start, ${early(plain).toFixed(2)} without`)
  t.ok(ramped.fairShareMs !== null && ramped.fairShareMs > plain.fairShareMs! + 3000, `fair share after ${ramped.fairShareMs} ms, without slow start ${plain.fairShareMs} ms`)
  t.ok(ramped.after !== null && ramped.share.at(-1)!.share > 0.8, `at the end: ${ramped.share.at(-1)?.share.toFixed(2)} of its fair share`)
})
