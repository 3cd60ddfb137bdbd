// Which charts docs/scale.md shows, drawn from the largest size simulated.
import type { BarChart, Chart, LineChart } from './chart.ts'
import type { ConnectionsResult } from './connections.ts'
import { policyLabel, type Results, summarizeLoad } from './report.ts'
import { scaleUp, spread } from './stats.ts'
import { size } from './table.ts'

export function fleetCharts(results: Results): Chart[] {
  const s = results.sizes.reduce((a, b) => (b.sidecars * b.pods > a.sidecars * a.pods ? b : a))
  const where = `${size(s.sidecars, s.pods)}`
  const charts: Chart[] = []

  const kinds = [['deployment', 'Deployment client pods (rendezvous top-N)'], ['statefulset', 'StatefulSet client pods (ring walk)']] as const
  const all = s.connections.find((c) => c.config.subsetSize === 0)
  const subsetSizes = [...new Set(s.connections.filter((c) => c.config.subsetSize > 0).map((c) => c.config.subsetSize))]
  const bar = (c: ConnectionsResult | undefined) => {
    const p = c === undefined ? { mean: NaN, min: NaN, max: NaN } : spread(c.perPod)
    return { y: p.mean, low: p.min, high: p.max }
  }
  charts.push({
    kind: 'bars', file: 'connections.png',
    title: `Connections per pod: ${where.replace(' × ', ' sidecars × ')} pods, perEndpoint 1`,
    note: 'bar: mean over the pods; whisker: the pod with fewest to the pod with most',
    xlabel: 'subsetSize', ylabel: 'connections held by one pod (log scale)', logY: true,
    groups: kinds.map(([, title]) => title),
    categories: [
      ...subsetSizes.map((size) => ({
        label: String(size),
        values: kinds.map(([kind]) => bar(s.connections.find((c) => c.config.subsetSize === size && c.config.identities === kind))),
      })),
      ...(all === undefined ? [] : [{ label: `0 (all ${s.pods})`, values: kinds.map(() => bar(all)) }]),
    ],
  } satisfies BarChart)

  const histogramSize = subsetSizes.includes(25) ? 25 : subsetSizes[0]
  if (histogramSize !== undefined) {
    charts.push({
      kind: 'lines', file: 'connections-spread.png',
      title: `How many pods hold how many connections: subsetSize ${histogramSize}, ${where}`,
      xlabel: 'connections held by one pod', ylabel: 'pods',
      series: kinds.map(([kind, title], k) => {
        const c = s.connections.find((r) => r.config.subsetSize === histogramSize && r.config.identities === kind)!
        const counts = new Map<number, number>()
        for (const v of c.perPod) counts.set(v, (counts.get(v) ?? 0) + 1)
        const lo = Math.min(...c.perPod)
        const hi = Math.max(...c.perPod)
        const points: [number, number][] = []
        for (let v = lo - 1; v <= hi + 1; v++) points.push([v, counts.get(v) ?? 0])
        return { title, points, boxes: { width: 0.4, offset: k === 0 ? -0.2 : 0.2 } }
      }),
      yrange: [0, null],
    } satisfies LineChart)
  }

  const load = s.load.map((r) => ({ label: policyLabel(r).replace(', ', '\n'), l: summarizeLoad(r, results.model) }))
  charts.push({
    kind: 'bars', file: 'load.png',
    title: `Requests per second per pod, 5 % of pods 3× slower: ${where}`,
    note: 'bar: mean over the pods; whisker: least to most loaded pod',
    xlabel: '', ylabel: 'requests per second at one pod',
    groups: ['normal pods', 'slow pods (3× service time)'],
    references: [
      { y: (results.model.workers * 1000) / results.model.serviceMs, title: 'what a normal pod can serve' },
      { y: (results.model.workers * 1000) / (results.model.serviceMs * results.model.slowFactor), title: 'what a slow pod can serve' },
    ],
    categories: load.map(({ label, l }) => ({
      label,
      values: [{ y: l.fast.mean, low: l.fast.min, high: l.fast.max }, { y: l.slow.mean, low: l.slow.min, high: l.slow.max }],
    })),
  } satisfies BarChart)

  charts.push({
    kind: 'bars', file: 'latency.png',
    title: `Request latency (wait + service), 5 % of pods 3× slower: ${where}`,
    note: 'normal service time 20 ms (exponential), 4 workers per pod, 60 % of the fleet’s capacity offered',
    xlabel: '', ylabel: 'latency, ms (log scale)', logY: true,
    groups: ['p50', 'p99', 'p99 at slow pods'],
    categories: load.map(({ label, l }) => ({
      label, values: [l.p50, l.p99, l.p99Slow].map((y) => ({ y, low: y, high: y })),
    })),
  } satisfies BarChart)

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
  charts.push({
    kind: 'lines', file: 'dns.png',
    title: `DNS queries per second at the DNS server from ${s.sidecars.toLocaleString('en').replace(/,/g, ' ')} sidecars (A + AAAA, TTL 5 s)`,
    xlabel: 'time, s', ylabel: 'queries in each second',
    series: s.dns.map((d) => ({
      title: `${d.config.start === 'spread' ? 'started over 5 s' : 'started at once'}, ${d.config.jitter ? 'spoke’s jitter' : 'no jitter'}`,
      points: perSecond(d.perBucket, d.config.bucketMs).filter(([t]) => t < 120),
      steps: true,
    })),
    xrange: [0, 120],
  } satisfies LineChart)

  if (s.scaleUp.length > 0) {
    const first = scaleUp(s.scaleUp[0])
    const added = s.scaleUp[0].config.added!.count
    charts.push({
      kind: 'lines', file: 'scale-up.png',
      title: `Scale-up ${size(s.sidecars, s.pods - added)} → ${s.pods} pods: the new pods' share`,
      xlabel: 'seconds since the new pods entered DNS', ylabel: '% of their fair share (1 s window)',
      series: [
        ...s.scaleUp.map((r) => ({ title: policyLabel(r), points: scaleUp(r).share.map((p) => [p.atMs / 1000, 100 * p.share] as const) })),
        { title: 'sidecars that know the new pods, %', points: first.share.map((p) => [p.atMs / 1000, 100 * p.informed] as const), dashed: true },
      ],
      yrange: [0, null],
    } satisfies LineChart)
  }
  return charts
}
