// policy: ordinal over real DNS with SRV records: key k goes to web-(k mod replicas), a missing
// ordinal is 503 shard_unavailable for its keys only, and nothing ever re-routes a key.
import http from 'node:http'
import t from 'tap'
import { Pod } from '../src/demo/pod.ts'
import { createLogger } from '../src/log.ts'
import { request, waitFor } from './helpers/harness.ts'
import { hostnameOf, startSrvCluster } from './helpers/srv-cluster.ts'

const ORDINAL = { policy: 'ordinal', replicas: 3, hashKey: { header: 'x-shard' } }
const shard = (url: string, key: string, path = '/', headers: http.OutgoingHttpHeaders = {}) =>
  request(`${url}${path}`, { headers: { 'x-shard': key, ...headers } })

t.test('keys 0…11 with replicas 3 land on web-(k mod 3); web-1 missing fails its keys only', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: ORDINAL })
  t.teardown(() => cluster.close())
  for (let round = 0; round < 2; round++) {
    for (let k = 0; k < 12; k++) {
      const answer = await shard(cluster.url, String(k))
      t.equal(answer.headers['x-pod'], `web-${k % 3}`, `key ${k}`)
    }
  }
  // A 64-bit account id is reduced exactly: 18446744073709551615 mod 3 = 0.
  t.equal((await shard(cluster.url, '18446744073709551615')).headers['x-pod'], 'web-0')
  t.equal((await shard(cluster.url, '0042')).headers['x-pod'], 'web-0', '42 mod 3')

  await cluster.publish([0, 2])
  const web1Before = cluster.pods[1].requests
  const othersBefore = cluster.pods[0].requests + cluster.pods[2].requests
  for (let k = 0; k < 12; k++) {
    const answer = await shard(cluster.url, String(k))
    if (k % 3 === 1) {
      t.equal(answer.status, 503, `key ${k}: its pod is gone`)
      t.equal(answer.headers['x-spoke-error'], 'shard_unavailable')
      t.match(JSON.parse(answer.body), { error: 'shard_unavailable', upstream: 'web', message: /ordinal 1 / })
    } else {
      t.equal(answer.headers['x-pod'], `web-${k % 3}`, `key ${k} unaffected`)
    }
  }
  t.equal(cluster.pods[1].requests, web1Before, 'the pod that left DNS got nothing')
  t.equal(cluster.pods[0].requests + cluster.pods[2].requests - othersBefore, 8, 'and no other pod took its keys')

  await cluster.publish([0, 1, 2])
  t.equal((await shard(cluster.url, '4')).headers['x-pod'], 'web-1', 'back in DNS, back in service')
})

t.test('a key that is not an integer is 400 bad_request; no key is 400 missing_hash_key', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: ORDINAL })
  t.teardown(() => cluster.close())
  for (const key of ['abc', '-1', '1.5', '1e3', '+2', '0x1']) {
    const answer = await shard(cluster.url, key)
    t.equal(answer.status, 400, key)
    t.equal(answer.headers['x-spoke-error'], 'bad_request')
    t.match(JSON.parse(answer.body).message, /non-negative decimal integer/)
  }
  const none = await request(`${cluster.url}/`)
  t.equal(none.status, 400)
  t.equal(none.headers['x-spoke-error'], 'missing_hash_key')
  t.equal(cluster.pods.reduce((n, p) => n + p.requests, 0), 0, 'nothing refused reached a pod')
})

