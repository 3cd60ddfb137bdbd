// The JSON of GET /endpoints (SPEC §7).
import type { Upstream } from '../upstream/upstream.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import { identityOrdinal } from '../balance/subset.ts'
import { endpointKey } from '../discovery/types.ts'

function describe(e: Endpoint, now: number): Record<string, unknown> {
  return {
    endpoint: e.key,
    hostname: e.hostname,
    state: e.state.tag,
    connections: e.connections,
    inFlight: e.inFlight,
    requests: e.requests,
    failures: e.failures,
    connectionAgesSeconds: e.connectionAgesSeconds(now),
    ...(e.state.tag === 'ejected' ? { ejectedUntil: new Date(e.state.until).toISOString() } : {}),
  }
}

export function endpointsDocument(upstreams: readonly Upstream[]): unknown {
  const now = performance.now()
  return {
    upstreams: upstreams.map((u) => ({
      name: u.name,
      service: u.config.service,
      mode: u.config.mode,
      lastDiscovery: u.lastDiscovery === null ? null : { at: u.lastDiscovery.at.toISOString(), result: u.lastDiscovery.result },
      endpoints: [...u.endpoints, ...u.drainingEndpoints].map((e) => describe(e, now)),
      ...(u.config.discovery.subsetSize > 0 ? subset(u) : {}),
    })),
  }
}

// discovery.subsetSize: whose subset `endpoints` is and how it was chosen (README "Subsetting"),
// and the pods in discovery outside it, which this sidecar neither connects to nor sends to.
function subset(u: Upstream): Record<string, unknown> {
  const outside = u.outsideSubset
  return {
    subset: {
      size: u.config.discovery.subsetSize,
      identity: u.identity,
      ordinal: identityOrdinal(u.identity)?.index ?? null,
      discovered: u.endpointCount + outside.length,
    },
    outsideSubset: outside.map((d) => ({ endpoint: endpointKey(d.address, d.port), hostname: d.hostname })),
  }
}
