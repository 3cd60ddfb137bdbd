// Slow start (SPEC §3 `slowStart`): a pod that joins discovery, or comes back from ejection, is
// drawn less often at first. Its weight rises linearly from RAMP_FLOOR to 1 over the window, and
// every picker applies it as a rejection step: a ramping pod, once drawn, is taken with
// probability = its weight, else the picker draws on. Among n pods of which one ramps with
// weight w that gives it w / (n − 1 + w) of the draws, Envoy's and HAProxy's weighted share,
// with no per-pod state to rebuild when pods come and go, and nothing for pods that do not ramp.
//
// Nothing ramping is the common case and costs one field read per pick (`now()` → null).
import type { Clock } from './clock.ts'

/** A ramping pod's weight at the start of its window, as a share of a settled pod's. */
export const RAMP_FLOOR = 0.1

/** Draws before a picker takes what it drew anyway: reached only when every pod ramps. */
const MAX_DRAWS = 12

export class SlowStart<E> {
  readonly #windowMs: number
  readonly #now: Clock
  /** Ramping pods → when their ramp began. */
  readonly #from = new Map<E, number>()
  /** When the latest ramp ends: from then on nothing ramps and the map is emptied. -Infinity: none. */
  #until = -Infinity

  constructor(windowMs: number, now: Clock) {
    this.#windowMs = windowMs
    this.#now = now
  }

  /** `pod` joined or came back: its ramp starts now (nothing happens when the window is 0). */
  begin(pod: E): void {
    const window = this.#windowMs
    if (window <= 0) return
    const now = this.#now()
    // Pods that left while ramping are dropped here rather than told about.
    for (const [p, from] of this.#from) if (now - from >= window) this.#from.delete(p)
    this.#from.set(pod, now)
    this.#until = now + window
  }

  /** The time to weigh draws at if some pod ramps; null (the pickers' plain path) if none does. */
  now(): number | null {
    if (this.#until === -Infinity) return null
    const now = this.#now()
    if (now >= this.#until) {
      this.#from.clear()
      this.#until = -Infinity
      return null
    }
    return now
  }

  /** `pod`'s weight at `now`: from RAMP_FLOOR at the start of its ramp to 1 at its end; 1 when not ramping. */
  weight(pod: E, now: number): number {
    const from = this.#from.get(pod)
    if (from === undefined) return 1
    const progress = (now - from) / this.#windowMs
    return progress >= 1 ? 1 : RAMP_FLOOR + (1 - RAMP_FLOOR) * Math.max(0, progress)
  }

  /** Whether to take `pod`, just drawn: always when it does not ramp, else with probability = its weight. */
  admits(pod: E, now: number): boolean {
    const w = this.weight(pod, now)
    return w >= 1 || Math.random() < w
  }

  /**
   * An index into `pool`, not `skip` (-1: any), drawn uniformly, a ramping pod's draw kept with
   * probability = its weight. `now` null: nothing ramps, one plain draw.
   */
  draw(pool: readonly E[], skip: number, now: number | null): number {
    const n = skip < 0 ? pool.length : pool.length - 1
    let i = 0
    for (let tries = 0; tries < MAX_DRAWS; tries++) {
      i = (Math.random() * n) | 0
      if (skip >= 0 && i >= skip) i++
      if (now === null || this.admits(pool[i], now)) return i
    }
    return i
  }
}
