// Which charts docs/scale.md shows, drawn from the largest size simulated: one or two per
// section that was run.
import type { BarChart, Chart, LineChart } from './chart.ts'
import type { ConnectionsResult } from './connections.ts'
import type { Model } from './model.ts'
import { policyLabel, type Results, type SizeResults, slowShare, summarizeLoad } from './report.ts'
import { scaleUp, spread } from './stats.ts'
import { size } from './table.ts'

export function fleetCharts(results: Results): Chart[] {
  const s = results.sizes.reduce((a, b) => (b.sidecars * b.pods > a.sidecars * a.pods ? b : a))
  return [
    ...(s.connections.length > 0 ? connectionCharts(s) : []),
    ...(s.load.length > 0 ? loadCharts(s, results.model) : []),
    ...(s.dns.length > 0 ? [dnsChart(s)] : []),
    ...(s.scaleUp.length > 0 ? [scaleUpChart(s)] : []),
    ...(s.settle.length > 0 ? [settleChart(s, results.model)] : []),
  ]
}

const KINDS = [['deployment', 'Deployment client pods (rendezvous top-N)'], ['statefulset', 'StatefulSet client pods (ring walk)']] as const

function connectionCharts(s: SizeResults): Chart[] {
  const where = size(s.sidecars, s.pods)
  const all = s.connections.find((c) => c.config.subsetSize === 0)
  const subsetSizes = [...new Set(s.connections.filter((c) => c.config.subsetSize > 0).map((c) => c.config.subsetSize))]
  const find = (subsetSize: number, kind: string) => s.connections.find((c) => c.config.subsetSize === subsetSize && c.config.identities === kind)
  const bar = (c: ConnectionsResult | undefined) => {
    const p = c === undefined ? { mean: NaN, min: NaN, max: NaN } : spread(c.perPod)
    return { y: p.mean, low: p.min, high: p.max }
  }
  const charts: Chart[] = [{
    kind: 'bars', file: 'connections.png',
    title: `Connections per pod: ${where.replace(' × ', ' sidecars × ')} pods, perEndpoint 1`,
    note: 'bar: mean over the pods; whisker: the pod with fewest to the pod with most',
    xlabel: 'subsetSize', ylabel: 'connections held by one pod (log scale)', logY: true,
    groups: KINDS.map(([, title]) => title),
    categories: [
      ...subsetSizes.map((n) => ({ label: String(n), values: KINDS.map(([kind]) => bar(find(n, kind))) })),
      ...(all === undefined ? [] : [{ label: `0 (all ${s.pods})`, values: KINDS.map(() => bar(all)) }]),
    ],
  } satisfies BarChart]

  const histogramSize = subsetSizes.includes(25) ? 25 : subsetSizes[0]
  if (histogramSize !== undefined) {
    charts.push({
      kind: 'lines', file: 'connections-spread.png',
      title: `How many pods hold how many connections: subsetSize ${histogramSize}, ${where}`,
      xlabel: 'connections held by one pod', ylabel: 'pods',
      series: KINDS.map(([kind, title], k) => {
        const c = find(histogramSize, kind)!
        const counts = new Map<number, number>()
        for (const v of c.perPod) counts.set(v, (counts.get(v) ?? 0) + 1)
        const points: [number, number][] = []
        for (let v = Math.min(...c.perPod) - 1; v <= Math.max(...c.perPod) + 1; v++) points.push([v, counts.get(v) ?? 0])
        return { title, points, boxes: { width: 0.4, offset: k === 0 ? -0.2 : 0.2 } }
      }),
      yrange: [0, null],
    } satisfies LineChart)
  }
  return charts
}

