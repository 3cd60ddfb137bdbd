// consistent_hash as rendezvous (highest random weight) hashing: each pod scores the key with a
// hash of (key, pod identity) and the highest score owns it.
//
// Why rendezvous rather than a ring with virtual nodes or Maglev: it moves exactly the keys it
// must (a pod leaving moves only its own keys; a pod joining takes only the keys it now wins),
// where a ring moves about 1/N with a variance that depends on the number of virtual nodes and
// Maglev moves a little more than the minimum. It needs no table rebuilt on every DNS change and
// no memory beyond one 32-bit seed per pod. Its cost, O(N) per request, is one multiply-and-shift
// mix per pod, which for the tens of pods behind a headless Service is less than a ring's binary
// search costs in cache misses. It also gives every key a full preference order, which is what
// the bounded-load variant walks.
import { hashString, mix32 } from './hash.ts'
import { compareIdentity, identityOf, type Shardable, type ShardMiss, type ShardPicker } from './shard.ts'

export class Rendezvous<E extends Shardable> implements ShardPicker<E> {
  #pods: E[] = []
  #seeds = new Uint32Array(0)
  /** 1.25 = no pod above 125 % of the mean in-flight load (Mirrokni et al., 2018); null = off. */
  readonly #boundedLoad: number | null

  constructor(boundedLoad: number | null = null) {
    this.#boundedLoad = boundedLoad
  }

  update(pods: Iterable<E>): void {
    // Sorted so that a tie (two pods with the same identity, or a 1-in-2^32 score collision)
    // goes the same way in every sidecar, whatever order DNS listed them in.
    const list = [...pods].sort(compareIdentity)
    const seeds = new Uint32Array(list.length)
    for (let i = 0; i < list.length; i++) seeds[i] = hashString(identityOf(list[i]))
    this.#pods = list
    this.#seeds = seeds
  }

  pick(key: string): E | ShardMiss {
    const pods = this.#pods
    const n = pods.length
    if (n === 0) return 'empty'
    const k = hashString(key)
    const seeds = this.#seeds
    let best = 0
    let bestScore = -1
    for (let i = 0; i < n; i++) {
      const score = mix32(k ^ seeds[i])
      if (score > bestScore) {
        best = i
        bestScore = score
      }
    }
    const factor = this.#boundedLoad
    if (factor === null) return pods[best]
    // Bounded load: each pod may hold at most ceil(factor × mean) requests in flight, this one
    // included; a key whose owner is full goes to the next pod in its own preference order, the
    // highest-scoring pod with room. Some pod always has room: the least loaded is at or below
    // the mean, which is below the capacity.
    let total = 0
    for (let i = 0; i < n; i++) total += pods[i].inFlight
    const capacity = Math.ceil((factor * (total + 1)) / n)
    if (pods[best].inFlight < capacity) return pods[best]
    best = -1
    bestScore = -1
    for (let i = 0; i < n; i++) {
      if (pods[i].inFlight >= capacity) continue
      const score = mix32(k ^ seeds[i])
      if (score > bestScore) {
        best = i
        bestScore = score
      }
    }
    return pods[best]
  }
}
