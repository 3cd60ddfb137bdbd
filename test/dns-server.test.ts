import dgram from 'node:dgram'
import dns from 'node:dns'
import { once } from 'node:events'
import t from 'tap'
import { startDnsServer, type DnsServer } from '../src/demo/dns-server.ts'

const NAME = 'orders.default.svc.cluster.local'

interface Teardown {
  teardown(fn: () => unknown): void
}

async function setup(tt: Teardown): Promise<{ server: DnsServer; resolver: dns.promises.Resolver }> {
  const server = await startDnsServer()
  tt.teardown(() => server.close())
  const resolver = new dns.promises.Resolver({ timeout: 200, tries: 1 })
  resolver.setServers([`127.0.0.1:${server.address.port}`])
  return { server, resolver }
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return 'resolved'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code
  }
}

// ---- a raw client, to see the wire format c-ares hides ----

function encodeName(name: string): Buffer {
  const parts = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, 'latin1')])
  return Buffer.concat([...parts, Buffer.from([0])])
}

function rawQuery(id: number, name: string, type: number, { rd = true, opt = false } = {}): Buffer {
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  header.writeUInt16BE(rd ? 0x0100 : 0, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(opt ? 1 : 0, 10)
  const q = Buffer.alloc(4)
  q.writeUInt16BE(type, 0)
  q.writeUInt16BE(1, 2)
  // OPT: root name, type 41, class = UDP size 1232, ttl 0, rdlen 0
  const edns = opt ? Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]) : Buffer.alloc(0)
  return Buffer.concat([header, encodeName(name), q, edns])
}

async function rawClient(tt: Teardown, port: number) {
  const sock = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
  tt.teardown(() => sock.close())
  const replies: Buffer[] = []
  sock.on('message', (m) => replies.push(m))
  return {
    replies,
    send: (b: Buffer) => new Promise<void>((resolve) => sock.send(b, port, '127.0.0.1', () => resolve())),
    next: async (): Promise<Buffer> => {
      const [m] = (await once(sock, 'message', { signal: AbortSignal.timeout(2000) })) as [Buffer]
      return m
    },
  }
}

t.test('answers A with TTL, case-insensitively, with or without the trailing dot', async (t) => {
  const { server, resolver } = await setup(t)
  server.setA('Orders.Default.svc.cluster.local.', ['10.0.0.2', '10.0.0.1'], 7)
  t.same(await resolver.resolve4(NAME, { ttl: true }), [
    { address: '10.0.0.2', ttl: 7 },
    { address: '10.0.0.1', ttl: 7 },
  ])
  t.same(await resolver.resolve4('ORDERS.default.svc.cluster.local.'), ['10.0.0.2', '10.0.0.1'])
  t.equal(server.queryCount(NAME, 'A'), 2)
  t.equal(server.queryCount(NAME + '.', 'a'), 2)
  t.equal(server.queries.get(`${NAME}/A`), 2)
  server.setA(NAME, ['10.0.0.9'])
  t.same(await resolver.resolve4(NAME, { ttl: true }), [{ address: '10.0.0.9', ttl: 5 }], 'replaced, default TTL 5')
})

t.test('answers AAAA', async (t) => {
  const { server, resolver } = await setup(t)
  server.setAAAA(NAME, ['::1', '2001:db8::ffff:1.2.3.4', 'fe80::1:2:3:4:5:6', '1:2:3:4:5:6:7:8'], 30)
  t.same(await resolver.resolve6(NAME, { ttl: true }), [
    { address: '::1', ttl: 30 },
    { address: '2001:db8::ffff:102:304', ttl: 30 },
    { address: 'fe80:0:1:2:3:4:5:6', ttl: 30 },
    { address: '1:2:3:4:5:6:7:8', ttl: 30 },
  ])
  t.throws(() => server.setAAAA(NAME, ['10.0.0.1']), TypeError)
  t.throws(() => server.setA(NAME, ['::1']), TypeError)
})

