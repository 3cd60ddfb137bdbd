// SPEC v2 §8: a pod closing or asking to close (`Connection: close`, an HTTP/1.0 answer, GOAWAY,
// a FIN on an idle connection) is reason="remote_close"; "error" is for socket errors and failures.
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { buildConfig, SERVICE, waitFor } from './helpers/harness.ts'
import { startNginxPods } from './helpers/nginx.ts'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { onOnePort } from '../src/net.ts'

async function spokeFor(t: { teardown(fn: () => unknown): void }, hosts: string[], port: number) {
  const dns = await startDnsServer()
  dns.setA(SERVICE, hosts, 1)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: SERVICE, port, discovery: { refresh: '1s', minRefresh: '100ms' } }],
  }), { log: silentLogger })
  t.teardown(async () => { await spoke.close(); await dns.close() })
  await spoke.whenDiscovered()
  const upstream = spoke.upstreams.get('orders')!
  await waitFor(() => upstream.eligible.length === hosts.length, 2000, 'pods discovered')
  return { spoke, upstream, url: `http://127.0.0.1:${spoke.listeners[0].address!.port}` }
}

async function requests(url: string, n: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 })
  const statuses: number[] = []
  for (let i = 0; i < n; i++) {
    statuses.push(await new Promise<number>((resolve, reject) => {
      http.get(`${url}/`, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)) }).on('error', reject)
    }))
  }
  agent.destroy()
  return statuses
}

t.test('nginx closing every 10th request with Connection: close (keepalive_requests 10): remote_close, never error', async (t) => {
  const nginx = await startNginxPods(['127.0.0.2', '127.0.0.3'], 'keepalive_requests 10; keepalive_timeout 60s;')
  t.teardown(() => nginx.close())
  const { upstream, url } = await spokeFor(t, nginx.hosts, nginx.port)
  const statuses = await requests(url, 300)
  t.same([...new Set(statuses)], [200], '300 requests, all 200')
  await waitFor(() => (upstream.stats.connectionsClosed.get('remote_close') ?? 0) >= 25, 2000, 'the closes counted')
  const closed = Object.fromEntries(upstream.stats.connectionsClosed)
  t.ok(closed.remote_close >= 25, `about one close per 10 requests counted as remote_close (${JSON.stringify(closed)})`)
  t.equal(closed.error ?? 0, 0, 'none counted as error')
})

t.test('an HTTP/1.0 pod (answers, then closes): remote_close, never error', async (t) => {
  let answered = 0
  // Two HTTP/1.0 servers on one port (A records carry none), as the demo pods are started.
  const servers = await onOnePort(2, 2, (host, port) => new Promise<{ port: number; close(): Promise<void> }>((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', () => {
        answered++
        socket.end('HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n')
      })
    })
    server.once('error', reject)
    server.listen(port, host, () => resolve({ port, close: () => new Promise<void>((r) => server.close(() => r())) }))
  }))
  t.teardown(() => Promise.all(servers.map((s) => s.close())))
  const port = servers[0].port
  const { upstream, url } = await spokeFor(t, ['127.0.0.2', '127.0.0.3'], port)
  const statuses = await requests(url, 40)
  t.same([...new Set(statuses)], [200], '40 requests, all 200')
  t.equal(answered, 40)
  await waitFor(() => (upstream.stats.connectionsClosed.get('remote_close') ?? 0) >= 40, 2000, 'the closes counted')
  t.equal(upstream.stats.connectionsClosed.get('error') ?? 0, 0, 'none counted as error')
})
