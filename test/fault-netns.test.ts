// A blackholed pod: it lives in a network namespace of its own, where iptables drops every
// packet, so connects never complete and open connections go silent (what loopback cannot
// show: on 127.0.0.x a dead pod refuses at once). Root, iproute2 and iptables are needed.
import t from 'tap'
import { startPods } from '../src/demo/pod.ts'
import { poolState, sleep, startFaultCluster } from './helpers/fault-cluster.ts'
import { PostLedger, startLoad, summary } from './helpers/load.ts'
import { Netns, netnsUnavailable } from './helpers/netns.ts'
import { PodProcess } from './helpers/pod-process.ts'
import { waitFor } from './helpers/harness.ts'

const unavailable = netnsUnavailable()

/** Two pods on loopback, a third in its own namespace, all on one port; spoke in front. */
async function setUp(t: { teardown(fn: () => unknown): void }, upstream: Record<string, unknown>, publishRemote = true) {
  const ns = Netns.create()
  t.teardown(() => ns.close())
  const ledger = new PostLedger()
  const pods = await startPods(2, { record: false, onRequest: ledger.record })
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const remote = await PodProcess.start({ name: 'pod-ns', host: ns.podAddress, port: pods[0].port, netns: ns.name })
  t.teardown(() => remote.close())
  const hosts = [...pods.map((p) => p.host), ...(publishRemote ? [remote.host] : [])]
  const cluster = await startFaultCluster({ hosts, port: pods[0].port, upstream })
  t.teardown(() => cluster.close())
  return { ns, ledger, remote, cluster, pods }
}

t.test('a pod blackholed while spoke holds connections to it: no GET fails (timeouts.perTry), the pod is ejected', { skip: unavailable ?? false }, async (t) => {
  const { ns, ledger, remote, cluster } = await setUp(t, { timeouts: { perTry: '300ms' }, connection: { connectTimeout: '500ms' } })
  const load = startLoad({ url: cluster.url, rate: 300, connections: 8, maxRequests: 3000, maxDurationMs: 6000, postEvery: 10 })
  await sleep(1500)
  ns.blackhole()
  await load.finished
  const report = await load.stop()
  for (const id of remote.postIds()) ledger.add(id)
  const stats = cluster.upstream.stats
  const endpoint = [...cluster.upstream.endpoints].find((e) => e.address === remote.host)!
  t.comment(summary('http1 pod blackholed (netns + iptables DROP), timeouts.perTry 300ms, connectTimeout 500ms', report, ledger,
    `ejections ${stats.ejections}, retries ${stats.retries}, attempts timed out ${endpoint.errorCounts.get('timeout') ?? 0}, connects timed out ${endpoint.errorCounts.get('connect_failed') ?? 0}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.same([...report.errors.keys()].filter((k) => k !== 'POST 504 timeout'), [], 'the only failures are POSTs the blackholed pod had taken')
  t.equal(stats.ejections, 1, `the blackholed pod was ejected: ${poolState(cluster.upstream)}`)
})

t.test('a blackholed pod joining DNS (connect never completes), SPEC defaults: no request waits on it, no GET fails', { skip: unavailable ?? false }, async (t) => {
  const { ns, ledger, remote, cluster, pods } = await setUp(t, {}, false)
  ns.blackhole()
  cluster.publish([...pods.map((p) => p.host), remote.host])
  await waitFor(() => cluster.upstream.endpointCount === 3, 3000, 'the blackholed pod in discovery')
  const endpoint = [...cluster.upstream.endpoints].find((e) => e.address === remote.host)!
  const load = startLoad({ url: cluster.url, rate: 200, connections: 8, maxRequests: 2000, maxDurationMs: 6000, postEvery: 10 })
  await load.finished
  const report = await load.stop()
  for (const id of remote.postIds()) ledger.add(id)
  const stats = cluster.upstream.stats
  t.comment(summary('http1 blackholed pod joining DNS, SPEC defaults (connectTimeout 2s)', report, ledger,
    `ejections ${stats.ejections}, retries ${stats.retries}, connects timed out ${endpoint.errorCounts.get('connect_failed') ?? 0}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  // SPEC v2 §4: a pod that never had an open connection is not picked while others have one.
  t.equal(endpoint.errorCounts.get('connect_failed') ?? 0, 0, 'no request was sent to wait for its connect timeout')
})
