// The one place the simulation meets spoke's code: its pickers (src/balance/index.ts) and
// subsetting (src/balance/subset.ts), imported, driven by simulated time. A simulated sidecar's view of one pod is a SimEndpoint, as an Endpoint is in
// spoke (src/upstream/endpoint.ts): the picker sees only what that sidecar itself knows.
import { createPicker, type Picker } from '../../src/balance/index.ts'
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
  constructor(pod: number) {
    this.pod = pod
  }
}

export interface PolicyOptions {
  /** Simulated milliseconds. */
  readonly now: () => number
  readonly slowStartMs: number
}

export function makePicker(policy: BalancePolicy, _options: PolicyOptions): Picker<SimEndpoint> {
  return createPicker<SimEndpoint>(policy)
}

/** A sidecar's endpoint for a pod it has just discovered (or connected to, under subsetting). */
export function newEndpoint(pod: number, _now: number): SimEndpoint {
  return new SimEndpoint(pod)
}

/** What spoke records when a response comes back: the response time for peak_ewma. */
export function onResponse(_endpoint: SimEndpoint, _latencyMs: number, _now: number): void {}

/** The pods (indices) this sidecar connects to under `subsetSize`, by spoke's subsetting. */
export function subsetOf(pods: readonly number[], size: number, identity: string): number[] {
  return chooseSubset(pods, size, identity, podName)
}

/** What of issue 14 is not on this branch yet, and why the simulation leaves it out (null: there). */
export interface Missing {
  readonly peakEwma: string | null
  readonly slowStart: string | null
  readonly subset: string | null
}

export function available(): Missing {
  let peakEwma: string | null = null
  try {
    createPicker('peak_ewma')
  } catch (err) {
    peakEwma = `policy peak_ewma (${(err as Error).message})`
  }
  return {
    peakEwma,
    slowStart: 'slowStart (not in src/balance yet)',
    subset: null,
  }
}
