// What spoke says when requests fail for reasons outside it (SPEC §2): a service name that has
// no pods (a typo, NXDOMAIN), a pod refusing connections; and at debug, what a person tracing a
// problem needs. Real DNS server, real pods, spoke in-process, its log recorded.
import t, { type Test } from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startPods } from '../src/demo/pod.ts'
import { Spoke } from '../src/main.ts'
import { ConnectError } from '../src/transport/dial.ts'
import { UpstreamLog } from '../src/upstream/upstream-log.ts'
import { buildConfig, request, SERVICE, startCluster, waitFor } from './helpers/harness.ts'
import { recorder } from './helpers/log-recorder.ts'

const TYPO = 'ordres.default.svc.cluster.local'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * spoke in-process, watching `service` through a real DNS server (which the test drives) with one
 * real pod and a log that records every line at info.
 */
async function watching(t: Test, service: string, dnsTimeout: string, publish: boolean) {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pods = await startPods(1)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  if (publish) dns.setA(service, pods.map((p) => p.host), 1)
  const { log, lines } = recorder('info')
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: dnsTimeout },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service, port: pods[0].port, discovery: { refresh: '1s', minRefresh: '100ms' } }],
  }), { log })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()
  return { dns, pods, lines, upstream: spoke.upstreams.get('orders')! }
}

t.test('a service name without pods: one warning per change, from the start', async (t) => {
  const { dns, pods, lines, upstream } = await watching(t, TYPO, '500ms', false)
  const warnings = (): Record<string, unknown>[] => lines.filter((l) => l.level === 'warn' && String(l.msg).startsWith('discovery found no pods'))
  // Several empty answers (the name is asked again soon after an empty one), one warning.
  await waitFor(() => upstream.stats.dnsQueries.empty >= 3, 5000, 'three empty answers')
  t.equal(warnings().length, 1, 'one warning for the same empty answer, however often it comes')
  t.match(warnings()[0], { upstream: 'orders', service: TYPO, query: `A/AAAA ${TYPO}`, hint: /NXDOMAIN/ })

  dns.setA(TYPO, pods.map((p) => p.host), 1)
  await waitFor(() => upstream.eligible.length === 1, 5000, 'the pod found')
  t.ok(lines.some((l) => l.msg === 'discovery found pods again'), 'its end is said too')
  dns.remove(TYPO)
  await waitFor(() => warnings().length === 2, 5000, 'a second warning once the pods are gone again')
  const before = upstream.stats.dnsQueries.empty
  await waitFor(() => upstream.stats.dnsQueries.empty >= before + 2, 5000, 'more empty answers')
  t.equal(warnings().length, 2, 'and no more while it stays empty')
})

t.test('a DNS server that stops answering: one warning for the outage, not one per query', async (t) => {
  const { dns, lines, upstream } = await watching(t, SERVICE, '200ms', true)
  const warnings = (): Record<string, unknown>[] => lines.filter((l) => l.level === 'warn' && String(l.msg).startsWith('dns query failed'))
  dns.setBehaviour('*', 'servfail')
  await waitFor(() => upstream.stats.dnsQueries.error >= 3, 5000, 'three failed queries')
  t.equal(warnings().length, 1, 'one warning, however many queries fail')
  t.match(warnings()[0], { upstream: 'orders', query: `A/AAAA ${SERVICE}` })
  t.equal(upstream.eligible.length, 1, 'the last pods are kept')
  dns.setBehaviour('*', 'normal')
  await waitFor(() => lines.some((l) => l.msg === 'dns answers again'), 5000, 'the end of the outage said')
  dns.setBehaviour('*', 'servfail')
  await waitFor(() => warnings().length === 2, 5000, 'a second outage, a second warning')
})

