// Discovery through spoke when DNS says less than the truth for a while: the name empty and
// then back (found again within seconds, not after `refresh`), an SRV target whose own query
// fails (kept, so its pod keeps serving). Real DNS server, real pods, spoke in-process.
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startPods } from '../src/demo/pod.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, request, singleConnectionAgent, waitFor } from './helpers/harness.ts'
import { hostnameOf, startSrvCluster } from './helpers/srv-cluster.ts'

const SERVICE = 'orders.default.svc.cluster.local'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `spoke_dns_queries_total` by result, read from /metrics. */
async function dnsQueries(admin: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${admin}/metrics`)).text()
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^spoke_dns_queries_total\{[^}]*result="(\w+)"[^}]*\} (\d+)$/gm)) out[m[1]] = Number(m[2])
  return out
}

async function lastDiscovery(admin: string): Promise<string> {
  const view = await (await fetch(`${admin}/endpoints`)).json() as { upstreams: { lastDiscovery: { result: string } }[] }
  return view.upstreams[0].lastDiscovery.result
}

t.test('pods back after an empty answer are found within seconds, though refresh is 30s', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pods = await startPods(2)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const publish = () => dns.setA(SERVICE, pods.map((p) => p.host), 1)
  publish()
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: SERVICE, port: pods[0].port, discovery: { refresh: '30s', minRefresh: '1s' } }],
  }), { log: silentLogger })
  t.teardown(() => spoke.close())
  const upstream = spoke.upstreams.get('orders')!
  const admin = `http://127.0.0.1:${spoke.admin.address!.port}`
  const url = `http://127.0.0.1:${spoke.listeners[0].address!.port}/`
  await waitFor(() => upstream.eligible.length === 2, 3000, 'both pods')
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  t.equal((await request(url, { agent })).status, 200)

  // The pods leave DNS (a rollout that took every pod down, a Service briefly without endpoints).
  dns.remove(SERVICE)
  await waitFor(() => upstream.endpointCount === 0, 3000, 'the empty answer (TTL 1 s)')
  const emptySeen = performance.now()
  const gone = await request(url, { agent })
  t.equal(gone.headers['x-spoke-error'], 'no_endpoints', 'no pods: 503 no_endpoints')
  t.equal(await lastDiscovery(admin), 'empty', '/endpoints: lastDiscovery empty')
  t.ok((await dnsQueries(admin)).empty >= 1, 'spoke_dns_queries_total{result="empty"} counts it')

  // Gone for a little over a second (asked again at +1 s, then +3 s), then back.
  await sleep(1200)
  publish()
  const back = performance.now()
  let firstOk = -1
  const others: string[] = []
  while (performance.now() - back < 6000) {
    const answer = await request(url, { agent })
    if (answer.status === 200) {
      firstOk = performance.now() - back
      break
    }
    if (answer.headers['x-spoke-error'] !== 'no_endpoints') others.push(`${answer.status} ${answer.body}`)
    await sleep(50)
  }
  t.ok(firstOk >= 0 && firstOk <= 3000, `${firstOk < 0 ? 'no 200 within 6 s' : `first 200 ${Math.round(firstOk)} ms`} after the pods came back (${Math.round(back - emptySeen)} ms after the empty answer)`)
  t.same(others, [], 'until then, only 503 no_endpoints')
  t.equal(await lastDiscovery(admin), 'success', '/endpoints: lastDiscovery success')
  const counts = await dnsQueries(admin)
  t.ok(counts.empty >= 2, `the empty name was asked again: ${counts.empty} empty answers`)
  t.equal(counts.error, 0, 'no query failed')
})

t.test('an SRV target whose query fails keeps its pod serving', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: {} })
  t.teardown(() => cluster.close())
  const admin = `http://127.0.0.1:${cluster.spoke.admin.address!.port}`
  const before = await dnsQueries(admin)
  // web-1's address query fails from now on (SERVFAIL); the SRV answer still names it.
  cluster.dns.setBehaviour(hostnameOf(1), 'servfail', 'A')
  const failedFrom = cluster.dns.queryCount(hostnameOf(1), 'A')
  await waitFor(() => cluster.dns.queryCount(hostnameOf(1), 'A') >= failedFrom + 3, 5000, 'three failed queries for web-1')
  t.same([...cluster.upstream.endpoints].map((e) => e.hostname).sort(), [0, 1, 2].map(hostnameOf), 'web-1 is still in the set')
  t.equal(await lastDiscovery(admin), 'success', 'lastDiscovery success: the other targets answered')
  const after = await dnsQueries(admin)
  t.equal(after.error, before.error, 'no lookup counted as failed')
  t.ok(after.success >= before.success + 3, 'each counted as success')

  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  const served = new Set<string>()
  for (let i = 0; i < 9; i++) {
    const answer = await request(`${cluster.url}/`, { agent })
    t.equal(answer.status, 200, 'answered', { diagnostic: false })
    served.add(String(answer.headers['x-pod']))
  }
  t.same([...served].sort(), ['web-0', 'web-1', 'web-2'], 'web-1 still gets its share')

  // Its pod leaving DNS for real (NXDOMAIN) still removes it.
  cluster.dns.setBehaviour(hostnameOf(1), 'normal', 'A')
  await cluster.publish([0, 2])
  t.pass('web-1 removed once DNS says it is gone')
})
