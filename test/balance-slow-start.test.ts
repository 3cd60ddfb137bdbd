// Slow start: the ramp's arithmetic and every balanced policy's share of a ramping pod on an
// injected clock; end to end, a pod added by DNS (3 → 4) and a pod back from ejection, with the
// real DNS server, real pods and spoke in-process.
import t from 'tap'
import { createPicker, type Picker, RAMP_FLOOR } from '../src/balance/index.ts'
import { SlowStart } from '../src/balance/slow-start.ts'
import { startPods } from '../src/demo/pod.ts'
import { closedLoop, shareOf } from './helpers/closed-loop.ts'
import { startCluster, waitFor } from './helpers/harness.ts'
import { type SimPod, simClock, simPods } from './helpers/pick-sim.ts'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('the weight rises linearly from RAMP_FLOOR to 1 over the window; past it, nothing ramps', async (t) => {
  const clock = simClock(0)
  const ramp = new SlowStart<string>(4000, clock.now)
  t.equal(ramp.now(), null, 'nothing ramps: the plain path')
  ramp.begin('new')
  t.equal(ramp.weight('new', 0), RAMP_FLOOR)
  t.equal(ramp.weight('new', 2000), RAMP_FLOOR + (1 - RAMP_FLOOR) / 2)
  t.equal(ramp.weight('new', 4000), 1)
  t.equal(ramp.weight('old', 1000), 1, 'a pod not ramping weighs 1')
  clock.t = 3999
  t.equal(ramp.now(), 3999)
  clock.t = 4000
  t.equal(ramp.now(), null, 'the window is over: the plain path again')
  t.equal(ramp.weight('new', 4000), 1)
  const off = new SlowStart<string>(0, clock.now)
  off.begin('new')
  t.equal(off.now(), null, 'slowStart 0: begin does nothing')
})

/** The share of `picks` picks that go to `pod` with the clock at `atMs` into its ramp (nothing in flight). */
function shareAt(policy: 'round_robin' | 'least_request' | 'peak_ewma' | 'random', atMs: number, picks = 40_000): number {
  const clock = simClock(0)
  const pods = simPods(['a', 'b', 'c', 'new'], policy === 'peak_ewma' ? clock : null)
  const picker: Picker<SimPod> = createPicker<SimPod>(policy, { slowStartMs: 4000, now: clock.now })
  picker.slowStart(pods[3])
  clock.t = atMs
  let n = 0
  for (let i = 0; i < picks; i++) if (picker.pick(pods, null) === pods[3]) n++
  return n / picks
}

for (const policy of ['round_robin', 'least_request', 'peak_ewma', 'random'] as const) {
  t.test(`${policy}: a ramping pod's share is its weight's share, w / (n − 1 + w)`, async (t) => {
    for (const [at, w] of [[0, RAMP_FLOOR], [2000, 0.55], [3000, 0.775], [4000, 1]]) {
      const expected = w / (3 + w)
      const got = shareAt(policy, at)
      t.ok(Math.abs(got - expected) < 0.02, `${at} ms into the ramp: ${(100 * got).toFixed(1)} % (expected ${(100 * expected).toFixed(1)} %)`)
    }
  })
}

t.test('every pod ramping: still one of them, never none', async (t) => {
  const clock = simClock(0)
  const pods = simPods(['a', 'b'], null)
  for (const policy of ['round_robin', 'least_request', 'random'] as const) {
    const picker = createPicker<SimPod>(policy, { slowStartMs: 4000, now: clock.now })
    for (const p of pods) picker.slowStart(p)
    for (let i = 0; i < 200; i++) t.not(picker.pick(pods, new Set([pods[0]])), null)
    t.equal(picker.pick(pods, new Set([pods[0]])), pods[1], `${policy}: the one not excluded`)
  }
})

t.test('end to end: pods 3 → 4 with slowStart 4s: the new pod starts well below its share and reaches it by the window\'s end', async (t) => {
  const cluster = await startCluster({ pods: 3, upstream: { slowStart: '4s' } })
  t.teardown(() => cluster.close())
  const [added] = await startPods(1, { first: 2 + cluster.pods.length, port: cluster.pods[0].port, namePrefix: 'added' })
  t.teardown(() => added.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const load = closedLoop(`${cluster.url}/`, 4, 300_000)
  t.teardown(() => load.stop())
  await waitFor(() => load.answers.length > 200, 5000, 'traffic')
  t.equal(added.requests, 0)
  cluster.publish([...cluster.pods, added])
  await waitFor(() => upstream.eligible.length === 4, 5000, 'the fourth pod in discovery')
  const joined = performance.now()
  await sleep(5600)
  await load.stop()
  // Weights 0.1 → 0.44 over the first 1.5 s: about 8 % of the answers where 25 % is fair.
  const first = shareOf(load.answers, added.name, joined, joined + 1500)
  const third = shareOf(load.answers, added.name, joined + 2000, joined + 3000)
  const after = shareOf(load.answers, added.name, joined + 4500, joined + 5500)
  t.ok(first.count >= 60 && after.count >= 60, `answers per window: ${first.count}, ${third.count}, ${after.count}`)
  t.ok(first.share < 0.16, `first 1.5 s: ${(100 * first.share).toFixed(1)} % (its fair share: 25 %)`)
  t.ok(third.share > first.share, `third second: ${(100 * third.share).toFixed(1)} %, rising`)
  t.ok(after.share > 0.17 && after.share < 0.33, `after the window: ${(100 * after.share).toFixed(1)} %, about fair`)
})

t.test('end to end: a pod back from ejection is slow-started too (least_request)', async (t) => {
  const cluster = await startCluster({
    pods: 3,
    upstream: { policy: 'least_request', slowStart: '4s', outlierDetection: { consecutiveFailures: 3, ejectionTime: '1s' } },
  })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const flaky = cluster.pods[2]
  const endpoint = [...upstream.endpoints].find((e) => e.address === flaky.host)!
  const load = closedLoop(`${cluster.url}/`, 4, 300_000)
  t.teardown(() => load.stop())
  await waitFor(() => load.answers.length > 200, 5000, 'traffic')
  flaky.behaviour = { status: 500 }
  await waitFor(() => endpoint.state.tag === 'ejected', 5000, 'the failing pod ejected')
  flaky.behaviour = null
  await waitFor(() => endpoint.state.tag === 'active', 5000, 'its return')
  const back = performance.now()
  await sleep(5600)
  await load.stop()
  const first = shareOf(load.answers, flaky.name, back, back + 1500)
  const after = shareOf(load.answers, flaky.name, back + 4500, back + 5500)
  t.ok(first.count >= 60 && after.count >= 60, `answers per window: ${first.count}, ${after.count}`)
  t.ok(first.share < 0.24, `first 1.5 s back: ${(100 * first.share).toFixed(1)} % (its fair share: 33 %)`)
  t.ok(after.share > 0.24 && after.share < 0.42, `after the window: ${(100 * after.share).toFixed(1)} %, about fair`)
})
