// peak_ewma: the estimate's arithmetic on an injected clock, the picker on plain pods, a
// virtual-time run with the real 10 s decay, and end to end: real DNS, real pods, spoke
// in-process, several keep-alive client connections.
import t, { type Test } from 'tap'
import { createPicker, DECAY_MS, FAILURE_FLOOR_MS, PeakEwma } from '../src/balance/index.ts'
import { closedLoop, shareOf } from './helpers/closed-loop.ts'
import { startCluster, waitFor } from './helpers/harness.ts'
import { share, type SimPod, simClock, simPods, simulate } from './helpers/pick-sim.ts'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const close = (t: Test, actual: number, expected: number, what: string): void => {
  t.ok(Math.abs(actual - expected) < 1e-9 * Math.max(1, expected), `${what}: ${actual} ≈ ${expected}`)
}

t.test('the estimate: first sample as is, a peak at once, a lower sample decays in, decay toward 0 between samples', async (t) => {
  const clock = simClock(0)
  const e = new PeakEwma(clock.now)
  t.equal(e.sampled, false, 'no estimate before the first sample')
  t.equal(e.estimate(), 0)
  e.observe(10)
  t.equal(e.estimate(), 10, 'the first sample is the estimate')
  clock.t = 1000
  close(t, e.estimate(), 10 * Math.exp(-0.1), 'one second later: decayed by exp(-1 s / 10 s)')
  e.observe(20)
  t.equal(e.estimate(), 20, 'a sample above the estimate is taken at once')
  clock.t = 2000
  const d = Math.exp(-1000 / DECAY_MS)
  e.observe(5)
  close(t, e.estimate(), 20 * d * d + 5 * (1 - d), 'a lower sample: decayed estimate × d + sample × (1 − d), d = exp(−Δ/τ)')
  const before = e.estimate()
  e.failed()
  close(t, e.estimate(), 2 * before, 'a failure counts as twice the estimate')
  const afterFailure = e.estimate()
  clock.t = 2000 + DECAY_MS
  close(t, e.estimate(), afterFailure / Math.E, 'after τ = 10 s without samples: 1/e of it')
  // Long after, a sample counts almost whole: a pod that recovered shows it with one answer.
  clock.t = 2000 + 10 * DECAY_MS
  e.observe(1)
  t.ok(e.estimate() < 1.001, `a sample after a long silence replaces the estimate (${e.estimate()})`)
})

t.test('a failure before any sample, or on an estimate decayed to nothing, counts as FAILURE_FLOOR_MS', async (t) => {
  const clock = simClock(0)
  const fresh = new PeakEwma(clock.now)
  fresh.failed()
  t.equal(fresh.sampled, true)
  t.equal(fresh.estimate(), FAILURE_FLOOR_MS)
  const old = new PeakEwma(clock.now)
  old.observe(0.5)
  clock.t = 30 * DECAY_MS
  old.failed()
  t.equal(old.estimate(), FAILURE_FLOOR_MS)
  old.failed()
  t.equal(old.estimate(), 2 * FAILURE_FLOOR_MS, 'failures in a row double it')
})

t.test('the picker: cost = (in flight + 1) × estimate; a pod without a sample costs what its pair does', async (t) => {
  const clock = simClock(0)
  const [a, b] = simPods(['a', 'b'], clock)
  const picker = createPicker<SimPod>('peak_ewma', { now: clock.now })
  a.latency!.observe(10)
  b.latency!.observe(3)
  a.inFlight = 0
  b.inFlight = 2
  for (let i = 0; i < 20; i++) t.equal(picker.pick([a, b], null), b, '3 ms × 3 = 9 beats 10 ms × 1')
  b.inFlight = 3
  for (let i = 0; i < 20; i++) t.equal(picker.pick([a, b], null), a, '3 ms × 4 = 12 loses to 10 ms × 1')
  const [c] = simPods(['c'], clock)
  c.inFlight = 1
  for (let i = 0; i < 20; i++) t.equal(picker.pick([a, c], null), a, 'unsampled c with 1 in flight: compared on in-flight with a')
  c.inFlight = 0
  a.inFlight = 1
  for (let i = 0; i < 20; i++) t.equal(picker.pick([a, c], null), c, 'unsampled c with 0 in flight beats a with 1')
  t.equal(picker.pick([a, b], new Set([b])), a, 'an excluded pod is not picked')
  t.equal(picker.pick([a], new Set([a])), null)
})

t.test('comparing two pods without the clock (PeakEwma.cheaper) agrees with the costs computed at any later time', async (t) => {
  const clock = simClock(0)
  let disagreements = 0
  for (let i = 0; i < 2000; i++) {
    const a = new PeakEwma(clock.now)
    const b = new PeakEwma(clock.now)
    clock.t = Math.random() * 1e9
    a.observe(Math.random() * 100)
    clock.t += Math.random() * 60_000
    b.observe(Math.random() * 100)
    if (i % 3 === 0) b.failed()
    clock.t += Math.random() * 60_000
    const ia = (Math.random() * 5) | 0
    const ib = (Math.random() * 5) | 0
    const ca = (ia + 1) * a.estimate()
    const cb = (ib + 1) * b.estimate()
    // Ties within rounding can go either way.
    if (Math.abs(ca - cb) > 1e-9 * Math.max(ca, cb) && a.cheaper(ia, b, ib) !== ca < cb) disagreements++
  }
  t.equal(disagreements, 0)
})

