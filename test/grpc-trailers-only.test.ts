// gRPC's trailers-only answer (one HEADERS frame with grpc-status, flagged END_STREAM) is how
// grpc-js, grpcio and grpc-go send every error without a message, and an OK call with no
// message. Forwarded as headers plus an empty body, clients read the status as initial metadata
// and report INTERNAL or UNKNOWN. The demo gRPC pod answers the way those servers do.
import grpc from '@grpc/grpc-js'
import http2 from 'node:http2'
import t from 'tap'
import { frame } from '../src/demo/grpc-pod.ts'
import { echoClient, startGrpcCluster, unary } from './helpers/grpc.ts'
import { request } from './helpers/harness.ts'

const { NGHTTP2_FLAG_END_STREAM } = http2.constants

t.test('grpc-js through spoke: errors and empty streams sent trailers-only keep their status', async (t) => {
  const cluster = await startGrpcCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  const client = echoClient(cluster.port)
  t.teardown(() => client.close())

  for (const code of [2, 5, 9, 13]) {
    const failed = await unary(client, 'Fail', { code }).catch((e: grpc.ServiceError) => e)
    t.equal((failed as grpc.ServiceError).code, code, `grpc-status ${code} reaches the client`)
    t.match((failed as grpc.ServiceError).details, 'failed on purpose', 'with its message')
  }

  const unknown = await new Promise<grpc.ServiceError | null>((resolve) => {
    const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
    client.makeUnaryRequest('/demo.Echo/Nope', json, (b: Buffer) => b, {}, (err) => resolve(err))
  })
  t.equal((unknown as grpc.ServiceError).code, grpc.status.UNIMPLEMENTED, 'an unknown method: UNIMPLEMENTED, as the pod said')

  // empty_stream: a bidi call that sends nothing gets nothing and status OK.
  const received = await new Promise<number>((resolve, reject) => {
    let n = 0
    const call = (client as unknown as { Bidi(): grpc.ClientDuplexStream<unknown, unknown> }).Bidi()
    call.on('data', () => { n++ })
    call.on('error', reject)
    call.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve(n) : reject(new Error(`status ${s.code}: ${s.details}`))))
    call.end()
  })
  t.equal(received, 0, 'an empty bidi stream ends with OK and no message')
})

t.test('h2c app: the pod\'s trailers-only HEADERS frame arrives as one HEADERS frame with END_STREAM', async (t) => {
  const cluster = await startGrpcCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const session = http2.connect(`http://127.0.0.1:${cluster.port}`)
  t.teardown(() => session.close())
  const answer = await new Promise<{ headers: http2.IncomingHttpHeaders; flags: number; data: number; trailers: boolean }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/demo.Echo/Fail', 'content-type': 'application/grpc', te: 'trailers' })
    let got: { headers: http2.IncomingHttpHeaders; flags: number } | null = null
    let data = 0
    let trailers = false
    stream.on('response', (headers, flags) => { got = { headers, flags } })
    stream.on('data', (chunk: Buffer) => { data += chunk.length })
    stream.on('trailers', () => { trailers = true })
    stream.on('error', reject)
    stream.on('close', () => (got === null ? reject(new Error('no response')) : resolve({ ...got, data, trailers })))
    stream.end(frame({ code: 7 }))
  })
  t.equal(answer.headers['grpc-status'], '7', 'grpc-status in the one HEADERS frame')
  t.equal(answer.headers[':status'], 200)
  t.ok((answer.flags & NGHTTP2_FLAG_END_STREAM) !== 0, 'that frame ends the stream')
  t.equal(answer.data, 0, 'no DATA')
  t.notOk(answer.trailers, 'no separate trailers frame')

  // A normal answer still sends headers, messages and trailers.
  const ok = await new Promise<{ flags: number; trailers: http2.IncomingHttpHeaders | null }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/demo.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' })
    let flags = -1
    let trailers: http2.IncomingHttpHeaders | null = null
    stream.on('response', (_h, f) => { flags = f })
    stream.on('trailers', (tr) => { trailers = tr })
    stream.resume()
    stream.on('error', reject)
    stream.on('close', () => resolve({ flags, trailers }))
    stream.end(frame({ hello: 1 }))
  })
  t.equal(ok.flags & NGHTTP2_FLAG_END_STREAM, 0, 'a message-carrying answer keeps its stream open after HEADERS')
  t.equal(ok.trailers?.['grpc-status'], '0', 'and ends with trailers')
})

t.test('HTTP/1.1 app to an h2c pod: the trailers-only answer is a complete response with its status headers', async (t) => {
  const cluster = await startGrpcCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  // Not gRPC to spoke (content-type), so it is forwarded as plain HTTP; the pod still answers gRPC.
  const answer = await request(`http://127.0.0.1:${cluster.port}/demo.Echo/Nope`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: frame({}) })
  t.equal(answer.status, 200)
  t.equal(answer.headers['grpc-status'], '12', 'grpc-status as a response header')
  t.equal(answer.body, '', 'an empty body, properly ended')
})
