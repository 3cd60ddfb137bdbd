// The gRPC status spoke counts for answers that carry none (spoke_grpc_responses_total, the
// access log's grpcStatus), judged by grpc-js itself: a raw HTTP/2 pod on 127.0.0.2 ends its
// calls in the odd ways real servers and broken middleboxes do, a grpc-js client calls through
// spoke, and the code the client reports must be the code spoke counted.
import grpc from '@grpc/grpc-js'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { Spoke } from '../src/main.ts'
import { type Echo, unary } from './helpers/grpc.ts'
import { buildConfig, SERVICE, waitFor } from './helpers/harness.ts'
import { type Line, recorder } from './helpers/log-recorder.ts'

/** One gRPC message: uncompressed, 4-byte length, JSON (what test/helpers/grpc.ts decodes). */
function message(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value))
  const head = Buffer.alloc(5)
  head.writeUInt32BE(body.length, 1)
  return Buffer.concat([head, body])
}

/** How the pod ends the call named by the path's method. */
const ENDINGS: Record<string, (stream: http2.ServerHttp2Stream) => void> = {
  // A message, then the stream ends with no trailers at all.
  NoTrailers: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' })
    s.end(message({ pod: 'raw' }))
  },
  // Trailers, but no grpc-status among them.
  TrailersWithoutStatus: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    s.on('wantTrailers', () => s.sendTrailers({ 'x-served-by': 'raw' }))
    s.end(message({ pod: 'raw' }))
  },
  // A trailers-only answer without grpc-status: an HTTP error, as a proxy in front of a pod sends.
  Http503: (s) => {
    s.respond({ ':status': 503, 'content-type': 'text/plain' }, { endStream: true })
  },
  Http404: (s) => {
    s.respond({ ':status': 404, 'content-type': 'text/plain' }, { endStream: true })
  },
}

t.test('answers without grpc-status: spoke counts the code grpc-js reports', async (t) => {
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    stream.on('data', () => {})
    const name = String(headers[':path']).split('/').pop()!
    ENDINGS[name](stream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  dns.setA(SERVICE, ['127.0.0.2'], 1)
  const { log, lines } = recorder('info')
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    accessLog: true,
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: SERVICE, port: (server.address() as AddressInfo).port, protocol: 'h2c', retries: { attempts: 0 } }],
  }), { log })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()
  const methods = grpc.makeGenericClientConstructor(Object.fromEntries(Object.keys(ENDINGS).map((name) => [name, {
    path: `/demo.Echo/${name}`, requestStream: false, responseStream: false,
    requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)), requestDeserialize: (b: Buffer) => JSON.parse(b.toString()),
    responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)), responseDeserialize: (b: Buffer) => JSON.parse(b.toString()),
  }])), 'Echo')
  const raw = new methods(`127.0.0.1:${spoke.listeners[0].address!.port}`, grpc.credentials.createInsecure()) as unknown as Echo
  t.teardown(() => raw.close())

  const reported = new Map<string, number>()
  for (const name of Object.keys(ENDINGS)) {
    const code = await unary(raw, name, { hello: 1 }).then(() => 0, (err: grpc.ServiceError) => err.code)
    reported.set(name, code)
  }
  await waitFor(() => lines.filter((l: Line) => l.msg === 'request').length === reported.size, 3000, 'the access-log lines')
  for (const line of lines.filter((l: Line) => l.msg === 'request')) {
    const name = String(line.path).split('/').pop()!
    t.equal(line.grpcStatus, reported.get(name), `${name}: grpc-js reported ${reported.get(name)}, spoke logged ${String(line.grpcStatus)}`)
  }
  const text = await (await fetch(`http://127.0.0.1:${spoke.admin.address!.port}/metrics`)).text()
  const counted = new Map<number, number>()
  for (const m of text.matchAll(/^spoke_grpc_responses_total\{listener="orders",upstream="orders",grpc_status="(\d+)"\} (\d+)$/gm)) counted.set(Number(m[1]), Number(m[2]))
  const expected = new Map<number, number>()
  for (const code of reported.values()) expected.set(code, (expected.get(code) ?? 0) + 1)
  t.same(Object.fromEntries(counted), Object.fromEntries(expected), 'spoke_grpc_responses_total counts what the client saw')
  t.comment(`grpc-js reported: ${[...reported].map(([n, c]) => `${n} ${c}`).join(', ')}`)
})
