// Broadcast mode (SPEC §6): one request in, a copy to every pod, one envelope out.
import { randomBytes } from 'node:crypto'
import httpModule from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import t from 'tap'
import { type DnsServer, startDnsServer } from '../src/demo/dns-server.ts'
import { type Pod, startPods } from '../src/demo/pod.ts'
import { silentLogger } from '../src/log.ts'
import { onOnePort } from '../src/net.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, request, SERVICE, waitFor } from './helpers/harness.ts'

interface Envelope {
  broadcastId: string
  upstream: string
  require: string | number
  outcome: string
  endpoints: number
  succeeded: number
  failed: number
  responses: { endpoint: string; hostname?: string; status?: number; error?: string; durationMs: number; body?: string; bodyTruncated?: boolean }[]
}

interface Bed {
  dns: DnsServer
  spoke: Spoke
  /** Listener URL by upstream name. */
  url: Record<string, string>
  admin: string
  close(): Promise<void>
}

/** spoke with one listener per upstream document, every upstream pointing at SERVICE. */
async function startSpoke(dns: DnsServer, port: number, upstreams: Record<string, unknown>[]): Promise<Bed> {
  const config = buildConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
    listeners: upstreams.map((u) => ({ name: String(u.name), address: '127.0.0.1:0', upstream: String(u.name) })),
    upstreams: upstreams.map((u) => ({
      service: SERVICE, port, mode: 'broadcast',
      discovery: { refresh: '1s', minRefresh: '100ms' },
      ...u,
    })),
  })
  const spoke = await Spoke.start(config, { log: silentLogger })
  await spoke.whenDiscovered()
  const url: Record<string, string> = {}
  spoke.listeners.forEach((l, i) => { url[upstreams[i].name as string] = `http://127.0.0.1:${l.address!.port}` })
  return { dns, spoke, url, admin: `http://127.0.0.1:${spoke.admin.address!.port}`, close: () => spoke.close() }
}

function envelope(body: string): Envelope {
  return JSON.parse(body) as Envelope
}

/** `count` pods behind SERVICE's A records, spoke in front with these upstreams; all stopped at teardown. */
async function podsBehindSpoke(
  t: { teardown(fn: () => unknown): void }, count: number, upstreams: Record<string, unknown>[], podOptions?: Parameters<typeof startPods>[1],
): Promise<{ pods: Pod[]; bed: Bed }> {
  const dns = await startDnsServer()
  const pods = await startPods(count, podOptions)
  dns.setA(SERVICE, pods.map((p) => p.host), 30)
  const bed = await startSpoke(dns, pods[0].port, upstreams)
  t.teardown(async () => {
    await bed.close()
    await Promise.all(pods.map((p) => p.kill()))
    await dns.close()
  })
  await waitFor(() => [...bed.spoke.upstreams.values()].every((u) => u.endpointCount === count), 2000, 'pods discovered')
  return { pods, bed }
}

t.test('require all / any / quorum / N with one pod failing and one hanging past the deadline', async (t) => {
  const requires: (string | number)[] = ['all', 'any', 'quorum', 1, 2]
  const { pods, bed } = await podsBehindSpoke(t, 3, requires.map((r) => ({ name: `b-${r}`, broadcast: { require: r, timeout: '300ms' } })))
  pods[1].behaviour = { status: 503 }
  pods[2].behaviour = { delayMs: Infinity }
  const expected: Record<string, [number, string]> = {
    all: [502, 'failure'], any: [200, 'success'], quorum: [502, 'failure'], 1: [200, 'success'], 2: [502, 'failure'],
  }
  for (const r of requires) {
    const started = performance.now()
    const answer = await request(`${bed.url[`b-${r}`]}/invalidate?key=a`, { method: 'POST', body: 'k=a' })
    const elapsed = performance.now() - started
    const env = envelope(answer.body)
    const [status, outcome] = expected[String(r)]
    t.equal(answer.status, status, `require ${r}: HTTP status`)
    t.equal(answer.headers['content-type'], 'application/json')
    t.equal(answer.headers['x-spoke-error'], undefined, 'a failed broadcast is an envelope, not a spoke error code')
    t.equal(answer.headers['x-spoke-broadcast-id'], env.broadcastId)
    t.match(env, { upstream: `b-${r}`, require: r, outcome, endpoints: 3, succeeded: 1, failed: 2 }, `require ${r}: envelope`)
    t.equal(typeof env.require, typeof r, 'require echoed as given (string or number)')
    t.strictSame(env.responses.map((x) => [x.endpoint, x.status ?? x.error]), [
      [pods[0].address, 200], [pods[1].address, 503], [pods[2].address, 'timeout'],
    ])
    // The hanging pod never answers: a broadcast that waited for it would take the request timeout
    // (15 s), so 3× the deadline tells the two apart on a busy machine, where a 300 ms timer has
    // been seen to fire 200 ms late.
    t.ok(env.responses[2].durationMs >= 295 && env.responses[2].durationMs < 900, `timeout entry lasted the deadline (${env.responses[2].durationMs} ms)`)
    t.ok(elapsed < 900, `answered at the deadline, not the hanging pod's (${elapsed.toFixed(1)} ms)`)
    t.notOk('hostname' in env.responses[0], 'no hostname without SRV')
  }
  const metrics = await request(`${bed.admin}/metrics`)
  t.match(metrics.body, /spoke_broadcasts_total\{upstream="b-any",outcome="success"\} 1\n/)
  t.match(metrics.body, /spoke_broadcasts_total\{upstream="b-all",outcome="failure"\} 1\n/)
  t.match(metrics.body, new RegExp(`spoke_endpoint_requests_total\\{upstream="b-all",endpoint="${pods[2].address}",code="timeout"\\} 1\\n`))
  t.match(metrics.body, new RegExp(`spoke_endpoint_requests_total\\{upstream="b-all",endpoint="${pods[1].address}",code="503"\\} 1\\n`))
})

