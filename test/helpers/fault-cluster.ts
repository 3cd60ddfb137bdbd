// spoke in-process in front of whatever pods a fault test brings (in-process pods, pods in child
// processes or in a network namespace, servers that never answer), with the real DNS server
// answering the headless name with the addresses the test publishes.
import net from 'node:net'
import { type DnsServer, startDnsServer } from '../../src/demo/dns-server.ts'
import { silentLogger } from '../../src/log.ts'
import { Spoke } from '../../src/main.ts'
import { listenOn } from '../../src/net.ts'
import type { Upstream } from '../../src/upstream/upstream.ts'
import { buildConfig, SERVICE, waitFor } from './harness.ts'

export interface FaultCluster {
  dns: DnsServer
  spoke: Spoke
  upstream: Upstream
  /** `http://127.0.0.1:<port>` of spoke's listener. */
  url: string
  /** Points the service's A records at these addresses (none: NXDOMAIN). */
  publish(hosts: readonly string[]): void
  /** The DNS server goes away entirely (its port closed: queries are refused). */
  stopDns(): Promise<void>
  /** …and comes back on the same port with the last published records. */
  restartDns(): Promise<void>
  close(): Promise<void>
}

export interface FaultClusterOptions {
  /** The pods' addresses, all listening on `port`. */
  hosts: readonly string[]
  port: number
  /** Merged into upstreams[0]. */
  upstream?: Record<string, unknown>
  ttl?: number
}

export async function startFaultCluster(options: FaultClusterOptions): Promise<FaultCluster> {
  let dns = await startDnsServer()
  const dnsPort = dns.address.port
  const ttl = options.ttl ?? 1
  let published = options.hosts
  const publish = (hosts: readonly string[]): void => {
    published = hosts
    if (hosts.length === 0) dns.remove(SERVICE)
    else dns.setA(SERVICE, hosts, ttl)
  }
  publish(options.hosts)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    shutdown: { linger: 0, drainTimeout: '2s' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{
      name: 'orders', service: SERVICE, port: options.port,
      discovery: { refresh: '1s', minRefresh: '100ms' },
      ...options.upstream,
    }],
  }), { log: silentLogger })
  await spoke.whenDiscovered()
  const upstream = spoke.upstreams.get('orders')!
  await waitFor(() => upstream.eligible.length === options.hosts.length, 3000, 'pods discovered')
  return {
    get dns() { return dns },
    spoke, upstream, publish,
    url: `http://127.0.0.1:${spoke.listeners[0].address!.port}`,
    stopDns: () => dns.close(),
    async restartDns() {
      dns = await startDnsServer({ port: dnsPort })
      publish(published)
    },
    async close() {
      await spoke.close()
      await dns.close()
    },
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Open connections of spoke's pools to each pod, and how many pods are ejected: for the output. */
/**
 * The pods that get no new requests: ejected ones, and (SPEC v2 §4) active ones without an open
 * connection while another pod has one. A killed pod is usually the second kind before outlier
 * detection has seen enough failures to eject it.
 */
export function outOfRotation(upstream: Upstream): string[] {
  return [...upstream.endpoints].filter((e) => e.state.tag === 'ejected' || !e.connected).map((e) => e.key)
}

export function poolState(upstream: Upstream): string {
  return [...upstream.endpoints].map((e) => `${e.key} ${e.state.tag}${e.connected ? '' : ' unconnected'} conns=${e.connections} reqs=${e.requests}`).join('; ')
}

/** A "pod" whose process is stuck: the kernel completes every TCP handshake, nothing ever answers. */
export class SilentPod {
  readonly host: string
  readonly port: number
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  /** Connections accepted. */
  connections = 0

  private constructor(host: string, port: number) {
    this.host = host
    this.port = port
    this.#server = net.createServer((socket) => {
      this.connections++
      this.#sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  static async start(host: string, port: number): Promise<SilentPod> {
    const pod = new SilentPod(host, port)
    await listenOn(pod.#server, { host, port }, `silent pod ${host}`)
    return pod
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }
}
