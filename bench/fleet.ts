// Fleet simulation (issue 14): N sidecars × M pods in simulated time, driven by spoke's own
// pickers, subsetting and discovery schedule. No sockets, no Kubernetes: see docs/scale.md.
//
//   npm run bench:fleet                      every size; tables to stdout and bench/out/fleet.md,
//                                            charts of the largest size to docs/scale/*.png
//   node bench/fleet.ts --sizes 1000x1000    one size
//   node bench/fleet.ts --sizes 1000x1000 --sections settle
//                                            how the slow pods' share settles over 90 s (minutes)
//   options: --sizes NxM,…  --sections connections,dns,load,scale-up,settle  --seed N
//            --warmup S --window S (the load runs' measured window, default 2 + 6 s)
//            --charts DIR | --no-charts
import { mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { drawCharts, gnuplotAvailable } from './fleet/chart.ts'
import { fleetCharts } from './fleet/charts.ts'
import { runConnections } from './fleet/connections.ts'
import { runDns } from './fleet/dns-load.ts'
import { runLoad } from './fleet/load.ts'
import { MODEL } from './fleet/model.ts'
import { connectionsTable, dnsTable, loadTable, type Results, scaleUpTable, settleTable, type SizeResults } from './fleet/report.ts'
import type { BalancePolicy } from './fleet/spoke.ts'

const SECTIONS = ['connections', 'dns', 'load', 'scale-up', 'settle'] as const
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10x10,100x100,100x1000,1000x100,1000x1000' },
    sections: { type: 'string', default: 'connections,dns,load,scale-up' },
    seed: { type: 'string', default: '14' },
    warmup: { type: 'string', default: '2' },
    window: { type: 'string', default: '6' },
    charts: { type: 'string', default: 'docs/scale' },
    'no-charts': { type: 'boolean', default: false },
  },
})
const seed = Number(values.seed)
const sizes = values.sizes.split(',').map((s) => {
  const m = /^(\d+)x(\d+)$/.exec(s.trim())
  if (m === null || Number(m[1]) < 1 || Number(m[2]) < 10) throw new Error(`bad size "${s}": want NxM, M ≥ 10, e.g. 1000x1000`)
  return { sidecars: Number(m[1]), pods: Number(m[2]) }
})
const sections = new Set(values.sections.split(',').map((s) => s.trim()))
for (const s of sections) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section "${s}": ${SECTIONS.join(', ')}`)
const seconds = (name: 'warmup' | 'window'): number => {
  const v = Number(values[name])
  if (!(v >= 0 && v <= 600)) throw new Error(`--${name} wants seconds, 0 to 600`)
  return v * 1000
}

/** Subset sizes for the connection counts; the load runs use LOAD_SUBSET. */
const SUBSETS = [10, 25, 100]
const LOAD_SUBSET = 25
const POLICIES: readonly BalancePolicy[] = ['round_robin', 'least_request', 'peak_ewma']
const SLOW_START_MS = 10_000
const LOAD = { warmupMs: seconds('warmup'), durationMs: seconds('warmup') + Math.max(1000, seconds('window')) }
const SCALE = { atMs: 1_000, afterMs: 7_000, share: 0.1 }
/** How the slow pods' share settles: a long run, the last SETTLE.measuredMs measured. */
const SETTLE = { durationMs: 90_000, measuredMs: 30_000, bucketMs: 2_000 }
const DNS = { durationMs: 600_000, bucketMs: 100, queriesPerLookup: 2 }
const MAX_EVENTS = 100_000_000

const results: Results = { sizes: [], model: MODEL, load: LOAD }

/** CPU seconds since the last lap: the progress line's measure, whatever else the machine runs. */
let lastCpu = process.cpuUsage()
function lap(): string {
  const now = process.cpuUsage()
  const s = (now.user - lastCpu.user + now.system - lastCpu.system) / 1e6
  lastCpu = now
  return s.toFixed(1)
}

function simulate(sidecars: number, pods: number, laps: string[]): SizeResults {
  const entry: SizeResults = { sidecars, pods, connections: [], dns: [], load: [], scaleUp: [], settle: [] }
  const added = Math.round(pods * SCALE.share)
  if (sections.has('connections')) {
    entry.connections.push(runConnections({ sidecars, pods, subsetSize: 0, identities: 'deployment', added, seed }))
    const subsets = SUBSETS.filter((s) => s < pods)
    for (const identities of ['deployment', 'statefulset'] as const) {
      for (const subsetSize of subsets) entry.connections.push(runConnections({ sidecars, pods, subsetSize, identities, added, seed }))
    }
    laps.push(`connections ${lap()}`)
  }
  if (sections.has('dns')) {
    for (const [start, jitter] of [['spread', true], ['together', true], ['together', false]] as const) {
      entry.dns.push(runDns({ sidecars, start, jitter, seed, ...DNS }))
    }
    laps.push(`DNS ${lap()}`)
  }
  if (sections.has('load')) {
    const runs: { policy: BalancePolicy; subsetSize: number; staggered: boolean }[] = [
      ...POLICIES.map((policy) => ({ policy, subsetSize: 0, staggered: true })),
      { policy: 'round_robin', subsetSize: 0, staggered: false },
      ...(LOAD_SUBSET < pods ? POLICIES.map((policy) => ({ policy, subsetSize: LOAD_SUBSET, staggered: true })) : []),
    ]
    for (const run of runs) {
      entry.load.push(runLoad({ sidecars, pods, slowFraction: MODEL.slowFraction, slowStartMs: 0, seed, maxEvents: MAX_EVENTS, ...LOAD, ...run }))
    }
    laps.push(`load ${lap()}`)
  }
  if (sections.has('scale-up')) {
    const runs: { policy: BalancePolicy; slowStartMs: number }[] = [
      ...POLICIES.filter((p) => p !== 'least_request').map((policy) => ({ policy, slowStartMs: 0 })),
      { policy: 'round_robin', slowStartMs: SLOW_START_MS },
    ]
    for (const run of runs) {
      entry.scaleUp.push(runLoad({
        sidecars, pods: pods - added, added: { count: added, atMs: SCALE.atMs }, subsetSize: 0, slowFraction: 0,
        warmupMs: SCALE.atMs, durationMs: SCALE.atMs + SCALE.afterMs + run.slowStartMs, seed, maxEvents: MAX_EVENTS, ...run,
      }))
    }
    laps.push(`scale-up ${lap()}`)
  }
  if (sections.has('settle')) {
    for (const policy of POLICIES.filter((p) => p !== 'round_robin')) {
      for (const subsetSize of LOAD_SUBSET < pods ? [0, LOAD_SUBSET] : [0]) {
        entry.settle.push(runLoad({
          sidecars, pods, policy, subsetSize, slowFraction: MODEL.slowFraction, slowStartMs: 0, seed, maxEvents: MAX_EVENTS,
          warmupMs: SETTLE.durationMs - SETTLE.measuredMs, durationMs: SETTLE.durationMs, bucketMs: SETTLE.bucketMs,
        }))
      }
    }
    laps.push(`settle ${lap()}`)
  }
  return entry
}

const started = performance.now()
for (const { sidecars, pods } of sizes) {
  const t0 = performance.now()
  const laps: string[] = []
  lap()
  const entry = simulate(sidecars, pods, laps)
  results.sizes.push(entry)
  const capped = [...entry.load, ...entry.scaleUp, ...entry.settle].filter((r) => r.capped).length
  const wall = ((performance.now() - t0) / 1000).toFixed(1)
  console.error(`fleet: ${sidecars} × ${pods} in ${wall} s (CPU s: ${laps.join(', ')})${capped > 0 ? `; ${capped} runs hit the event cap` : ''}`)
}

const report = [
  `# Fleet simulation (seed ${seed})`,
  '',
  ...(sections.has('connections') ? ['## Connections per pod', '', connectionsTable(results), ''] : []),
  ...(sections.has('load') ? [`## Load per pod (${LOAD.warmupMs / 1000} s, then ${(LOAD.durationMs - LOAD.warmupMs) / 1000} s measured)`, '', loadTable(results), ''] : []),
  ...(sections.has('dns') ? ['## DNS queries', '', dnsTable(results), ''] : []),
  ...(sections.has('scale-up') ? ['## Scale-up', '', scaleUpTable(results), ''] : []),
  ...(sections.has('settle') ? [`## Settling (the last ${SETTLE.measuredMs / 1000} s of ${SETTLE.durationMs / 1000} s measured)`, '', settleTable(results), ''] : []),
].join('\n')
console.log(report)
mkdirSync('bench/out', { recursive: true })
writeFileSync('bench/out/fleet.md', report)

if (!values['no-charts']) {
  if (gnuplotAvailable()) {
    mkdirSync(values.charts, { recursive: true })
    for (const file of drawCharts(values.charts, fleetCharts(results))) console.error(`fleet: wrote ${file}`)
  } else {
    console.error('fleet: gnuplot not found, no charts (Debian/Ubuntu: apt-get install gnuplot-nox)')
  }
}
console.error(`fleet: done in ${((performance.now() - started) / 1000).toFixed(1)} s; tables also in bench/out/fleet.md`)
