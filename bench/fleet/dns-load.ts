// DNS queries reaching the DNS server from N sidecars, each scheduling its lookups with spoke's
// own refreshDelay (src/discovery/schedule.ts): the record TTL clamped to [minRefresh, refresh],
// shortened by up to 10 % at random. Every answer is a success with the same TTL; errors, empty
// answers and early re-resolves (connection refused) are not simulated.
import { refreshDelay } from '../../src/discovery/schedule.ts'
import { Rng } from '../../test/helpers/rng.ts'
import { EventQueue } from './events.ts'
import { MODEL, type Model } from './model.ts'

export interface DnsConfig {
  readonly sidecars: number
  /** DNS queries per lookup: 2 for A + AAAA (`family: auto`), 1 for one family. */
  readonly queriesPerLookup: number
  /** together: every sidecar's first lookup at t = 0 (a fleet restarted at once); spread: uniform over one refresh. */
  readonly start: 'together' | 'spread'
  /** false: the same schedule with the random part at 0 (what spoke would do without jitter). */
  readonly jitter: boolean
  readonly durationMs: number
  readonly bucketMs: number
  readonly seed: number
  readonly model?: Model
}

export interface DnsResult {
  readonly config: DnsConfig
  /** Queries sent in each bucket from t = 0. */
  readonly perBucket: Float64Array
  /** Mean queries per second after the first two refresh periods. */
  readonly meanQps: number
  /** The most queries in any one-second window (sliding by one bucket). */
  readonly peakQps: number
  /** The same over the last half of the run, once the start has spread out. */
  readonly settledPeakQps: number
}

export function runDns(config: DnsConfig): DnsResult {
  const model = config.model ?? MODEL
  const rng = new Rng(config.seed)
  const random = config.jitter ? () => rng.next() : () => 0
  const buckets = Math.ceil(config.durationMs / config.bucketMs)
  const perBucket = new Float64Array(buckets)
  const queue = new EventQueue<{ at: number; seq: number }>()
  for (let i = 0; i < config.sidecars; i++) {
    queue.push({ at: config.start === 'together' ? 0 : rng.next() * model.refreshMs, seq: 0 })
  }
  for (let e = queue.pop(); e !== undefined && e.at < config.durationMs; e = queue.pop()) {
    perBucket[(e.at / config.bucketMs) | 0] += config.queriesPerLookup
    e.at += refreshDelay(model.refreshMs, model.minRefreshMs, model.dnsTtlSeconds, random)
    queue.push(e)
  }

  const perSecond = 1000 / config.bucketMs
  const window = Math.round(perSecond)
  const from = Math.ceil((2 * model.refreshMs) / config.bucketMs)
  let sum = 0
  for (let b = from; b < buckets; b++) sum += perBucket[b]
  const meanQps = (sum / (buckets - from)) * perSecond
  return {
    config, perBucket, meanQps,
    peakQps: peakWindow(perBucket, window, 0),
    settledPeakQps: peakWindow(perBucket, window, Math.floor(buckets / 2)),
  }
}

function peakWindow(perBucket: Float64Array, window: number, from: number): number {
  let best = 0
  let sum = 0
  for (let b = from; b < perBucket.length; b++) {
    sum += perBucket[b]
    if (b - from >= window) sum -= perBucket[b - window]
    if (b - from >= window - 1) best = Math.max(best, sum)
  }
  return best
}
