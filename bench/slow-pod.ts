// Whether peak_ewma should be the default: round_robin, least_request and peak_ewma on three
// pods of which one answers 30 ms late, with real pods, the real DNS server and spoke
// in-process. `node bench/slow-pod.ts [SECONDS]` (default 8 per run): for each policy and client
// concurrency, closed-loop keep-alive clients for SECONDS after a 1 s warm-up; prints requests
// per second, the client's mean and p99 latency and the slow pod's share. Then, for peak_ewma
// with the real 10 s decay, how long after the pod recovers it is back to a quarter of the
// requests (at most 60 s); and, for scale, the three policies with no slow pod. Bounded: about
// 9 × (SECONDS + 2) + 60 s in all.
import { closedLoop, shareOf } from '../test/helpers/closed-loop.ts'
import { startCluster } from '../test/helpers/harness.ts'

const SECONDS = Number(process.argv[2] ?? 8)
const POLICIES = ['round_robin', 'least_request', 'peak_ewma'] as const
const SLOW_MS = 30
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function run(policy: (typeof POLICIES)[number], connections: number, slowMs: number): Promise<string> {
  const cluster = await startCluster({ pods: 3, upstream: { policy } })
  try {
    const slow = cluster.pods[2]
    if (slowMs > 0) slow.behaviour = { delayMs: slowMs }
    const load = closedLoop(`${cluster.url}/`, connections, 10_000_000)
    await sleep(1000)
    const from = performance.now()
    await sleep(SECONDS * 1000)
    const to = performance.now()
    await load.stop()
    const measured = load.answers.filter((a) => a.at >= from && a.at < to && a.status === 200)
    const ms = measured.map((a) => a.ms).sort((a, b) => a - b)
    const mean = ms.reduce((s, x) => s + x, 0) / ms.length
    const { share } = shareOf(load.answers, slow.name, from, to)
    const errors = load.answers.filter((a) => a.at >= from && a.at < to && a.status !== 200).length
    return `| ${slowMs > 0 ? `${slowMs} ms late` : 'none'} | ${policy} | ${connections} | ${(measured.length / SECONDS).toFixed(0)} | ${mean.toFixed(2)} | ${percentile(ms, 99).toFixed(2)} | ${(100 * share).toFixed(1)} % | ${errors} |`
  } finally {
    await cluster.close()
  }
}

async function recovery(connections: number): Promise<string> {
  const cluster = await startCluster({ pods: 3, upstream: { policy: 'peak_ewma' } })
  try {
    const slow = cluster.pods[2]
    slow.behaviour = { delayMs: SLOW_MS }
    const load = closedLoop(`${cluster.url}/`, connections, 10_000_000)
    await sleep(5000)
    slow.behaviour = null
    const recovered = performance.now()
    let back = -1
    while (back < 0 && performance.now() - recovered < 60_000) {
      await sleep(1000)
      const now = performance.now()
      if (shareOf(load.answers, slow.name, now - 1000, now).share > 0.25) back = now - recovered
    }
    await load.stop()
    return back < 0 ? 'not back to a quarter within 60 s' : `back to over a quarter of the requests (1 s windows) ${(back / 1000).toFixed(0)} s after it recovered`
  } finally {
    await cluster.close()
  }
}

console.log(`3 pods, one answering ${SLOW_MS} ms late; closed-loop keep-alive clients, ${SECONDS} s per run after 1 s warm-up; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`)
console.log()
console.log('| slow pod | policy | connections | req/s | mean ms | p99 ms | its share | errors |')
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const connections of [4, 16]) for (const policy of POLICIES) console.log(await run(policy, connections, SLOW_MS))
// The same pods all equal: what each policy costs when there is nothing to avoid.
for (const policy of POLICIES) console.log(await run(policy, 16, 0))
console.log()
console.log(`peak_ewma, 4 connections, real 10 s decay: ${await recovery(4)}`)
