// The JSON of GET /endpoints (SPEC §7).
import type { Upstream } from '../upstream/upstream.ts'
import type { Endpoint } from '../upstream/endpoint.ts'

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
    })),
  }
}
