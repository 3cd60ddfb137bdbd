// DnsDiscovery against the real DNS server over UDP: what each kind of answer becomes.
import t from 'tap'
import { startDnsServer, type DnsServer } from '../src/demo/dns-server.ts'
import { DnsDiscovery, type DnsDiscoveryOptions } from '../src/discovery/dns.ts'
import type { DiscoveryUpdate } from '../src/discovery/types.ts'

const NAME = 'orders.default.svc.cluster.local'
const WEB = 'web.default.svc.cluster.local'
const NOW = Date.UTC(2026, 10, 22, 10, 0, 0)

interface Teardown {
  teardown(fn: () => unknown): void
}

/** Updates in arrival order; next() fails the test rather than hanging when none comes. */
function updateQueue() {
  const queue: DiscoveryUpdate[] = []
  const all: DiscoveryUpdate[] = []
  let waiter: ((u: DiscoveryUpdate) => void) | null = null
  return {
    all,
    onUpdate(u: DiscoveryUpdate): void {
      all.push(u)
      if (waiter === null) queue.push(u)
      else waiter(u)
    },
    next(ms = 5000): Promise<DiscoveryUpdate> {
      const queued = queue.shift()
      if (queued !== undefined) return Promise.resolve(queued)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null
          reject(new Error(`no discovery update within ${ms}ms`))
        }, ms)
        waiter = (u) => {
          waiter = null
          clearTimeout(timer)
          resolve(u)
        }
      })
    },
  }
}

async function setup(tt: Teardown, opts: Partial<DnsDiscoveryOptions> = {}, server?: DnsServer) {
  const dns = server ?? (await startDnsServer())
  if (server === undefined) tt.teardown(() => dns.close())
  const updates = updateQueue()
  const discovery = new DnsDiscovery({
    service: NAME,
    port: 8080,
    portName: null,
    family: 'ipv4',
    refreshMs: 60_000,
    minRefreshMs: 50,
    servers: [dns.address],
    timeoutMs: 1000,
    onUpdate: updates.onUpdate,
    now: () => NOW,
    ...opts,
  })
  tt.teardown(() => discovery.close())
  return { dns, discovery, updates }
}

/** Runs one discovery query against `dns` as set up, and returns its update. */
async function discover(tt: Teardown, dns: DnsServer, opts: Partial<DnsDiscoveryOptions> = {}) {
  const { discovery, updates } = await setup(tt, opts, dns)
  discovery.start()
  const update = await updates.next()
  discovery.close()
  return { update, lastQuery: discovery.lastQuery }
}

async function server(tt: Teardown): Promise<DnsServer> {
  const dns = await startDnsServer()
  tt.teardown(() => dns.close())
  return dns
}

t.test('A records become endpoints, sorted and deduplicated', async (t) => {
  const { dns, discovery, updates } = await setup(t)
  dns.setA(NAME, ['10.0.0.10', '10.0.0.9', '10.0.0.10', '10.0.0.100'])
  dns.setAAAA(NAME, ['::1'])
  t.equal(discovery.lastQuery, null, 'no query completed before start')
  discovery.start()
  t.same(await updates.next(), {
    kind: 'reset',
    endpoints: [
      { address: '10.0.0.9', port: 8080, hostname: null },
      { address: '10.0.0.10', port: 8080, hostname: null },
      { address: '10.0.0.100', port: 8080, hostname: null },
    ],
  })
  t.same(discovery.lastQuery, { at: new Date(NOW), result: 'success' })
  t.same(discovery.lastSuccess, new Date(NOW))
  t.same(discovery.counts, { success: 1, empty: 0, error: 0 })
  t.equal(dns.queryCount(NAME, 'AAAA'), 0, 'ipv4 asks A only')

  dns.remove(NAME)
  discovery.requestRefresh()
  t.same(await updates.next(), { kind: 'empty' })
  dns.setBehaviour(NAME, 'servfail')
  discovery.requestRefresh()
  t.equal((await updates.next()).kind, 'error')
  t.same(discovery.counts, { success: 1, empty: 1, error: 1 })
  t.same(discovery.lastSuccess, new Date(NOW), 'still the last success')
})

