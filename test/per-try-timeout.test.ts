import http from 'node:http'
import t from 'tap'
import { validateConfig } from '../src/config/validate.ts'
import { Pod } from '../src/demo/pod.ts'
import { listenOn, onOnePort } from '../src/net.ts'
import { SilentPod, startFaultCluster } from './helpers/fault-cluster.ts'
import { request } from './helpers/harness.ts'

async function podAndSilentPod(t: { teardown(fn: () => unknown): void }): Promise<{ pod: Pod; silent: SilentPod }> {
  const [pod, silent] = await onOnePort<Pod | SilentPod>(2, 2, (host, port, i) => i === 0 ? Pod.start({ name: 'pod-0', host, port }) : SilentPod.start(host, port))
  t.teardown(() => Promise.all([pod.close(), silent.close()]))
  return { pod: pod as Pod, silent: silent as SilentPod }
}

t.test('timeouts.perTry: an attempt a pod never answers is abandoned and retried on another pod', async (t) => {
  const { pod, silent } = await podAndSilentPod(t)
  const cluster = await startFaultCluster({
    hosts: [pod.host, silent.host], port: pod.port,
    upstream: { timeouts: { perTry: '150ms' }, outlierDetection: { consecutiveFailures: 0 } },
  })
  t.teardown(() => cluster.close())
  const statuses: number[] = []
  const answeredBy = new Set<string>()
  for (let i = 0; i < 10; i++) {
    const a = await request(`${cluster.url}/`)
    statuses.push(a.status)
    answeredBy.add(String(a.headers['x-pod']))
  }
  t.same(statuses, statuses.map(() => 200), 'every GET answered')
  t.same([...answeredBy], ['pod-0'], 'by the pod that answers')
  const stuck = [...cluster.upstream.endpoints].find((e) => e.address === silent.host)!
  const timeouts = stuck.errorCounts.get('timeout') ?? 0
  t.ok(timeouts >= 5, `round robin sent at least half the first attempts to the silent pod; each timed out (${timeouts})`)
  t.equal(cluster.upstream.stats.retries, timeouts, 'and each was retried')
  t.ok(silent.connections >= 2, 'spoke dropped each abandoned connection and opened another')

  // A POST is not retried: it may have been processed. It fails with 504 and went to one pod only.
  const posts = await Promise.all([0, 1].map((i) => request(`${cluster.url}/echo`, { method: 'POST', body: `p${i}` })))
  const failed = posts.filter((a) => a.status !== 200)
  t.equal(failed.length, 1, 'one of two POSTs met the silent pod')
  t.equal(failed[0].status, 504)
  t.equal(failed[0].headers['x-spoke-error'], 'timeout')
  t.equal(pod.received.filter((r) => r.method === 'POST').length, 1, 'the live pod got only the other POST')
})

t.test('timeouts.perTry ends at the response headers: a slow body is not cut', async (t) => {
  const [server] = await onOnePort(1, 2, async (host, port) => {
    const s = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first ')
      setTimeout(() => res.end('last'), 400)
    })
    await listenOn(s, { host, port }, 'slow-body pod')
    return { s, host, port, close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()) }) }
  })
  t.teardown(() => server.close())
  const cluster = await startFaultCluster({ hosts: [server.host], port: server.port, upstream: { timeouts: { perTry: '100ms' } } })
  t.teardown(() => cluster.close())
  const a = await request(`${cluster.url}/`)
  t.equal(a.status, 200)
  t.equal(a.body, 'first last', 'the whole body, 400 ms after the headers')
})

t.test('a pod slower than timeouts.perTry with no other pod to try: 504 timeout', async (t) => {
  const [pod] = await onOnePort(1, 2, (host, port) => Pod.start({ name: 'slow', host, port, delayMs: 400 }))
  t.teardown(() => pod.close())
  const cluster = await startFaultCluster({ hosts: [pod.host], port: pod.port, upstream: { timeouts: { perTry: '100ms' } } })
  t.teardown(() => cluster.close())
  const a = await request(`${cluster.url}/`)
  t.equal(a.status, 504)
  t.equal(a.headers['x-spoke-error'], 'timeout')
  t.match(JSON.parse(a.body).message, /timeouts\.perTry/)
})

t.test('without timeouts.perTry (the default) a silent pod holds a request until the request timeout', async (t) => {
  const { pod, silent } = await podAndSilentPod(t)
  const cluster = await startFaultCluster({
    hosts: [pod.host, silent.host], port: pod.port,
    upstream: { timeouts: { request: '300ms' }, outlierDetection: { consecutiveFailures: 0 } },
  })
  t.teardown(() => cluster.close())
  const answers = await Promise.all([0, 1].map(() => request(`${cluster.url}/`)))
  t.same(answers.map((a) => a.status).sort(), [200, 504], 'the request that went to the silent pod timed out')
  t.equal(cluster.upstream.stats.retries, 0, 'nothing to retry on: no attempt failed before the request timeout')
})

t.test('timeouts.perTry: a duration, 0 (none) by default, checked like the others', async (t) => {
  const doc = (perTry?: unknown) => ({
    listeners: [{ name: 'a', address: '127.0.0.1:15001', upstream: 'b' }],
    upstreams: [{ name: 'b', service: 'b.default.svc.cluster.local', port: 80, ...(perTry === undefined ? {} : { timeouts: { perTry } }) }],
  })
  const defaults = validateConfig(doc())
  t.equal(defaults.ok && defaults.config.upstreams[0].timeouts.perTryMs, 0)
  const set = validateConfig(doc('250ms'))
  t.equal(set.ok && set.config.upstreams[0].timeouts.perTryMs, 250)
  t.equal(set.ok && set.config.upstreams[0].timeouts.requestMs, 15_000, 'request keeps its default')
  const bad = validateConfig(doc(250))
  t.notOk(bad.ok)
  t.match(!bad.ok && bad.errors.map((e) => e.path), ['upstreams[0].timeouts.perTry'])
})
