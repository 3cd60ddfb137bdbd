// ordinal: StatefulSet sharding. Integer key k goes to the pod with ordinal k mod replicas, the
// ordinal read from the pod's host name (`web-2.web.default.svc.cluster.local` → 2). A missing
// ordinal is a missing shard: it is never served by another pod.
import { compareIdentity, type Shardable, type ShardMiss, type ShardPicker } from './shard.ts'

export class OrdinalPicker<E extends Shardable> implements ShardPicker<E> {
  readonly #replicas: number
  #byOrdinal: (E | undefined)[] = []

  constructor(replicas: number) {
    this.#replicas = replicas
  }

  update(pods: Iterable<E>): void {
    const table: (E | undefined)[] = new Array(this.#replicas)
    for (const pod of pods) {
      const ordinal = ordinalOf(pod.hostname)
      // Pods at or beyond `replicas` (a scale-up the config does not know of yet) own no keys.
      if (ordinal === null || ordinal >= this.#replicas) continue
      // Two pods with one ordinal (two StatefulSets behind one Service): the same one in every sidecar.
      const held = table[ordinal]
      if (held === undefined || compareIdentity(pod, held) < 0) table[ordinal] = pod
    }
    this.#byOrdinal = table
  }

  pick(key: string): E | ShardMiss {
    const ordinal = keyOrdinal(key, this.#replicas)
    if (ordinal === null) return 'bad_key'
    return this.#byOrdinal[ordinal] ?? 'unavailable'
  }
}

const ORDINAL = /-(0|[1-9][0-9]*)$/

/** The StatefulSet ordinal at the end of the host name's first label (`web-2` → 2), else null. */
export function ordinalOf(hostname: string | null): number | null {
  if (hostname === null) return null
  const dot = hostname.indexOf('.')
  const label = dot < 0 ? hostname : hostname.slice(0, dot)
  const m = ORDINAL.exec(label)
  return m === null || m.index === 0 ? null : Number(m[1])
}

/**
 * `key mod replicas` for a key of decimal digits only, else null. Computed digit by digit, so an
 * account id beyond 2^53 (a 64-bit snowflake, say) is reduced exactly instead of rounded.
 */
export function keyOrdinal(key: string, replicas: number): number | null {
  if (key.length === 0) return null
  let r = 0
  for (let i = 0; i < key.length; i++) {
    const d = key.charCodeAt(i) - 48
    if (d < 0 || d > 9) return null
    r = (r * 10 + d) % replicas
  }
  return r
}