function loadCharts(s: SizeResults, model: Model): Chart[] {
  const where = size(s.sidecars, s.pods)
  const load = s.load.map((r) => ({ label: policyLabel(r).replace(', ', '\n'), l: summarizeLoad(r, model) }))
  const window = `${(s.load[0].config.durationMs - s.load[0].config.warmupMs) / 1000} s after the first ${s.load[0].config.warmupMs / 1000} s`
  return [{
    kind: 'bars', file: 'load.png',
    title: `Requests per second per pod, 5 % of pods 3× slower: ${where}`,
    note: `bar: mean over the pods; whisker: least to most loaded pod; ${window}`,
    xlabel: '', ylabel: 'requests per second at one pod',
    groups: ['normal pods', 'slow pods (3× service time)'],
    references: [
      { y: (model.workers * 1000) / model.serviceMs, title: 'what a normal pod can serve' },
      { y: (model.workers * 1000) / (model.serviceMs * model.slowFactor), title: 'what a slow pod can serve' },
    ],
    categories: load.map(({ label, l }) => ({
      label,
      values: [{ y: l.fast.mean, low: l.fast.min, high: l.fast.max }, { y: l.slow.mean, low: l.slow.min, high: l.slow.max }],
    })),
  } satisfies BarChart, {
    kind: 'bars', file: 'latency.png',
    title: `Request latency (wait + service), 5 % of pods 3× slower: ${where}`,
    note: `service time 20 ms (exponential), 4 workers per pod, 60 % of the fleet’s capacity offered; ${window}`,
    xlabel: '', ylabel: 'latency, ms (log scale)', logY: true,
    groups: ['p50', 'p99', 'p99 at slow pods'], whiskers: false,
    categories: load.map(({ label, l }) => ({ label, values: [l.p50, l.p99, l.p99Slow].map((y) => ({ y, low: y, high: y })) })),
  } satisfies BarChart]
}

function dnsChart(s: SizeResults): LineChart {
  const perSecond = (buckets: Float64Array, bucketMs: number): [number, number][] => {
    const per = Math.round(1000 / bucketMs)
    const out: [number, number][] = []
    for (let b = 0; b + per <= buckets.length; b += per) {
      let sum = 0
      for (let k = b; k < b + per; k++) sum += buckets[k]
      out.push([(b * bucketMs) / 1000, sum])
    }
    return out
  }
  // spoke's own schedule only; the hypothetical one without jitter is in the table.
  const runs = s.dns.filter((d) => d.config.jitter)
  const endS = 300
  return {
    kind: 'lines', file: 'dns.png',
    title: `DNS queries per second at the DNS server from ${size(s.sidecars, 1).split(' × ')[0]} sidecars`,
    note: 'a lookup every TTL (5 s) less up to 10 % at random; A + AAAA: 2 queries a lookup',
    xlabel: 'time, s', ylabel: 'queries in each second',
    series: [
      ...runs.map((d) => ({
        title: d.config.start === 'spread' ? 'sidecars started over 5 s' : 'sidecars started at the same instant',
        points: perSecond(d.perBucket, d.config.bucketMs).filter(([t]) => t < endS),
        steps: true,
      })),
      { title: 'mean', points: [[0, runs[0].meanQps], [endS, runs[0].meanQps]], dashed: true },
    ],
    xrange: [0, endS],
  }
}

function scaleUpChart(s: SizeResults): LineChart {
  const first = scaleUp(s.scaleUp[0])
  const added = s.scaleUp[0].config.added!.count
  return {
    kind: 'lines', file: 'scale-up.png',
    title: `Scale-up ${size(s.sidecars, s.pods - added)} → ${size(s.pods, 1).split(' × ')[0]} pods: the new pods' share`,
    xlabel: 'seconds since the new pods entered DNS', ylabel: '% of their fair share (1 s window)',
    series: [
      ...s.scaleUp.map((r) => ({ title: policyLabel(r), points: scaleUp(r).share.map((p) => [p.atMs / 1000, 100 * p.share] as const) })),
      { title: 'sidecars that know the new pods, %', points: first.share.map((p) => [p.atMs / 1000, 100 * p.informed] as const), dashed: true },
    ],
    yrange: [0, null],
  }
}

function settleChart(s: SizeResults, model: Model): LineChart {
  const r0 = s.settle[0]
  const equalPerPod = (model.utilization * (model.workers / model.serviceMs) * (r0.config.pods - r0.slow.size + r0.slow.size / model.slowFactor)) / r0.config.pods
  const slowCapacity = model.workers / (model.serviceMs * model.slowFactor)
  const end = r0.config.durationMs / 1000
  return {
    kind: 'lines', file: 'settle.png',
    title: `The slow pods' share over time: ${size(s.sidecars, s.pods)}, 5 % of pods 3× slower`,
    note: `each point: 2 s of requests; 100 % = as many as any pod`,
    xlabel: 'seconds since the sidecars started', ylabel: 'slow pods\' share, % of an equal one',
    series: [
      ...s.settle.map((r) => ({ title: policyLabel(r), points: slowShare(r).map((p) => [p.atMs / 1000, 100 * p.share] as const) })),
      { title: 'what a slow pod can serve', points: [[0, (100 * slowCapacity) / equalPerPod], [end, (100 * slowCapacity) / equalPerPod]], dashed: true },
    ],
    yrange: [0, 110],
  }
}
