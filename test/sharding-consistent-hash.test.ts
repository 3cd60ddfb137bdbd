// policy: consistent_hash over real DNS with SRV records: keys stay on their pod, about 1/N move
// when a pod leaves, a pod keeps its keys across an IP change, and failures never move a key.
import grpc from '@grpc/grpc-js'
import t from 'tap'
import { Pod } from '../src/demo/pod.ts'
import { request, waitFor } from './helpers/harness.ts'
import { echoClient, startGrpcCluster } from './helpers/grpc.ts'
import { hostnameOf, podsByKey, startSrvCluster } from './helpers/srv-cluster.ts'

const HASHED = { policy: 'consistent_hash', hashKey: { header: 'x-account-id' } }
const KEYS = Array.from({ length: 2000 }, (_, i) => `account-${i}`)

function countByPod(map: ReadonlyMap<string, string>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const pod of map.values()) counts.set(pod, (counts.get(pod) ?? 0) + 1)
  return counts
}

t.test('2 000 keys over 4 pods: same key, same pod; one pod leaving moves only its keys; its return restores the mapping', async (t) => {
  const cluster = await startSrvCluster({ pods: 4, upstream: HASHED })
  t.teardown(() => cluster.close())
  const before = await podsByKey(cluster.url, KEYS)
  const again = await podsByKey(cluster.url, KEYS.slice(0, 500))
  t.strictSame([...again].filter(([k, pod]) => before.get(k) !== pod), [], 'the same key went to the same pod again')
  const counts = countByPod(before)
  t.equal(counts.size, 4, 'every pod owns keys')
  for (const [pod, n] of counts) t.ok(n > 400 && n < 600, `${pod} owns ${n} of 2 000 keys`)

  await cluster.publish([0, 1, 3])
  const without = await podsByKey(cluster.url, KEYS)
  const moved = KEYS.filter((k) => without.get(k) !== before.get(k))
  t.ok(moved.length <= 0.3 * KEYS.length, `${moved.length} keys moved (${(100 * moved.length / KEYS.length).toFixed(1)} %, ideal 25 %)`)
  t.strictSame(moved.filter((k) => before.get(k) !== 'web-2'), [], 'only the keys of the pod that left moved')
  t.notOk([...without.values()].includes('web-2'), 'nothing went to the pod that left')

  await cluster.publish([0, 1, 2, 3])
  const restored = await podsByKey(cluster.url, KEYS)
  t.strictSame([...restored].filter(([k, pod]) => before.get(k) !== pod), [], 'the original mapping is back')
})

t.test('a pod whose IP changes but keeps its SRV host name keeps all its keys', async (t) => {
  const cluster = await startSrvCluster({ pods: 4, upstream: HASHED })
  t.teardown(() => cluster.close())
  // web-1 restarted: the same StatefulSet pod (same host name), a new IP.
  const restarted = await Pod.start({ name: 'web-1-restarted', host: '127.0.0.9', port: cluster.pods[0].port })
  t.teardown(() => restarted.close())
  const keys = KEYS.slice(0, 1000)
  const before = await podsByKey(cluster.url, keys)
  t.ok(countByPod(before).get('web-1')! > 150, 'web-1 owns a share of the keys')
  await cluster.publish([0, 1, 2, 3], new Map([[1, restarted.host]]))
  const oldAddressServed = cluster.pods[1].requests
  const after = await podsByKey(cluster.url, keys)
  const wrong = keys.filter((k) => after.get(k) !== (before.get(k) === 'web-1' ? 'web-1-restarted' : before.get(k)))
  t.strictSame(wrong, [], 'web-1\'s keys followed it to its new address; no other key moved')
  t.equal(cluster.pods[1].requests, oldAddressServed, 'nothing went to the old address')
  t.equal(restarted.requests, countByPod(before).get('web-1'), 'the new address took exactly web-1\'s keys')
})

t.test('a request without the key gets 400 missing_hash_key; query and cookie keys', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: HASHED })
  t.teardown(() => cluster.close())
  for (const headers of [{}, { 'x-account-id': '' }, { 'x-other': '1' }]) {
    const answer = await request(`${cluster.url}/`, { headers })
    t.equal(answer.status, 400, JSON.stringify(headers))
    t.equal(answer.headers['x-spoke-error'], 'missing_hash_key')
    t.match(JSON.parse(answer.body), { error: 'missing_hash_key', upstream: 'web', message: /header x-account-id/ })
  }
  t.equal(cluster.pods.reduce((n, p) => n + p.requests, 0), 0, 'nothing keyless reached a pod')

  for (const [hashKey, send, missing] of [
    [{ query: 'account' }, (k: string) => ({ path: `/?a=1&account=${k}`, headers: {} }), { path: '/?a=1', headers: {} }],
    [{ cookie: 'acct' }, (k: string) => ({ path: '/', headers: { cookie: `theme=dark; acct=${k}` } }), { path: '/', headers: { cookie: 'acct=' } }],
  ] as const) {
    const c = await startSrvCluster({ pods: 3, upstream: { policy: 'consistent_hash', hashKey } })
    const seen = new Map<string, Set<string>>()
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        const { path, headers } = send(`k${i}`)
        const answer = await request(`${c.url}${path}`, { headers })
        t.equal(answer.status, 200)
        if (!seen.has(`k${i}`)) seen.set(`k${i}`, new Set())
        seen.get(`k${i}`)!.add(String(answer.headers['x-pod']))
      }
    }
    t.ok([...seen.values()].every((pods) => pods.size === 1), `${JSON.stringify(hashKey)}: each key on one pod`)
    t.equal(new Set([...seen.values()].map((s) => [...s][0])).size, 3, `${JSON.stringify(hashKey)}: the keys spread over the 3 pods`)
    const none = await request(`${c.url}${missing.path}`, { headers: missing.headers })
    t.equal(none.headers['x-spoke-error'], 'missing_hash_key', `${JSON.stringify(hashKey)}: missing key`)
    await c.close()
  }
})

