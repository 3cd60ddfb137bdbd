// Deterministic subsetting (discovery.subsetSize): which N of the pods this sidecar connects to,
// as a pure function of its identity and the pods' names, so that every sidecar computes its own
// subset without talking to the others and a restarted sidecar gets the same one back.
//
// Two treatments, by the form of the identity:
//
// - An ordinal identity (`orders-3`, the pod name of a StatefulSet replica, or a plain number
//   such as `3`): a balanced ring walk. The pods are put in one ring order, the same for every
//   replica of that StatefulSet (a rendezvous order seeded by the name without its ordinal), and
//   ordinal k takes the N pods that follow ring position ⌊v(k) × pods⌋, where v is the base-2
//   van der Corput sequence (0, ½, ¼, ¾, …): any run of consecutive ordinals spreads its starting
//   points evenly round the ring, so every pod gets the same number of sidecars to within one or
//   two. This is the balance of the SRE book's deterministic subsetting and of Finagle's
//   deterministic aperture. The price is theirs too, in a smaller dose: positions are ranks, so a
//   pod joining or leaving shifts some windows by one place. Besides the subsets that must change
//   (those that held the pod that left, or take the one that joined), about a third of the others
//   shift by one pod, and no subset changes by more than one pod beyond what it must (measured:
//   bench/subset-spread.ts), where the SRE book's algorithm reshuffles every subset.
//
// - Any other identity (a Deployment's pod name, `orders-7d9f8b6c4-x2kqz`): rendezvous top-N
//   (gRPC's random subsetting, gRFC A68, seeded by the identity rather than at random). Each pod
//   scores hash(identity, pod name) and the N highest win. A pod leaving moves exactly the subsets
//   that held it, each of which takes its next-best pod and keeps the rest; a pod joining enters
//   exactly the subsets in which it scores in the top N; nothing else moves. Without an ordinal
//   there is nothing to coordinate on, so the spread is that of a random draw (binomial).
//
// A pure function of (identity, names) in which a pod leaving moves only the subsets that held
// it is necessarily a fixed preference order per sidecar, top-N of which spreads like a random
// draw: exact balance and minimal movement cannot both be had, hence the two treatments.
import { hostname } from 'node:os'
import { hashString, mix32 } from './hash.ts'

/**
 * The N pods this sidecar uses: all of them when `size` is 0 or covers them. A pure function of
 * the identity and the pods' names (`name`: the pod's stable name, its SRV host name else its
 * `ip:port`), whatever order the pods are given in; names should be unique (pods with one name
 * keep the order they are given in). The result is in the order the method prefers them.
 */
export function chooseSubset<E>(pods: readonly E[], size: number, identity: string, name: (pod: E) => string): E[] {
  if (size <= 0 || size >= pods.length) return pods.slice()
  const ordinal = identityOrdinal(identity)
  if (ordinal !== null) {
    const ring = byScore(pods, name, hashString(ordinal.family))
    const start = Math.floor(vanDerCorput(ordinal.index) * ring.length)
    const out: E[] = []
    for (let i = 0; i < size; i++) out.push(ring[(start + i) % ring.length])
    return out
  }
  return byScore(pods, name, hashString(identity.toLowerCase())).slice(0, size)
}

/** The sidecar's identity: `$SPOKE_ID`, else the host name (the pod name in Kubernetes). */
export function sidecarIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const id = env.SPOKE_ID?.trim() ?? ''
  return id !== '' ? id : hostname()
}

export interface IdentityOrdinal {
  /** The identity without its ordinal (`orders-#`): replicas of one StatefulSet share it. */
  readonly family: string
  readonly index: number
}

/**
 * The ordinal of an identity that is a number (`3`, up to 9 digits) or whose first label ends in
 * one after a dash (`orders-3`, `orders-3.orders.default.svc.cluster.local`, up to 4 digits), as
 * StatefulSet pod names do; else null. No leading zeros, as Kubernetes writes ordinals. Four
 * digits at most after a dash, because the random 5-character suffix of a Deployment's pod name
 * (`orders-7d9f8b6c4-24567`) can be all digits, and is no ordinal.
 */
export function identityOrdinal(identity: string): IdentityOrdinal | null {
  const id = identity.toLowerCase()
  const dot = id.indexOf('.')
  const label = dot < 0 ? id : id.slice(0, dot)
  const rest = dot < 0 ? '' : id.slice(dot)
  if (NUMBER.test(label)) return { family: `#${rest}`, index: Number(label) }
  const m = DASH_ORDINAL.exec(label)
  if (m === null || m.index === 0) return null
  return { family: `${label.slice(0, m.index)}-#${rest}`, index: Number(m[1]) }
}

const NUMBER = /^(0|[1-9][0-9]{0,8})$/
const DASH_ORDINAL = /-(0|[1-9][0-9]{0,3})$/

/** Highest score first, ties by name: a rendezvous order of the pods for this seed. */
function byScore<E>(pods: readonly E[], name: (pod: E) => string, seed: number): E[] {
  if (pods.length > INDEX_SPACE) throw new RangeError(`subsetting takes at most ${INDEX_SPACE} pods`)
  const names = pods.map(name)
  // Score and index packed into one float (32 + 21 bits, exact below 2^53), so that a typed-array
  // sort, with no comparator and no object per pod, orders them: what a fleet simulation calling
  // this a million times needs, and a sidecar with a thousand pods does not mind.
  const keys = new Float64Array(pods.length)
  for (let i = 0; i < pods.length; i++) keys[i] = mix32(hashString(names[i]) ^ seed) * INDEX_SPACE + i
  keys.sort().reverse()
  const order = Array.from(keys, (k) => k % INDEX_SPACE)
  // Equal scores (two pods with one name, or a 1-in-2^32 collision): by name, not by the order
  // DNS listed them in.
  for (let i = 0; i + 1 < order.length; i++) {
    let j = i
    while (j + 1 < order.length && Math.floor(keys[j + 1] / INDEX_SPACE) === Math.floor(keys[i] / INDEX_SPACE)) j++
    if (j > i) {
      const run = order.slice(i, j + 1).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : a - b))
      order.splice(i, run.length, ...run)
      i = j
    }
  }
  return order.map((i) => pods[i])
}

/** Room for the index below the score: up to 2^21 (two million) pods. */
const INDEX_SPACE = 2 ** 21

/** Bit-reversal of the index's 32 bits as a fraction in [0, 1): 0, ½, ¼, ¾, ⅛, ⅝, … */
function vanDerCorput(index: number): number {
  let x = index >>> 0
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1)
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2)
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4)
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8)
  x = (x >>> 16) | (x << 16)
  return (x >>> 0) / 2 ** 32
}
