// What the fleet simulation assumes, in one place (docs/scale.md states the same in prose).
// Everything here is a modelling choice, not a property of spoke: spoke's own code decides which
// pod each request goes to, which pods a sidecar connects to, and when it asks DNS.
import { Rng } from '../../test/helpers/rng.ts'

export const MODEL = {
  /** Requests a pod works on at once (worker threads, or an event loop's useful concurrency). */
  workers: 4,
  /** Mean service time of a request at a normal pod, exponentially distributed. */
  serviceMs: 20,
  /** The slow pods: this share of the fleet, this many times the service time. */
  slowFraction: 0.05,
  slowFactor: 3,
  /** Offered load as a share of the whole fleet's capacity (slow pods included). */
  utilization: 0.6,
  /** spoke's defaults (SPEC §3) and CoreDNS's default TTL for Service records. */
  refreshMs: 5000,
  minRefreshMs: 1000,
  dnsTtlSeconds: 5,
  perEndpoint: 1,
  maxPerEndpoint: 64,
} as const

export type Model = typeof MODEL

/** Requests per millisecond the fleet can serve when every pod's workers are busy. */
export function fleetCapacityPerMs(pods: number, slowPods: number, model: Model = MODEL): number {
  const fast = pods - slowPods
  return (model.workers * (fast + slowPods / model.slowFactor)) / model.serviceMs
}

/** The slow pods: a seeded choice of round(fraction × pods) of them. */
export function chooseSlowPods(pods: number, fraction: number, rng: Rng): Set<number> {
  const want = Math.round(pods * fraction)
  const order = Array.from({ length: pods }, (_, i) => i)
  for (let i = 0; i < want; i++) {
    const j = i + rng.int(pods - i)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return new Set(order.slice(0, want))
}

/** A pod's address as a headless Service's A record gives it (what spoke names it by). */
export function podName(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`
}

/**
 * The client pods' names, the sidecars' identities for subsetting: as Kubernetes names a
 * Deployment's pods (a random five-character suffix; spoke's subsetting treats them as unrelated
 * names) or a StatefulSet's (`frontend-0`, `frontend-1`, …: ordinals, which it spreads evenly).
 */
export type Identities = 'deployment' | 'statefulset'

export function sidecarNames(n: number, kind: Identities, rng: Rng): string[] {
  if (kind === 'statefulset') return Array.from({ length: n }, (_, i) => `frontend-${i}`)
  // Kubernetes' alphabet for generated names (no vowels, no 0, 1, 3).
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  const names = new Set<string>()
  while (names.size < n) {
    let suffix = ''
    for (let k = 0; k < 5; k++) suffix += alphabet[rng.int(alphabet.length)]
    names.add(`frontend-7d9f8c6b5-${suffix}`)
  }
  return [...names]
}

/** Exponentially distributed, mean `mean`. */
export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng.next()) * mean
}

/**
 * spoke's pickers draw from Math.random. A run swaps in the seeded generator for its duration so
 * that the same seed gives the same run; the simulation is single-threaded and nothing else runs.
 */
export function withSeededRandom<T>(rng: Rng, fn: () => T): T {
  const original = Math.random
  Math.random = () => rng.next()
  try {
    return fn()
  } finally {
    Math.random = original
  }
}
