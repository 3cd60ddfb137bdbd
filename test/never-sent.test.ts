// SPEC v2 §4: a request that never reached a pod goes to another pod whatever its method, without
// using up retries.attempts; a pod without an open connection is not picked while another has one.
// A "dead pod" here is an address in DNS where nothing listens: connections to it are refused.
import grpc from '@grpc/grpc-js'
import http from 'node:http'
import t from 'tap'
import { echoClient, startGrpcCluster, unary } from './helpers/grpc.ts'
import type { Upstream } from '../src/upstream/upstream.ts'
import { type Answer, type Cluster, request, SERVICE, startCluster, waitFor } from './helpers/harness.ts'

const DEAD = '127.0.0.9'

/** Publishes the dead pod beside the cluster's live ones and waits until spoke knows all three. */
async function addDeadPod(cluster: Cluster): Promise<Upstream> {
  const upstream = [...cluster.spoke.upstreams.values()][0]
  cluster.dns.setA(SERVICE, [DEAD, ...cluster.pods.map((p) => p.host)], 1)
  await waitFor(() => upstream.endpointCount === 3, 3000, 'the dead pod in discovery')
  return upstream
}

t.test('3 gRPC pods, one in DNS but not listening: 300 unary calls from the start, 0 failures', async (t) => {
  const cluster = await startGrpcCluster({ pods: 2, upstream: { retries: { attempts: 0 } } })
  t.teardown(() => cluster.close())
  const upstream = cluster.spoke.upstreams.get('orders')!
  // The calls start as the dead pod joins, before its refusal is known.
  cluster.publish([{ host: DEAD } as never, ...cluster.pods])
  await waitFor(() => upstream.endpointCount === 3, 3000, 'the dead pod in discovery')
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  const failures: string[] = []
  const calls = Array.from({ length: 300 }, (_, i) => unary(client, 'Unary', { i }).catch((e: grpc.ServiceError) => { failures.push(`${e.code} ${e.details}`) }))
  await Promise.all(calls)
  t.same(failures, [], 'no call failed (retries.attempts: 0, so none used a retry)')
  t.equal(cluster.pods[0].calls + cluster.pods[1].calls, 300, 'every call answered once by a live pod')
  t.ok(cluster.pods.every((p) => p.calls > 50), `both live pods took calls (${cluster.pods.map((p) => p.calls).join(', ')})`)
})

t.test('the same for 300 POSTs over HTTP/1.1: 0 failures, no POST reaches two pods', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { retries: { attempts: 0 } } })
  t.teardown(() => cluster.close())
  await addDeadPod(cluster)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  t.teardown(() => agent.destroy())
  const answers: Answer[] = await Promise.all(Array.from({ length: 300 }, (_, i) => request(`${cluster.url}/echo`, { method: 'POST', body: `post-${i}`, agent })))
  t.same([...new Set(answers.map((a) => a.status))], [200], 'every POST answered 200')
  const bodies = cluster.pods.flatMap((p) => p.received.filter((r) => r.method === 'POST').map((r) => r.body.toString()))
  t.equal(bodies.length, 300, 'each POST reached a pod')
  t.equal(new Set(bodies).size, 300, 'none reached two pods')
})

t.test('a pod without an open connection is not picked while others have one', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { outlierDetection: { consecutiveFailures: 0 } } })
  t.teardown(() => cluster.close())
  const upstream = await addDeadPod(cluster)
  const dead = [...upstream.endpoints].find((e) => e.address === DEAD)!
  // The live pods connected; the dead one never will (its pool keeps trying, with back-off).
  await waitFor(() => [...upstream.endpoints].filter((e) => e.connected).length === 2, 3000, 'the live pods connected')
  t.notOk(dead.connected)
  const before = dead.errorCounts.get('connect_failed') ?? 0
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 300; i++) {
    const a = await request(`${cluster.url}/`, { agent })
    if (a.status !== 200) t.fail(`request ${i}: ${a.status}`)
  }
  t.equal((dead.errorCounts.get('connect_failed') ?? 0) - before, 0, 'no request was sent to wait on the refusing pod')
  t.equal(cluster.pods[0].requests + cluster.pods[1].requests, 300, 'the two live pods took them all')
  t.ok(Math.abs(cluster.pods[0].requests - cluster.pods[1].requests) <= 2, `evenly (${cluster.pods[0].requests} / ${cluster.pods[1].requests})`)
})

t.test('a POST queued on a pod that dies before it got a connection goes to another pod', async (t) => {
  const cluster = await startCluster({ pods: 2, upstream: { policy: 'round_robin', connection: { perEndpoint: 1, maxPerEndpoint: 1 }, retries: { attempts: 0 }, outlierDetection: { consecutiveFailures: 0 } } })
  t.teardown(() => cluster.close())
  // Round robin: the slow GET holds one pod's only connection, the next GET goes to the other
  // pod, and the POST queues behind the slow GET. The turn starts at a random pod.
  const slow = request(`${cluster.url}/slow?ms=400`).catch((e: Error) => e)
  await waitFor(() => cluster.pods.some((p) => p.started === 1), 2000, 'the slow GET at a pod')
  const first = cluster.pods.find((p) => p.started === 1)!
  const second = cluster.pods.find((p) => p !== first)!
  await request(`${cluster.url}/`)
  const post = request(`${cluster.url}/echo`, { method: 'POST', body: 'exactly-once' })
  // Admitted (and so queued behind the slow GET, picking is synchronous) once the upstream counts it.
  const upstream = [...cluster.spoke.upstreams.values()][0]
  await waitFor(() => upstream.inFlight === 2, 2000, 'the POST queued')
  await first.kill()
  const answer = await post
  t.equal(answer.status, 200, 'the POST that never left spoke was sent to the live pod')
  t.equal(JSON.parse(answer.body).pod, second.name)
  t.equal(first.received.filter((r) => r.method === 'POST').length, 0, 'the dying pod never saw it')
  t.equal(second.received.filter((r) => r.method === 'POST').length, 1, 'the live pod saw it once')
  await slow
})
