// An app that gives up on a request mid-flight (closes its connection) makes undici destroy the
// pod connection that carried it. That connection must not be handed to the next request first.
import http from 'node:http'
import t from 'tap'
import { request, startCluster, waitFor } from './helpers/harness.ts'

t.test('a request waiting for the connection of an aborted one is not failed with it', async (t) => {
  // One connection to the one pod: the second request has to wait for the first one's.
  const cluster = await startCluster({ pods: 1, upstream: { connection: { perEndpoint: 1, maxPerEndpoint: 1 }, retries: { attempts: 0 } } })
  t.teardown(() => cluster.close())
  const pod = cluster.pods[0]
  for (let round = 0; round < 5; round++) {
    const before = pod.started
    const doomed = http.get(`${cluster.url}/slow?ms=5000`)
    doomed.on('error', () => {})
    await waitFor(() => pod.started === before + 1, 2000, 'the slow request at the pod')
    const waiting = request(`${cluster.url}/`)
    const upstream = [...cluster.spoke.upstreams.values()][0]
    await waitFor(() => upstream.inFlight === 2, 2000, 'the second request queued')
    doomed.destroy()
    const answer = await waiting
    t.equal(answer.status, 200, `round ${round}: the waiting request is answered (${answer.status} ${answer.body.slice(0, 120)})`)
  }
})
