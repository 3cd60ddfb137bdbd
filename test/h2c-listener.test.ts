import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import net from 'node:net'
import { promisify } from 'node:util'
import t from 'tap'
import { frame } from '../src/demo/grpc-pod.ts'
import { startGrpcCluster } from './helpers/grpc.ts'
import { request, startCluster } from './helpers/harness.ts'

const run = promisify(execFile)

async function curl(args: string[]): Promise<{ status: string; version: string; body: string }> {
  const { stdout } = await run('curl', ['-s', '-o', '-', '-w', '\n%{http_code} %{http_version}', ...args], { encoding: 'utf8' })
  const lines = stdout.split('\n')
  const [status, version] = lines.pop()!.split(' ')
  return { status, version, body: lines.join('\n') }
}

/** One HTTP/2 request with node:http2 (prior knowledge), answering status, headers and body. */
function h2request(port: number, path: string, headers: http2.OutgoingHttpHeaders = {}, body?: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on('error', reject)
    const stream = session.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST', ...headers })
    let got: http2.IncomingHttpHeaders = {}
    let data = ''
    stream.on('response', (h) => { got = h })
    stream.on('data', (c: Buffer) => { data += c.toString('utf8') })
    stream.on('end', () => {
      session.close()
      resolve({ status: Number(got[':status']), headers: got, body: data })
    })
    stream.on('error', reject)
    stream.end(body)
  })
}

t.test('curl --http1.1 and --http2-prior-knowledge on the same port, both to http1 pods', async (t) => {
  const cluster = await startCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  const h1 = await curl(['--http1.1', `${cluster.url}/`])
  t.equal(h1.status, '200')
  t.equal(h1.version, '1.1')
  t.match(h1.body, /^pod-\d\n$/)
  const h2 = await curl(['--http2-prior-knowledge', `${cluster.url}/`])
  t.equal(h2.status, '200')
  t.equal(h2.version, '2', 'answered over HTTP/2')
  t.match(h2.body, /^pod-\d\n$/)
  // h2c client → http1 pod: method, path, query, body and the rewritten Host survive.
  const echoed = await h2request(cluster.spoke.listeners[0].address!.port, '/echo?q=1', { 'content-type': 'text/plain' }, 'over h2')
  t.equal(echoed.status, 200)
  const seen = JSON.parse(echoed.body) as { method: string; url: string; body: string; rawHeaders: string[] }
  t.equal(seen.method, 'POST')
  t.equal(seen.url, '/echo?q=1')
  t.equal(seen.body, 'over h2')
  t.notOk(seen.rawHeaders.some((h) => h.startsWith(':')), 'no pseudo-headers leak to an HTTP/1.1 pod')
})

t.test('the preface split over several TCP segments still opens HTTP/2', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
  const socket = net.connect(port, '127.0.0.1')
  await new Promise((r) => socket.once('connect', r))
  socket.setNoDelay(true)
  for (const byte of preface) {
    socket.write(Buffer.from([byte]))
    await new Promise((r) => setTimeout(r, 5))
  }
  // An empty SETTINGS frame; the server answers with its own SETTINGS (frame type 4).
  socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]))
  const reply: Buffer = await new Promise((resolve) => socket.once('data', resolve))
  socket.destroy()
  t.equal(reply[3], 4, 'the server\'s first frame is SETTINGS')
})

t.test('a client that sends nothing is dropped after headersTimeout', async (t) => {
  const cluster = await startCluster({ pods: 1, listener: { headersTimeout: '300ms' } })
  t.teardown(() => cluster.close())
  const socket = net.connect(cluster.spoke.listeners[0].address!.port, '127.0.0.1')
  const started = Date.now()
  let received = ''
  socket.on('data', (c: Buffer) => { received += c.toString('latin1') })
  await new Promise((r) => socket.once('close', r))
  const took = Date.now() - started
  t.ok(took >= 250 && took < 2000, `closed after ${took} ms`)
  t.equal(received, '', 'silently')
})

t.test('a slow HTTP/1.1 request head gets 408 at headersTimeout', async (t) => {
  const cluster = await startCluster({ pods: 1, listener: { headersTimeout: '300ms' } })
  t.teardown(() => cluster.close())
  const socket = net.connect(cluster.spoke.listeners[0].address!.port, '127.0.0.1')
  socket.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ')
  let received = ''
  socket.on('data', (c: Buffer) => { received += c.toString('latin1') })
  await new Promise((r) => socket.once('close', r))
  t.match(received, /^HTTP\/1\.1 408 /)
  t.equal(cluster.pods[0].requests, 0)
})

t.test('HTTP/1.1 client to an h2c upstream (gRPC pods serve plain HTTP/2 too)', async (t) => {
  const cluster = await startGrpcCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  // Not gRPC by content type, so an HTTP/1.1 client may use it; the body is one framed message.
  const answer = await request(`http://127.0.0.1:${cluster.port}/demo.Echo/Unary`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: frame({ hello: 1 }) })
  t.equal(answer.status, 200, 'answered through an HTTP/2 stream to the pod')
  t.match(String(answer.headers['x-pod']), /^grpc-\d$/)
  t.match(answer.body, '"echo":{"hello":1}', 'the body went up and came back')
})

t.test('spoke\'s own errors over HTTP/2: JSON with x-spoke-error, 431 for a huge header block', async (t) => {
  const cluster = await startCluster({ pods: 1, listener: { maxHeaderSize: '4KiB' } })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const big = await h2request(port, '/', { 'x-big': 'a'.repeat(5000) })
  t.equal(big.status, 431)
  t.equal(big.headers['x-spoke-error'], 'headers_too_large')
  cluster.publish([])
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const deadline = Date.now() + 3000
  while (upstream.endpointCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const none = await h2request(port, '/')
  t.equal(none.status, 503)
  t.equal(none.headers['x-spoke-error'], 'no_endpoints')
  t.equal(JSON.parse(none.body).error, 'no_endpoints')
})
