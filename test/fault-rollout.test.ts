// Pods coming and going through DNS under a bounded load loop: a rolling restart of every pod,
// and DNS answers flapping between partial sets.
import t from 'tap'
import { type Pod, startPods } from '../src/demo/pod.ts'
import { sleep, startFaultCluster } from './helpers/fault-cluster.ts'
import { PostLedger, startLoad, summary } from './helpers/load.ts'

t.test('a rolling restart of every pod, one by one, DNS following: no GET fails, no POST is sent twice', async (t) => {
  const ledger = new PostLedger()
  // Six pods on one port: the three running now, and the three that replace them (started
  // ahead, as Kubernetes starts a new pod before it is Ready; they join DNS when their turn comes).
  const all = await startPods(6, { record: false, onRequest: ledger.record })
  t.teardown(() => Promise.all(all.map((p) => p.close())))
  const old = all.slice(0, 3)
  const next = all.slice(3)
  const cluster = await startFaultCluster({ hosts: old.map((p) => p.host), port: all[0].port })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 300, connections: 8, maxRequests: 3000, maxDurationMs: 8000, postEvery: 10 })
  await sleep(1000)
  for (let i = 0; i < 3; i++) {
    // The new pod is Ready: it joins the endpoints; the old one is terminating: it leaves them
    // and gets SIGTERM at the same moment (a plain Node server: stops accepting, closes idle
    // keep-alive connections). spoke learns of both only at its next DNS refresh.
    cluster.publish([...next.slice(0, i + 1), ...old.slice(i + 1)].map((p) => p.host))
    const closing = old[i].close()
    await sleep(1500)
    await closing
  }
  const answeredBefore = new Map(next.map((p) => [p.name, p.requests]))
  await sleep(500)
  await load.finished
  const report = await load.stop()
  t.comment(summary('http1 rolling restart of 3 pods', report, ledger, `retries ${cluster.upstream.stats.retries}, ejections ${cluster.upstream.stats.ejections}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.same([...cluster.upstream.endpoints].map((e) => e.address).sort(), next.map((p) => p.host).sort(), 'spoke follows DNS to the new pods')
  for (const p of next) t.ok(p.requests > (answeredBefore.get(p.name) ?? 0), `${p.name} takes traffic`)
})

t.test('DNS answers flapping between partial sets every 150 ms: no request fails', async (t) => {
  const ledger = new PostLedger()
  const pods = await startPods(3, { record: false, onRequest: ledger.record })
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  // TTL 0: spoke asks again after minRefresh (100 ms), so it sees most of the flaps.
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port, ttl: 0 })
  t.teardown(() => cluster.close())
  const subsets: Pod[][] = [[pods[0], pods[1]], [pods[2]], [pods[1], pods[2]], pods, [pods[0]], [pods[0], pods[2]], [pods[1]]]
  const load = startLoad({ url: cluster.url, rate: 300, connections: 8, maxRequests: 2000, maxDurationMs: 6000, postEvery: 10 })
  let flaps = 0
  for (; flaps < 35; flaps++) {
    await sleep(150)
    cluster.publish(subsets[flaps % subsets.length].map((p) => p.host))
  }
  cluster.publish(pods.map((p) => p.host))
  await load.finished
  const report = await load.stop()
  const removed = cluster.upstream.stats.connectionsClosed.get('endpoint_removed') ?? 0
  t.comment(summary('http1 DNS flapping between partial sets every 150 ms', report, ledger, `${flaps} flaps, connections drained for endpoint_removed ${removed}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.equal(report.postErrors, 0, 'no POST failed: a pod that left DNS finishes what it has')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.ok(removed >= 10, `spoke followed the flaps: ${removed} connections drained as their pod left`)
})