t.test('failures never move a key: retries stay on its pod, and its pod is not ejected', async (t) => {
  const cluster = await startSrvCluster({
    pods: 3,
    upstream: { ...HASHED, retries: { attempts: 1 }, outlierDetection: { consecutiveFailures: 2, ejectionTime: '30s' } },
  })
  t.teardown(() => cluster.close())
  const keys = KEYS.slice(0, 60)
  const before = await podsByKey(cluster.url, keys)
  const victimKey = keys.find((k) => before.get(k) === 'web-0')!
  const otherKeys = keys.filter((k) => before.get(k) !== 'web-0')

  // 5xx answers from the owner, over and over: no ejection, the key stays (and a 5xx is no retry reason).
  for (let i = 0; i < 4; i++) {
    const answer = await request(`${cluster.url}/status/500`, { headers: { 'x-account-id': victimKey } })
    t.equal(answer.headers['x-pod'], 'web-0', 'the 500 came from the key\'s own pod')
  }
  t.equal(cluster.upstream.stats.ejections, 0, 'no ejection on a sharded upstream')
  t.ok([...cluster.upstream.endpoints].every((e) => e.state.tag === 'active'))

  // The owner dies but is still in DNS: its keys fail visibly; the retry went to the same pod.
  const survivorsBefore = cluster.pods[1].requests + cluster.pods[2].requests
  await cluster.pods[0].kill()
  const owner = [...cluster.upstream.endpoints].find((e) => e.hostname === hostnameOf(0))!
  await waitFor(() => owner.connections === 0, 2000, 'spoke to notice its connections to web-0 are gone')
  const failed = await request(`${cluster.url}/`, { headers: { 'x-account-id': victimKey } })
  t.equal(failed.status, 502)
  t.equal(failed.headers['x-spoke-error'], 'connect_failed')
  t.equal(owner.errorCounts.get('connect_failed'), 2, 'the first attempt and its retry both went to the owner')
  t.equal(cluster.upstream.stats.retries, 1)
  t.equal(cluster.pods[1].requests + cluster.pods[2].requests, survivorsBefore, 'no other pod saw the key')
  const others = await podsByKey(cluster.url, otherKeys)
  t.strictSame([...others].filter(([k, pod]) => before.get(k) !== pod), [], 'the other keys are untouched')

  // Once DNS says the pod is gone, its keys move (that is what DNS decides, not a failure).
  await cluster.publish([1, 2])
  const moved = await request(`${cluster.url}/`, { headers: { 'x-account-id': victimKey } })
  t.equal(moved.status, 200)
  t.not(moved.headers['x-pod'], 'web-0')
})

t.test('x-spoke-pod reaches the named pod of the upstream and nothing else', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: HASHED })
  t.teardown(() => cluster.close())
  const port = cluster.pods[0].port
  for (const [name, pod] of [
    [hostnameOf(2), 'web-2'], [`${hostnameOf(2)}`.toUpperCase(), 'web-2'], ['web-1', 'web-1'], [`127.0.0.2:${port}`, 'web-0'],
  ]) {
    // Bypasses the policy: no key needed, and a key owned elsewhere does not matter.
    for (const headers of [{ 'x-spoke-pod': name }, { 'x-spoke-pod': name, 'x-account-id': 'account-1' }]) {
      const answer = await request(`${cluster.url}/echo`, { headers })
      t.equal(answer.headers['x-pod'], pod, `${name} → ${pod}`)
      const received = JSON.parse(answer.body) as { rawHeaders: string[] }
      t.notOk(received.rawHeaders.some((h) => h.toLowerCase() === 'x-spoke-pod'), 'x-spoke-pod is not forwarded')
    }
  }
  // A real server on 127.0.0.9, not in discovery: unreachable through x-spoke-pod.
  const outsider = await Pod.start({ name: 'outsider', host: '127.0.0.9', port })
  t.teardown(() => outsider.close())
  for (const name of ['web-7', `127.0.0.9:${port}`, `127.0.0.2:${port + 1}`, 'web', 'web-1.other.svc.cluster.local', `${hostnameOf(1)}.`, '']) {
    const answer = await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': name } })
    t.equal(answer.status, 404, JSON.stringify(name))
    t.equal(answer.headers['x-spoke-error'], 'unknown_pod')
  }
  t.equal(outsider.requests, 0)
})

t.test('gRPC: the key from metadata, a missing key is INVALID_ARGUMENT', async (t) => {
  const cluster = await startGrpcCluster({ pods: 3, upstream: HASHED })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())
  const call = (key: string | null): Promise<{ pod?: string; error?: grpc.ServiceError }> => new Promise((resolve) => {
    const metadata = new grpc.Metadata()
    if (key !== null) metadata.set('x-account-id', key)
    client.Unary({ n: 1 }, metadata, (error: grpc.ServiceError | null, reply: { pod: string }) => resolve(error !== null ? { error } : { pod: reply.pod }))
  })
  const pods = new Map<string, string>()
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 20; i++) {
      const { pod } = await call(`account-${i}`)
      if (round === 0) pods.set(`account-${i}`, pod!)
      else t.equal(pod, pods.get(`account-${i}`), `account-${i} again on ${pod}`)
    }
  }
  t.ok(new Set(pods.values()).size > 1, 'keys spread over the pods (hashed on their addresses: A records)')
  const { error } = await call(null)
  t.equal(error?.code, grpc.status.INVALID_ARGUMENT)
  t.equal(error?.metadata.get('x-spoke-error')[0], 'missing_hash_key')
})
