// gRPC on the client side: @grpc/grpc-js with JSON messages (no .proto needed), and a loopback
// cluster of gRPC pods behind spoke with an h2c upstream.
import grpc from '@grpc/grpc-js'
import { startDnsServer } from '../../src/demo/dns-server.ts'
import { type GrpcPod, startGrpcPods } from '../../src/demo/grpc-pod.ts'
import { type Logger, silentLogger } from '../../src/log.ts'
import { Spoke } from '../../src/main.ts'
import { buildConfig, SERVICE, waitFor } from './harness.ts'

const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
const deserialize = (b: Buffer): unknown => JSON.parse(b.toString('utf8'))
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/demo.Echo/${name}`, requestStream, responseStream,
  requestSerialize: serialize, requestDeserialize: deserialize,
  responseSerialize: serialize, responseDeserialize: deserialize,
})

export const EchoClient = grpc.makeGenericClientConstructor({
  Unary: method('Unary', false, false),
  Slow: method('Slow', false, false),
  Fail: method('Fail', false, false),
  Stream: method('Stream', false, true),
  Bidi: method('Bidi', true, true),
}, 'Echo')

export type Echo = InstanceType<typeof EchoClient> & Record<string, Function>

export function echoClient(port: number): Echo {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as Echo
}

export function unary(client: Echo, name: string, message: unknown, options: grpc.CallOptions = {}): Promise<{ pod: string }> {
  return new Promise((resolve, reject) => {
    client[name](message, options, (err: grpc.ServiceError | null, reply: { pod: string }) => (err ? reject(err) : resolve(reply)))
  })
}

export interface GrpcCluster {
  pods: GrpcPod[]
  spoke: Spoke
  port: number
  publish(pods: readonly GrpcPod[]): void
  close(): Promise<void>
}

export async function startGrpcCluster(options: { pods?: number; upstream?: Record<string, unknown>; maxConcurrentStreams?: number; top?: Record<string, unknown>; log?: Logger } = {}): Promise<GrpcCluster> {
  const dns = await startDnsServer()
  const pods = await startGrpcPods(options.pods ?? 3, { maxConcurrentStreams: options.maxConcurrentStreams })
  const publish = (list: readonly GrpcPod[]): void => {
    if (list.length === 0) dns.remove(SERVICE)
    else dns.setA(SERVICE, list.map((p) => p.host), 1)
  }
  publish(pods)
  const spoke = await Spoke.start(buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    ...options.top,
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{
      name: 'orders', service: SERVICE, port: pods[0].port, protocol: 'h2c',
      discovery: { refresh: '1s', minRefresh: '100ms' },
      ...options.upstream,
    }],
  }), { log: options.log ?? silentLogger })
  await spoke.whenDiscovered()
  const upstream = spoke.upstreams.get('orders')!
  await waitFor(() => upstream.eligible.length === pods.length, 2000, 'pods discovered')
  return {
    pods, spoke, publish,
    port: spoke.listeners[0].address!.port,
    async close() {
      await spoke.close()
      await Promise.all(pods.map((p) => p.close()))
      await dns.close()
    },
  }
}
