// A picker chooses the pod for one request among the upstream's eligible pods (active, not
// ejected). `exclude` holds pods this request already tried: a retry must go elsewhere. Every
// picker honours slow start (slow-start.ts); when no pod ramps, that costs one field read.
import type { PeakEwma } from './peak-ewma.ts'
import type { SlowStart } from './slow-start.ts'

export interface Pickable {
  /** Requests in flight to this pod (least_request and peak_ewma compare it). */
  readonly inFlight: number
  /** peak_ewma: the pod's response-time estimate, fed by whoever sees its answers; else null. */
  readonly latency: PeakEwma | null
}

export interface Picker<E extends Pickable> {
  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null
  /** `pod` joined, or came back from ejection: its share ramps up over the slow-start window (if any). */
  slowStart(pod: E): void
}

/**
 * In turn. A ramping pod whose turn comes is skipped with probability 1 − weight (the rejection
 * step): no weights to keep per pod, as a smooth weighted round robin would, and the same rule
 * as the random pickers, for the same share.
 */
export class RoundRobin<E extends Pickable> implements Picker<E> {
  readonly #ramp: SlowStart<E>
  /**
   * Where the turn is; it starts anywhere (grpc-go's round_robin does too). Sidecars that all
   * started at the first pod, with the same pods in the same order, would sweep them in
   * lock-step: the fleet simulation saw the busiest pod at 1.43 × the mean that way.
   */
  #next = (Math.random() * 0x40000000) | 0

  constructor(ramp: SlowStart<E>) {
    this.#ramp = ramp
  }

  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null {
    const n = candidates.length
    const now = this.#ramp.now()
    let skipped: E | null = null
    for (let tries = 0; tries < n; tries++) {
      if (this.#next >= n) this.#next %= n
      const e = candidates[this.#next++]
      if (exclude !== null && exclude.has(e)) continue
      if (now === null || this.#ramp.admits(e, now)) return e
      skipped ??= e
    }
    // Every pod left was ramping and skipped: one of them rather than none.
    return skipped
  }

  slowStart(pod: E): void {
    this.#ramp.begin(pod)
  }
}

export class RandomPick<E extends Pickable> implements Picker<E> {
  readonly #ramp: SlowStart<E>

  constructor(ramp: SlowStart<E>) {
    this.#ramp = ramp
  }

  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null {
    const pool = eligible(candidates, exclude)
    return pool.length === 0 ? null : pool[this.#ramp.draw(pool, -1, this.#ramp.now())]
  }

  slowStart(pod: E): void {
    this.#ramp.begin(pod)
  }
}

/**
 * Power of two choices (Mitzenmacher): two pods drawn at random (slow start weighing the draws),
 * the better of the two by the policy's measure.
 */
export abstract class PowerOfTwo<E extends Pickable> implements Picker<E> {
  readonly #ramp: SlowStart<E>

  constructor(ramp: SlowStart<E>) {
    this.#ramp = ramp
  }

  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null {
    const pool = eligible(candidates, exclude)
    const n = pool.length
    if (n <= 1) return n === 0 ? null : pool[0]
    const ramp = this.#ramp
    const now = ramp.now()
    const i = ramp.draw(pool, -1, now)
    return this.better(pool[i], pool[ramp.draw(pool, i, now)])
  }

  slowStart(pod: E): void {
    this.#ramp.begin(pod)
  }

  /** `a` unless `b` is better: ties go to the first drawn. */
  protected abstract better(a: E, b: E): E
}

/** least_request: the one with fewer requests in flight. */
export class LeastRequest<E extends Pickable> extends PowerOfTwo<E> {
  protected better(a: E, b: E): E {
    return b.inFlight < a.inFlight ? b : a
  }
}

/** `candidates` without `exclude`: a copy only on a retry. */
export function eligible<E>(candidates: readonly E[], exclude: ReadonlySet<E> | null): readonly E[] {
  return exclude === null || exclude.size === 0 ? candidates : candidates.filter((e) => !exclude.has(e))
}