t.test('a shard whose pod is down but still in DNS fails; it is never re-routed', async (t) => {
  const cluster = await startSrvCluster({
    pods: 3,
    upstream: { ...ORDINAL, retries: { attempts: 2 }, outlierDetection: { consecutiveFailures: 1 } },
  })
  t.teardown(() => cluster.close())
  await cluster.pods[2].kill()
  const owner = [...cluster.upstream.endpoints].find((e) => e.hostname === hostnameOf(2))!
  await waitFor(() => owner.connections === 0, 2000, 'spoke to notice web-2 is down')
  const others = cluster.pods[0].requests + cluster.pods[1].requests
  for (const key of ['2', '5', '8']) {
    const answer = await shard(cluster.url, key)
    t.equal(answer.status, 502, `key ${key}`)
    t.equal(answer.headers['x-spoke-error'], 'connect_failed')
  }
  t.equal(owner.errorCounts.get('connect_failed'), 9, 'three attempts each, all to web-2')
  t.equal(cluster.pods[0].requests + cluster.pods[1].requests, others, 'no other pod saw them')
  t.equal(cluster.upstream.stats.ejections, 0, 'and nothing was ejected')
  t.equal((await shard(cluster.url, '3')).headers['x-pod'], 'web-0')
})

t.test('a pod beyond replicas owns no keys; x-spoke-pod reaches it, and stops at a pod that left', async (t) => {
  const lines: string[] = []
  const cluster = await startSrvCluster({ pods: 4, upstream: ORDINAL, log: createLogger('warn', (l) => lines.push(l)) })
  t.teardown(() => cluster.close())
  t.match(lines.map((l) => JSON.parse(l)), [{ level: 'warn', msg: 'endpoint owns no ordinal keys', hostname: hostnameOf(3), ordinal: 3, replicas: 3 }], 'the operator is told')
  for (let k = 0; k < 12; k++) t.not((await shard(cluster.url, String(k))).headers['x-pod'], 'web-3', `key ${k}`)
  t.equal(cluster.pods[3].requests, 0, 'web-3 (replicas: 3) owns nothing')
  const direct = await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': 'web-3' } })
  t.equal(direct.headers['x-pod'], 'web-3', 'x-spoke-pod bypasses the policy, no key needed')

  await cluster.publish([0, 1, 2])
  const gone = await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': 'web-3' } })
  t.equal(gone.status, 404, 'a pod that left DNS (draining) is not a pod of the upstream any more')
  t.equal(gone.headers['x-spoke-error'], 'unknown_pod')
})

t.test('a WebSocket upgrade is routed by its key like any request', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: ORDINAL })
  t.teardown(() => cluster.close())
  // The pods are plain HTTP servers: an upgrade reaching one gets its ordinary answer, naming it.
  const upgrade = (headers: string): Promise<string> => new Promise((resolve, reject) => {
    const req = http.request(`${cluster.url}/`, {
      headers: Object.fromEntries(headers.split('\n').filter(Boolean).map((l) => l.split(': ') as [string, string])),
      agent: false,
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve(`${res.statusCode} ${res.headers['x-spoke-error'] ?? res.headers['x-pod']}`))
    })
    req.on('upgrade', () => resolve('101'))
    req.on('error', reject)
    req.end()
  })
  const ws = 'connection: upgrade\nupgrade: websocket\n'
  t.equal(await upgrade(`${ws}x-shard: 5`), '200 web-2', 'key 5 → web-2')
  t.equal(await upgrade(`${ws}x-shard: 7`), '200 web-1', 'key 7 → web-1')
  t.equal(await upgrade(ws), '400 missing_hash_key')
  t.equal(await upgrade(`${ws}x-spoke-pod: web-0`), '200 web-0')
  t.equal(await upgrade(`${ws}x-spoke-pod: web-9`), '404 unknown_pod')
})

t.test('the pod restarted under a new IP keeps its ordinal', async (t) => {
  const cluster = await startSrvCluster({ pods: 3, upstream: ORDINAL })
  t.teardown(() => cluster.close())
  const restarted = await Pod.start({ name: 'web-1-restarted', host: '127.0.0.9', port: cluster.pods[0].port })
  t.teardown(() => restarted.close())
  await cluster.publish([0, 1, 2], new Map([[1, restarted.host]]))
  for (const k of [1, 4, 7]) t.equal((await shard(cluster.url, String(k))).headers['x-pod'], 'web-1-restarted')
  t.equal((await shard(cluster.url, '0')).headers['x-pod'], 'web-0')
})
