// The key → pod maps of consistent_hash and ordinal, and where a key is read from, without
// sockets: large key counts here, the end-to-end behaviour over real DNS in sharding-*.test.ts.
import t from 'tap'
import { keyOrdinal, OrdinalPicker, ordinalOf } from '../src/balance/ordinal.ts'
import { Rendezvous } from '../src/balance/rendezvous.ts'
import type { Shardable } from '../src/balance/shard.ts'
import { cookieValue, hashKeyOf, queryValue } from '../src/proxy/hash-key.ts'
import { readRequestHead } from '../src/proxy/request-head.ts'

interface FakePod extends Shardable {
  inFlight: number
}

const WEB = 'web.default.svc.cluster.local'

function srvPod(i: number, address = `10.0.0.${i + 1}`): FakePod {
  return { hostname: `web-${i}.${WEB}`, address, key: `${address}:8080`, inFlight: 0 }
}

function rendezvous(pods: readonly FakePod[], factor: number | null = null): Rendezvous<FakePod> {
  const r = new Rendezvous<FakePod>(factor)
  r.update(pods)
  return r
}

const KEYS = Array.from({ length: 10_000 }, (_, i) => `account-${i}`)

function owners(r: Rendezvous<FakePod>, keys: readonly string[] = KEYS): string[] {
  return keys.map((k) => {
    const p = r.pick(k)
    if (typeof p === 'string') throw new Error(p)
    return p.hostname ?? p.address
  })
}

t.test('rendezvous: a pure function of the key and the pods, whatever order DNS lists them in', async (t) => {
  const pods = Array.from({ length: 5 }, (_, i) => srvPod(i))
  const a = owners(rendezvous(pods))
  const b = owners(rendezvous([...pods].reverse()))
  t.strictSame(a, b)
  t.strictSame(owners(rendezvous(pods)), a, 'a second sidecar agrees')
  t.equal(rendezvous([]).pick('x'), 'empty')
})

t.test('rendezvous: keys spread evenly, and a leaving pod moves only its own keys', async (t) => {
  for (const n of [2, 4, 10, 30]) {
    const pods = Array.from({ length: n }, (_, i) => srvPod(i))
    const before = owners(rendezvous(pods))
    const share = new Map<string, number>()
    for (const o of before) share.set(o, (share.get(o) ?? 0) + 1)
    const mean = KEYS.length / n
    // Binomial spread: the standard deviation is under 1 % of 10 000 keys; 4 of them is generous.
    for (const [pod, count] of share) t.ok(Math.abs(count - mean) < 4 * Math.sqrt(mean), `${n} pods: ${pod} holds ${count} (mean ${mean})`)
    t.equal(share.size, n, `${n} pods: every pod owns keys`)

    const gone = pods[n - 1].hostname
    const after = owners(rendezvous(pods.slice(0, n - 1)))
    let moved = 0
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === after[i]) continue
      moved++
      if (before[i] !== gone) t.fail(`${KEYS[i]} moved from ${before[i]}, which stayed`)
    }
    t.equal(moved, share.get(gone!), `${n} pods: exactly the leaving pod's keys moved`)

    const joined = owners(rendezvous([...pods, srvPod(n)]))
    let taken = 0
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === joined[i]) continue
      taken++
      if (joined[i] !== `web-${n}.${WEB}`) t.fail(`${KEYS[i]} moved to ${joined[i]}, not to the newcomer`)
    }
    t.ok(Math.abs(taken - KEYS.length / (n + 1)) < 4 * Math.sqrt(KEYS.length / (n + 1)), `${n} pods: a newcomer takes about 1/${n + 1} (${taken})`)
  }
})