t.test('the body reaches every pod byte for byte, for POST and for DELETE; query and headers kept', async (t) => {
  const { pods, bed } = await podsBehindSpoke(t, 3, [{ name: 'orders' }])
  for (const method of ['POST', 'DELETE']) {
    const body = randomBytes(50_000)
    const answer = await request(`${bed.url.orders}/cache/items?key=a%20b&x=1`, {
      // Node's client frames a DELETE body only when told its length.
      method, body, headers: { 'content-length': body.length, 'content-type': 'application/octet-stream', 'x-trace': 'abc', connection: 'x-hop', 'x-hop': 'no' },
    })
    t.equal(answer.status, 200, `${method}: all pods answered 200`)
    if (answer.status !== 200) t.comment(answer.body)
    const env = envelope(answer.body)
    t.match(env, { outcome: 'success', require: 'all', endpoints: 3, succeeded: 3, failed: 0 })
    for (const pod of pods) {
      const got = pod.received.at(-1)!
      t.equal(got.method, method)
      t.equal(got.url, '/cache/items?key=a%20b&x=1', 'path and query unchanged')
      t.ok(got.body.equals(body), `${method}: ${pod.name} got the body byte for byte`)
      const headers = Object.fromEntries(got.rawHeaders.flatMap((v, i, a) => (i % 2 === 0 ? [[v.toLowerCase(), a[i + 1]]] : [])))
      t.equal(headers['x-spoke-broadcast-id'], env.broadcastId, 'every copy carries the broadcast id')
      t.equal(headers['x-trace'], 'abc')
      t.equal(headers['x-hop'], undefined, 'headers named by Connection are hop-by-hop')
      t.equal(headers.host, `${SERVICE}:${pod.port}`)
      t.equal(headers['content-length'], String(body.length))
    }
  }
  // A chunked body (no Content-Length from the app) arrives whole, with a length.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = httpModule.request(`${bed.url.orders}/c`, { method: 'POST' }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)) })
    req.on('error', reject)
    req.write('part one,')
    setTimeout(() => req.end('part two'), 20)
  })
  t.equal(chunked, 200)
  for (const pod of pods) t.equal(pod.received.at(-1)!.body.toString(), 'part one,part two')
  // The app may choose the id (to let receivers drop a broadcast it sends again); a malformed one is replaced.
  const chosen = await request(`${bed.url.orders}/x`, { headers: { 'x-spoke-broadcast-id': 'inv-42' } })
  t.equal(envelope(chosen.body).broadcastId, 'inv-42')
  for (const pod of pods) t.ok(pod.received.at(-1)!.rawHeaders.includes('inv-42'))
  const bad = await request(`${bed.url.orders}/x`, { headers: { 'x-spoke-broadcast-id': 'a b\tc' } })
  t.match(envelope(bad.body).broadcastId, /^[0-9a-f-]{36}$/)
})