t.test('family ipv6 asks AAAA only', async (t) => {
  const dns = await server(t)
  dns.setA(NAME, ['10.0.0.1'])
  dns.setAAAA(NAME, ['2001:db8::2', '::1'])
  const { update } = await discover(t, dns, { family: 'ipv6' })
  t.same(update, {
    kind: 'reset',
    endpoints: [
      { address: '::1', port: 8080, hostname: null },
      { address: '2001:db8::2', port: 8080, hostname: null },
    ],
  })
  t.equal(dns.queryCount(NAME, 'A'), 0)
})

t.test('family auto combines A and AAAA, IPv4 first', async (t) => {
  const dns = await server(t)
  dns.setA(NAME, ['10.0.0.1'])
  dns.setAAAA(NAME, ['::1'])
  const { update } = await discover(t, dns, { family: 'auto' })
  t.same(update, {
    kind: 'reset',
    endpoints: [
      { address: '10.0.0.1', port: 8080, hostname: null },
      { address: '::1', port: 8080, hostname: null },
    ],
  })
  t.equal(dns.queryCount(NAME, 'A'), 1)
  t.equal(dns.queryCount(NAME, 'AAAA'), 1)

  dns.setAAAA(NAME, [])
  t.same((await discover(t, dns, { family: 'auto' })).update, {
    kind: 'reset',
    endpoints: [{ address: '10.0.0.1', port: 8080, hostname: null }],
  }, 'one family empty')
})

t.test('family auto: addresses of one family win over an error of the other', async (t) => {
  const dns = await server(t)
  dns.setA(NAME, ['10.0.0.1'])
  dns.setAAAA(NAME, ['::1'])
  dns.setBehaviour(NAME, 'servfail', 'AAAA')
  t.same((await discover(t, dns, { family: 'auto' })).update, {
    kind: 'reset',
    endpoints: [{ address: '10.0.0.1', port: 8080, hostname: null }],
  })

  dns.setA(NAME, [])
  const { update, lastQuery } = await discover(t, dns, { family: 'auto' })
  t.equal(update.kind, 'error', 'one empty and one failed is an error: keep the last set')
  t.equal(lastQuery?.result, 'error')

  dns.setBehaviour(NAME, 'normal', 'AAAA')
  dns.setAAAA(NAME, [])
  t.same((await discover(t, dns, { family: 'auto' })).update, { kind: 'empty' }, 'both empty')
})

t.test('SRV: one endpoint per target and port, with host names', async (t) => {
  const dns = await server(t)
  dns.setSrv(`_http._tcp.${WEB}`, [
    { target: `web-0.${WEB}.`, port: 8080 },
    { target: `web-1.${WEB}`, port: 8081 },
    { target: `web-2.${WEB}`, port: 8082 }, // not in DNS (yet): skipped
    { target: `WEB-0.${WEB}`, port: 9090 },
  ])
  dns.setA(`web-0.${WEB}`, ['10.1.0.7'])
  dns.setA(`web-1.${WEB}`, ['10.1.0.3'])
  const { update, lastQuery } = await discover(t, dns, { service: WEB, port: null, portName: 'http' })
  t.same(update, {
    kind: 'reset',
    endpoints: [
      { address: '10.1.0.3', port: 8081, hostname: `web-1.${WEB}` },
      { address: '10.1.0.7', port: 8080, hostname: `web-0.${WEB}` },
      { address: '10.1.0.7', port: 9090, hostname: `web-0.${WEB}` },
    ],
  })
  t.equal(lastQuery?.result, 'success')
  t.equal(dns.queryCount(`web-0.${WEB}`, 'A'), 1, 'each distinct target asked once')
  t.equal(dns.queryCount(`web-2.${WEB}`, 'A'), 1)
})

t.test('SRV with IPv6 targets under family auto', async (t) => {
  const dns = await server(t)
  dns.setSrv(`_grpc._tcp.${WEB}`, [
    { target: `web-0.${WEB}`, port: 50051 },
    { target: `web-1.${WEB}`, port: 50051 },
  ])
  dns.setAAAA(`web-0.${WEB}`, ['::1'])
  dns.setA(`web-1.${WEB}`, ['127.0.0.3'])
  const { update } = await discover(t, dns, { service: WEB, port: null, portName: 'grpc', family: 'auto' })
  t.same(update, {
    kind: 'reset',
    endpoints: [
      { address: '127.0.0.3', port: 50051, hostname: `web-1.${WEB}` },
      { address: '::1', port: 50051, hostname: `web-0.${WEB}` },
    ],
  })
})

