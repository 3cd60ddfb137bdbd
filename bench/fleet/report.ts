// The fleet simulation's tables (Markdown), one per question of docs/scale.md.
import type { ConnectionsResult } from './connections.ts'
import type { DnsResult } from './dns-load.ts'
import { quantile, type LoadResult } from './load.ts'
import type { Model } from './model.ts'
import { FAIR, scaleUp, spread } from './stats.ts'
import { ms, num, pct, seconds, size, table } from './table.ts'

export interface SizeResults {
  readonly sidecars: number
  readonly pods: number
  readonly connections: ConnectionsResult[]
  readonly dns: DnsResult[]
  readonly load: LoadResult[]
  readonly scaleUp: LoadResult[]
  /** Long runs, the slow pods' share per bucket. */
  readonly settle: LoadResult[]
}

export interface Results {
  readonly sizes: SizeResults[]
  readonly model: Model
  /** The load runs' window. */
  readonly load: { readonly warmupMs: number; readonly durationMs: number }
}

export function connectionsTable(results: Results): string {
  const rows = results.sizes.flatMap((s) => s.connections.map((c) => {
    const p = spread(c.perPod)
    return [
      size(s.sidecars, s.pods), c.config.subsetSize === 0 ? 'all' : String(c.config.subsetSize),
      c.config.subsetSize === 0 ? '' : c.config.identities === 'deployment' ? 'Deployment' : 'StatefulSet', num(c.perSidecar),
      num(p.min), num(p.mean), num(p.max), num(p.max / p.mean, 2), num(c.movedPerSidecar, 1),
    ]
  }))
  return table(
    ['sidecars × pods', 'subsetSize', 'client pods', 'per sidecar', 'per pod: min', 'mean', 'max', 'max ÷ mean', `opened + closed per sidecar when 10 % pods join`],
    rows, ['l', 'r', 'l'])
}

/** What a load run's row calls its policy. */
export function policyLabel(r: LoadResult): string {
  const { policy, subsetSize, staggered, slowStartMs } = r.config
  return [
    policy,
    subsetSize > 0 ? `subsetSize ${subsetSize}` : '',
    staggered === false ? 'started together' : '',
    slowStartMs > 0 ? `slowStart ${slowStartMs / 1000} s` : '',
  ].filter((s) => s !== '').join(', ')
}

export interface LoadSummary {
  readonly fast: ReturnType<typeof spread>
  readonly slow: ReturnType<typeof spread>
  readonly busiestFastUtilization: number
  readonly slowUtilization: number
  readonly p50: number
  readonly p99: number
  readonly p99Slow: number
  readonly maxConnections: number
}

export function summarizeLoad(r: LoadResult, model: Model): LoadSummary {
  const windowS = (r.config.durationMs - r.config.warmupMs) / 1000
  const rate = Float64Array.from(r.arrivals, (a) => a / windowS)
  const utilization = Float64Array.from(r.busyMs, (b) => b / (model.workers * windowS * 1000))
  const isFast = (i: number) => !r.slow.has(i)
  const all = new Float64Array(r.latency.fast.length + r.latency.slow.length)
  all.set(r.latency.fast)
  all.set(r.latency.slow, r.latency.fast.length)
  all.sort()
  return {
    fast: spread(rate, isFast),
    slow: spread(rate, (i) => r.slow.has(i)),
    busiestFastUtilization: spread(utilization, isFast).max,
    slowUtilization: spread(utilization, (i) => r.slow.has(i)).mean,
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    p99Slow: quantile(r.latency.slow, 0.99),
    maxConnections: spread(r.peakConnections).max,
  }
}

export function loadTable(results: Results): string {
  const rows = results.sizes.flatMap((s) => s.load.map((r) => {
    const l = summarizeLoad(r, results.model)
    return [
      size(s.sidecars, s.pods), policyLabel(r), num(l.fast.mean), num(l.fast.max / l.fast.mean, 2), num(l.fast.cv, 3),
      `${num(l.slow.mean)} (${pct(l.slow.mean / l.fast.mean)})`, pct(l.busiestFastUtilization), pct(l.slowUtilization),
      ms(l.p50), ms(l.p99), ms(l.p99Slow), num(l.maxConnections),
    ]
  }))
  return table(
    ['sidecars × pods', 'policy', 'req/s per normal pod: mean', 'max ÷ mean', 'CV', 'req/s per slow pod (of normal)',
      'busiest normal pod busy', 'slow pods busy', 'latency p50', 'p99', 'p99 at slow pods', 'HTTP/1.1 connections at the busiest pod'],
    rows, ['l', 'l'])
}

export function dnsTable(results: Results): string {
  const seen = new Set<number>()
  const rows: string[][] = []
  for (const s of results.sizes) {
    if (seen.has(s.sidecars)) continue
    seen.add(s.sidecars)
    for (const d of s.dns) {
      rows.push([
        num(s.sidecars), d.config.start === 'spread' ? 'over one refresh' : 'all at once', d.config.jitter ? 'spoke’s (up to 10 %)' : 'none (hypothetical)',
        num(d.meanQps), num(d.peakQps), num(d.settledPeakQps),
      ])
    }
  }
  return table(['sidecars', 'started', 'jitter', 'queries/s: mean', 'busiest second', 'busiest second after 5 min'], rows, ['r', 'l', 'l'])
}

export function scaleUpTable(results: Results): string {
  const rows = results.sizes.flatMap((s) => s.scaleUp.map((r) => {
    const u = scaleUp(r)
    const added = r.config.added!.count
    return [
      `${size(s.sidecars, r.config.pods)} → ${num(r.config.pods + added)}`, policyLabel(r),
      seconds(u.allInformedMs), seconds(u.fairShareMs), u.after === null ? '–' : `${pct(u.after.low)} – ${pct(u.after.high)}`,
    ]
  }))
  return table(
    ['sidecars × pods', 'policy', 'last sidecar learns of the new pods', `new pods reach ${pct(FAIR)} of fair share`, 'their share from then to the end of the run'],
    rows, ['l', 'l'])
}

/** The slow pods' share of requests over time, as a share of an equal one (1: as much as any pod). */
export function slowShare(r: LoadResult): { atMs: number; share: number }[] {
  const { series, config } = r
  if (series === null) throw new Error('no series')
  const bucketMs = config.bucketMs!
  const equal = r.slow.size / config.pods
  return Array.from(series.total, (total, b) => ({ atMs: (b + 1) * bucketMs, share: total === 0 ? NaN : series.slow[b] / total / equal }))
}

export function settleTable(results: Results): string {
  const bounds = [[0, 10_000], [10_000, 30_000], [30_000, 60_000], [60_000, 90_000]] as const
  const rows = results.sizes.flatMap((s) => s.settle.map((r) => {
    const share = slowShare(r)
    const over = ([from, to]: readonly [number, number]) => {
      const inside = share.filter((p) => p.atMs > from && p.atMs <= to)
      return inside.length === 0 ? '–' : pct(inside.reduce((a, p) => a + p.share, 0) / inside.length)
    }
    const l = summarizeLoad(r, results.model)
    return [size(s.sidecars, s.pods), policyLabel(r), ...bounds.map(over), pct(l.slowUtilization), ms(l.p99), ms(l.p99Slow)]
  }))
  return table(
    ['sidecars × pods', 'policy', 'slow pods’ share of an equal one: 0–10 s', '10–30 s', '30–60 s', '60–90 s', 'slow pods busy (last 30 s)', 'p99', 'p99 at slow pods'],
    rows, ['l', 'l'])
}
