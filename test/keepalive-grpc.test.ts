// spoke's h2c keepalive against real gRPC servers with their default ping policy: grpc-go's
// interop server and grpc/grpc's Python one (C-core), as vendored for the interop test. Both count
// a PING as a strike unless they have sent HEADERS or DATA since the one before (within 5 min
// with a call open, 2 h without), and answer the third strike with GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings", closing the connection and the calls on it. With a keepalive of 100 ms, an
// idle session and a call that is silent for 2 s must cost neither: one PING per silence.
import http2 from 'node:http2'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { InteropEnv, type InteropServer, type Stack, startInteropServers } from './helpers/grpc-interop.ts'
import { buildConfig, waitFor } from './helpers/harness.ts'

const KEEPALIVE_MS = 100
const SILENCE_MS = 20 * KEEPALIVE_MS
const STACKS: readonly Stack[] = ['grpc-go', 'grpcio']
const SERVICE = (stack: Stack): string => `keepalive-${stack}.default.svc.cluster.local`

let env: InteropEnv | null = null
let unavailable: string | null = null
try {
  env = await InteropEnv.create()
} catch (err) {
  unavailable = (err as Error).message
}

/**
 * grpc.testing.TestService/StreamingOutputCall asking for one message after `intervalUs`: the
 * server sends nothing at all (no HEADERS either) until then. Protobuf by hand:
 * StreamingOutputCallRequest.response_parameters (2) = ResponseParameters { size (1): 1, interval_us (2) }.
 */
function slowCall(intervalUs: number): Buffer {
  const varint: number[] = []
  for (let v = intervalUs; ; v >>>= 7) {
    if (v < 0x80) { varint.push(v); break }
    varint.push((v & 0x7f) | 0x80)
  }
  const parameters = Buffer.from([0x08, 0x01, 0x10, ...varint])
  const message = Buffer.concat([Buffer.from([0x12, parameters.length]), parameters])
  const framed = Buffer.alloc(5 + message.length)
  framed.writeUInt32BE(message.length, 1)
  message.copy(framed, 5)
  return framed
}

function call(url: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = http2.connect(url)
    client.on('error', reject)
    const stream = client.request({
      ':method': 'POST', ':path': '/grpc.testing.TestService/StreamingOutputCall',
      'content-type': 'application/grpc', te: 'trailers',
    })
    let status = 'none'
    stream.on('response', (headers) => { if (headers['grpc-status'] !== undefined) status = `${headers['grpc-status']} ${headers['grpc-message'] ?? ''}` })
    stream.on('trailers', (trailers) => { status = `${trailers['grpc-status']} ${trailers['grpc-message'] ?? ''}`.trim() })
    stream.on('error', (err) => { status = `error ${err.message}` })
    stream.on('close', () => {
      client.close()
      resolve(status)
    })
    stream.resume()
    stream.end(body)
  })
}

t.test('real gRPC servers with their default ping policy: an idle session and a silent call cost no GOAWAY', { skip: unavailable ?? false }, async (t) => {
  t.teardown(() => env!.close())
  const servers = {} as Record<Stack, InteropServer>
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  for (const [i, stack] of STACKS.entries()) {
    servers[stack] = (await startInteropServers(stack, 1, 2 + i, env!))[0]
    t.teardown(() => servers[stack].close())
    dns.setA(SERVICE(stack), [servers[stack].host], 1)
  }
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: STACKS.map((s) => ({ name: s, address: '127.0.0.1:0', upstream: s })),
    upstreams: STACKS.map((s) => ({
      name: s, service: SERVICE(s), port: servers[s].port, protocol: 'h2c',
      discovery: { refresh: '1s', minRefresh: '100ms' },
      connection: { keepalive: `${KEEPALIVE_MS}ms`, connectTimeout: '1s' },
    })),
  }), { log: silentLogger })
  t.teardown(() => spoke.close())
  await spoke.whenDiscovered()
  for (const s of STACKS) await waitFor(() => [...spoke.upstreams.get(s)!.endpoints].every((e) => e.connected), 3000, `a session to the ${s} server`)
  const url = (s: Stack): string => `http://127.0.0.1:${spoke.listeners.find((l) => l.name === s)!.address!.port}`

  // An idle session, then a call the server is silent on, each for 20 × keepalive.
  await new Promise((r) => setTimeout(r, SILENCE_MS))
  const statuses = await Promise.all(STACKS.map((s) => call(url(s), slowCall(SILENCE_MS * 1000))))
  for (const [i, s] of STACKS.entries()) {
    const stats = spoke.upstreams.get(s)!.stats
    const closed = Object.fromEntries(stats.connectionsClosed)
    t.equal(statuses[i], '0', `${s}: the silent call succeeded`)
    t.same(closed, {}, `${s}: no session closed (no GOAWAY too_many_pings): ${JSON.stringify(closed)}`)
    t.equal(stats.connectionsOpened, 1, `${s}: one session throughout`)
  }
})
