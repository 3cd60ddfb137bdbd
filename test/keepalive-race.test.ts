import http from 'node:http'
import type { Socket } from 'node:net'
import t from 'tap'
import { listenOn, onOnePort } from '../src/net.ts'
import { startFaultCluster, sleep } from './helpers/fault-cluster.ts'
import { request, waitFor } from './helpers/harness.ts'

/** A pod that drops the connection of the next `n` requests unanswered, as a server does whose idle timeout fires as the request arrives. */
async function racingPod(t: { teardown(fn: () => unknown): void }) {
  const seen: string[] = []
  let drop = 0
  let open = 0
  const sockets = new Set<Socket>()
  const [pod] = await onOnePort(1, 2, async (host, port) => {
    const server = http.createServer((req, res) => {
      seen.push(req.method!)
      if (drop > 0) {
        drop--
        req.socket.destroy()
        return
      }
      res.end('ok')
    })
    server.on('connection', (s: Socket) => {
      open++
      sockets.add(s)
      s.on('close', () => { open--; sockets.delete(s) })
    })
    await listenOn(server, { host, port }, 'racing pod')
    return { host, port, close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) }) }
  })
  t.teardown(() => pod.close())
  return { ...pod, seen, dropNext: (n: number) => { drop = n }, get open() { return open } }
}

t.test('the keep-alive race: an idempotent request whose idle connection the pod closed goes again, outside retries.attempts', async (t) => {
  const pod = await racingPod(t)
  // retries.attempts 0: only the keep-alive-race resend can save the request.
  const cluster = await startFaultCluster({ hosts: [pod.host], port: pod.port, upstream: { retries: { attempts: 0 } } })
  t.teardown(() => cluster.close())
  await waitFor(() => pod.open === 1, 2000, 'the up-front connection')
  await sleep(20)
  pod.dropNext(1)
  const get = await request(`${cluster.url}/`)
  t.equal(get.status, 200, 'the GET was answered')
  t.same(pod.seen, ['GET', 'GET'], 'on its second sending')
  t.equal(cluster.upstream.stats.retries, 1, 'counted in spoke_retries_total')
  const endpoint = [...cluster.upstream.endpoints][0]
  t.equal(endpoint.consecutiveFailures, 0, 'not held against the pod by outlier detection')

  await waitFor(() => pod.open === 1, 2000, 'an idle connection again')
  await sleep(20)
  pod.dropNext(1)
  const post = await request(`${cluster.url}/`, { method: 'POST', body: 'x' })
  t.equal(post.status, 502, 'a POST caught the same way fails: it may have been processed')
  t.equal(post.headers['x-spoke-error'], 'upstream_reset')
  t.same(pod.seen.slice(2), ['POST'], 'and was sent once')
})

t.test('at most three such resends, then the usual retry rules answer', async (t) => {
  const pod = await racingPod(t)
  const cluster = await startFaultCluster({ hosts: [pod.host], port: pod.port, upstream: { retries: { attempts: 0 }, connection: { perEndpoint: 8 } } })
  t.teardown(() => cluster.close())
  await waitFor(() => pod.open === 8, 2000, 'eight idle connections')
  await sleep(20)
  pod.dropNext(10)
  const get = await request(`${cluster.url}/`)
  t.equal(get.status, 502, 'the fourth sending failed, and no retry was left')
  t.equal(pod.seen.length, 4, 'sent four times in all')
})
