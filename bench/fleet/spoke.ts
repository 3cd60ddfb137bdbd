// The one place the simulation meets spoke's code: its pickers (src/balance/index.ts) and
// subsetting (src/balance/subset.ts), imported, driven by simulated time. A simulated sidecar's
// view of one pod is a SimEndpoint, as an Endpoint is in spoke (src/upstream/endpoint.ts): the
// picker sees only what that sidecar itself knows (its own requests in flight, its own measure
// of the pod's response times).
import { type Clock, createPicker, latencyFor, type PeakEwma, type Picker } from '../../src/balance/index.ts'
import { chooseSubset } from '../../src/balance/subset.ts'
import type { Policy } from '../../src/config/types.ts'
import { podName } from './model.ts'

export type BalancePolicy = Extract<Policy, 'round_robin' | 'least_request' | 'peak_ewma' | 'random'>

export class SimEndpoint {
  /** This sidecar's requests in flight to the pod. */
  inFlight = 0
  /** The most in flight at once over the measured window (HTTP/1.1: connections it needed). */
  peakInFlight = 0
  readonly pod: number
  /** peak_ewma: this sidecar's estimate of the pod's response time; null for the other policies. */
  readonly latency: PeakEwma | null
  constructor(pod: number, latency: PeakEwma | null) {
    this.pod = pod
    this.latency = latency
  }
}

export interface PolicyOptions {
  /** Simulated milliseconds. */
  readonly now: Clock
  readonly slowStartMs: number
}

/** A sidecar's balancing: its picker, and how it makes and informs the endpoints the picker sees. */
export class Balancer {
  readonly #policy: BalancePolicy
  readonly #now: Clock
  readonly picker: Picker<SimEndpoint>

  constructor(policy: BalancePolicy, options: PolicyOptions) {
    this.#policy = policy
    this.#now = options.now
    this.picker = createPicker<SimEndpoint>(policy, { slowStartMs: options.slowStartMs, now: options.now })
  }

  /** An endpoint for `pod`; `joined`: it was not in the sidecar's first answer (slow start applies). */
  endpoint(pod: number, joined: boolean): SimEndpoint {
    const e = new SimEndpoint(pod, latencyFor(this.#policy, this.#now))
    if (joined) this.picker.slowStart(e)
    return e
  }

  /** A response's head came back `ms` after the request was sent (spoke's pool does the same). */
  respond(endpoint: SimEndpoint, ms: number): void {
    endpoint.latency?.observe(ms)
  }
}

/** The pods (indices) this sidecar connects to under `subsetSize`, by spoke's subsetting. */
export function subsetOf(pods: readonly number[], size: number, identity: string): number[] {
  return chooseSubset(pods, size, identity, podName)
}