t.test('rendezvous hashes on the host name where there is one, else on the address', async (t) => {
  const pods = Array.from({ length: 4 }, (_, i) => srvPod(i))
  const before = owners(rendezvous(pods))
  const moved = [pods[0], srvPod(1, '10.9.9.9'), pods[2], pods[3]]
  t.strictSame(owners(rendezvous(moved)), before, 'a pod whose IP changed keeps its keys')
  const upper = pods.map((p) => ({ ...p, hostname: p.hostname!.toUpperCase() }))
  t.strictSame(owners(rendezvous(upper)).map((o) => o.toLowerCase()), before, 'host names compare case-insensitively')

  const plain = (address: string): FakePod => ({ hostname: null, address, key: `${address}:80`, inFlight: 0 })
  const byAddress = owners(rendezvous([plain('10.0.0.1'), plain('10.0.0.2'), plain('10.0.0.3')]))
  t.strictSame(owners(rendezvous([plain('10.0.0.3'), plain('10.0.0.1'), plain('10.0.0.2')])), byAddress)
  const readdressed = owners(rendezvous([plain('10.0.0.1'), plain('10.0.0.2'), plain('10.0.0.4')]))
  t.ok(readdressed.some((o, i) => o !== byAddress[i]), 'without a host name, a new address is a new pod')
})

t.test('bounded load: a full owner sends the key to its next pod, and no pod goes above the bound', async (t) => {
  const pods = Array.from({ length: 4 }, (_, i) => srvPod(i))
  const plain = rendezvous(pods)
  const bounded = rendezvous(pods, 1.25)
  t.strictSame(owners(bounded, KEYS.slice(0, 500)), owners(plain, KEYS.slice(0, 500)), 'idle pods: the same owners as without a bound')

  // A key's next pod is the one that would own it if its owner were gone.
  const key = 'hot-account'
  const owner = plain.pick(key) as FakePod
  const others = pods.filter((p) => p !== owner)
  const next = rendezvous(others).pick(key) as FakePod
  owner.inFlight = 10
  t.equal(bounded.pick(key), next, 'the owner is full: the next pod in the key\'s own order')
  t.equal(plain.pick(key), owner, 'without a bound the owner takes it whatever its load')
  owner.inFlight = 0

  // One hot key, 200 requests in flight: spread so that no pod holds more than ceil(1.25 × mean).
  for (let m = 1; m <= 200; m++) {
    const p = bounded.pick(key) as FakePod
    p.inFlight++
    const max = Math.max(...pods.map((q) => q.inFlight))
    if (max > Math.ceil((1.25 * m) / pods.length)) t.fail(`after ${m} requests a pod holds ${max}`)
  }
  t.equal(pods.reduce((s, p) => s + p.inFlight, 0), 200)
  t.ok(owner.inFlight >= Math.max(...others.map((p) => p.inFlight)), 'the owner still holds the largest share')
})

t.test('ordinal: the number at the end of the first label', async (t) => {
  t.equal(ordinalOf(`web-0.${WEB}`), 0)
  t.equal(ordinalOf(`web-12.${WEB}`), 12)
  t.equal(ordinalOf('my-db-3.db.ns.svc.cluster.local'), 3)
  t.equal(ordinalOf('web-2'), 2)
  for (const bad of [null, `web.${WEB}`, `web-x.${WEB}`, `web-01.${WEB}`, `-1.${WEB}`, 'web2.x', `web-1a.${WEB}`]) {
    t.equal(ordinalOf(bad), null, `${bad} has no ordinal`)
  }
})

