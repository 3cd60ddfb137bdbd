// Summaries of per-pod figures and of the scale-up's time series.
import type { LoadResult } from './load.ts'

export interface Spread {
  readonly min: number
  readonly mean: number
  readonly max: number
  /** Coefficient of variation: standard deviation / mean. */
  readonly cv: number
}

export function spread(values: ArrayLike<number>, keep: (i: number) => boolean = () => true): Spread {
  let n = 0
  let sum = 0
  let sq = 0
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    if (!keep(i)) continue
    const v = values[i]
    n++
    sum += v
    sq += v * v
    if (v < min) min = v
    if (v > max) max = v
  }
  const mean = n === 0 ? NaN : sum / n
  return { min, mean, max, cv: n === 0 ? NaN : Math.sqrt(Math.max(0, sq / n - mean * mean)) / mean }
}

export interface ScaleUp {
  /** From the moment the new pods are in DNS until the last sidecar has them, ms. */
  readonly allInformedMs: number
  /** Until the new pods first get ≥ `FAIR` of their fair share over a 1 s window; null: not within the run. */
  readonly fairShareMs: number | null
  /** From then to the end of the run, the least and the most they got in a 1 s window (of their fair share). */
  readonly after: { readonly low: number; readonly high: number } | null
  /** Per bucket after the change: the new pods' share of requests over their fair share (1 = fair), 1 s moving window. */
  readonly share: readonly { readonly atMs: number; readonly share: number; readonly informed: number }[]
}

export const FAIR = 0.9

export function scaleUp(result: LoadResult): ScaleUp {
  const { series, config } = result
  if (series === null || config.added === undefined) throw new Error('not a scale-up run')
  const bucketMs = config.bucketMs ?? 250
  const window = Math.max(1, Math.round(1000 / bucketMs))
  const fair = config.added.count / (config.pods + config.added.count)
  const first = Math.floor(config.added.atMs / bucketMs)
  const share: { atMs: number; share: number; informed: number }[] = []
  for (let b = first; b + window <= series.total.length; b++) {
    let added = 0
    let total = 0
    for (let k = b; k < b + window; k++) {
      added += series.added[k]
      total += series.total[k]
    }
    const end = b + window
    share.push({ atMs: end * bucketMs - config.added.atMs, share: total === 0 ? 0 : added / total / fair, informed: series.informed[end - 1] / config.sidecars })
  }
  const reached = share.findIndex((s) => s.share >= FAIR)
  const rest = reached < 0 ? [] : share.slice(reached).map((s) => s.share)
  return {
    allInformedMs: result.learntAfterMs.length === config.sidecars ? Math.max(...result.learntAfterMs) : Infinity,
    fairShareMs: reached < 0 ? null : share[reached].atMs,
    after: reached < 0 ? null : { low: Math.min(...rest), high: Math.max(...rest) },
    share,
  }
}
