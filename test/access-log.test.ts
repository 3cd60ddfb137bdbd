// The access log's fields (SPEC §2) and spoke_grpc_responses_total (SPEC §8), on real sockets:
// what a person reading one line must be able to tell of the request — which pod answered, how
// many were tried, whether the error was spoke's, what gRPC status the app got.
import grpc from '@grpc/grpc-js'
import http from 'node:http'
import t from 'tap'
import { echoClient, startGrpcCluster, unary } from './helpers/grpc.ts'
import { request, startCluster, waitFor } from './helpers/harness.ts'
import { type Line, recorder } from './helpers/log-recorder.ts'

const requestLines = (lines: Line[]): Line[] => lines.filter((l) => l.msg === 'request')

t.test('HTTP: a success, a retried request, spoke\'s own error, a client gone', async (t) => {
  const { log, lines } = recorder('info')
  const cluster = await startCluster({ pods: 2, log, top: { accessLog: true } })
  t.teardown(() => cluster.close())
  const [a, b] = cluster.pods
  const keys = cluster.pods.map((p) => `${p.host}:${p.port}`)

  const ok = await request(`${cluster.url}/hello?x=1`)
  t.equal(ok.status, 200)
  await waitFor(() => requestLines(lines).length === 1, 2000, 'the line of the success')
  const success = requestLines(lines)[0]
  t.match(success, { listener: 'orders', upstream: 'orders', method: 'GET', path: '/hello?x=1', status: 200, attempts: 1, error: null })
  t.ok(keys.includes(success.endpoint as string), `endpoint is a pod's ip:port (${String(success.endpoint)})`)
  t.type(success.durationMs, 'number')
  t.notOk('grpcStatus' in success, 'no grpcStatus on a plain HTTP request')

  // Pod a resets every request: a GET that went to it first is retried on b.
  a.behaviour = { reset: true }
  lines.length = 0
  for (let i = 0; i < 4; i++) t.equal((await request(`${cluster.url}/r${i}`)).status, 200)
  await waitFor(() => requestLines(lines).length === 4, 2000, 'the lines of the retried requests')
  const retried = requestLines(lines).filter((l) => l.attempts === 2)
  t.ok(retried.length >= 1, 'some request was tried on two pods')
  for (const l of retried) t.match(l, { status: 200, endpoint: `${b.host}:${b.port}`, error: null }, 'its endpoint is the second pod, whose answer the app got')
  a.behaviour = null

  // A request the app gives up on: 499, no pod's answer.
  lines.length = 0
  await new Promise<void>((resolve) => {
    const req = http.get(`${cluster.url}/slow?ms=3000`)
    req.on('error', () => resolve())
    setTimeout(() => { req.destroy(); resolve() }, 200)
  })
  await waitFor(() => requestLines(lines).length === 1, 2000, 'the line of the abandoned request')
  t.match(requestLines(lines)[0], { path: '/slow?ms=3000', status: 499, endpoint: null, attempts: 1, error: null })

  // No pods: spoke's own 503.
  cluster.publish([])
  const upstream = cluster.spoke.upstreams.get('orders')!
  await waitFor(() => upstream.eligible.length === 0, 5000, 'pods gone')
  lines.length = 0
  const refused = await request(`${cluster.url}/none`)
  t.equal(refused.status, 503)
  await waitFor(() => requestLines(lines).length === 1, 2000, 'the line of the refused request')
  t.match(requestLines(lines)[0], { status: 503, endpoint: null, attempts: 0, error: 'no_endpoints' })
})

t.test('access log off: no request lines', async (t) => {
  const { log, lines } = recorder('info')
  const cluster = await startCluster({ pods: 1, log })
  t.teardown(() => cluster.close())
  t.equal((await request(`${cluster.url}/`)).status, 200)
  await new Promise((r) => setTimeout(r, 100))
  t.same(requestLines(lines), [])
})

async function grpcCounts(cluster: { spoke: { admin: { address: { port: number } | null } } }): Promise<Record<string, number>> {
  const text = (await request(`http://127.0.0.1:${cluster.spoke.admin.address!.port}/metrics`)).body
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^spoke_grpc_responses_total\{listener="orders",upstream="orders",grpc_status="(\d+)"\} (\d+)$/gm)) out[m[1]] = Number(m[2])
  return out
}

t.test('gRPC: the status the app received, in the line and in spoke_grpc_responses_total', async (t) => {
  const { log, lines } = recorder('info')
  const cluster = await startGrpcCluster({ pods: 2, log, top: { accessLog: true } })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())

  await unary(client, 'Unary', { hello: 1 })
  const trailersOnly = await unary(client, 'Fail', { code: 5 }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError
  t.equal(trailersOnly.code, 5, 'NOT_FOUND trailers-only reached the client')
  // A server-streaming call that sends messages and then fails in its trailers.
  const streamed = await new Promise<{ code: number; messages: number }>((resolve) => {
    let messages = 0
    const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
    const call = client.makeServerStreamRequest('/demo.Echo/Fail', json, (b: Buffer) => b, { code: 5, messages: 2 })
    call.on('data', () => { messages++ })
    call.on('error', () => {})
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, messages }))
  })
  t.same(streamed, { code: 5, messages: 2 }, 'NOT_FOUND after two messages reached the client')

  await waitFor(() => requestLines(lines).length === 3, 2000, 'three request lines')
  const [okLine, onlyLine, afterLine] = requestLines(lines)
  t.match(okLine, { method: 'POST', path: '/demo.Echo/Unary', status: 200, grpcStatus: 0, attempts: 1, error: null })
  t.match(onlyLine, { path: '/demo.Echo/Fail', status: 200, grpcStatus: 5, error: null })
  t.match(afterLine, { path: '/demo.Echo/Fail', status: 200, grpcStatus: 5, error: null })
  t.type(okLine.endpoint, 'string')
  t.same(await grpcCounts(cluster), { 0: 1, 5: 2 })

  // No pods: spoke's own UNAVAILABLE.
  cluster.publish([])
  const upstream = cluster.spoke.upstreams.get('orders')!
  await waitFor(() => upstream.eligible.length === 0, 5000, 'pods gone')
  const unavailable = await unary(client, 'Unary', {}).catch((e: grpc.ServiceError) => e) as grpc.ServiceError
  t.equal(unavailable.code, 14)
  await waitFor(() => requestLines(lines).length === 4, 2000, 'the line of the refused call')
  t.match(requestLines(lines)[3], { status: 200, grpcStatus: 14, error: 'no_endpoints', endpoint: null, attempts: 0 })
  t.same(await grpcCounts(cluster), { 0: 1, 5: 2, 14: 1 })
})

t.test('gRPC: counted with the access log off', async (t) => {
  const { log, lines } = recorder('info')
  const cluster = await startGrpcCluster({ pods: 1, log })
  t.teardown(() => cluster.close())
  // An unknown method: the pod answers UNIMPLEMENTED trailers-only.
  const session = (await import('node:http2')).connect(`http://127.0.0.1:${cluster.port}`)
  t.teardown(() => session.close())
  await new Promise<void>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/demo.Echo/Nope', 'content-type': 'application/grpc', te: 'trailers' })
    stream.on('error', reject)
    stream.on('close', () => resolve())
    stream.resume()
    stream.end()
  })
  t.same(await grpcCounts(cluster), { 12: 1 })
  t.same(requestLines(lines), [], 'access log off: no line')
})
