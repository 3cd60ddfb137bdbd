// peak_ewma (Linkerd's balancer, after Finagle): power of two choices on cost = (requests in
// flight + 1) × the pod's peak-EWMA response time, so that a slow pod gets fewer requests than a
// fast one, in proportion to how much slower it is, without a threshold to tune.
//
// The estimate, per pod (PeakEwma):
// - a response time above the current estimate is taken at once (the peak): a pod turning slow
//   is avoided from its first slow answer;
// - one below decays in: the new estimate is current × d + sample × (1 − d), d = exp(−Δ/τ), Δ the
//   time since the pod's previous sample, τ = DECAY_MS. Frequent samples move it little each;
//   one after a long silence counts almost whole;
// - between samples it decays toward 0 with the same τ, so that a pod that was slow, and has been
//   avoided since, is tried again and can show that it recovered;
// - a failed attempt (a 5xx answer, or none: connect failure, reset, timeout) counts as a sample
//   of twice the current estimate, at least FAILURE_FLOOR_MS: a pod failing fast cannot look fast,
//   failures in a row double it each time, and one stray failure halves the pod's appeal for a
//   few seconds only;
// - before its first sample a pod has no estimate: compared with a pod that has one, it is taken
//   to be as fast as that pod (the pair is decided on requests in flight, as least_request
//   does); two such pods are compared on requests in flight alone. Linkerd starts new pods at a
//   fixed 30 ms instead, which in a cluster answering in 1 ms keeps a new pod from its first
//   request until that default has decayed (about half a minute); assuming the peer's speed lets
//   it in at once, and its first answer sets its estimate.
import { type Clock, systemClock } from './clock.ts'
import { type Pickable, PowerOfTwo } from './picker.ts'

/** τ, the time constant of the decay (Linkerd's 10 s). */
export const DECAY_MS = 10_000

/** The smallest sample a failure counts as, for a pod whose estimate is nothing yet or decayed to nearly 0. */
export const FAILURE_FLOOR_MS = 1

/** Estimates are kept above this (ms), so that their logarithm is a number. */
const TINY_MS = 1e-9

/** One pod's peak-EWMA of response time, in ms. Pods compared with each other share one decay. */
export class PeakEwma {
  /** The clock it decays by; whoever times responses for it reads this one too. */
  readonly now: Clock
  readonly #decayMs: number
  /** The estimate when it was last set (at #at), before any decay since. */
  #value = 0
  #at = 0
  #sampled = false
  /**
   * ln(estimate(t)) + t/τ, the same at every t until the next sample: two pods' costs compare
   * through it without reading the clock or decaying either (both decay by the same factor).
   */
  #level = 0

  constructor(now: Clock = systemClock, decayMs = DECAY_MS) {
    this.now = now
    this.#decayMs = decayMs
  }

  /** Whether the pod has answered or failed at least once: before that it has no estimate. */
  get sampled(): boolean {
    return this.#sampled
  }

  /** The estimate at `now` (ms); 0 before the first sample. */
  estimate(now: number = this.now()): number {
    return this.#value * this.#decay(now)
  }

  /**
   * Whether this pod with `inFlight` requests in flight costs less now than `other` with
   * `otherInFlight`: (inFlight + 1) × estimate against the same of `other`. Both sampled.
   */
  cheaper(inFlight: number, other: PeakEwma, otherInFlight: number): boolean {
    return (inFlight + 1) * Math.exp(this.#level - other.#level) < otherInFlight + 1
  }

  /** A response's head arrived `ms` after the request was dispatched; `now`: when (default: the clock now). */
  observe(ms: number, now: number = this.now()): void {
    if (!this.#sampled) {
      this.#set(ms, now)
      return
    }
    const d = this.#decay(now)
    const current = this.#value * d
    this.#set(ms >= current ? ms : current * d + ms * (1 - d), now)
  }

  /** An attempt on the pod failed (a 5xx answer, or none). */
  failed(): void {
    const now = this.now()
    this.#set(Math.max(2 * this.estimate(now), FAILURE_FLOOR_MS), now)
  }

  #set(value: number, now: number): void {
    const v = Math.max(value, TINY_MS)
    this.#value = v
    this.#at = now
    this.#level = Math.log(v) + now / this.#decayMs
    this.#sampled = true
  }

  #decay(now: number): number {
    const elapsed = now - this.#at
    return elapsed <= 0 ? 1 : Math.exp(-elapsed / this.#decayMs)
  }
}

/**
 * Power of two choices on (in flight + 1) × peak-EWMA; slow start weighs the draws. A pick reads
 * no clock (PeakEwma.cheaper), unless a pod is ramping.
 */
export class PeakEwmaPicker<E extends Pickable> extends PowerOfTwo<E> {
  protected better(a: E, b: E): E {
    const la = a.latency
    const lb = b.latency
    // A pod without an estimate yet is as fast as the one it is compared with: in-flight decides.
    if (la === null || lb === null || !la.sampled || !lb.sampled) return b.inFlight < a.inFlight ? b : a
    return lb.cheaper(b.inFlight, la, a.inFlight) ? b : a
  }
}