t.test('virtual time, real constants: a pod 30 ms slower gets almost nothing; after it recovers, a third within a few decay periods', async (t) => {
  const clock = simClock()
  const pods = simPods(['a', 'b', 'slow'], clock)
  const picker = createPicker<SimPod>('peak_ewma', { now: clock.now })
  let slow = true
  // 2000 requests/s; fast pods answer in 1 ms, the slow one in 31 ms while it is slow.
  const sim = simulate(picker, pods, clock, 0.5, (pod) => (pod.name === 'slow' && slow ? 31 : 1))
  sim.run(clock.t + 10_000)
  const slowShare = share(sim.run(clock.t + 20_000), 'slow')
  t.ok(slowShare < 0.05, `while slow: ${(100 * slowShare).toFixed(2)} % of the requests (round_robin: 33 %)`)
  slow = false
  const recoveredAt = clock.t
  let back = -1
  for (let w = 0; w < 10 && back < 0; w++) {
    if (share(sim.run(clock.t + 5000), 'slow') > 0.25) back = clock.t - recoveredAt
  }
  t.ok(back > 0 && back <= 4 * DECAY_MS, `back to over a quarter within ${back / 1000} s of recovering (≤ 4 decay periods)`)
  const settled = share(sim.run(clock.t + 10_000), 'slow')
  t.ok(settled > 0.28 && settled < 0.39, `then about a third: ${(100 * settled).toFixed(1)} %`)
})

t.test('virtual time: a pod that fails fast does not look fast (least_request gives it more than its share)', async (t) => {
  const run = (policy: 'peak_ewma' | 'least_request'): number => {
    const clock = simClock()
    const pods = simPods(['a', 'b', 'failing'], clock)
    const picker = createPicker<SimPod>(policy, { now: clock.now })
    // 4000 requests/s; healthy pods answer in 2 ms, the failing one a 5xx in 0.2 ms.
    const sim = simulate(picker, pods, clock, 0.25, (pod) => (pod.name === 'failing' ? 0.2 : 2), (pod) => pod.name === 'failing')
    sim.run(clock.t + 5000)
    return share(sim.run(clock.t + 10_000), 'failing')
  }
  const ewma = run('peak_ewma')
  const least = run('least_request')
  t.ok(least > 0.34, `least_request: ${(100 * least).toFixed(1)} % to the failing pod`)
  t.ok(ewma < 0.1, `peak_ewma: ${(100 * ewma).toFixed(1)} % to the failing pod`)
})

t.test('end to end: 3 pods, one 30 ms slower: well under a third while slow, about a third again after it recovers', async (t) => {
  // The balancing clock runs 10× fast, so the 10 s decay plays out in 1 s of the test's time
  // (the virtual-time test above runs the real constant); response times are real.
  const cluster = await startCluster({ pods: 3, upstream: { policy: 'peak_ewma' }, clock: () => performance.now() * 10 })
  t.teardown(() => cluster.close())
  const slow = cluster.pods[2]
  slow.behaviour = { delayMs: 30 }
  const load = closedLoop(`${cluster.url}/`, 6, 200_000)
  t.teardown(() => load.stop())
  await waitFor(() => load.answers.length > 100, 5000, 'traffic')
  // 2.5 s, longer while answers are few (a busy machine): at least 500 of them, at most 15 s.
  const from = performance.now()
  await sleep(2500)
  await waitFor(() => shareOf(load.answers, slow.name, from, Infinity).count >= 500, 12_500, '500 answers')
  const slowPhase = shareOf(load.answers, slow.name, from, performance.now())
  t.ok(slowPhase.share < 0.15, `while slow: ${(100 * slowPhase.share).toFixed(2)} % of ${slowPhase.count} to the slow pod (fair: 33 %)`)

  slow.behaviour = null
  // Windows of one decay period (1 s here); it must be back within six.
  let back = -1
  let last = { share: 0, count: 0 }
  for (let w = 1; w <= 6 && back < 0; w++) {
    await sleep(1000)
    last = shareOf(load.answers, slow.name, performance.now() - 1000, performance.now())
    if (last.share > 0.2) back = w
  }
  t.ok(back > 0, `back to over a fifth (${(100 * last.share).toFixed(1)} % of ${last.count}) within ${back} decay period(s) of recovering`)
  const settledFrom = performance.now()
  await sleep(2000)
  const settled = shareOf(load.answers, slow.name, settledFrom, performance.now())
  await load.stop()
  t.ok(settled.share > 0.2 && settled.share < 0.5, `then about a third: ${(100 * settled.share).toFixed(1)} % of ${settled.count}`)
})
