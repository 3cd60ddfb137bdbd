import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, request, SERVICE, startCluster } from './helpers/harness.ts'

t.test('a WebSocket upgrade is tunnelled to one pod, bytes both ways', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pod = http.createServer((_req, res) => res.end('plain'))
  let upgradeHost = ''
  pod.on('upgrade', (req, socket) => {
    upgradeHost = req.headers.host ?? ''
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])))
  })
  await new Promise<void>((r) => pod.listen(0, '127.0.0.2', () => r()))
  t.teardown(() => { pod.closeAllConnections(); pod.close() })
  const podPort = (pod.address() as net.AddressInfo).port
  dns.setA(SERVICE, ['127.0.0.2'], 1)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`] },
    listeners: [{ name: 'ws', address: '127.0.0.1:0', upstream: 'ws' }],
    upstreams: [{ name: 'ws', service: SERVICE, port: podPort }],
  }), { log: silentLogger })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()

  const client = net.connect(spoke.listeners[0].address!.port, '127.0.0.1')
  t.teardown(() => client.destroy())
  let received = ''
  client.on('data', (d: Buffer) => { received += d.toString('latin1') })
  client.write('GET /chat HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  const deadline = Date.now() + 3000
  while (!received.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.match(received, /^HTTP\/1\.1 101 Switching Protocols/)
  t.equal(upgradeHost, `${SERVICE}:${podPort}`, 'Host rewritten on the upgrade too')
  client.write('ping')
  while (!received.includes('echo:ping') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.match(received, 'echo:ping', 'bytes flow through the tunnel')
})

t.test('the keep-alive race: pods closing idle connections as requests arrive cost no GET', async (t) => {
  // Node pods with a 100 ms keep-alive: spoke's connections die constantly at the moment a
  // request may be written to them; undici's reading of Keep-Alive plus retries must hide it.
  const cluster = await startCluster({ pods: 3, podOptions: { keepAliveTimeoutMs: 100 } })
  t.teardown(() => cluster.close())
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => agent.destroy())
  const failures: number[] = []
  const started = Date.now()
  let sent = 0
  while (Date.now() - started < 2500 && sent < 2000) {
    // Gaps around the pods' keep-alive timeout make the race likely.
    const gap = 80 + Math.floor(Math.random() * 40)
    await new Promise((r) => setTimeout(r, gap))
    const burst = await Promise.all(Array.from({ length: 4 }, () => request(`${cluster.url}/`, { agent })))
    sent += burst.length
    for (const a of burst) if (a.status !== 200) failures.push(a.status)
  }
  t.same(failures, [], `no failed GET in ${sent}`)
  t.ok(cluster.pods.reduce((n, p) => n + p.connections, 0) > 10, 'pods did close connections along the way')
})
