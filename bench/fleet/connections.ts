// Long-lived connections: each sidecar keeps perEndpoint connections to every pod it balances
// over (all of them, or the subset spoke's subsetting gives it), so a pod holds perEndpoint × the
// number of sidecars whose subset contains it. Connections opened on demand beyond perEndpoint
// (HTTP/1.1 under load) are counted by the load simulation, not here.
import { Rng } from '../../test/helpers/rng.ts'
import { type Identities, MODEL, sidecarNames } from './model.ts'
import { subsetOf } from './spoke.ts'

export interface ConnectionsConfig {
  readonly sidecars: number
  readonly pods: number
  /** 0: all pods. */
  readonly subsetSize: number
  readonly identities: Identities
  /** Pods added for the churn count (a scale-up). */
  readonly added: number
  readonly seed: number
}

export interface ConnectionsResult {
  readonly config: ConnectionsConfig
  /** Per sidecar. */
  readonly perSidecar: number
  /** Per pod, before the scale-up. */
  readonly perPod: Float64Array
  /** Mean per sidecar: connections it closes plus those it opens when `added` pods join. */
  readonly movedPerSidecar: number
}

export function runConnections(config: ConnectionsConfig): ConnectionsResult {
  const rng = new Rng(config.seed)
  const before = Array.from({ length: config.pods }, (_, i) => i)
  const after = Array.from({ length: config.pods + config.added }, (_, i) => i)
  const perPod = new Float64Array(config.pods)
  let moved = 0
  let perSidecar = 0
  for (const name of sidecarNames(config.sidecars, config.identities, rng)) {
    const mine = subsetOf(before, config.subsetSize, name)
    for (const pod of mine) perPod[pod] += MODEL.perEndpoint
    perSidecar = mine.length * MODEL.perEndpoint
    if (config.added > 0) {
      const kept = new Set(mine)
      const next = subsetOf(after, config.subsetSize, name)
      let stayed = 0
      for (const pod of next) if (kept.has(pod)) stayed++
      moved += (mine.length - stayed + next.length - stayed) * MODEL.perEndpoint
    }
  }
  return { config, perSidecar, perPod, movedPerSidecar: moved / config.sidecars }
}
