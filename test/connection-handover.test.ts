// When a request ends, its pod connection goes to the next request waiting for one. undici closes
// an HTTP/1.1 connection after some answers (a HEAD, a `connection: close`, a request aborted
// mid-flight) but only after telling the handler: the waiting request must not be handed the
// connection that is about to go, or it fails with "The client is destroyed" (502).
import http from 'node:http'
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'

// One connection to the one pod, no retries: the second request has to wait for the first one's
// connection, and a failure would show.
const ONE_CONNECTION = { connection: { perEndpoint: 1, maxPerEndpoint: 1 }, retries: { attempts: 0 } }

t.test('after a request aborted mid-flight', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: ONE_CONNECTION })
  t.teardown(() => cluster.close())
  const pod = cluster.pods[0]
  const upstream = [...cluster.spoke.upstreams.values()][0]
  for (let round = 0; round < 5; round++) {
    const before = pod.started
    const doomed = http.get(`${cluster.url}/slow?ms=5000`)
    doomed.on('error', () => {})
    await waitFor(() => pod.started === before + 1, 2000, 'the slow request at the pod')
    const waiting = request(`${cluster.url}/`)
    await waitFor(() => upstream.inFlight === 2, 2000, 'the second request queued')
    doomed.destroy()
    const answer = await waiting
    t.equal(answer.status, 200, `round ${round}: the waiting request is answered (${answer.status} ${answer.body.slice(0, 120)})`)
  }
})

t.test('after a HEAD and after a `connection: close` answer, both of which undici closes', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: ONE_CONNECTION })
  t.teardown(() => cluster.close())
  const pod = cluster.pods[0]
  const upstream = [...cluster.spoke.upstreams.values()][0]
  for (const first of [{ method: 'HEAD', path: '/slow?ms=50' }, { method: 'GET', path: '/slow?ms=50&close' }]) {
    for (let round = 0; round < 5; round++) {
      const before = pod.started
      const leading = request(`${cluster.url}${first.path}`, { method: first.method })
      await waitFor(() => pod.started === before + 1, 2000, 'the first request at the pod')
      const waiting = request(`${cluster.url}/echo`, { method: 'POST', body: 'not idempotent' })
      await waitFor(() => upstream.inFlight === 2, 2000, 'the second request queued')
      t.equal((await leading).status, 200, `${first.method} ${first.path}: answered`)
      const answer = await waiting
      t.equal(answer.status, 200, `${first.method} ${first.path}, round ${round}: the POST waiting behind it is answered (${answer.status} ${answer.body.slice(0, 100)})`)
    }
  }
})