t.test('SRV: no record, or no target resolving, is empty; a target failing is an error', async (t) => {
  const dns = await server(t)
  const opts = { service: WEB, port: null, portName: 'http' }
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'NXDOMAIN')
  dns.setSrv(`_http._tcp.${WEB}`, [{ target: `web-0.${WEB}`, port: 8080 }])
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'target NXDOMAIN')
  dns.setA(`web-0.${WEB}`, [])
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'target NODATA')
  dns.setSrv(`_http._tcp.${WEB}`, [])
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'SRV NODATA')

  dns.setSrv(`_http._tcp.${WEB}`, [
    { target: `web-0.${WEB}`, port: 8080 },
    { target: `web-1.${WEB}`, port: 8080 },
  ])
  dns.setA(`web-0.${WEB}`, ['10.1.0.7'])
  dns.setA(`web-1.${WEB}`, ['10.1.0.8'])
  dns.setBehaviour(`web-1.${WEB}`, 'servfail')
  const { update } = await discover(t, dns, opts)
  t.equal(update.kind, 'error', 'a partial set would drop a live pod')
})

t.test('NXDOMAIN and NODATA are empty', async (t) => {
  const dns = await server(t)
  let r = await discover(t, dns)
  t.same(r.update, { kind: 'empty' })
  t.same(r.lastQuery, { at: new Date(NOW), result: 'empty' })
  dns.setAAAA(NAME, ['::1'])
  r = await discover(t, dns)
  t.same(r.update, { kind: 'empty' }, 'NODATA')
  dns.setA(NAME, [])
  r = await discover(t, dns)
  t.same(r.update, { kind: 'empty' }, 'empty answer')
})

t.test('SERVFAIL and REFUSED are errors', async (t) => {
  const dns = await server(t)
  dns.setA(NAME, ['10.0.0.1'])
  dns.setBehaviour(NAME, 'servfail')
  let r = await discover(t, dns)
  t.equal(r.update.kind, 'error')
  t.match(r.update, { error: { code: 'ESERVFAIL' } })
  t.same(r.lastQuery, { at: new Date(NOW), result: 'error' })
  dns.setBehaviour(NAME, 'refused')
  r = await discover(t, dns)
  t.match(r.update, { kind: 'error', error: { code: 'EREFUSED' } })
})

t.test('a dead server is an error within timeoutMs', async (t) => {
  const dns = await server(t)
  dns.setA(NAME, ['10.0.0.1'])
  dns.setBehaviour('*', 'drop')
  for (const timeoutMs of [300, 1000]) {
    const started = performance.now()
    const { update } = await discover(t, dns, { timeoutMs })
    const elapsed = performance.now() - started
    t.match(update, { kind: 'error', error: { code: 'ETIMEOUT' } }, `timeout ${timeoutMs}`)
    t.ok(elapsed <= timeoutMs + 250, `took ${Math.round(elapsed)}ms, within ${timeoutMs}ms + slack`)
    t.ok(elapsed >= timeoutMs * 0.4, `but waited (${Math.round(elapsed)}ms)`)
  }
})

t.test('the timeout covers the whole SRV lookup, target queries included', async (t) => {
  const dns = await server(t)
  dns.setSrv(`_http._tcp.${WEB}`, [{ target: `web-0.${WEB}`, port: 8080 }])
  dns.setA(`web-0.${WEB}`, ['10.1.0.7'])
  dns.setBehaviour('*', 'drop', 'A')
  const started = performance.now()
  const { update } = await discover(t, dns, { service: WEB, port: null, portName: 'http', timeoutMs: 400 })
  const elapsed = performance.now() - started
  t.match(update, { kind: 'error', error: { code: 'ETIMEOUT' } })
  t.ok(elapsed <= 400 + 250, `took ${Math.round(elapsed)}ms`)
  t.equal(dns.queryCount(`_http._tcp.${WEB}`, 'SRV'), 1)
})

t.test('needs exactly one of port and portName', async (t) => {
  const base = {
    service: NAME, family: 'auto', refreshMs: 5000, minRefreshMs: 1000, servers: [], timeoutMs: 2000, onUpdate: () => {},
  } as const
  t.throws(() => new DnsDiscovery({ ...base, port: 80, portName: 'http' }), TypeError)
  t.throws(() => new DnsDiscovery({ ...base, port: null, portName: null }), TypeError)
  const system = new DnsDiscovery({ ...base, port: 80, portName: null })
  system.close()
  t.equal(system.lastQuery, null, 'the system resolver is used when no servers are given')
})
