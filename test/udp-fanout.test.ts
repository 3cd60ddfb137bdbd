// UDP fan-out (SPEC §6): each datagram received on a protocol: udp listener goes, unchanged, to
// every pod of its broadcast upstream.
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import dgram from 'node:dgram'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { onOnePort } from '../src/net.ts'
import { buildConfig, request, SERVICE, waitFor } from './helpers/harness.ts'

interface UdpPod {
  host: string
  port: number
  received: Buffer[]
  close(): Promise<void>
}

function startUdpPod(host: string, port: number): Promise<UdpPod> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4')
    const pod: UdpPod = {
      host, port, received: [],
      close: () => new Promise((r) => socket.close(() => r())),
    }
    socket.on('message', (msg) => pod.received.push(msg))
    socket.once('error', reject)
    socket.bind(port, host, () => {
      // Room for a few 60 000-byte datagrams (the default is about 200 KiB).
      socket.setRecvBufferSize(1 << 20)
      resolve(pod)
    })
  })
}

function send(port: number, payload: Buffer): Promise<void> {
  const socket = dgram.createSocket('udp4')
  return new Promise((resolve, reject) => {
    socket.send(payload, port, '127.0.0.1', (err) => {
      socket.close()
      if (err) reject(err)
      else resolve()
    })
  })
}

t.test('a 60 000-byte datagram reaches 3 UDP pods unchanged; datagrams are counted', async (t) => {
  const dns = await startDnsServer()
  const pods = await onOnePort(3, 2, startUdpPod)
  dns.setA(SERVICE, pods.map((p) => p.host), 30)
  const config = buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'events', address: '127.0.0.1:0', protocol: 'udp', upstream: 'events' }],
    upstreams: [{ name: 'events', service: SERVICE, port: pods[0].port, protocol: 'udp', mode: 'broadcast', discovery: { refresh: '1s', minRefresh: '100ms' } }],
  })
  const spoke = await Spoke.start(config, { log: silentLogger })
  t.teardown(async () => {
    await spoke.close()
    await Promise.all(pods.map((p) => p.close()))
    await dns.close()
  })
  await spoke.whenDiscovered()
  const upstream = spoke.upstreams.get('events')!
  await waitFor(() => upstream.endpointCount === 3, 2000, 'pods discovered')
  const ready = await request(`http://127.0.0.1:${spoke.admin.address!.port}/ready`)
  t.equal(ready.status, 200, 'ready once the UDP listener is bound')
  const port = spoke.listeners[0].address!.port

  const big = randomBytes(60_000)
  await send(port, big)
  await waitFor(() => pods.every((p) => p.received.length === 1), 2000, 'every pod got the datagram')
  for (const pod of pods) t.ok(pod.received[0].equals(big), `${pod.host}: 60 000 bytes, unchanged`)

  // Several in a row keep their boundaries (a datagram is never merged or split).
  const small = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('ccc')]
  for (const d of small) await send(port, d)
  await waitFor(() => pods.every((p) => p.received.length === 4), 2000, 'every pod got all datagrams')
  for (const pod of pods) t.strictSame(pod.received.slice(1).map((b) => b.toString()), ['a', '', 'ccc'])
  for (const e of upstream.endpoints) t.equal(e.connections, 0, 'no TCP connections to UDP pods')

  // No pods: datagrams are dropped, and counted as such.
  dns.remove(SERVICE)
  await waitFor(() => upstream.endpointCount === 0, 3000, 'pods gone')
  await send(port, Buffer.from('lost'))
  await waitFor(() => (spoke.listeners[0] as { udp?: { dropped: number } }).udp?.dropped === 1, 2000, 'drop counted')
  const metrics = (await request(`http://127.0.0.1:${spoke.admin.address!.port}/metrics`)).body
  t.match(metrics, /spoke_udp_datagrams_total\{listener="events",upstream="events"\} 5\n/)
  t.match(metrics, /spoke_udp_datagrams_dropped_total\{listener="events",upstream="events"\} 1\n/)
  t.match(metrics, /spoke_udp_send_errors_total\{listener="events",upstream="events"\} 0\n/)
  t.notMatch(metrics, /spoke_broadcasts_total\{upstream="events"/, 'datagrams are not HTTP broadcasts')
  const promtool = await new Promise<string>((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(stdout + stderr))
    child.stdin!.end(metrics)
  })
  const findings = promtool.split('\n').filter((l) => l.trim() !== '' && !/nodejs_active_\w+_total/.test(l))
  t.same(findings, [], `promtool findings: ${promtool}`)
})

t.test('SRV discovery for UDP pods asks for _<portName>._udp', async (t) => {
  const dns = await startDnsServer()
  const pods = await onOnePort(2, 2, startUdpPod)
  dns.setSrv(`_events._udp.${SERVICE}`, pods.map((p, i) => ({ target: `ev-${i}.${SERVICE}`, port: p.port })), 30)
  pods.forEach((p, i) => dns.setA(`ev-${i}.${SERVICE}`, [p.host], 30))
  const config = buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'events', address: '127.0.0.1:0', protocol: 'udp', upstream: 'events' }],
    upstreams: [{ name: 'events', service: SERVICE, portName: 'events', protocol: 'udp', mode: 'broadcast' }],
  })
  const spoke = await Spoke.start(config, { log: silentLogger })
  t.teardown(async () => {
    await spoke.close()
    await Promise.all(pods.map((p) => p.close()))
    await dns.close()
  })
  await spoke.whenDiscovered()
  await waitFor(() => spoke.upstreams.get('events')!.endpointCount === 2, 2000, 'pods discovered over SRV')
  await send(spoke.listeners[0].address!.port, Buffer.from('hello'))
  await waitFor(() => pods.every((p) => p.received.length === 1), 2000, 'both pods got it')
  t.pass('delivered to both SRV targets')
})

t.test('a UDP port already taken is a clear start-up error', async (t) => {
  const taken = dgram.createSocket('udp4')
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()))
  t.teardown(() => taken.close())
  const config = buildConfig({
    admin: { address: '127.0.0.1:0' },
    listeners: [{ name: 'events', address: `127.0.0.1:${taken.address().port}`, protocol: 'udp', upstream: 'events' }],
    upstreams: [{ name: 'events', service: SERVICE, port: 9, protocol: 'udp', mode: 'broadcast' }],
  })
  await t.rejects(Spoke.start(config, { log: silentLogger }), { message: `listener events: cannot listen on udp 127.0.0.1:${taken.address().port}: EADDRINUSE`, code: 'EADDRINUSE' })
})