t.test('answers SRV, and over TCP when the answer does not fit 512 bytes', async (t) => {
  const { server, resolver } = await setup(t)
  const srv = `_http._tcp.${NAME}`
  server.setSrv(srv, [
    { target: 'web-0.web.default.svc.cluster.local', port: 8080 },
    { target: 'web-1.web.default.svc.cluster.local.', port: 8081, priority: 1, weight: 50 },
  ])
  const two = await resolver.resolveSrv(srv)
  t.equal(two.length, 2)
  t.match(two, [
    { name: 'web-0.web.default.svc.cluster.local', port: 8080, priority: 0, weight: 0 },
    { name: 'web-1.web.default.svc.cluster.local', port: 8081, priority: 1, weight: 50 },
  ])
  const many = Array.from({ length: 30 }, (_, i) => ({ target: `web-${i}.web.default.svc.cluster.local`, port: 9000 + i }))
  server.setSrv(srv, many)
  const got = await resolver.resolveSrv(srv)
  t.equal(got.length, 30)
  t.same(got.map((r) => r.port).sort(), many.map((r) => r.port).sort())
  t.equal(server.queryCount(srv, 'SRV'), 3, 'the truncated UDP query and its TCP retry both count')
})

t.test('unknown name is NXDOMAIN; a name without records of the type is NODATA', async (t) => {
  const { server, resolver } = await setup(t)
  server.setA(NAME, ['10.0.0.1'])
  server.setSrv(`_http._tcp.web.${NAME}`, [{ target: 'a.example', port: 1 }])
  server.setA('empty.example', [])
  t.equal(await code(resolver.resolve4('missing.example')), 'ENOTFOUND')
  t.equal(await code(resolver.resolve6(NAME)), 'ENODATA')
  t.equal(await code(resolver.resolveSrv(NAME)), 'ENODATA')
  t.equal(await code(resolver.resolve4('empty.example')), 'ENODATA', 'an empty set still makes the name exist')
  t.equal(await code(resolver.resolve4(`_tcp.web.${NAME}`)), 'ENODATA', 'empty non-terminal')
  t.equal(await code(resolver.resolve4(`x.web.${NAME}`)), 'ENOTFOUND')
  server.remove(NAME + '.')
  t.equal(await code(resolver.resolve4(NAME)), 'ENODATA', 'names below it keep it existing')
  server.remove(`_http._tcp.web.${NAME}`)
  t.equal(await code(resolver.resolve4(NAME)), 'ENOTFOUND')
})

t.test('servfail, refused and drop, per name, per type and for all', async (t) => {
  const { server, resolver } = await setup(t)
  server.setA(NAME, ['10.0.0.1'])
  server.setAAAA(NAME, ['::1'])
  server.setA('other.example', ['10.0.0.2'])
  server.setBehaviour(NAME, 'servfail')
  t.equal(await code(resolver.resolve4(NAME)), 'ESERVFAIL')
  t.same(await resolver.resolve4('other.example'), ['10.0.0.2'], 'other names unaffected')
  server.setBehaviour(NAME, 'refused')
  t.equal(await code(resolver.resolve4(NAME)), 'EREFUSED')
  server.setBehaviour(NAME, 'normal')
  server.setBehaviour(NAME, 'servfail', 'AAAA')
  t.same(await resolver.resolve4(NAME), ['10.0.0.1'])
  t.equal(await code(resolver.resolve6(NAME)), 'ESERVFAIL')

  server.setBehaviour('*', 'drop')
  const started = performance.now()
  t.equal(await code(resolver.resolve4('other.example')), 'ETIMEOUT', 'a dead server: the client times out')
  t.ok(performance.now() - started >= 150, 'after waiting for it')
  t.equal(server.queryCount('other.example', 'A'), 2, 'the dropped query was received and counted')
  t.same(await resolver.resolve4(NAME), ['10.0.0.1'], 'a name behaviour wins over *')
  server.setBehaviour('*', 'normal')
  t.same(await resolver.resolve4('other.example'), ['10.0.0.2'])
})

t.test('emits a query event for each query', async (t) => {
  const { server, resolver } = await setup(t)
  server.setA(NAME, ['10.0.0.1'])
  const seen = once(server, 'query')
  await resolver.resolve4(NAME)
  t.same(await seen, [{ name: NAME, type: 'A', behaviour: 'normal' }])
})