t.test('ordinal: a decimal key mod replicas, exactly for keys beyond 2^53', async (t) => {
  t.same(Array.from({ length: 12 }, (_, k) => keyOrdinal(String(k), 3)), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
  t.equal(keyOrdinal('18446744073709551615', 7), Number(18446744073709551615n % 7n))
  t.equal(keyOrdinal('9007199254740993', 10), 3, '2^53 + 1 is not rounded')
  t.equal(keyOrdinal('007', 5), 2, 'leading zeros are the same number')
  for (const bad of ['', '-1', '+1', '1.0', '1e3', ' 1', '0x10', 'abc', '１']) t.equal(keyOrdinal(bad, 3), null, `${JSON.stringify(bad)} is not a key`)
})

t.test('ordinal picker: a missing ordinal is unavailable, never served by another pod', async (t) => {
  const picker = new OrdinalPicker<FakePod>(3)
  const pods = [srvPod(0), srvPod(1), srvPod(2), srvPod(3)]
  picker.update(pods)
  t.same(Array.from({ length: 6 }, (_, k) => (picker.pick(String(k)) as FakePod).hostname), [0, 1, 2, 0, 1, 2].map((i) => `web-${i}.${WEB}`))
  t.equal(picker.pick('x'), 'bad_key')
  picker.update([pods[0], pods[2], pods[3]])
  t.equal(picker.pick('4'), 'unavailable', 'web-1 gone: key 4 has no pod, and web-3 (beyond replicas) does not take it')
  t.equal((picker.pick('5') as FakePod).hostname, `web-2.${WEB}`)
  picker.update([])
  t.equal(picker.pick('0'), 'unavailable')

  const twins = new OrdinalPicker<FakePod>(2)
  const other: FakePod = { hostname: `cache-0.${WEB}`, address: '10.0.1.1', key: '10.0.1.1:8080', inFlight: 0 }
  twins.update([pods[0], other])
  const first = twins.pick('0')
  twins.update([other, pods[0]])
  t.equal(twins.pick('0'), first, 'two pods with one ordinal: the same one whatever the order')
})

t.test('hash keys from a header, a cookie or a query parameter; empty is none', async (t) => {
  t.equal(hashKeyOf({ header: 'x-account-id' }, '42', '/'), '42')
  t.equal(hashKeyOf({ header: 'x-account-id' }, '', '/'), null)
  t.equal(hashKeyOf({ header: 'x-account-id' }, null, '/?x-account-id=1'), null, 'a header key is not read from the query')

  t.equal(cookieValue('session=abc', 'session'), 'abc')
  t.equal(cookieValue('xsession=1; session=2; session=3', 'session'), '2', 'the first exact name')
  t.equal(cookieValue('a=1;session="q v";b=2', 'session'), 'q v', 'quotes are not part of the value')
  t.equal(cookieValue(' a = 1 ;  session = z9 ', 'session'), 'z9')
  t.equal(cookieValue('a=1; b', 'b'), null)
  t.equal(cookieValue('a=b=c', 'a'), 'b=c')
  t.equal(hashKeyOf({ cookie: 'session' }, 'a=1; session=', '/'), null)
  t.equal(hashKeyOf({ cookie: 'session' }, null, '/'), null)

  t.equal(queryValue('/p?a=1&shard=7&shard=8', 'shard'), '7')
  t.equal(queryValue('/p?shard=a%20b+c', 'shard'), 'a b c')
  t.equal(queryValue('/p?x=1#shard=2', 'shard'), null)
  t.equal(queryValue('/p', 'shard'), null)
  t.equal(hashKeyOf({ query: 'shard' }, null, '/p?shard='), null)
  t.equal(hashKeyOf({ query: 'shard' }, null, '/p?shard=12'), '12')
})

t.test('the request head reads x-spoke-pod and the key\'s header in its one pass', async (t) => {
  const raw = ['Host', 'a', 'X-Account-Id', '7', 'x-spoke-pod', 'web-1', 'Cookie', 'a=1', 'x-account-id', '8', 'cookie', 'b=2']
  const byHeader = readRequestHead(raw, 'x-account-id')
  t.equal(byHeader.keyField, '7, 8', 'repeated fields joined as HTTP joins them')
  t.equal(byHeader.pod, 'web-1')
  t.notOk(byHeader.upstreamHeaders.some((h) => h.toLowerCase() === 'x-spoke-pod'), 'x-spoke-pod is not forwarded')
  t.ok(byHeader.upstreamHeaders.includes('X-Account-Id'), 'the key header is forwarded')
  t.equal(readRequestHead(raw, 'cookie').keyField, 'a=1; b=2', 'cookies joined with "; "')
  const plain = readRequestHead(raw)
  t.equal(plain.keyField, null, 'nothing captured unless asked')
  t.equal(readRequestHead(['x-spoke-pod', 'a', 'x-spoke-pod', 'b']).pod, 'a, b', 'two names name no single pod')
})
