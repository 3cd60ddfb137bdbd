// Balancing: pickers for the balanced policies and shard tables for the keyed ones, usable
// outside an Upstream (the fleet simulation drives them with simulated time).
//
// How a caller drives a picker (what Upstream, its Endpoints and their pools do):
// - `createPicker(policy, { slowStartMs, now })`, then `picker.pick(candidates, exclude)` per
//   attempt (`exclude`: pods this request already tried, or null).
// - Pods are any objects with `inFlight` (requests in flight to the pod, kept up to date by the
//   caller: +1 when sent, −1 when its answer ends or it fails) and `latency`:
//   `latencyFor(policy, now)`, a PeakEwma for peak_ewma and null for the other policies.
// - A response time: `pod.latency.observe(ms, at)`: `ms` from dispatching the request to the pod
//   to the head of its answer (every answer, 5xx included), `at` the time the head came, on the
//   same clock (`pod.latency.now()`; omitted, it is read). spoke's pool reads the clock at
//   dispatch and at the head, nothing else per request.
// - A failure: `pod.latency.failed()`, for a 5xx answer (after its observe) and for an attempt
//   that got no answer (connect failure, reset, timeout); not for a request the caller gave up
//   itself (the app went away).
// - A pod that joins (not those of the first discovery, or arriving while there were none) or
//   comes back from ejection: `picker.slowStart(pod)`.
// - `now` (ms, default performance.now()) is read only where time matters: slow start's ramps
//   and the estimates' decay. A peak_ewma pick reads it only while a pod ramps.
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