t.test('wire format: flags, compression pointer, uncompressed SRV target, no OPT echoed', async (t) => {
  const { server } = await setup(t)
  server.setA(NAME, ['10.1.2.3'], 42)
  server.setSrv(`_http._tcp.${NAME}`, [{ target: 'web-0.web', port: 8080, priority: 3, weight: 4 }])
  const client = await rawClient(t, server.address.port)

  await client.send(rawQuery(0x1234, 'ORDERS.default.svc.cluster.local', 1, { rd: true, opt: true }))
  let m = await client.next()
  t.equal(m.readUInt16BE(0), 0x1234, 'id')
  const flags = m.readUInt16BE(2)
  t.equal(flags & 0x8000, 0x8000, 'QR')
  t.equal(flags & 0x0400, 0x0400, 'AA')
  t.equal(flags & 0x0100, 0x0100, 'RD copied')
  t.equal(flags & 0x0200, 0, 'not truncated')
  t.equal(flags & 0xf, 0, 'NOERROR')
  t.same([m.readUInt16BE(4), m.readUInt16BE(6), m.readUInt16BE(8), m.readUInt16BE(10)], [1, 1, 0, 0], 'no OPT echoed')
  const qname = encodeName('ORDERS.default.svc.cluster.local')
  t.same(m.subarray(12, 12 + qname.length), qname, 'question echoed with its case')
  const an = 12 + qname.length + 4
  t.equal(m.readUInt16BE(an), 0xc00c, 'answer owner points at the question')
  t.same([m.readUInt16BE(an + 2), m.readUInt16BE(an + 4), m.readUInt32BE(an + 6), m.readUInt16BE(an + 10)], [1, 1, 42, 4])
  t.same([...m.subarray(an + 12, an + 16)], [10, 1, 2, 3])
  t.equal(m.length, an + 16)

  await client.send(rawQuery(7, `_http._tcp.${NAME}`, 33, { rd: false }))
  m = await client.next()
  t.equal(m.readUInt16BE(2) & 0x0100, 0, 'RD clear when the query had it clear')
  const san = 12 + encodeName(`_http._tcp.${NAME}`).length + 4
  t.equal(m.readUInt16BE(san + 2), 33)
  const rdata = m.subarray(san + 12, san + 12 + m.readUInt16BE(san + 10))
  t.same([rdata.readUInt16BE(0), rdata.readUInt16BE(2), rdata.readUInt16BE(4)], [3, 4, 8080])
  t.same(rdata.subarray(6), encodeName('web-0.web'), 'target as plain labels')

  await client.send(rawQuery(8, 'missing.example', 1))
  m = await client.next()
  t.equal(m.readUInt16BE(2) & 0xf, 3, 'NXDOMAIN')
  t.equal(m.readUInt16BE(2) & 0x0400, 0x0400, 'authoritative')
})

t.test('malformed packets are ignored and the server keeps answering', async (t) => {
  const { server } = await setup(t)
  server.setA(NAME, ['10.1.2.3'])
  const client = await rawClient(t, server.address.port)
  const good = rawQuery(99, NAME, 1)
  const selfPointer = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])])
  const forwardPointer = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 20, 0, 1, 0, 1, 0, 0, 1, 0x61, 0])])
  const labelPastEnd = Buffer.concat([good.subarray(0, 12), Buffer.from([40, 0x61, 0x62])])
  const noQtype = Buffer.from(good.subarray(0, good.length - 3))
  const badLabelType = Buffer.concat([good.subarray(0, 12), Buffer.from([0x40, 0, 0, 1, 0, 1])])
  const longName = Buffer.concat([good.subarray(0, 12), ...Array(5).fill(encodeName('a'.repeat(63)).subarray(0, 64)), Buffer.from([0, 0, 1, 0, 1])])
  const response = Buffer.from(good)
  response.writeUInt16BE(0x8100, 2)
  for (const bad of [Buffer.alloc(0), Buffer.from([1, 2, 3]), selfPointer, forwardPointer, labelPastEnd, noQtype, badLabelType, longName, response]) {
    if (bad.length >= 2) bad.writeUInt16BE(1, 0) // any answer would carry this id
    await client.send(bad)
  }
  await client.send(good)
  const m = await client.next()
  t.equal(m.readUInt16BE(0), 99, 'only the good query got an answer')
  await new Promise((r) => setTimeout(r, 50))
  t.equal(client.replies.length, 1)

  const header = Buffer.from(good.subarray(0, 12))
  header.writeUInt16BE(2, 4) // two questions: not a standard query, FORMERR
  await client.send(Buffer.concat([header, encodeName(NAME), Buffer.from([0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1])]))
  const formerr = await client.next()
  t.equal(formerr.readUInt16BE(2) & 0xf, 1, 'FORMERR for two questions')
  t.equal(formerr.readUInt16BE(4), 0)
})
