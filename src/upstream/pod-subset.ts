// Which discovered pods this sidecar connects to (README "Subsetting"): all of them, or its
// subset of subsetSize. Ejection never changes the subset: it is a pure function of the identity
// and the names in DNS, so that the spread over the pods holds.
import { chooseSubset } from '../balance/subset.ts'
import { type DiscoveredEndpoint, endpointKey } from '../discovery/types.ts'

export interface PodSubset {
  readonly chosen: readonly DiscoveredEndpoint[]
  /** Kept for /endpoints: pods in discovery this sidecar has no connection to. */
  readonly outside: readonly DiscoveredEndpoint[]
}

export function podSubset(discovered: readonly DiscoveredEndpoint[], size: number, identity: string): PodSubset {
  if (size === 0 || discovered.length <= size) return { chosen: discovered, outside: [] }
  // By key first, so that two pods with one host name (which should not be) rank alike everywhere.
  const sorted = [...discovered].sort((a, b) => compareKeys(endpointKey(a.address, a.port), endpointKey(b.address, b.port)))
  const chosen = chooseSubset(sorted, size, identity, podName)
  const inSubset = new Set(chosen)
  return { chosen, outside: sorted.filter((d) => !inSubset.has(d)) }
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** What a pod is known by for subsetting: its SRV host name (kept across a new IP), else ip:port. */
function podName(d: DiscoveredEndpoint): string {
  return d.hostname !== null ? d.hostname.toLowerCase() : endpointKey(d.address, d.port)
}
