import t from 'tap'
import { request, singleConnectionAgent, startCluster } from './helpers/harness.ts'

t.test('one keep-alive client connection, 300 requests over 3 pods: 100 ± 1 each', async (t) => {
  const cluster = await startCluster({ pods: 3 })
  t.teardown(() => cluster.close())
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  const seen = new Map<string, number>()
  for (let i = 0; i < 300; i++) {
    const answer = await request(`${cluster.url}/`, { agent })
    t.equal(answer.status, 200)
    const pod = String(answer.headers['x-pod'])
    seen.set(pod, (seen.get(pod) ?? 0) + 1)
  }
  t.equal(seen.size, 3, 'every pod answered')
  for (const pod of cluster.pods) {
    t.ok(Math.abs(pod.requests - 100) <= 1, `${pod.name} got ${pod.requests}`)
    t.equal(seen.get(pod.name), pod.requests, `${pod.name}: what the client saw matches what the pod counted`)
  }
  // The client used one connection throughout, and each pod saw spoke's long-lived connection.
  for (const pod of cluster.pods) t.ok(pod.connections <= 2, `${pod.name} accepted ${pod.connections} connection(s)`)
})