t.test('a pod refusing connections: one warning, not one per connect', async (t) => {
  const { log, lines } = recorder('debug')
  const cluster = await startCluster({ pods: 2, log })
  t.teardown(() => cluster.close())
  const [, b] = cluster.pods
  const key = `${b.host}:${b.port}`
  await b.close()
  // DNS still names it: spoke keeps trying to connect, and the app's requests go to the other.
  for (let i = 0; i < 6; i++) t.equal((await request(`${cluster.url}/`)).status, 200)
  const failed = (): number => lines.filter((l) => l.msg === 'connect failed' && l.endpoint === key).length
  await waitFor(() => failed() >= 3, 10_000, 'three refused connects')
  const warned = lines.filter((l) => l.level === 'warn' && l.msg === 'pod refuses connections')
  t.equal(warned.length, 1, `one warning for ${failed()} refused connects`)
  t.match(warned[0], { upstream: 'orders', endpoint: key, error: /ECONNREFUSED/ })
})

t.test('the refused-connection warning comes again after the interval, per pod', async (t) => {
  const { log, lines } = recorder('info')
  let now = 0
  const events = new UpstreamLog(log, buildConfig({
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: SERVICE, port: 80 }],
  }).upstreams[0], () => now, 1000)
  const a = events.pod('10.0.0.1:80')
  const b = events.pod('10.0.0.2:80')
  const refused = new ConnectError('ECONNREFUSED', 'connect ECONNREFUSED')
  const count = (): number => lines.filter((l) => l.msg === 'pod refuses connections').length
  a.connectFailed(refused)
  a.connectFailed(refused)
  t.equal(count(), 1)
  b.connectFailed(refused)
  t.equal(count(), 2, 'another pod warns on its own')
  now = 999
  a.connectFailed(refused)
  t.equal(count(), 2, 'not within the interval')
  now = 1000
  a.connectFailed(refused)
  t.equal(count(), 3, 'again once it has passed')
  a.connectFailed(new ConnectError('ETIMEDOUT', 'connect ETIMEDOUT'))
  t.equal(count(), 3, 'a timeout is not a refusal')
})

const DEBUG_MESSAGES = ['dns answer', 'connection opened', 'connection closed', 'request retried']

async function trace(t: Test, level: 'debug' | 'info'): Promise<Record<string, unknown>[]> {
  const { log, lines } = recorder(level)
  const cluster = await startCluster({ pods: 2, log })
  t.teardown(() => cluster.close())
  const [a, b] = cluster.pods
  a.behaviour = { reset: true }
  for (let i = 0; i < 4; i++) await request(`${cluster.url}/`)
  a.behaviour = null
  cluster.publish([b])
  const upstream = cluster.spoke.upstreams.get('orders')!
  await waitFor(() => upstream.eligible.length === 1, 5000, 'pod a removed')
  await waitFor(() => [...upstream.drainingEndpoints].length === 0, 5000, 'pod a drained')
  await sleep(50)
  return lines
}

t.test('--log-level debug: DNS answers and their diff, connections, retries', async (t) => {
  const lines = await trace(t, 'debug')
  const [a, b] = [...lines.filter((l) => l.msg === 'dns answer')]
  t.ok(a !== undefined && b !== undefined, 'dns answers logged')
  const first = lines.find((l) => l.msg === 'dns answer' && (l.added as string[]).length === 2)
  t.match(first, { upstream: 'orders', query: `A/AAAA ${SERVICE}`, result: 'success', pods: 2, removed: [] }, 'the first answer adds both pods')
  const removal = lines.find((l) => l.msg === 'dns answer' && (l.removed as string[]).length === 1)
  t.match(removal, { pods: 1, added: [] }, 'the answer without pod a removes it')
  t.ok(lines.some((l) => l.msg === 'connection opened' && typeof l.endpoint === 'string'), 'connections opened')
  t.ok(lines.some((l) => l.msg === 'connection closed' && l.reason === 'endpoint_removed'), 'closed with their reason')
  t.match(lines.find((l) => l.msg === 'request retried'), { upstream: 'orders', method: 'GET', path: '/', cause: 'reset', endpoint: String }, 'a retry with its pod and cause')
})

t.test('at info none of the debug lines', async (t) => {
  const lines = await trace(t, 'info')
  t.same(lines.filter((l) => DEBUG_MESSAGES.includes(String(l.msg))), [])
  t.ok(lines.some((l) => l.msg === 'endpoint removed'), 'the info lines are there')
})
