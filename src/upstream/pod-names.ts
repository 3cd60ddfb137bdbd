// The names `x-spoke-pod` may use for a pod of the upstream (SPEC §4): its SRV host name without
// the trailing dot, that name's first label (`web-2`), or its `ip:port` as /endpoints shows it.
// Only pods in discovery are indexed, so the header can never reach an address of its own making.
import type { Endpoint } from './endpoint.ts'

export function indexPodNames(endpoints: Iterable<Endpoint>): Map<string, Endpoint> {
  const names = new Map<string, Endpoint>()
  const labels = new Map<string, Endpoint | null>()
  for (const e of endpoints) {
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
