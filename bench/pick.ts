// Cost of one pick per balanced policy, and of what peak_ewma adds per request outside the pick
// (a clock read at dispatch, one at the answer's head, PeakEwma.observe). `node bench/pick.ts`:
// CPU only, no sockets; prints ns per pick for 3, 10 and 100 pods, with no pod ramping (the
// common case) and with one pod in its slow-start window. Each cell is the best of 5 runs: other
// load on the machine only makes a run slower.
import { createPicker, PeakEwma, type Pickable } from '../src/balance/index.ts'

type Pod = Pickable & { inFlight: number }
const POLICIES = ['round_robin', 'least_request', 'random', 'peak_ewma'] as const
const PICKS = 1_000_000
const RUNS = 5

function pods(n: number, policy: string): Pod[] {
  return Array.from({ length: n }, (_, i) => {
    const latency = policy === 'peak_ewma' ? new PeakEwma() : null
    latency?.observe(1 + (i % 7) * 0.3)
    return { inFlight: i % 4, latency }
  })
}

function nsPerPick(policy: (typeof POLICIES)[number], n: number, ramping: boolean): number {
  const list = pods(n, policy)
  const picker = createPicker<Pod>(policy, { slowStartMs: ramping ? 3_600_000 : 0 })
  if (ramping) picker.slowStart(list[0])
  let sink = 0
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) sink += picker.pick(list, null)!.inFlight
  }
  run(PICKS / 4)
  let best = Infinity
  for (let r = 0; r < RUNS; r++) {
    const started = performance.now()
    run(PICKS)
    best = Math.min(best, ((performance.now() - started) * 1e6) / PICKS)
  }
  return sink === -1 ? 0 : best
}

console.log('ns per pick            3 pods   10 pods  100 pods')
for (const ramping of [false, true]) {
  for (const policy of POLICIES) {
    const cells = [3, 10, 100].map((n) => nsPerPick(policy, n, ramping).toFixed(1).padStart(9))
    console.log(`${(policy + (ramping ? ', 1 ramping' : '')).padEnd(24)}${cells.join('')}`)
  }
}

// What the pool does per request for peak_ewma (transport/pool-request.ts): a clock read at
// dispatch, one at the answer's head, and observe().
const latency = new PeakEwma()
latency.observe(1)
let sink = 0
const measure = (count: number): void => {
  for (let i = 0; i < count; i++) {
    const sent = latency.now()
    const at = latency.now()
    sink += at
    latency.observe(at - sent + (i & 7) * 0.1, at)
  }
}
let clockSink = 0
let clockBest = Infinity
for (let r = 0; r < RUNS; r++) {
  const clockStarted = performance.now()
  for (let i = 0; i < PICKS; i++) clockSink += performance.now()
  clockBest = Math.min(clockBest, ((performance.now() - clockStarted) * 1e6) / PICKS)
}
console.log(`one performance.now() on this machine: ${clockBest.toFixed(1)} ns${clockSink === -1 ? '' : ''}`)
measure(PICKS / 4)
let best = Infinity
for (let r = 0; r < RUNS; r++) {
  const started = performance.now()
  measure(PICKS)
  best = Math.min(best, ((performance.now() - started) * 1e6) / PICKS)
}
console.log(`peak_ewma per request outside the pick (2 clock reads + observe): ${best.toFixed(1)} ns${sink === -1 ? '' : ''}`)
