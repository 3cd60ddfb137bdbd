import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, rawExchange, SERVICE, waitFor } from './helpers/harness.ts'

const UPGRADE = 'GET /chat HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'

/** A pod that answers upgrades with 101 and plain requests only once `release` is called. */
async function start(t: { teardown(fn: () => unknown): void }, maxConcurrentRequests: number) {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const held: http.ServerResponse[] = []
  const pod = http.createServer((_req, res) => { held.push(res) })
  pod.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  })
  await new Promise<void>((r) => pod.listen(0, '127.0.0.2', () => r()))
  t.teardown(() => { pod.closeAllConnections(); pod.close() })
  dns.setA(SERVICE, ['127.0.0.2'], 1)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`] },
    listeners: [{ name: 'ws', address: '127.0.0.1:0', upstream: 'ws' }],
    upstreams: [{ name: 'ws', service: SERVICE, port: (pod.address() as net.AddressInfo).port, limits: { maxConcurrentRequests } }],
  }), { log: silentLogger })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()
  return { spoke, held, port: spoke.listeners[0].address!.port, upstream: [...spoke.upstreams.values()][0] }
}

t.test('an upgrade beyond maxConcurrentRequests gets 503 overloaded, like any request', async (t) => {
  const { held, port, upstream } = await start(t, 1)
  const pending = new Promise<number>((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}/slow`, { agent: false }, (res) => { res.resume(); resolve(res.statusCode!) }).on('error', reject)
  })
  await waitFor(() => held.length === 1 && upstream.inFlight === 1, 2000, 'the request held at the pod')
  const refused = await rawExchange(port, UPGRADE, 1000)
  t.match(refused, /^HTTP\/1\.1 503 /, 'refused with 503')
  t.match(refused, /x-spoke-error: overloaded/i)
  t.equal(upstream.inFlight, 1, 'the refusal took no slot')
  held[0].end('done')
  t.equal(await pending, 200, 'the admitted request completes')
})

t.test('an open tunnel holds a slot until it closes', async (t) => {
  const { port, upstream } = await start(t, 1)
  const client = net.connect(port, '127.0.0.1')
  t.teardown(() => client.destroy())
  let received = ''
  client.on('data', (d: Buffer) => { received += d.toString('latin1') })
  client.write(UPGRADE)
  await waitFor(() => received.includes('\r\n\r\n'), 2000, 'the 101')
  t.match(received, /^HTTP\/1\.1 101 /)
  t.equal(upstream.inFlight, 1, 'the tunnel is counted in flight')
  const refused = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', 1000)
  t.match(refused, /^HTTP\/1\.1 503 /, 'a request beyond the limit is refused while the tunnel is open')
  client.destroy()
  await waitFor(() => upstream.inFlight === 0, 2000, 'the slot given back when the tunnel closed')
})
