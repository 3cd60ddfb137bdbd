// A latency histogram kept as plain numbers on the hot path (an observe is a short scan and two
// additions); the metrics module reads it at scrape time. Buckets start at 100 µs because a
// sidecar's added latency lives below a millisecond.

export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]

export class LatencyHistogram {
  /** counts[i] = observations <= LATENCY_BUCKETS_SECONDS[i] and > the previous bound; last slot = +Inf. */
  readonly counts = new Float64Array(LATENCY_BUCKETS_SECONDS.length + 1)
  sum = 0
  count = 0

  observe(seconds: number): void {
    let i = 0
    while (i < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[i]) i++
    this.counts[i]++
    this.sum += seconds
    this.count++
  }
}
