// A large StatefulSet behind SRV, served by dnsmasq (a real DNS server that is not ours): 300
// targets mean one SRV answer too large for UDP (fetched over TCP) and 300 address queries per
// lookup (600 with family auto). Between spoke and dnsmasq sits a queue of 64 UDP queries, as a
// busy server's socket buffer would be: a burst beyond it loses answers. Every pod must be known
// when /ready first says 200, and no request may get a 503.
import http from 'node:http'
import t from 'tap'
import { Pod } from '../src/demo/pod.ts'
import { silentLogger } from '../src/log.ts'
import { MAX_QUERIES_IN_FLIGHT } from '../src/discovery/lookup.ts'
import { Spoke } from '../src/main.ts'
import { startDnsQueue } from './helpers/dns-queue.ts'
import { dnsmasqPath, startDnsmasq } from './helpers/dnsmasq.ts'
import { buildConfig, request } from './helpers/harness.ts'

// Namespace `ns`, not `default`: dnsmasq (2.90) follows its SRV answer with the targets' A records
// and names them by compression pointers to the targets, but a pointer reaches only the first
// 16 KiB of a message; with `default` the 300th target lies past that, the pointers wrap, and
// c-ares rightly rejects the whole answer (EBADRESP). CoreDNS never points that far.
const WEB = 'web.ns.svc.cluster.local'
const SRV = `_http._tcp.${WEB}`
const PODS = 300
const REQUESTS = 6000
const CONCURRENCY = 32
const QUEUE_DEPTH = 64

/** 127.0.1.1 … 127.0.1.250, 127.0.2.1 …: clear of the 127.0.0.x the other tests use. */
const hostOf = (i: number): string => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`

/** `count` pods on distinct loopback addresses, all on one port (tries another port when one is taken). */
async function startManyPods(count: number): Promise<Pod[]> {
  for (let tries = 0; tries < 10; tries++) {
    const port = 20000 + Math.floor(Math.random() * 40000)
    const started: Pod[] = []
    try {
      for (let i = 0; i < count; i++) started.push(await Pod.start({ name: `web-${i}`, host: hostOf(i), port, record: false }))
      return started
    } catch (err) {
      await Promise.all(started.map((p) => p.close()))
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    }
  }
  throw new Error(`no port free on all of ${count} addresses`)
}

/** Polls /ready as a kubelet would (more often): ms until its first 200, or -1 if none within 10 s. */
async function firstReady(admin: string): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < 10_000) {
    if ((await fetch(`${admin}/ready`)).status === 200) return performance.now() - started
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return -1
}

/** REQUESTS GETs over CONCURRENCY keep-alive connections (an app once the probe passed): count by status. */
async function load(url: string): Promise<{ statuses: Record<number, number>; ms: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const statuses: Record<number, number> = {}
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < REQUESTS) {
      next++
      const { status } = await request(url, { agent })
      statuses[status] = (statuses[status] ?? 0) + 1
    }
  }
  const started = performance.now()
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  } finally {
    agent.destroy()
  }
  return { statuses, ms: performance.now() - started }
}

function startSpoke(dnsPort: number, upstream: Record<string, unknown>): Promise<Spoke> {
  return Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    // The default timeout and family: what an operator who sets only the servers gets.
    dns: { servers: [`127.0.0.1:${dnsPort}`] },
    listeners: [{ name: 'web', address: '127.0.0.1:0', upstream: 'web' }],
    upstreams: [{ name: 'web', discovery: { refresh: '30s', minRefresh: '1s' }, ...upstream }],
  }), { log: silentLogger })
}

const binary = dnsmasqPath()
const skip = binary === null ? 'dnsmasq is not installed (.ci/run installs dnsmasq-base)' : false
// One set of pods for both tests: starting 300 servers is most of the set-up.
const pods = binary === null ? [] : await startManyPods(PODS)
t.teardown(() => Promise.all(pods.map((p) => p.close())))
const served = (): number[] => {
  const counts = pods.map((p) => p.requests)
  for (const p of pods) p.requests = 0
  return counts
}

t.test('300 SRV targets from dnsmasq: all known at the first /ready 200, no 503 under load', { skip }, async (t) => {
  const started = performance.now()
  const hostname = (i: number): string => `web-${i}.${WEB}`
  const dnsmasq = await startDnsmasq({
    srv: new Map([[SRV, pods.map((p, i) => ({ target: hostname(i), port: p.port }))]]),
    hosts: new Map(pods.map((p, i) => [hostname(i), [p.host]])),
    ttl: 5,
  }, binary!)
  t.teardown(() => dnsmasq.stop())
  const queue = await startDnsQueue({ host: '127.0.0.1', port: dnsmasq.port }, QUEUE_DEPTH)
  t.teardown(() => queue.close())
  const spoke = await startSpoke(queue.port, { service: WEB, portName: 'http' })
  t.teardown(() => spoke.close())
  const upstream = spoke.upstreams.get('web')!
  const admin = `http://127.0.0.1:${spoke.admin.address!.port}`

  const readyMs = await firstReady(admin)
  t.ok(readyMs >= 0, `/ready turned 200 within 10 s (${Math.round(readyMs)} ms)`)
  const known = upstream.endpointCount
  const view = await (await fetch(`${admin}/endpoints`)).json() as { upstreams: { endpoints: unknown[]; lastDiscovery: { result: string } }[] }
  t.equal(known, PODS, `every pod known at the first /ready 200 (${known})`)
  t.equal(view.upstreams[0].endpoints.length, PODS, '/endpoints lists them')
  t.equal(view.upstreams[0].lastDiscovery.result, 'success', '/endpoints: lastDiscovery success')
  const names = new Set([...upstream.endpoints].map((e) => e.hostname))
  t.equal(pods.filter((_, i) => !names.has(hostname(i))).length, 0, 'each with its SRV host name')
  t.ok(queue.tcpConnections >= 1, `the SRV answer came over TCP (${queue.tcpConnections} connections)`)
  t.ok(queue.peak <= MAX_QUERIES_IN_FLIGHT, `at most ${MAX_QUERIES_IN_FLIGHT} queries in flight (peak ${queue.peak})`)
  t.equal(queue.dropped, 0, 'so none was lost')

  const { statuses, ms } = await load(`http://127.0.0.1:${spoke.listeners[0].address!.port}/`)
  t.same(statuses, { 200: REQUESTS }, `every request answered 200 (${REQUESTS} in ${Math.round(ms)} ms)`)
  const counts = served()
  t.equal(counts.filter((n) => n === 0).length, 0, `every pod served (min ${Math.min(...counts)}, max ${Math.max(...counts)})`)
  t.comment(`300 SRV pods from dnsmasq: ${Math.round(performance.now() - started)} ms in all`)
})

