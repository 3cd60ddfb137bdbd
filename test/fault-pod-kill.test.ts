// Faults of one pod under a bounded load loop, with pods in processes of their own: SIGKILL,
// SIGSTOP (accepts TCP, never answers). GETs must see no error; no POST may reach pods twice.
import t from 'tap'
import { outOfRotation, poolState, sleep, startFaultCluster } from './helpers/fault-cluster.ts'
import { startLoad, summary } from './helpers/load.ts'
import { ledgerOf, startPodProcesses } from './helpers/pod-process.ts'

t.test('a pod SIGKILLed under load: no GET fails, no POST is sent twice, the pod leaves the rotation', async (t) => {
  const pods = await startPodProcesses(3)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 400, connections: 8, maxRequests: 4000, maxDurationMs: 6000, postEvery: 10 })
  await sleep(1500)
  // The pod stays in DNS, as a killed container's address does until Kubernetes notices.
  pods[1].signal('SIGKILL')
  await pods[1].exited
  await load.finished
  const report = await load.stop()
  const ledger = ledgerOf(pods)
  t.comment(summary('http1 pod SIGKILLed', report, ledger, `ejections ${cluster.upstream.stats.ejections}, retries ${cluster.upstream.stats.retries}`))
  t.equal(report.getErrors, 0, 'no GET failed')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.same(outOfRotation(cluster.upstream), [`${pods[1].host}:${pods[1].port}`], `the dead pod gets no new requests (ejected, or skipped without a connection): ${poolState(cluster.upstream)}`)
  t.ok(cluster.upstream.stats.ejections <= 1, 'no other pod was ejected')
  // Past the kill at 1.5 s, whatever the machine's load (400 a second were asked for).
  t.ok(report.sent > 700, `the load ran past the kill (${report.sent} requests)`)
})

/**
 * SIGSTOP: the process is frozen, the kernel still completes handshakes and buffers requests;
 * nothing ever answers. `upstream` is the config under test.
 */
async function stoppedPod(t: { teardown(fn: () => unknown): void }, upstream: Record<string, unknown>, durationMs = 6000) {
  const pods = await startPodProcesses(3)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const cluster = await startFaultCluster({ hosts: pods.map((p) => p.host), port: pods[0].port, upstream })
  t.teardown(() => cluster.close())
  const load = startLoad({ url: cluster.url, rate: 300, connections: 8, maxRequests: 300 * durationMs / 1000, maxDurationMs: durationMs, postEvery: 10 })
  await sleep(1500)
  pods[1].signal('SIGSTOP')
  await load.finished
  const report = await load.stop()
  return { report, ledger: ledgerOf(pods), cluster }
}

t.test('a pod that accepts TCP and never answers (SIGSTOP), with timeouts.perTry: no GET fails', async (t) => {
  const { report, ledger, cluster } = await stoppedPod(t, { timeouts: { perTry: '300ms' } })
  const stats = cluster.upstream.stats
  t.comment(summary('http1 pod SIGSTOPped, timeouts.perTry 300ms', report, ledger, `ejections ${stats.ejections}, retries ${stats.retries}`))
  t.equal(report.getErrors, 0, 'no GET failed: each attempt on the frozen pod was retried after 300 ms')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
  t.same(ledger.missing(report), [], 'every POST answered 200 reached a pod')
  t.equal(stats.ejections, 1, `the frozen pod was ejected: ${poolState(cluster.upstream)}`)
  t.same([...report.errors.keys()].filter((k) => !k.startsWith('POST 504 timeout')), [], 'the only failures are POSTs the frozen pod took (never retried)')
})

t.test('the same frozen pod with the SPEC defaults (no per-try timeout): requests wait for the request timeout', async (t) => {
  // Documents the limit measured in docs/reliability.md: nothing in SPEC §3's surface abandons
  // an attempt early, so the requests that meet the frozen pod before it is ejected fail with 504.
  // 2 s keeps the suite short; FAULT_REQUEST_TIMEOUT=15 runs it with the default 15 s.
  const seconds = Number(process.env.FAULT_REQUEST_TIMEOUT ?? 2)
  const { report, ledger, cluster } = await stoppedPod(t, { timeouts: { request: `${seconds}s` } }, Math.max(6000, seconds * 3000))
  const stats = cluster.upstream.stats
  t.comment(summary(`http1 pod SIGSTOPped, timeouts.request ${seconds}s, no perTry`, report, ledger, `ejections ${stats.ejections}, retries ${stats.retries}`))
  t.ok(report.getErrors > 0, `GETs failed with 504 (${report.getErrors})`)
  t.same([...report.errors.keys()].filter((k) => !k.endsWith('504 timeout')), [], 'all of them request timeouts')
  t.equal(stats.ejections, 1, 'the frozen pod was ejected after its timeouts')
  t.same(ledger.duplicated(), [], 'no POST reached the pods twice')
})
