// Outlier detection's rules one at a time, on plain pods without sockets; the end-to-end
// behaviour (real pods failing, ejection seen in metrics) is in pod-failure and sharding-*.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { OutlierConfig } from '../src/config/types.ts'
import type { EndpointState } from '../src/upstream/endpoint.ts'
import { silentLogger } from '../src/log.ts'
import { type Ejectable, OutlierDetector } from '../src/upstream/outliers.ts'

function pods(n: number): Ejectable[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.0.0.${i + 1}:80`, state: { tag: 'active', since: 0 }, consecutiveFailures: 0 }))
}

interface Setup {
  detector: OutlierDetector<Ejectable>
  /** What `changed` reported, in order: `+key` ejected, `-key` returned. */
  changes: string[]
}

function detect(t: { teardown(fn: () => unknown): void }, all: Ejectable[], config: Partial<OutlierConfig> = {}, sharded = false): Setup {
  const changes: string[] = []
  const detector = new OutlierDetector<Ejectable>({
    config: { consecutiveFailures: 3, ejectionTimeMs: 30_000, maxEjectedPercent: 100, ...config },
    sharded,
    pods: () => all,
    changed: (pod, ejected) => changes.push(`${ejected ? '+' : '-'}${pod.key}`),
    log: silentLogger,
    upstream: 'orders',
  })
  t.teardown(() => detector.close())
  return { detector, changes }
}

function fail(detector: OutlierDetector<Ejectable>, pod: Ejectable, times: number): void {
  for (let i = 0; i < times; i++) detector.recordFailure(pod)
}

t.test('consecutiveFailures failures in a row eject the pod for ejectionTime', async (t) => {
  const all = pods(3)
  const { detector, changes } = detect(t, all)
  fail(detector, all[0], 2)
  t.equal(all[0].state.tag, 'active', 'two failures are not yet a streak of three')
  const before = Date.now()
  detector.recordFailure(all[0])
  const state = all[0].state
  t.equal(state.tag, 'ejected')
  if (state.tag === 'ejected') t.ok(state.until - state.since === 30_000 && state.since >= before, 'until = since + ejectionTime')
  t.same(changes, [`+${all[0].key}`])
  t.equal(all[0].consecutiveFailures, 3)
})

t.test('a success ends the streak', async (t) => {
  const all = pods(3)
  const { detector, changes } = detect(t, all)
  fail(detector, all[0], 2)
  detector.recordSuccess(all[0])
  t.equal(all[0].consecutiveFailures, 0)
  fail(detector, all[0], 2)
  t.equal(all[0].state.tag, 'active', 'the streak started again from zero')
  t.same(changes, [])
})

// Rules that keep a failing pod in: its streak is counted, and nothing else happens.
const NEVER_EJECTED: { rule: string; config?: Partial<OutlierConfig>; sharded?: boolean; state?: EndpointState }[] = [
  { rule: 'consecutiveFailures 0 turns detection off', config: { consecutiveFailures: 0 } },
  { rule: 'a sharded upstream never ejects', sharded: true },
  { rule: 'only an active pod is ejected: a draining one stays draining', state: { tag: 'draining', since: 0 } },
]

for (const c of NEVER_EJECTED) {
  t.test(c.rule, async (t) => {
    const all = pods(3)
    const { detector, changes } = detect(t, all, c.config, c.sharded)
    if (c.state !== undefined) all[0].state = c.state
    const before = all[0].state
    fail(detector, all[0], 50)
    t.equal(all[0].state, before, 'the state is unchanged')
    t.equal(all[0].consecutiveFailures, 50, 'the streak is still counted')
    t.same(changes, [])
  })
}

t.test('never more than maxEjectedPercent of the pods in discovery', async (t) => {
  const all = pods(4)
  const { detector, changes } = detect(t, all, { maxEjectedPercent: 50 })
  for (const pod of all) fail(detector, pod, 3)
  t.same(all.map((p) => p.state.tag), ['ejected', 'ejected', 'active', 'active'], 'two of four is 50 %; a third would be 75 %')
  t.same(changes, [`+${all[0].key}`, `+${all[1].key}`])
})

t.test('never the last active pod, whatever the percentage allows', async (t) => {
  const all = pods(2)
  const { detector } = detect(t, all, { maxEjectedPercent: 100 })
  fail(detector, all[0], 3)
  fail(detector, all[1], 3)
  t.same(all.map((p) => p.state.tag), ['ejected', 'active'])
  const draining = pods(3)
  draining[2].state = { tag: 'draining', since: 0 }
  const second = detect(t, draining, { maxEjectedPercent: 100 })
  fail(second.detector, draining[0], 3)
  fail(second.detector, draining[1], 3)
  t.same(draining.map((p) => p.state.tag), ['ejected', 'active', 'draining'], 'a draining pod takes no requests: it does not count as eligible')
})

t.test('an ejected pod returns after ejectionTime with a clean streak', async (t) => {
  const all = pods(3)
  const { detector, changes } = detect(t, all, { ejectionTimeMs: 30 })
  fail(detector, all[0], 3)
  t.equal(all[0].state.tag, 'ejected')
  await sleep(80)
  t.equal(all[0].state.tag, 'active')
  t.equal(all[0].consecutiveFailures, 0)
  t.same(changes, [`+${all[0].key}`, `-${all[0].key}`])
})

t.test('a pod that left discovery while ejected does not return', async (t) => {
  const all = pods(3)
  const { detector, changes } = detect(t, all, { ejectionTimeMs: 30 })
  fail(detector, all[0], 3)
  all[0].state = { tag: 'draining', since: Date.now() }
  await sleep(80)
  t.equal(all[0].state.tag, 'draining')
  t.same(changes, [`+${all[0].key}`])
})

t.test('after close, nothing is ejected and no ejected pod returns', async (t) => {
  const all = pods(3)
  const { detector, changes } = detect(t, all, { ejectionTimeMs: 30 })
  fail(detector, all[0], 3)
  detector.close()
  fail(detector, all[1], 3)
  await sleep(80)
  t.same(all.map((p) => p.state.tag), ['ejected', 'active', 'active'])
  t.same(changes, [`+${all[0].key}`])
})
