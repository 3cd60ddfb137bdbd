import { isSharded, type Policy, type UpstreamConfig } from '../config/types.ts'
import { OrdinalPicker } from './ordinal.ts'
import { LeastRequest, type Pickable, type Picker, RandomPick, RoundRobin } from './picker.ts'
import { Rendezvous } from './rendezvous.ts'
import type { Shardable, ShardPicker } from './shard.ts'

export type { Pickable, Picker } from './picker.ts'
export type { Shardable, ShardMiss, ShardPicker } from './shard.ts'
export { keyOrdinal, ordinalOf } from './ordinal.ts'

export function createPicker<E extends Pickable>(policy: Policy): Picker<E> {
  // Every request to a keyed upstream is pinned to its key's pod before any pick; should one
  // ever get here, no pod is better than a silently unsharded one.
  if (isSharded(policy)) return { pick: () => null }
  switch (policy) {
    case 'round_robin': return new RoundRobin<E>()
    case 'least_request': return new LeastRequest<E>()
    case 'random': return new RandomPick<E>()
    // Issue 14: being built.
    case 'peak_ewma': throw new Error('policy peak_ewma is not built yet')
  }
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
