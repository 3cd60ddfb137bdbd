// discovery.subsetSize over real sockets: a real DNS server answering for 5 pods on 127.0.0.2–.6,
// spoke in-process (and once as the CLI, for $SPOKE_ID). A sidecar connects to and sends to its 2
// pods only; two identities use different pods; a pod of one subset leaving DNS is replaced there
// and nowhere else.
import http from 'node:http'
import t, { type Test } from 'tap'
import { chooseSubset } from '../src/balance/subset.ts'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { Pod, startPods } from '../src/demo/pod.ts'
import { endpointKey } from '../src/discovery/types.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, request, SERVICE, waitFor } from './helpers/harness.ts'
import { startSpokeProcess } from './helpers/spoke-process.ts'

const SUBSET = { discovery: { refresh: '1s', minRefresh: '100ms', subsetSize: 2 } }

interface Sidecar {
  spoke: Spoke
  url: string
  adminUrl: string
  /** ip:port of the pods spoke holds endpoints for. */
  endpoints(): string[]
}

async function startSidecar(dnsPort: number, podPort: number, identity: string): Promise<Sidecar> {
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dnsPort}`], timeout: '500ms' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: SERVICE, port: podPort, ...SUBSET }],
  }), { log: silentLogger, identity })
  const upstream = spoke.upstreams.get('orders')!
  await spoke.whenDiscovered()
  return {
    spoke,
    url: `http://127.0.0.1:${spoke.listeners[0].address!.port}`,
    adminUrl: `http://127.0.0.1:${spoke.admin.address!.port}`,
    endpoints: () => [...upstream.endpoints].map((e) => e.key).sort(),
  }
}

async function startWorld(t: Test): Promise<{ dnsPort: number; pods: Pod[]; publish(pods: readonly Pod[]): void; predict(identity: string, pods?: readonly Pod[]): string[] }> {
  const dns = await startDnsServer()
  const pods = await startPods(5)
  t.teardown(async () => {
    await Promise.all(pods.map((p) => p.close()))
    await dns.close()
  })
  const publish = (list: readonly Pod[]): void => dns.setA(SERVICE, list.map((p) => p.host), 1)
  publish(pods)
  return {
    dnsPort: dns.address.port,
    pods,
    publish,
    // Pods are named by ip:port for hashing (A records, no SRV host names).
    predict: (identity, list = pods) => chooseSubset(list.map((p) => endpointKey(p.host, p.port)), 2, identity, (k) => k).sort(),
  }
}

const keyOf = (p: Pod): string => endpointKey(p.host, p.port)

/** `count` GETs on one keep-alive connection; which pods answered, by name. */
async function send(url: string, count: number): Promise<Map<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const seen = new Map<string, number>()
  try {
    for (let i = 0; i < count; i++) {
      const answer = await request(`${url}/`, { agent })
      if (answer.status !== 200) throw new Error(`status ${answer.status}: ${answer.body}`)
      const pod = String(answer.headers['x-pod'])
      seen.set(pod, (seen.get(pod) ?? 0) + 1)
    }
  } finally {
    agent.destroy()
  }
  return seen
}

