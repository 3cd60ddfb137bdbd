// A loopback cluster for one test: a real DNS server on 127.0.0.1 (UDP), pods on 127.0.0.2…,
// and spoke in-process with a config built from a YAML-shaped document.
import http from 'node:http'
import { validateConfig } from '../../src/config/validate.ts'
import type { Config } from '../../src/config/types.ts'
import { type DnsServer, startDnsServer } from '../../src/demo/dns-server.ts'
import { type Pod, startPods } from '../../src/demo/pod.ts'
import { type Logger, silentLogger } from '../../src/log.ts'
import { Spoke } from '../../src/main.ts'

export const SERVICE = 'orders.default.svc.cluster.local'

export interface Cluster {
  dns: DnsServer
  pods: Pod[]
  spoke: Spoke
  /** `http://127.0.0.1:<port>` of the first listener. */
  url: string
  adminUrl: string
  /** Points the service's A record at these pods. */
  publish(pods: readonly Pod[]): void
  close(): Promise<void>
}

export interface ClusterOptions {
  pods?: number
  /** Merged into upstreams[0]. */
  upstream?: Record<string, unknown>
  /** Merged into listeners[0]. */
  listener?: Record<string, unknown>
  /** Merged into the top level. */
  top?: Record<string, unknown>
  ttl?: number
  podOptions?: Parameters<typeof startPods>[1]
  /** The time spoke's balancing reads (StartOptions.clock). */
  clock?: () => number
  /** Where spoke logs (default: nowhere). */
  log?: Logger
}

export function buildConfig(doc: unknown): Config {
  const result = validateConfig(doc)
  if (!result.ok) throw new Error(`invalid test config: ${JSON.stringify(result.errors)}`)
  return result.config
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const dns = await startDnsServer()
  const pods = await startPods(options.pods ?? 3, options.podOptions)
  const ttl = options.ttl ?? 1
  const publish = (list: readonly Pod[]): void => {
    if (list.length === 0) dns.remove(SERVICE)
    else dns.setA(SERVICE, list.map((p) => p.host), ttl)
  }
  publish(pods)
  const config = buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    ...options.top,
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders', ...options.listener }],
    upstreams: [{
      name: 'orders', service: SERVICE, port: pods[0]?.port ?? 8080,
      discovery: { refresh: '1s', minRefresh: '100ms' },
      ...options.upstream,
    }],
  })
  const spoke = await Spoke.start(config, { log: options.log ?? silentLogger, clock: options.clock })
  await spoke.whenDiscovered()
  await waitFor(() => [...spoke.upstreams.values()][0].eligible.length === pods.length, 2000, 'pods discovered')
  const port = spoke.listeners[0].address!.port
  return {
    dns, pods, spoke, publish,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${spoke.admin.address!.port}`,
    async close() {
      await spoke.close()
      await Promise.all(pods.map((p) => p.close()))
      await dns.close()
    },
  }
}

/** Polls `check` until it holds, failing after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One request on the given agent (a keep-alive agent with one socket = one long-lived client connection). */
export function request(url: string, options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** An agent holding exactly one keep-alive connection: the "long-lived client" of the mission. */
export function singleConnectionAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1 })
}

/** Raw bytes to a port; resolves with everything the server sent before closing (or after `waitMs`). */
export function rawExchange(port: number, payload: string | Buffer, waitMs = 1000): Promise<string> {
  return import('node:net').then(({ default: net }) => new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(payload))
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')) }, waitMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')) })
    socket.on('error', (e) => { clearTimeout(timer); reject(e) })
  }))
}
