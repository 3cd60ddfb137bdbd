// Where a pinned request goes (SPEC §4, README "Sharding"): the pod `x-spoke-pod` names, or on a
// sharded upstream the pod owning the request's key. Both indexes cover every pod in discovery,
// ejected ones included (a pinned request never moves to another pod), and are rebuilt together
// whenever that set changes.
import { createShardPicker, type Shardable, type ShardMiss, type ShardPicker } from '../balance/index.ts'
import type { UpstreamConfig } from '../config/types.ts'

export class RoutingTable<E extends Shardable> {
  /** x-spoke-pod names → pod. */
  #podNames = new Map<string, E>()
  /** consistent_hash / ordinal: key → owning pod. Null for the other policies. */
  readonly #shards: ShardPicker<E> | null

  constructor(config: UpstreamConfig) {
    this.#shards = createShardPicker<E>(config)
  }

  /** The pods in discovery changed; [] when the upstream closes. */
  update(pods: readonly E[]): void {
    this.#podNames = indexPodNames(pods)
    this.#shards?.update(pods)
  }

  /** The pod named by `x-spoke-pod` (host name, its first label, or ip:port), else null. */
  podNamed(name: string): E | null {
    return this.#podNames.get(name) ?? this.#podNames.get(name.toLowerCase()) ?? null
  }

  /** The pod owning `key` on a sharded upstream, or why there is none. */
  shard(key: string): E | ShardMiss {
    return this.#shards === null ? 'empty' : this.#shards.pick(key)
  }
}

// The names `x-spoke-pod` may use for a pod: its SRV host name without the trailing dot, that
// name's first label (`web-2`), or its `ip:port` as /endpoints shows it. Only pods in discovery
// are indexed, so the header can never reach an address of its own making.
function indexPodNames<E extends Shardable>(pods: Iterable<E>): Map<string, E> {
  const names = new Map<string, E>()
  const labels = new Map<string, E | null>()
  for (const e of pods) {
    names.set(e.key, e)
    if (e.hostname === null) continue
    // DNS names compare case-insensitively; lookups lower-case the asked name too.
    const hostname = e.hostname.toLowerCase()
    names.set(hostname, e)
    const dot = hostname.indexOf('.')
    if (dot > 0) {
      const label = hostname.slice(0, dot)
      // A label two pods share (two StatefulSets behind one Service) names neither of them.
      labels.set(label, labels.has(label) && labels.get(label) !== e ? null : e)
    }
  }
  for (const [label, e] of labels) if (e !== null && !names.has(label)) names.set(label, e)
  return names
}
