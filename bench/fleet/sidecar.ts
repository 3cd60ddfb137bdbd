// A simulated sidecar: one upstream's view of the pods, as spoke keeps it (src/upstream/upstream.ts):
// an endpoint per pod it balances over, and a picker choosing among them.
import type { Picker } from '../../src/balance/index.ts'
import { Balancer, type BalancePolicy, type SimEndpoint, subsetOf } from './spoke.ts'

export class Sidecar {
  /** Its identity for subsetting: the client pod's name, as in Kubernetes. */
  readonly name: string
  readonly #balancer: Balancer
  readonly #picker: Picker<SimEndpoint>
  readonly #subsetSize: number
  /** Its endpoints by pod index (a sparse array: a Map per sidecar costs a million entries at 1 000 × 1 000). */
  #byPod: (SimEndpoint | undefined)[] = []
  #candidates: SimEndpoint[] = []
  #known = 0

  constructor(name: string, policy: BalancePolicy, subsetSize: number, slowStartMs: number, now: () => number) {
    this.name = name
    this.#subsetSize = subsetSize
    this.#balancer = new Balancer(policy, { now, slowStartMs })
    this.#picker = this.#balancer.picker
  }

  /** A DNS answer listing `pods`: balance over them, or over this sidecar's subset of them. */
  discover(pods: readonly number[]): void {
    // Pods of its first answer were there when it started; later ones join (slow start), as in
    // spoke's Upstream.
    const joined = this.#known > 0
    this.#known = pods.length
    const chosen = subsetOf(pods, this.#subsetSize, this.name)
    // Pods are numbered 0 … pods.length − 1: an array that size keeps fast elements.
    const byPod = new Array<SimEndpoint | undefined>(pods.length)
    this.#candidates = chosen.map((pod) => (byPod[pod] = this.#byPod[pod] ?? this.#balancer.endpoint(pod, joined)))
    this.#byPod = byPod
  }

  /** Whether its last answer listed `pods` pods. */
  knows(pods: number): boolean {
    return this.#known === pods
  }

  /** Its endpoints: one per pod it balances over (its subset, or all). */
  get endpoints(): readonly SimEndpoint[] {
    return this.#candidates
  }

  /** As if it had been running a while: `picks` picks made (round robin moved on by as many). */
  skip(picks: number): void {
    for (let i = 0; i < picks; i++) this.#picker.pick(this.#candidates, null)
  }

  pick(): SimEndpoint | null {
    return this.#picker.pick(this.#candidates, null)
  }

  respond(endpoint: SimEndpoint, latencyMs: number): void {
    this.#balancer.respond(endpoint, latencyMs)
  }
}
