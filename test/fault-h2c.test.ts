// The key faults again with h2c pods (protocol: h2c): a pod SIGKILLed, a pod frozen, and GOAWAY
// on every session over and over (graceful restarts, gRPC max connection age), under load.
import t from 'tap'
import { startGrpcPods } from '../src/demo/grpc-pod.ts'
import { outOfRotation, poolState, sleep, startFaultCluster } from './helpers/fault-cluster.ts'
import { PostLedger, startLoad, summary } from './helpers/load.ts'
import { ledgerOf, startPodProcesses } from './helpers/pod-process.ts'

t.test('an h2c pod SIGKILLed under load: no GET fails, no POST is sent twice, the pod leaves the rotation', async (t) => {
  const pods = await startPodProcesses(3, 'h2c')
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port, upstream: { protocol: 'h2c' } })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 400, connections: 8, maxRequests: 4000, maxDurationMs: 6000, postEvery: 10 })
  await sleep(1500)
  pods[1].signal('SIGKILL')
  await pods[1].exited
  await load.finished
  const report = await load.stop()
  const ledger = ledgerOf(pods)
  const stats = cluster.upstream.stats
  t.comment(summary('h2c pod SIGKILLed', report, ledger, `ejections ${stats.ejections}, retries ${stats.retries}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.same([...report.errors.keys()].filter((k) => !k.startsWith('POST 502')), [], 'the only failures are POSTs the dead pod had taken')
  t.same(outOfRotation(cluster.upstream), [`${pods[1].host}:${pods[1].port}`], `the dead pod gets no new requests (ejected, or skipped without a connection): ${poolState(cluster.upstream)}`)
  t.ok(cluster.upstream.stats.ejections <= 1, 'no other pod was ejected')
})

t.test('a frozen h2c pod (SIGSTOP) with timeouts.perTry: each stream it holds is reset and retried, no GET fails', async (t) => {
  const pods = await startPodProcesses(3, 'h2c')
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port, upstream: { protocol: 'h2c', timeouts: { perTry: '300ms' } } })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 300, connections: 8, maxRequests: 1800, maxDurationMs: 5000, postEvery: 10 })
  await sleep(1500)
  pods[1].signal('SIGSTOP')
  await load.finished
  const report = await load.stop()
  const ledger = ledgerOf(pods)
  const stats = cluster.upstream.stats
  t.comment(summary('h2c pod SIGSTOPped, timeouts.perTry 300ms', report, ledger, `ejections ${stats.ejections}, retries ${stats.retries}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same([...report.errors.keys()].filter((k) => k !== 'POST 504 timeout'), [], 'the only failures are POSTs the frozen pod took')
  t.equal(stats.ejections, 1, `the frozen pod was ejected: ${poolState(cluster.upstream)}`)
})

t.test('h2c pods sending GOAWAY on every session every 200 ms: no request fails, none is sent twice', async (t) => {
  const ledger = new PostLedger()
  const pods = await startGrpcPods(3, {
    namePrefix: 'h2c',
    onRequest: (method, headers) => { if (method === 'POST') ledger.add(String(headers['x-request-id'])) },
  })
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port, upstream: { protocol: 'h2c' } })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 400, connections: 8, maxRequests: 2400, maxDurationMs: 5000, postEvery: 5 })
  let rounds = 0
  for (; rounds < 20; rounds++) {
    await sleep(200)
    for (const p of pods) p.goAway()
  }
  await load.finished
  const report = await load.stop()
  const sessions = pods.reduce((n, p) => n + p.sessions, 0)
  t.comment(summary('h2c GOAWAY on every session every 200 ms', report, ledger, `${rounds} GOAWAY rounds, sessions opened ${sessions}, transparent resends ${cluster.upstream.stats.retries}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.equal(report.postErrors, 0, 'no POST failed: a stream the pod refused was not processed and goes again, whatever the method')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.ok(sessions >= 3 * 15, `new sessions after each GOAWAY (${sessions})`)
})
