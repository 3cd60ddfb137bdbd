// When the next discovery query goes out. Pure functions, so the arithmetic is tested apart
// from timers.

/** Up to this fraction of a delay is taken off at random, so sidecars started together drift apart. */
export const JITTER = 0.1

/** `base` shortened by up to 10% at random, never below `floorMs`. */
export function jittered(baseMs: number, floorMs: number, random: () => number = Math.random): number {
  return Math.max(floorMs, baseMs - random() * JITTER * baseMs)
}

/** After an answer: the refresh interval, or the record TTL when shorter, never below minRefresh. */
export function refreshDelay(
  refreshMs: number,
  minRefreshMs: number,
  ttlSeconds: number | null,
  random: () => number = Math.random,
): number {
  const wanted = ttlSeconds === null ? refreshMs : Math.min(refreshMs, ttlSeconds * 1000)
  return jittered(Math.max(minRefreshMs, wanted), minRefreshMs, random)
}

/** The error backoff after `currentMs`: doubling from minRefresh, capped at refresh. */
export function nextBackoff(currentMs: number, refreshMs: number, minRefreshMs: number): number {
  return Math.max(minRefreshMs, Math.min(currentMs * 2, refreshMs))
}
