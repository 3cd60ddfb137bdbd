// The app's h2c sessions share one stream budget (app-h2.ts): as connections pile up, each is
// told a smaller SETTINGS_MAX_CONCURRENT_STREAMS, and told more again as they go.
import http2 from 'node:http2'
import t from 'tap'
import { MAX_CONCURRENT_STREAMS, STREAM_BUDGET_FLOOR, streamShare } from '../src/proxy/app-h2.ts'
import { startCluster } from './helpers/harness.ts'

t.test('the share: the budget split evenly, a power of two, between 1 and the per-session maximum', async (t) => {
  t.equal(streamShare(1024, 1), MAX_CONCURRENT_STREAMS)
  t.equal(streamShare(1024, 4), MAX_CONCURRENT_STREAMS, '256 each is over the maximum')
  t.equal(streamShare(1024, 5), 128, '204 rounds down to 128')
  t.equal(streamShare(1024, 100), 8)
  t.equal(streamShare(1024, 1024), 1)
  t.equal(streamShare(1024, 2000), 1, 'never 0: a client could open no stream at all')
  t.equal(streamShare(4096, 2000), 2)
})

t.test('a new session starts with its share of the budget; open sessions keep theirs', async (t) => {
  const cluster = await startCluster({ pods: 1, upstream: { limits: { maxConcurrentRequests: 10 } } })
  t.teardown(() => cluster.close())
  const sessions: http2.ClientHttp2Session[] = []
  t.teardown(() => { for (const s of sessions) s.destroy() })
  const open = async (): Promise<http2.ClientHttp2Session> => {
    const session = http2.connect(cluster.url)
    session.on('error', () => {})
    await new Promise((resolve) => session.once('remoteSettings', resolve))
    sessions.push(session)
    return session
  }
  const first = await open()
  t.equal(first.remoteSettings.maxConcurrentStreams, MAX_CONCURRENT_STREAMS, `one session: ${MAX_CONCURRENT_STREAMS}`)
  // The budget is STREAM_BUDGET_FLOOR here (maxConcurrentRequests is below it).
  for (let i = 0; i < 4; i++) await open()
  const share = streamShare(STREAM_BUDGET_FLOOR, 5)
  t.equal(share, 128)
  const sixth = await open()
  t.equal(sixth.remoteSettings.maxConcurrentStreams, share, 'a session opened with 5 others open starts with 128')
  // Requests go through on it.
  const answered = await new Promise<number>((resolve, reject) => {
    const stream = sixth.request({ ':path': '/' })
    stream.on('response', (h) => resolve(Number(h[':status'])))
    stream.on('error', reject)
    stream.resume()
    stream.end()
  })
  t.equal(answered, 200)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(first.remoteSettings.maxConcurrentStreams, MAX_CONCURRENT_STREAMS, 'the first session got no SETTINGS in the middle of its life')
  // Back to 2 sessions: new ones get the full share again.
  for (const s of sessions.splice(1)) await new Promise<void>((resolve) => s.close(resolve))
  // The server sees each session close once its socket has (up to 100 ms after its GOAWAY).
  await new Promise((resolve) => setTimeout(resolve, 500))
  const later = await open()
  t.equal(later.remoteSettings.maxConcurrentStreams, MAX_CONCURRENT_STREAMS, 'the full share once sessions have gone')
})