t.test('subsetSize 2 over 5 pods: each sidecar connects to and sends to its own 2 pods only', async (t) => {
  const world = await startWorld(t)
  // Ordinals 0 and 1 start half a ring apart: their subsets never overlap.
  const a = await startSidecar(world.dnsPort, world.pods[0].port, 'client-0')
  t.teardown(() => a.spoke.close())
  const b = await startSidecar(world.dnsPort, world.pods[0].port, 'client-1')
  t.teardown(() => b.spoke.close())
  const [subsetA, subsetB] = [world.predict('client-0'), world.predict('client-1')]
  t.strictSame(a.endpoints(), subsetA, 'client-0 holds endpoints for its subset only')
  t.strictSame(b.endpoints(), subsetB, 'client-1 holds endpoints for its subset only')
  t.equal(subsetA.filter((k) => subsetB.includes(k)).length, 0, 'and the two subsets are different pods')

  const inA = world.pods.filter((p) => subsetA.includes(keyOf(p)))
  const inB = world.pods.filter((p) => subsetB.includes(keyOf(p)))
  const neither = world.pods.filter((p) => !inA.includes(p) && !inB.includes(p))
  t.equal(neither.length, 1)
  await waitFor(() => [...inA, ...inB].every((p) => p.connections > 0), 2000, 'connections to the subsets')

  const beforeB = inB.map((p) => p.requests)
  const seen = await send(a.url, 40)
  t.strictSame([...seen.keys()].sort(), inA.map((p) => p.name).sort(), `client-0's requests went to its two pods: ${JSON.stringify(Object.fromEntries(seen))}`)
  for (const p of inA) t.equal(seen.get(p.name), 20, `${p.name}: round robin over the subset`)
  t.strictSame(inB.map((p) => p.requests), beforeB, 'none reached client-1\'s pods')
  const seenB = await send(b.url, 10)
  t.strictSame([...seenB.keys()].sort(), inB.map((p) => p.name).sort(), 'client-1\'s requests went to its two pods')
  t.equal(a.spoke.upstreams.get('orders')!.stats.connectionsOpened, 2, 'client-0 opened one connection to each of its pods, none elsewhere')
  t.equal(neither[0].connections, 0, `${neither[0].name}, in no subset, never got a connection`)
  t.equal(neither[0].requests, 0, 'nor a request')

  // /endpoints: the subset, whose it is, and the discovered pods outside it.
  const doc = await (await fetch(`${a.adminUrl}/endpoints`)).json() as { upstreams: Record<string, unknown>[] }
  const u = doc.upstreams[0] as { endpoints: { endpoint: string; state: string; connections: number }[]; subset: unknown; outsideSubset: { endpoint: string; hostname: null }[] }
  t.strictSame(u.subset, { size: 2, identity: 'client-0', ordinal: 0, discovered: 5 }, '/endpoints says whose subset it is')
  t.strictSame(u.endpoints.map((e) => e.endpoint).sort(), subsetA, 'its endpoints are the subset')
  t.ok(u.endpoints.every((e) => e.state === 'active' && e.connections >= 1), 'both active and connected')
  t.strictSame(u.outsideSubset.map((e) => e.endpoint).sort(), world.pods.map(keyOf).filter((k) => !subsetA.includes(k)).sort(), 'the other three are listed outside it')
  t.ok(u.outsideSubset.every((e) => e.hostname === null))

  // Per-pod series only for the subset: a thousand pods in DNS cost no more series than N.
  const metrics = await (await fetch(`${a.adminUrl}/metrics`)).text()
  const named = new Set([...metrics.matchAll(/endpoint="([^"]+)"/g)].map((m) => m[1]))
  t.strictSame([...named].sort(), subsetA, 'the metrics name the subset\'s pods only')
  t.match(metrics, /spoke_endpoints\{upstream="orders",state="active"\} 2\n/)

  // x-spoke-pod reaches only the pods spoke has connections to.
  const outside = await request(`${a.url}/`, { headers: { 'x-spoke-pod': keyOf(inB[0]) } })
  t.equal(outside.status, 404, 'x-spoke-pod naming a pod outside the subset')
  t.equal(outside.headers['x-spoke-error'], 'unknown_pod')
  t.match(JSON.parse(outside.body).message, /subset/)
  t.equal((await request(`${a.url}/`, { headers: { 'x-spoke-pod': keyOf(inA[1]) } })).headers['x-pod'], inA[1].name)
})

t.test('a pod of one subset leaving DNS is replaced there by another; the other sidecar keeps its subset and connections', async (t) => {
  const world = await startWorld(t)
  // Deployment-style (hashed) identities: two whose subsets differ, whatever port the pods got.
  const candidates = Array.from({ length: 20 }, (_, i) => `frontend-5d8f7c6b9-x${'bcdfghjklmnpqrstvwxz'[i]}2kq`)
  const idA = candidates[0]
  const idB = candidates.find((id) => world.predict(id).join() !== world.predict(idA).join())!
  const a = await startSidecar(world.dnsPort, world.pods[0].port, idA)
  t.teardown(() => a.spoke.close())
  const b = await startSidecar(world.dnsPort, world.pods[0].port, idB)
  t.teardown(() => b.spoke.close())
  const [subsetA, subsetB] = [world.predict(idA), world.predict(idB)]
  t.strictSame([a.endpoints(), b.endpoints()], [subsetA, subsetB], 'each holds its computed subset')
  await waitFor(() => world.pods.filter((p) => [...subsetA, ...subsetB].includes(keyOf(p))).every((p) => p.connections > 0), 2000, 'connections')

  const leaving = world.pods.find((p) => subsetA.includes(keyOf(p)) && !subsetB.includes(keyOf(p)))!
  const kept = subsetA.find((k) => k !== keyOf(leaving))!
  const openedB = b.spoke.upstreams.get('orders')!.stats.connectionsOpened
  const rest = world.pods.filter((p) => p !== leaving)
  const publishedAt = Date.now()
  world.publish(rest)
  await waitFor(() => !a.endpoints().includes(keyOf(leaving)), 5000, `${idA} to drop ${leaving.name}`)
  const newA = a.endpoints()
  t.strictSame(newA, world.predict(idA, rest), 'the subset spoke uses is the one computed for the pods left')
  t.ok(newA.includes(kept), `${idA} kept its other pod`)
  t.equal(newA.length, 2, 'and took one other in place of the one that left')
  const replacement = world.pods.find((p) => keyOf(p) === newA.find((k) => k !== kept))!
  await waitFor(() => b.spoke.upstreams.get('orders')!.lastDiscovery!.at.getTime() > publishedAt + 10, 5000, `${idB} to ask DNS again`)
  t.strictSame(b.endpoints(), subsetB, `${idB}, which did not hold ${leaving.name}, kept exactly its subset`)
  t.equal(b.spoke.upstreams.get('orders')!.stats.connectionsOpened, openedB, 'and opened no connection')

  const before = leaving.requests
  const seen = await send(a.url, 20)
  t.strictSame([...seen.keys()].sort(), [world.pods.find((p) => keyOf(p) === kept)!.name, replacement.name].sort(), `${idA} now sends to its kept pod and ${replacement.name}`)
  t.equal(leaving.requests, before, `${leaving.name} got nothing after it left`)
})

t.test('with SRV, pods are known by host name: a pod of the subset restarted under a new IP keeps its place', async (t) => {
  const dns = await startDnsServer()
  const pods = await startPods(5, { namePrefix: 'web' })
  const restarted = await Pod.start({ name: 'web-restarted', host: '127.0.0.9', port: pods[0].port })
  t.teardown(async () => {
    await Promise.all([...pods, restarted].map((p) => p.close()))
    await dns.close()
  })
  const srv = '_http._tcp.web.default.svc.cluster.local'
  const hostOf = (i: number): string => `web-${i}.web.default.svc.cluster.local`
  const publish = (addresses: readonly string[]): void => {
    addresses.forEach((a, i) => dns.setA(hostOf(i), [a], 1))
    dns.setSrv(srv, addresses.map((_, i) => ({ target: hostOf(i), port: pods[0].port })), 1)
  }
  publish(pods.map((p) => p.host))
  const identity = 'frontend-5d8f7c6b9-x2kqz'
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'web', address: '127.0.0.1:0', upstream: 'web' }],
    upstreams: [{ name: 'web', service: 'web.default.svc.cluster.local', portName: 'http', ...SUBSET }],
  }), { log: silentLogger, identity })
  t.teardown(() => spoke.close())
  const upstream = spoke.upstreams.get('web')!
  await waitFor(() => upstream.endpointCount === 2, 3000, 'the subset')
  const expected = chooseSubset([0, 1, 2, 3, 4].map(hostOf), 2, identity, (h) => h).sort()
  const hostnames = (): string[] => [...upstream.endpoints].map((e) => e.hostname!).sort()
  t.strictSame(hostnames(), expected, 'the subset is chosen by SRV host names')
  const moved = Number(/^web-(\d)/.exec(expected[0])![1])
  const addresses = pods.map((p) => p.host)
  addresses[moved] = restarted.host
  publish(addresses)
  await waitFor(() => [...upstream.endpoints].some((e) => e.address === restarted.host), 5000, `${expected[0]} at its new address`)
  t.strictSame(hostnames(), expected, 'the same two pods, one of them at a new IP')
  const seen = await send(`http://127.0.0.1:${spoke.listeners[0].address!.port}`, 10)
  t.ok(seen.has('web-restarted'), 'and requests follow it there')
})

t.test('the CLI takes its identity from $SPOKE_ID', async (t) => {
  const world = await startWorld(t)
  const spoke = await startSpokeProcess({ dnsPort: world.dnsPort, podPort: world.pods[0].port, upstream: SUBSET, env: { SPOKE_ID: 'client-3' } })
  t.teardown(() => spoke.stop())
  let doc: { upstreams: { subset: { identity: string }; endpoints: { endpoint: string }[] }[] } | null = null
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    doc = await (await fetch(`${spoke.adminUrl}/endpoints`)).json() as typeof doc
    if (doc!.upstreams[0].endpoints.length === 2) break
    await new Promise((r) => setTimeout(r, 50))
  }
  t.equal(doc!.upstreams[0].subset.identity, 'client-3', '/endpoints names the identity from $SPOKE_ID')
  t.strictSame(doc!.upstreams[0].endpoints.map((e) => e.endpoint).sort(), world.predict('client-3'), 'the subset of client-3')
  const seen = await send(spoke.url, 10)
  t.strictSame([...seen.keys()].sort(), world.pods.filter((p) => world.predict('client-3').includes(keyOf(p))).map((p) => p.name).sort(), 'and its requests go there')
})