t.test('no pods: 503 no_endpoints with an empty envelope; too big a body: 413, no pod contacted', async (t) => {
  const { pods, bed } = await podsBehindSpoke(t, 2, [{ name: 'small', broadcast: { maxBodySize: '1KiB' } }])
  const upstream = bed.spoke.upstreams.get('small')!
  const declared = await request(`${bed.url.small}/x`, { method: 'POST', body: Buffer.alloc(2048, 1) })
  t.equal(declared.status, 413)
  t.equal(declared.headers['x-spoke-error'], 'body_too_large')
  t.match(JSON.parse(declared.body), { error: 'body_too_large', upstream: 'small' })
  // Chunked: the limit is found while reading.
  const streamed = await new Promise<number>((resolve, reject) => {
    const req = httpModule.request(`${bed.url.small}/x`, { method: 'PUT' }, (res) => { res.resume(); resolve(res.statusCode!) })
    req.on('error', reject)
    for (let i = 0; i < 4; i++) req.write(Buffer.alloc(512, 2))
    req.end()
  })
  t.equal(streamed, 413)
  // Exactly at the limit is fine.
  t.equal((await request(`${bed.url.small}/x`, { method: 'POST', body: Buffer.alloc(1024, 3) })).status, 200)
  for (const pod of pods) t.equal(pod.requests, 1, `${pod.name} saw only the request within the limit`)

  bed.dns.remove(SERVICE)
  await waitFor(() => upstream.endpointCount === 0, 3000, 'pods gone')
  const none = await request(`${bed.url.small}/x`, { method: 'DELETE' })
  t.equal(none.status, 503)
  t.equal(none.headers['x-spoke-error'], 'no_endpoints')
  t.match(envelope(none.body), { upstream: 'small', outcome: 'no_endpoints', endpoints: 0, succeeded: 0, failed: 0, responses: [] })
  const metrics = await request(`${bed.admin}/metrics`)
  t.match(metrics.body, /spoke_broadcasts_total\{upstream="small",outcome="no_endpoints"\} 1\n/)
  t.match(metrics.body, /spoke_requests_total\{listener="small",upstream="small",code="413"\} 2\n/)
})

t.test('a client that goes away right after sending: every pod still gets the request, and it is counted', async (t) => {
  const { pods, bed } = await podsBehindSpoke(t, 3, [{ name: 'orders' }])
  for (const p of pods) p.behaviour = { delayMs: 100 }
  const upstream = bed.spoke.upstreams.get('orders')!
  const port = Number(new URL(bed.url.orders).port)
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.end('DELETE /cache/key-1 HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nkey-1')
      socket.destroy()
      resolve()
    })
  })
  await waitFor(() => pods.every((p) => p.requests === 1), 2000, 'every pod received the invalidation')
  for (const pod of pods) t.equal(pod.received[0].body.toString(), 'key-1')
  await waitFor(() => upstream.stats.broadcasts.success === 1, 2000, 'the broadcast completed')
  const metrics = await request(`${bed.admin}/metrics`)
  t.match(metrics.body, /spoke_requests_total\{listener="orders",upstream="orders",code="499"\} 1\n/)
  t.match(metrics.body, /spoke_broadcasts_total\{upstream="orders",outcome="success"\} 1\n/)

  // Gone before the body was complete: nothing is sent anywhere.
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write('DELETE /cache/key-2 HTTP/1.1\r\nhost: x\r\ncontent-length: 50\r\n\r\nkey-2')
      setTimeout(() => { socket.destroy(); resolve() }, 50)
    })
  })
  await new Promise((r) => setTimeout(r, 200))
  for (const pod of pods) t.equal(pod.requests, 1, `${pod.name} never saw the incomplete request`)
  t.equal(upstream.inFlight, 0)
})

t.test('200 broadcasts in a row leave nothing in flight and no growing connection count', async (t) => {
  const { pods, bed } = await podsBehindSpoke(t, 3, [{ name: 'orders', broadcast: { includeBodies: true } }], { record: false })
  const upstream = bed.spoke.upstreams.get('orders')!
  const agent = new httpModule.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  let ok = 0
  for (let i = 0; i < 200; i++) {
    // A streamed answer spoke must read to the end (and cut at 64 KiB for the envelope).
    const answer = await request(`${bed.url.orders}/stream?chunks=${i % 2 === 0 ? 1 : 20}&size=8192`, { agent })
    if (answer.status === 200) ok++
    if (i === 1) {
      const env = envelope(answer.body)
      t.equal(env.responses[0].body!.length, 64 * 1024, 'a body is cut at 64 KiB')
      t.equal(env.responses[0].bodyTruncated, true)
    }
  }
  t.equal(ok, 200)
  t.equal(upstream.inFlight, 0, 'no broadcast in flight')
  for (const e of upstream.endpoints) {
    t.equal(e.inFlight, 0, `${e.key}: no copy in flight`)
    t.equal(e.connections, 1, `${e.key}: still the one long-lived connection`)
  }
  for (const pod of pods) t.equal(pod.connections, 1, `${pod.name}: one TCP connection for 200 broadcasts`)
})

