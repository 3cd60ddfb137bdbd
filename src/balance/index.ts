// Balancing: pickers for the balanced policies and shard tables for the keyed ones, usable
// outside an Upstream (the fleet simulation, bench/fleet-sim.ts, drives them with its own time).
//
// How a caller drives a picker (what Upstream and the transport's pool do):
// - Pods are any objects with `inFlight` (requests in flight to the pod, kept up to date by the
//   caller) and `latency`: `latencyFor(policy, now)` gives a PeakEwma for peak_ewma and null for
//   the other policies.
// - `createPicker(policy, { slowStartMs, now })`, then `picker.pick(candidates, exclude)` per
//   request (`exclude`: pods this request already tried, or null).
// - A response time: `pod.latency.observe(ms)`, ms from dispatching the request to the pod to
//   the head of its answer (every answer, 5xx included). A failure: `pod.latency.failed()`, for
//   a 5xx answer (after its observe) and for an attempt with no answer (connect failure, reset,
//   timeout); not for a request the caller gave up itself.
// - A pod that joins (other than those present at the start) or comes back from ejection:
//   `picker.slowStart(pod)`.
// - `now` is read whenever time matters (decay, ramps); default `performance.now()`, in ms.
import { isSharded, type Policy, type UpstreamConfig } from '../config/types.ts'
import { type Clock, systemClock } from './clock.ts'
import { OrdinalPicker } from './ordinal.ts'
import { PeakEwma, PeakEwmaPicker } from './peak-ewma.ts'
import { LeastRequest, type Pickable, type Picker, RandomPick, RoundRobin } from './picker.ts'
import { Rendezvous } from './rendezvous.ts'
import type { Shardable, ShardPicker } from './shard.ts'
import { SlowStart } from './slow-start.ts'

export type { Clock } from './clock.ts'
export { systemClock } from './clock.ts'
export { DECAY_MS, FAILURE_FLOOR_MS, PeakEwma } from './peak-ewma.ts'
export type { Pickable, Picker } from './picker.ts'
export { RAMP_FLOOR } from './slow-start.ts'
export type { Shardable, ShardMiss, ShardPicker } from './shard.ts'
export { keyOrdinal, ordinalOf } from './ordinal.ts'

export interface PickerOptions {
  /** Slow start's window (UpstreamConfig.slowStartMs); 0 or absent: off. */
  readonly slowStartMs?: number
  /** The time in ms; default performance.now(). */
  readonly now?: Clock
}

export function createPicker<E extends Pickable>(policy: Policy, options: PickerOptions = {}): Picker<E> {
  // Every request to a keyed upstream is pinned to its key's pod before any pick; should one
  // ever get here, no pod is better than a silently unsharded one.
  if (isSharded(policy)) return { pick: () => null, slowStart: () => {} }
  const now = options.now ?? systemClock
  const ramp = new SlowStart<E>(options.slowStartMs ?? 0, now)
  switch (policy) {
    case 'round_robin': return new RoundRobin<E>(ramp)
    case 'least_request': return new LeastRequest<E>(ramp)
    case 'random': return new RandomPick<E>(ramp)
    case 'peak_ewma': return new PeakEwmaPicker<E>(ramp)
  }
}

/** A pod's response-time estimate under `policy`: a PeakEwma for peak_ewma, else null (nothing measured). */
export function latencyFor(policy: Policy, now: Clock = systemClock): PeakEwma | null {
  return policy === 'peak_ewma' ? new PeakEwma(now) : null
}

/** The key → pod map of a consistent_hash or ordinal upstream; null for the other policies. */
export function createShardPicker<E extends Shardable>(config: UpstreamConfig): ShardPicker<E> | null {
  const policy = config.policy
  if (!isSharded(policy)) return null
  switch (policy) {
    case 'consistent_hash': return new Rendezvous<E>(config.hashBalanceFactor)
    case 'ordinal': return new OrdinalPicker<E>(config.replicas!)
  }
}
