// Cost of one pick per balanced policy, and of what peak_ewma adds per request outside the pick
// (a clock read at dispatch, one at the answer's head, PeakEwma.observe). `node bench/pick.ts`:
// CPU only, no sockets; prints ns per pick for 3, 10 and 100 pods, with no pod ramping (the
// common case) and with one pod in its slow-start window.
import { createPicker, PeakEwma, type Pickable } from '../src/balance/index.ts'

type Pod = Pickable & { inFlight: number }
const POLICIES = ['round_robin', 'least_request', 'random', 'peak_ewma'] as const
const PICKS = 2_000_000

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
  const started = performance.now()
  run(PICKS)
  const ns = ((performance.now() - started) * 1e6) / PICKS
  return sink === -1 ? 0 : ns
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
const clockStarted = performance.now()
for (let i = 0; i < PICKS; i++) clockSink += performance.now()
console.log(`one performance.now() on this machine: ${(((performance.now() - clockStarted) * 1e6) / PICKS).toFixed(1)} ns${clockSink === -1 ? '' : ''}`)
measure(PICKS / 4)
const started = performance.now()
measure(PICKS)
console.log(`peak_ewma per request outside the pick (2 clock reads + observe): ${(((performance.now() - started) * 1e6) / PICKS).toFixed(1)} ns${sink === -1 ? '' : ''}`)