t.test('SRV host names appear in the envelope', async (t) => {
  const dns = await startDnsServer()
  const pods = await startPods(2)
  const names = pods.map((_p, i) => `orders-${i}.orders.default.svc.cluster.local`)
  dns.setSrv(`_http._tcp.${SERVICE}`, pods.map((p, i) => ({ target: names[i], port: p.port })), 30)
  pods.forEach((p, i) => dns.setA(names[i], [p.host], 30))
  const bed = await startSpoke(dns, 0, [{ name: 'orders', port: undefined, portName: 'http' }])
  t.teardown(async () => {
    await bed.close()
    await Promise.all(pods.map((p) => p.close()))
    await dns.close()
  })
  await waitFor(() => bed.spoke.upstreams.get('orders')!.endpointCount === 2, 2000, 'pods discovered')
  const env = envelope((await request(`${bed.url.orders}/x`)).body)
  t.strictSame(env.responses.map((r) => r.hostname), names)
})

t.test('h2c: an HTTP/2 app broadcasts to h2c pods; gRPC and upgrades are refused', async (t) => {
  const dns = await startDnsServer()
  const seen: { pod: number; path: string; body: string; id: string }[] = []
  const pods = await onOnePort(3, 2, (host, port, i) => new Promise<{ close(): Promise<void>; host: string; port: number }>((resolve, reject) => {
    const server = http2.createServer()
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        seen.push({ pod: i, path: String(headers[':path']), body: Buffer.concat(chunks).toString(), id: String(headers['x-spoke-broadcast-id']) })
        stream.respond({ ':status': i === 0 ? 204 : 200 })
        stream.end(i === 0 ? undefined : `pod ${i}`)
      })
    })
    server.once('error', reject)
    server.listen(port, host, () => resolve({ host, port, close: () => new Promise<void>((r) => server.close(() => r())) }))
  }))
  dns.setA(SERVICE, pods.map((p) => p.host), 30)
  const bed = await startSpoke(dns, pods[0].port, [{ name: 'orders', protocol: 'h2c', broadcast: { require: 'quorum', includeBodies: true } }])
  const client = http2.connect(bed.url.orders)
  t.teardown(async () => {
    client.close()
    await bed.close()
    await Promise.all(pods.map((p) => p.close()))
    await dns.close()
  })
  await waitFor(() => bed.spoke.upstreams.get('orders')!.endpointCount === 3, 2000, 'pods discovered')
  const call = (headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> => new Promise((resolve, reject) => {
    const stream = client.request(headers, { endStream: body === undefined })
    const chunks: Buffer[] = []
    let head: http2.IncomingHttpHeaders = {}
    stream.on('response', (h) => { head = h })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve({ headers: head, body: Buffer.concat(chunks).toString() }))
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
  const answer = await call({ ':method': 'POST', ':path': '/flush?all=1' }, 'payload')
  t.equal(answer.headers[':status'], 200)
  const env = envelope(answer.body)
  t.match(env, { require: 'quorum', outcome: 'success', endpoints: 3, succeeded: 3 })
  t.strictSame(env.responses.map((r) => [r.status, r.body]), [[204, ''], [200, 'pod 1'], [200, 'pod 2']])
  t.equal(seen.length, 3)
  for (const s of seen) t.match(s, { path: '/flush?all=1', body: 'payload', id: env.broadcastId })

  // Over maxBodySize (1 MiB by default): the 413 reaches the HTTP/2 client whole, nothing is sent.
  const big = await call({ ':method': 'POST', ':path': '/x' }, 'x'.repeat(3 * 1024 * 1024))
  t.equal(big.headers[':status'], 413)
  t.equal(big.headers['x-spoke-error'], 'body_too_large')
  t.equal(seen.length, 3, 'nothing sent for the oversized body')

  const grpc = await call({ ':method': 'POST', ':path': '/a.B/C', 'content-type': 'application/grpc' }, '')
  t.equal(grpc.headers['grpc-status'], '3', 'gRPC: INVALID_ARGUMENT')
  t.equal(grpc.headers['x-spoke-error'], 'bad_request')
  t.equal(seen.length, 3, 'nothing sent for the refused call')

  const upgrade = await new Promise<string>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(bed.url.orders).port) }, () => {
      socket.write('GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n')
    })
    let text = ''
    socket.on('data', (c: Buffer) => { text += c.toString() })
    socket.on('close', () => resolve(text))
  })
  t.match(upgrade, /^HTTP\/1\.1 400 /)
  t.match(upgrade, /x-spoke-error: bad_request/)
})
