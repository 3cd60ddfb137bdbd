// Two pod sets behind two service names in one real DNS server, for reload tests: moving an
// upstream from one service to the other changes its pods.
import { type DnsServer, startDnsServer } from '../../src/demo/dns-server.ts'
import { type Pod, startPods } from '../../src/demo/pod.ts'

export const SERVICE_A = 'alpha.default.svc.cluster.local'
export const SERVICE_B = 'beta.default.svc.cluster.local'

export interface TwoServices {
  dns: DnsServer
  /** pod-a-0, pod-a-1 on 127.0.0.2, .3 */
  a: Pod[]
  /** pod-b-0, pod-b-1 on 127.0.0.4, .5, another port */
  b: Pod[]
  close(): Promise<void>
}

export async function startTwoServices(options: { delayMs?: number } = {}): Promise<TwoServices> {
  const dns = await startDnsServer()
  const a = await startPods(2, { first: 2, namePrefix: 'pod-a', delayMs: options.delayMs })
  const b = await startPods(2, { first: 4, namePrefix: 'pod-b', delayMs: options.delayMs })
  dns.setA(SERVICE_A, a.map((p) => p.host), 1)
  dns.setA(SERVICE_B, b.map((p) => p.host), 1)
  return {
    dns, a, b,
    async close() {
      await Promise.all([...a, ...b].map((p) => p.close()))
      await dns.close()
    },
  }
}

/** A configuration document (before validation) with one listener and one upstream on `service`. */
export function reloadDoc(cluster: TwoServices, options: {
  service?: 'a' | 'b'
  listenerPort?: number
  admin?: string
  upstream?: Record<string, unknown>
  listeners?: Record<string, unknown>[]
  top?: Record<string, unknown>
} = {}): Record<string, unknown> {
  const pods = options.service === 'b' ? cluster.b : cluster.a
  return {
    admin: { address: options.admin ?? '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${cluster.dns.address.port}`], timeout: '500ms' },
    ...options.top,
    listeners: options.listeners ?? [{ name: 'main', address: `127.0.0.1:${options.listenerPort ?? 0}`, upstream: 'orders' }],
    upstreams: [{
      name: 'orders',
      service: options.service === 'b' ? SERVICE_B : SERVICE_A,
      port: pods[0].port,
      discovery: { refresh: '1s', minRefresh: '100ms' },
      ...options.upstream,
    }],
  }
}
