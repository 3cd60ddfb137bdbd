import grpc from '@grpc/grpc-js'
import t from 'tap'
import { GrpcPod } from '../src/demo/grpc-pod.ts'
import { echoClient, startGrpcCluster, unary } from './helpers/grpc.ts'
import { waitFor } from './helpers/harness.ts'

t.test('one gRPC channel, 300 unary calls over 3 pods: 100 ± 1 each', async (t) => {
  const cluster = await startGrpcCluster({ pods: 3 })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  const seen = new Map<string, number>()
  for (let i = 0; i < 300; i++) {
    const reply = await unary(client, 'Unary', { i })
    seen.set(reply.pod, (seen.get(reply.pod) ?? 0) + 1)
  }
  for (const pod of cluster.pods) {
    t.ok(Math.abs(pod.calls - 100) <= 1, `${pod.name} answered ${pod.calls}`)
    t.equal(seen.get(pod.name), pod.calls)
    t.equal(pod.sessions, 1, `${pod.name}: one long-lived session from spoke`)
  }
})

t.test('server streaming, bidi streaming, deadlines, status codes', async (t) => {
  const cluster = await startGrpcCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())

  const messages: { i: number }[] = await new Promise((resolve, reject) => {
    const got: { i: number }[] = []
    const call = client.Stream({ count: 1000 })
    call.on('data', (m: { i: number }) => got.push(m))
    call.on('error', reject)
    call.on('end', () => resolve(got))
  })
  t.equal(messages.length, 1000, 'a server stream of 1000 messages arrives whole')
  t.same(messages.map((m) => m.i), Array.from({ length: 1000 }, (_, i) => i), 'in order')

  const echoes: unknown[] = await new Promise((resolve, reject) => {
    const got: unknown[] = []
    const call = client.Bidi()
    call.on('data', (m: { echo: unknown }) => {
      got.push(m.echo)
      if (got.length < 5) call.write({ n: got.length })
      else call.end()
    })
    call.on('error', reject)
    call.on('end', () => resolve(got))
    call.write({ n: 0 })
  })
  t.same(echoes, [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }], 'bidi: each message answered in turn')

  const deadline = await unary(client, 'Slow', { ms: 2000 }, { deadline: Date.now() + 300 }).catch((e: grpc.ServiceError) => e)
  t.equal((deadline as grpc.ServiceError).code, grpc.status.DEADLINE_EXCEEDED, 'deadline expiring at the pod: DEADLINE_EXCEEDED')
  t.ok(cluster.pods.some((p) => p.timeouts.length > 0), 'grpc-timeout reached the pod')

  const failed = await unary(client, 'Fail', { code: 9 }).catch((e: grpc.ServiceError) => e)
  t.equal((failed as grpc.ServiceError).code, 9, 'grpc-status from the pod travels in trailers')
  t.match((failed as grpc.ServiceError).details, 'failed on purpose')
})

t.test('no pods: UNAVAILABLE', async (t) => {
  const cluster = await startGrpcCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  cluster.publish([])
  const upstream = cluster.spoke.upstreams.get('orders')!
  await waitFor(() => upstream.endpointCount === 0, 3000, 'the pod to leave')
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  const err = await unary(client, 'Unary', {}).catch((e: grpc.ServiceError) => e) as grpc.ServiceError
  t.equal(err.code, grpc.status.UNAVAILABLE)
  t.equal(err.metadata.get('x-spoke-error')[0], 'no_endpoints')
})

t.test('a pod sending GOAWAY under load: zero failed unary calls', async (t) => {
  const cluster = await startGrpcCluster({ pods: 3 })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  let failures = 0
  let done = 0
  let running = true
  const worker = async (): Promise<void> => {
    while (running && done < 20000) {
      try {
        await unary(client, 'Unary', { done })
      } catch {
        failures++
      }
      done++
    }
  }
  const workers = Array.from({ length: 20 }, worker)
  for (let round = 0; round < 5; round++) {
    await new Promise((r) => setTimeout(r, 150))
    for (const pod of cluster.pods) pod.goAway()
  }
  await new Promise((r) => setTimeout(r, 150))
  running = false
  await Promise.all(workers)
  t.equal(failures, 0, `no failed call out of ${done}`)
  t.ok(cluster.pods.every((p) => p.sessions >= 3), `pods saw new sessions after each GOAWAY: ${cluster.pods.map((p) => p.sessions)}`)
})

t.test('a pod with maxConcurrentStreams 2 under 50 concurrent calls: all succeed', async (t) => {
  const cluster = await startGrpcCluster({ pods: 1, maxConcurrentStreams: 2 })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => unary(client, 'Slow', { ms: 20, i })))
  t.same(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'no call failed')
  t.equal(cluster.pods[0].calls, 50)
  t.ok(cluster.pods[0].sessions > 1, `more sessions opened at the stream limit (${cluster.pods[0].sessions})`)
  t.ok(cluster.pods[0].sessions <= 30, 'about one session per two concurrent calls, not one per call')
})

t.test('maxLifetime recycles sessions make-before-break: no call fails', async (t) => {
  const cluster = await startGrpcCluster({ pods: 2, upstream: { connection: { maxLifetime: '300ms', lifetimeJitter: '20%' } } })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  let failures = 0
  let calls = 0
  const started = Date.now()
  while (Date.now() - started < 1500) {
    await unary(client, 'Unary', {}).catch(() => failures++)
    calls++
  }
  t.equal(failures, 0, `no failure in ${calls} calls`)
  for (const pod of cluster.pods) t.ok(pod.sessions >= 4, `${pod.name} saw ${pod.sessions} sessions`)
})

t.test('a pod added to DNS gets calls without the gRPC client reconnecting', async (t) => {
  const cluster = await startGrpcCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  await unary(client, 'Unary', {})
  const newcomer = await GrpcPod.start({ name: 'grpc-new', host: '127.0.0.9', port: cluster.pods[0].port })
  t.teardown(() => newcomer.close())
  cluster.publish([...cluster.pods, newcomer])
  const started = Date.now()
  while (newcomer.calls === 0 && Date.now() - started < 5000) await unary(client, 'Unary', {})
  t.ok(newcomer.calls > 0, `the new pod answered after ${Date.now() - started} ms`)
  t.equal(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY, 'the client channel stayed up')
})
