// A StatefulSet on loopback: pods web-0, web-1, … on 127.0.0.2, .3, … published through SRV
// (`_http._tcp.web.default.svc.cluster.local` → `web-N.web.default.svc.cluster.local` → A), and
// spoke in front with `portName: http`. Tests move pods in and out of DNS and change their IPs.
import http from 'node:http'
import { type DnsServer, startDnsServer } from '../../src/demo/dns-server.ts'
import { type Pod, startPods } from '../../src/demo/pod.ts'
import { type Logger, silentLogger } from '../../src/log.ts'
import { Spoke } from '../../src/main.ts'
import type { Upstream } from '../../src/upstream/upstream.ts'
import { buildConfig, request, waitFor } from './harness.ts'

export const WEB = 'web.default.svc.cluster.local'
export const hostnameOf = (ordinal: number): string => `web-${ordinal}.${WEB}`

export interface SrvCluster {
  dns: DnsServer
  /** pods[i] is web-i. */
  pods: Pod[]
  spoke: Spoke
  upstream: Upstream
  url: string
  /** Publishes these ordinals (each at its pod's address unless `addresses` says otherwise) and waits until spoke sees exactly them. */
  publish(ordinals: readonly number[], addresses?: ReadonlyMap<number, string>): Promise<void>
  close(): Promise<void>
}

export async function startSrvCluster(options: { pods: number; upstream: Record<string, unknown>; log?: Logger }): Promise<SrvCluster> {
  const dns = await startDnsServer()
  const pods = await startPods(options.pods, { namePrefix: 'web' })
  const port = pods[0].port
  const setRecords = (want: ReadonlyMap<string, string>): void => {
    for (const [hostname, address] of want) dns.setA(hostname, [address], 1)
    if (want.size === 0) dns.remove(`_http._tcp.${WEB}`)
    else dns.setSrv(`_http._tcp.${WEB}`, [...want.keys()].map((target) => ({ target, port })), 1)
  }
  const everyPod = new Map(pods.map((p, i) => [hostnameOf(i), p.host]))
  // Records first: spoke's first query then finds every pod, not an empty name to wait out.
  setRecords(everyPod)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'web', address: '127.0.0.1:0', upstream: 'web' }],
    upstreams: [{
      name: 'web', service: WEB, portName: 'http',
      discovery: { refresh: '1s', minRefresh: '100ms' },
      ...options.upstream,
    }],
  }), { log: options.log ?? silentLogger })
  const upstream = spoke.upstreams.get('web')!
  const publish = async (ordinals: readonly number[], addresses: ReadonlyMap<number, string> = new Map()): Promise<void> => {
    const want = new Map(ordinals.map((o) => [hostnameOf(o), addresses.get(o) ?? pods[o].host]))
    setRecords(want)
    await waitFor(() => {
      const seen = [...upstream.endpoints]
      return seen.length === want.size && seen.every((e) => e.hostname !== null && want.get(e.hostname) === e.address)
    }, 5000, `spoke to see ${[...want].join(', ')}`)
  }
  await publish(pods.map((_, i) => i))
  return {
    dns, pods, spoke, upstream, publish,
    url: `http://127.0.0.1:${spoke.listeners[0].address!.port}`,
    async close() {
      await spoke.close()
      await Promise.all(pods.map((p) => p.close()))
      await dns.close()
    },
  }
}

/**
 * Sends one GET per key (the key in `headerName`), a few at a time on keep-alive connections,
 * and answers which pod (`x-pod`) served each key. Any status but 200 fails.
 */
export async function podsByKey(url: string, keys: readonly string[], headerName = 'x-account-id'): Promise<Map<string, string>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const out = new Map<string, string>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]
      const answer = await request(`${url}/`, { agent, headers: { [headerName]: key } })
      if (answer.status !== 200) throw new Error(`key ${key}: status ${answer.status} ${answer.body}`)
      out.set(key, String(answer.headers['x-pod']))
    }
  }
  try {
    await Promise.all(Array.from({ length: 8 }, worker))
  } finally {
    agent.destroy()
  }
  return out
}
