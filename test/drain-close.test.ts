// SPEC §9: once the linger is over, HTTP/1.1 answers carry `connection: close`, including the
// answers to requests that were already in flight (waiting for their pod) at that moment.
import http from 'node:http'
import t from 'tap'
import { startCluster, waitFor } from './helpers/harness.ts'

t.test('a request in flight when the linger ends is answered with connection: close', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${cluster.url}/slow?ms=300`, { agent }, (res) => { res.resume(); res.on('end', () => resolve(res)) }).on('error', reject)
  })
  await waitFor(() => cluster.pods[0].started === 1, 2000, 'the request at the pod')
  cluster.spoke.beginShutdown()
  const drained = cluster.spoke.drain(5000)
  const res = await answer
  t.equal(res.statusCode, 200, 'the request in flight completed')
  t.equal(res.headers.connection, 'close', 'its answer closes the connection')
  t.equal(await drained, true, 'the drain finished in time')
  await Promise.all(cluster.pods.map((p) => p.close()))
  await cluster.dns.close()
})
