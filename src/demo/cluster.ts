// The demo's cluster, all on loopback: a real DNS server answering a headless Service name with the
// pods' addresses, the pods on 127.0.0.2…, and spoke in-process balancing and broadcasting over them.
import type { Config } from '../config/types.ts'
import { validateConfig } from '../config/validate.ts'
import { silentLogger } from '../log.ts'
import { Spoke } from '../main.ts'
import type { Cleanup } from './cleanup.ts'
import { type DnsServer, startDnsServer } from './dns-server.ts'
import { type Pod, startPods } from './pod.ts'
import type { Output } from './printout.ts'
import { waitUntil } from './waiting.ts'

const SERVICE = 'orders.default.svc.cluster.local'
const TTL_S = 1
// Discovery refreshes every second, so a change not seen within this means something is broken.
export const CHANGE_TIMEOUT_MS = 5000
export const BROADCAST_TIMEOUT_MS = 500

export interface Cluster {
  readonly dns: DnsServer
  /** In DNS or not: every pod the demo started, in column order. */
  readonly pods: Pod[]
  readonly spoke: Spoke
  readonly url: string
  /** The broadcast upstream's listener: the same pods, every request to all of them. */
  readonly broadcastUrl: string
  publish(pods: readonly Pod[]): void
  /** What spoke balances over right now. */
  balancedHosts(): string[]
}

export async function startCluster(out: Output, cleanup: Cleanup): Promise<Cluster> {
  const dns = await startDnsServer({ host: '127.0.0.1' })
  cleanup.add(() => dns.close())
  const pods = await startPods(3, { record: false })
  for (const p of pods) cleanup.add(() => p.close())
  const publish = (list: readonly Pod[]): void => dns.setA(SERVICE, list.map((p) => p.host), TTL_S)
  publish(pods)

  const spoke = await Spoke.start(demoConfig(dns, pods[0].port), { log: silentLogger })
  cleanup.add(() => spoke.close())
  const upstream = spoke.upstreams.get('orders')!
  const cluster: Cluster = {
    dns, pods, spoke, publish,
    url: `http://127.0.0.1:${spoke.listeners[0].address!.port}/`,
    broadcastUrl: `http://127.0.0.1:${spoke.listeners[1].address!.port}`,
    balancedHosts: () => upstream.eligible.map((e) => e.address),
  }
  printCluster(out, cluster)
  await spoke.whenDiscovered()
  await waitUntil(() => cluster.balancedHosts().length === pods.length, CHANGE_TIMEOUT_MS, 'spoke to find the pods in DNS')
  out.line(`  spoke found ${pods.length} pods in DNS`)
  return cluster
}

function demoConfig(dns: DnsServer, podPort: number): Config {
  const result = validateConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [dnsAddress(dns)], timeout: '500ms' },
    listeners: [
      { name: 'orders', address: '127.0.0.1:0', upstream: 'orders' },
      { name: 'orders-all', address: '127.0.0.1:0', upstream: 'orders-all' },
    ],
    upstreams: [
      { name: 'orders', service: SERVICE, port: podPort, discovery: { refresh: '1s', minRefresh: '200ms' } },
      {
        name: 'orders-all', service: SERVICE, port: podPort, mode: 'broadcast',
        discovery: { refresh: '1s', minRefresh: '200ms' },
        broadcast: { require: 'quorum', timeout: `${BROADCAST_TIMEOUT_MS}ms` },
      },
    ],
  })
  if (!result.ok) throw new Error(`demo configuration: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)
  return result.config
}

function printCluster(out: Output, c: Cluster): void {
  const label = (s: string): string => `  ${s.padEnd(18)}`
  out.line(out.bold('spoke demo: a Kubernetes headless Service, all on loopback'))
  out.line()
  out.line(`${label('headless Service')}${SERVICE}`)
  out.line(`${label('DNS server')}${dnsAddress(c.dns)}, A records, TTL ${TTL_S}s`)
  c.pods.forEach((p, i) => out.line(`${label(i === 0 ? 'pods' : '')}${p.name}  ${p.address}`))
  out.line(`${label('spoke')}${c.url.slice(7, -1)}  (admin 127.0.0.1:${c.spoke.admin.address!.port})`)
  out.line(`${label('')}${c.broadcastUrl.slice(7)}  broadcast: every request to every pod`)
  out.line(`${label('')}resolves the name every 1s`)
}

function dnsAddress(dns: DnsServer): string {
  return `${dns.address.host}:${dns.address.port}`
}
