// x-spoke-pod on a balanced upstream (A records, pods named by ip:port): it bypasses the policy,
// reaches an ejected pod, and its retries never leave the named pod.
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'

t.test('x-spoke-pod reaches an ejected pod; balanced requests keep skipping it', async (t) => {
  const cluster = await startCluster({ pods: 3, upstream: { outlierDetection: { consecutiveFailures: 2, ejectionTime: '30s' } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const named = cluster.pods[0]
  const headers = { 'x-spoke-pod': named.address }
  for (let i = 0; i < 2; i++) t.equal((await request(`${cluster.url}/status/500`, { headers })).headers['x-pod'], named.name)
  const endpoint = [...upstream.endpoints].find((e) => e.key === named.address)!
  t.equal(endpoint.state.tag, 'ejected', 'its failures through x-spoke-pod count like any others')
  const answer = await request(`${cluster.url}/`, { headers })
  t.equal(answer.status, 200)
  t.equal(answer.headers['x-pod'], named.name, 'asked for by name, served although ejected')
  const before = named.requests
  for (let i = 0; i < 10; i++) t.not((await request(`${cluster.url}/`)).headers['x-pod'], named.name)
  t.equal(named.requests, before, 'the policy still skips it')
})

t.test('x-spoke-pod: retries stay on the named pod', async (t) => {
  const cluster = await startCluster({ pods: 3, upstream: { retries: { attempts: 2 } } })
  t.teardown(() => cluster.close())
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const [named, ...others] = cluster.pods
  await named.kill()
  const endpoint = [...upstream.endpoints].find((e) => e.key === named.address)!
  await waitFor(() => endpoint.connections === 0, 2000, 'spoke to notice the pod is down')
  const before = others.reduce((n, p) => n + p.requests, 0)
  const answer = await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': named.address } })
  t.equal(answer.status, 502)
  t.equal(answer.headers['x-spoke-error'], 'connect_failed')
  t.equal(endpoint.errorCounts.get('connect_failed'), 3, 'all three attempts went to the named pod')
  t.equal(others.reduce((n, p) => n + p.requests, 0), before, 'never to another pod')
  t.equal((await request(`${cluster.url}/`)).status, 200, 'without the header the policy retries elsewhere')
})

t.test('x-spoke-pod names only pods in discovery', async (t) => {
  const cluster = await startCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  const [a, b] = cluster.pods
  t.equal((await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': b.address } })).headers['x-pod'], b.name)
  cluster.publish([a])
  const upstream = [...cluster.spoke.upstreams.values()][0]
  await waitFor(() => upstream.endpointCount === 1, 3000, 'the pod to leave discovery')
  const gone = await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': b.address } })
  t.equal(gone.status, 404, 'a pod that left discovery is unknown, though it still listens')
  t.equal(gone.headers['x-spoke-error'], 'unknown_pod')
  t.match(JSON.parse(gone.body), { error: 'unknown_pod', upstream: 'orders' })
  t.equal((await request(`${cluster.url}/`, { headers: { 'x-spoke-pod': b.host } })).status, 404, 'an address without its port names nothing')
})
