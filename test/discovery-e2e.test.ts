import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { Pod, startPods } from '../src/demo/pod.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, request, singleConnectionAgent, waitFor } from './helpers/harness.ts'

const SERVICE = 'web.default.svc.cluster.local'

t.test('SRV discovery: per-pod host names and ports, Host uses the chosen pod\'s port', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  // Pods on different ports: only SRV can express that.
  const pods = [
    ...(await startPods(1, { first: 2, namePrefix: 'web-a' })),
    ...(await startPods(1, { first: 3, namePrefix: 'web-b' })),
  ]
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  dns.setSrv(`_http._tcp.${SERVICE}`, pods.map((p, i) => ({ target: `web-${i}.${SERVICE}`, port: p.port })), 1)
  pods.forEach((p, i) => dns.setA(`web-${i}.${SERVICE}`, [p.host], 1))
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`] },
    listeners: [{ name: 'web', address: '127.0.0.1:0', upstream: 'web' }],
    upstreams: [{ name: 'web', service: SERVICE, portName: 'http', discovery: { refresh: '1s', minRefresh: '100ms' } }],
  }), { log: silentLogger })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()
  const upstream = spoke.upstreams.get('web')!
  await waitFor(() => upstream.eligible.length === 2, 2000, 'two pods')
  t.same([...upstream.endpoints].map((e) => e.hostname).sort(), [`web-0.${SERVICE}`, `web-1.${SERVICE}`])
  const url = `http://127.0.0.1:${spoke.listeners[0].address!.port}`
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 4; i++) {
    const answer = await request(`${url}/echo`, { agent })
    const seen = JSON.parse(answer.body) as { pod: string; rawHeaders: string[] }
    const pod = pods.find((p) => p.name === seen.pod)!
    const host = seen.rawHeaders[seen.rawHeaders.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === 'host') + 1]
    t.equal(host, `${SERVICE}:${pod.port}`, `Host carries ${pod.name}'s own port`)
  }
  const endpoints = await (await fetch(`http://127.0.0.1:${spoke.admin.address!.port}/endpoints`)).json() as { upstreams: { endpoints: { hostname: string }[] }[] }
  t.same(endpoints.upstreams[0].endpoints.map((e) => e.hostname).sort(), [`web-0.${SERVICE}`, `web-1.${SERVICE}`], '/endpoints shows host names')
})

t.test('IPv6 pods on ::1 with family: ipv6', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  let pod: Pod | null = null
  for (let i = 0; i < 10 && pod === null; i++) {
    try {
      pod = await Pod.start({ name: 'v6', host: '::1', port: 20000 + Math.floor(Math.random() * 40000) })
    } catch { /* port taken: try another */ }
  }
  t.ok(pod, 'pod on ::1')
  t.teardown(() => pod!.close())
  dns.setAAAA(SERVICE, ['::1'], 1)
  dns.setA(SERVICE, ['127.0.0.2'], 1)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`] },
    listeners: [{ name: 'web', address: '127.0.0.1:0', upstream: 'web' }],
    upstreams: [{ name: 'web', service: SERVICE, port: pod!.port, discovery: { family: 'ipv6' } }],
  }), { log: silentLogger })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()
  const upstream = spoke.upstreams.get('web')!
  t.same([...upstream.endpoints].map((e) => e.key), [`[::1]:${pod!.port}`], 'only the AAAA record, bracketed')
  const answer = await request(`http://127.0.0.1:${spoke.listeners[0].address!.port}/`)
  t.equal(answer.status, 200)
  t.equal(answer.headers['x-pod'], 'v6')
})
