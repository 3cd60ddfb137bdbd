// DnsDiscovery against the real DNS server over UDP: what each kind of answer becomes.
import t from 'tap'
import { startDnsServer, type DnsServer } from '../src/demo/dns-server.ts'
import { DnsDiscovery, type DnsDiscoveryOptions } from '../src/discovery/dns.ts'
import { MAX_QUERIES_IN_FLIGHT } from '../src/discovery/lookup.ts'
import type { DiscoveryUpdate } from '../src/discovery/types.ts'
import { startDnsQueue } from './helpers/dns-queue.ts'

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

t.test('SRV: no record, or no target resolving, is empty', async (t) => {
  const dns = await server(t)
  const opts = { service: WEB, port: null, portName: 'http' }
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'NXDOMAIN')
  dns.setSrv(`_http._tcp.${WEB}`, [{ target: `web-0.${WEB}`, port: 8080 }])
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'target NXDOMAIN')
  dns.setA(`web-0.${WEB}`, [])
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'target NODATA')
  dns.setSrv(`_http._tcp.${WEB}`, [])
  t.same((await discover(t, dns, opts)).update, { kind: 'empty' }, 'SRV NODATA')
})

t.test('SRV: a failed target keeps its last address, a new one waits, none empties the set', async (t) => {
  const { dns, discovery, updates } = await setup(t, { service: WEB, port: null, portName: 'http', timeoutMs: 300 })
  const srv = (ordinals: number[]) => dns.setSrv(`_http._tcp.${WEB}`, ordinals.map((o) => ({ target: `web-${o}.${WEB}`, port: 8080 })))
  const pod = (o: number, address: string) => ({ address, port: 8080, hostname: `web-${o}.${WEB}` })
  /** The next update after asking again (a failed target also brings the next query forward by itself). */
  const next = async () => {
    discovery.requestRefresh()
    return updates.next()
  }
  /** A reset with exactly these endpoints, and failures like `failed` (null: none reported). */
  const isReset = (u: DiscoveryUpdate, endpoints: unknown[], failed: object | null, what: string) => {
    t.same(u.kind === 'reset' ? u.endpoints : u, endpoints, what)
    if (failed === null) t.equal(u.kind === 'reset' ? u.failed : u, undefined, `${what}: no failures reported`)
    else t.match(u.kind === 'reset' ? u.failed : u, failed, `${what}: failures`)
  }
  srv([0, 1])
  dns.setA(`web-0.${WEB}`, ['10.1.0.1'])
  dns.setA(`web-1.${WEB}`, ['10.1.0.2'])
  discovery.start()
  t.same(await updates.next(), { kind: 'reset', endpoints: [pod(0, '10.1.0.1'), pod(1, '10.1.0.2')] })

  // web-1 moves, but its query fails: its last answer stands, web-0 still follows DNS.
  dns.setA(`web-0.${WEB}`, ['10.1.0.9'])
  dns.setA(`web-1.${WEB}`, ['10.1.0.3'])
  dns.setBehaviour(`web-1.${WEB}`, 'servfail')
  isReset(await next(), [pod(1, '10.1.0.2'), pod(0, '10.1.0.9')], { kept: 1, waiting: 0, error: { code: 'ESERVFAIL' } }, 'kept at its last address')
  t.same(discovery.lastQuery?.result, 'success', 'a set was found: counted as success')

  // A target never resolved has nothing to keep: it waits, and the others are not held back.
  srv([0, 1, 2])
  dns.setA(`web-2.${WEB}`, ['10.1.0.4'])
  dns.setBehaviour(`web-2.${WEB}`, 'servfail')
  isReset(await next(), [pod(1, '10.1.0.2'), pod(0, '10.1.0.9')], { kept: 1, waiting: 1 }, 'new failing target left out')

  // Silence (a lost answer, the lookup's deadline) is a failure like SERVFAIL.
  dns.setBehaviour(`web-1.${WEB}`, 'drop')
  dns.setBehaviour(`web-2.${WEB}`, 'normal')
  isReset(await next(), [pod(1, '10.1.0.2'), pod(2, '10.1.0.4'), pod(0, '10.1.0.9')], { kept: 1, waiting: 0, error: { code: 'ETIMEOUT' } },
    'a target still silent at the deadline keeps its address; the others count')

  // Every target failing says nothing about the pods: an error, the last set stays.
  for (const o of [0, 1, 2]) dns.setBehaviour(`web-${o}.${WEB}`, 'servfail')
  t.match(await next(), { kind: 'error', error: { code: 'ESERVFAIL' } }, 'no target answered')

  // web-0 gone for good (NXDOMAIN) and the only other target new and failing: not empty.
  srv([0, 3])
  dns.setBehaviour(`web-0.${WEB}`, 'normal')
  dns.remove(`web-0.${WEB}`)
  dns.setBehaviour(`web-3.${WEB}`, 'servfail')
  t.match(await next(), { kind: 'error', error: { code: 'ESERVFAIL' } }, 'one failed target never empties the set')

  // Leaving the SRV answer forgets a target: back later with a failing query, it is new and waits.
  srv([1, 2])
  dns.setBehaviour(`web-1.${WEB}`, 'normal')
  dns.setBehaviour(`web-2.${WEB}`, 'normal')
  isReset(await next(), [pod(1, '10.1.0.3'), pod(2, '10.1.0.4')], null, 'all answered')
  srv([2])
  isReset(await next(), [pod(2, '10.1.0.4')], null, 'web-1 left')
  srv([1, 2])
  dns.setBehaviour(`web-1.${WEB}`, 'servfail')
  isReset(await next(), [pod(2, '10.1.0.4')], { kept: 0, waiting: 1 }, 'forgotten when it left')
})

