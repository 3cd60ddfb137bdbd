// A shard picker maps a request's key to the one pod that owns it (consistent_hash, ordinal).
// Unlike a Picker it sees every pod in discovery, not only the eligible ones, and never takes an
// `exclude` set: a key has one owner, and another pod is not a valid second choice.
import type { Pickable } from './picker.ts'

/** A pod as a shard table sees it: requests in flight (bounded load) and its identity. */
export interface Shardable extends Pick<Pickable, 'inFlight'> {
  /** The SRV target (`web-2.web.default.svc.cluster.local`), or null with A/AAAA discovery. */
  readonly hostname: string | null
  readonly address: string
  /** `ip:port`: unique per pod, so it breaks ties between pods with the same identity. */
  readonly key: string
}

/**
 * Why no pod: the key cannot be used by this policy (`bad_key`), the pod owning it is not in
 * discovery (`unavailable`), or there are no pods at all (`empty`). Strings rather than objects so
 * that the answer costs no allocation.
 */
export type ShardMiss = 'bad_key' | 'unavailable' | 'empty'

export interface ShardPicker<E extends Shardable> {
  /** The set of pods in discovery changed: rebuild whatever is precomputed over it. */
  update(pods: Iterable<E>): void
  pick(key: string): E | ShardMiss
}

/**
 * What a pod is hashed on: its SRV host name, which a StatefulSet pod keeps across restarts while
 * its IP changes; else its address. DNS names are case-insensitive, so lower-cased.
 */
export function identityOf(pod: Shardable): string {
  return pod.hostname !== null ? pod.hostname.toLowerCase() : pod.address
}

/** A stable order over pods (identity, then ip:port) so that every sidecar breaks ties alike. */
export function compareIdentity<E extends Shardable>(a: E, b: E): number {
  const ia = identityOf(a)
  const ib = identityOf(b)
  if (ia !== ib) return ia < ib ? -1 : 1
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}