t.test('300 pods by plain A records from dnsmasq: all found over TCP, an even spread', { skip }, async (t) => {
  const started = performance.now()
  const service = 'orders.ns.svc.cluster.local'
  const dnsmasq = await startDnsmasq({ hosts: new Map([[service, pods.map((p) => p.host)]]), ttl: 5 }, binary!)
  t.teardown(() => dnsmasq.stop())
  const queue = await startDnsQueue({ host: '127.0.0.1', port: dnsmasq.port }, QUEUE_DEPTH)
  t.teardown(() => queue.close())
  const spoke = await startSpoke(queue.port, { service, port: pods[0].port })
  t.teardown(() => spoke.close())
  const admin = `http://127.0.0.1:${spoke.admin.address!.port}`

  const readyMs = await firstReady(admin)
  t.ok(readyMs >= 0, `/ready turned 200 within 10 s (${Math.round(readyMs)} ms)`)
  t.equal(spoke.upstreams.get('web')!.endpointCount, PODS, 'every pod known at the first /ready 200')
  t.ok(queue.tcpConnections >= 1, `the A answer came over TCP (${queue.tcpConnections} connections)`)
  const { statuses, ms } = await load(`http://127.0.0.1:${spoke.listeners[0].address!.port}/`)
  t.same(statuses, { 200: REQUESTS }, `every request answered 200 (${REQUESTS} in ${Math.round(ms)} ms)`)
  const counts = served()
  t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `round robin: ${REQUESTS / PODS} each (min ${Math.min(...counts)}, max ${Math.max(...counts)})`)
  t.comment(`300 A-record pods from dnsmasq: ${Math.round(performance.now() - started)} ms in all`)
})