t.test('SRV: an empty SRV answer forgets every target', async (t) => {
  const { dns, discovery, updates } = await setup(t, { service: WEB, port: null, portName: 'http' })
  dns.setSrv(`_http._tcp.${WEB}`, [{ target: `web-0.${WEB}`, port: 8080 }, { target: `web-1.${WEB}`, port: 8080 }])
  dns.setA(`web-0.${WEB}`, ['10.1.0.1'])
  dns.setA(`web-1.${WEB}`, ['10.1.0.2'])
  discovery.start()
  t.equal((await updates.next()).kind, 'reset')
  dns.remove(`_http._tcp.${WEB}`)
  discovery.requestRefresh()
  t.same(await updates.next(), { kind: 'empty' })
  dns.setSrv(`_http._tcp.${WEB}`, [{ target: `web-0.${WEB}`, port: 8080 }, { target: `web-1.${WEB}`, port: 8080 }])
  dns.setBehaviour(`web-1.${WEB}`, 'servfail')
  discovery.requestRefresh()
  const update = await updates.next()
  t.same(update.kind === 'reset' ? update.endpoints : update, [{ address: '10.1.0.1', port: 8080, hostname: `web-0.${WEB}` }], 'web-1 is new again after the empty answer')
  t.match(update, { failed: { kept: 0, waiting: 1 } })
})

t.test('SRV: a bounded number of address queries in flight, the large answer over TCP', async (t) => {
  const dns = await server(t)
  // Each answer takes a while, so a lookup that sent every query at once would have all out together.
  dns.setLatency(20)
  const targets = Array.from({ length: 100 }, (_, i) => `web-${i}.${WEB}`)
  dns.setSrv(`_http._tcp.${WEB}`, targets.map((target) => ({ target, port: 8080 })))
  targets.forEach((name, i) => dns.setA(name, [`10.2.${i >> 8}.${i & 255}`]))
  const queue = await startDnsQueue(dns.address, 1000)
  t.teardown(() => queue.close())
  const started = performance.now()
  const { update } = await discover(t, dns, { service: WEB, port: null, portName: 'http', family: 'auto', servers: [{ host: '127.0.0.1', port: queue.port }], timeoutMs: 2000 })
  const elapsed = performance.now() - started
  t.equal(update.kind === 'reset' ? update.endpoints.length : update.kind, 100, 'every target resolved')
  t.ok(queue.peak <= MAX_QUERIES_IN_FLIGHT, `at most ${MAX_QUERIES_IN_FLIGHT} queries out at once (peak ${queue.peak})`)
  t.ok(queue.peak >= MAX_QUERIES_IN_FLIGHT / 2, `but many at once, not one by one (peak ${queue.peak}, ${Math.round(elapsed)} ms)`)
  t.equal(queue.relayed, 1 + 200, 'one SRV query, then A and AAAA per target (no retransmission)')
  t.ok(queue.tcpConnections >= 1, 'the SRV answer, too large for UDP, came over TCP')
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
