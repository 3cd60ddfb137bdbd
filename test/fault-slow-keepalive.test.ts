// Pods that misbehave without dying, under a bounded load loop: one answers slowly; all close
// idle keep-alive connections at the moment requests arrive (the keep-alive race).
import t from 'tap'
import { startPods } from '../src/demo/pod.ts'
import { startFaultCluster } from './helpers/fault-cluster.ts'
import { PostLedger, startLoad, summary } from './helpers/load.ts'

t.test('a pod that answers slowly (250 ms): no error, its share of the load still answered', async (t) => {
  const ledger = new PostLedger()
  const fast = await startPods(2, { record: false, onRequest: ledger.record })
  const [slow] = await startPods(1, { first: 4, port: fast[0].port, namePrefix: 'slow', record: false, onRequest: ledger.record, delayMs: 250 })
  const pods = [...fast, slow]
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: fast[0].port })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 300, connections: 32, maxRequests: 1500, maxDurationMs: 5000, postEvery: 10 })
  await load.finished
  const report = await load.stop()
  t.comment(summary('http1 pod answering in 250 ms', report, ledger, `answered by the slow pod ${report.byPod.get('slow-0') ?? 0}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.equal(report.postErrors, 0, 'no POST failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.ok((report.byPod.get('slow-0') ?? 0) > 300, 'the slow pod kept answering its share')
})

t.test('the keep-alive race: pods silently closing connections idle for 20 ms, at the moment requests arrive', async (t) => {
  // No Keep-Alive hint (as Go's net/http and nginx send none): spoke cannot see the close coming.
  // At 150 requests/s over three pods each connection idles about 20 ms between requests, so
  // the pods' close and spoke's next request cross all the time.
  const ledger = new PostLedger()
  const pods = await startPods(3, { record: false, onRequest: ledger.record, silentIdleCloseMs: 20 })
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 150, connections: 4, maxRequests: 1200, maxDurationMs: 8000, postEvery: 5 })
  await load.finished
  const report = await load.stop()
  const closed = pods.reduce((n, p) => n + p.idleClosed, 0)
  const stats = cluster.upstream.stats
  const resets = [...cluster.upstream.endpoints].reduce((n, e) => n + (e.errorCounts.get('upstream_reset') ?? 0), 0)
  t.comment(summary('http1 keep-alive race (silent idle close 20 ms)', report, ledger, `idle connections closed by the pods ${closed}, races hit (request met a closing connection) ${resets}, retries ${stats.retries}, ejections ${stats.ejections}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.same([...report.errors.keys()].filter((k) => k !== 'POST 502 upstream_reset'), [], 'the only failures are POSTs caught by the race (not retried: they may have been processed)')
  t.ok(closed > 100, `the pods closed idle connections all along (${closed})`)
})

t.test("Node's own short keepAliveTimeout (100 ms, announced as Keep-Alive: timeout=0): no error at all", async (t) => {
  const ledger = new PostLedger()
  const pods = await startPods(3, { record: false, onRequest: ledger.record, keepAliveTimeoutMs: 100 })
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 150, connections: 4, maxRequests: 600, maxDurationMs: 4000, postEvery: 5 })
  await load.finished
  const report = await load.stop()
  const connections = pods.reduce((n, p) => n + p.connections, 0)
  t.comment(summary('http1 Node keepAliveTimeout 100 ms', report, ledger, `pod connections ${connections}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.equal(report.postErrors, 0, 'no POST failed: undici reads the hint and never reuses a connection the pod may close')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
})
