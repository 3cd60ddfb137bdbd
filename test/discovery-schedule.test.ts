// When DnsDiscovery queries: TTL and refresh, the minRefresh floor, error backoff, early refresh,
// close. Real timers and a real DNS server; bounds are generous because CI machines are slow.
import t from 'tap'
import { startDnsServer, type DnsServer } from '../src/demo/dns-server.ts'
import { DnsDiscovery, type DnsDiscoveryOptions } from '../src/discovery/dns.ts'
import { jittered, nextBackoff, refreshDelay } from '../src/discovery/schedule.ts'
import type { DiscoveryUpdate } from '../src/discovery/types.ts'

const NAME = 'orders.default.svc.cluster.local'

interface Teardown {
  teardown(fn: () => unknown): void
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Updates with their arrival times; next() fails rather than hangs when none comes. */
function updateQueue() {
  const all: { update: DiscoveryUpdate; at: number }[] = []
  const waiters: (() => void)[] = []
  let read = 0
  return {
    all,
    onUpdate(update: DiscoveryUpdate): void {
      all.push({ update, at: performance.now() })
      waiters.splice(0).forEach((w) => w())
    },
    async next(ms = 5000): Promise<{ update: DiscoveryUpdate; at: number }> {
      const deadline = performance.now() + ms
      while (read >= all.length) {
        const left = deadline - performance.now()
        if (left <= 0) throw new Error(`no discovery update within ${ms}ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          waiters.push(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      return all[read++]
    },
  }
}

/** Times at which the server received a query for NAME/A. */
function queryTimes(dns: DnsServer): number[] {
  const times: number[] = []
  dns.on('query', (q) => {
    if (q.name === NAME && q.type === 'A') times.push(performance.now())
  })
  return times
}

async function setup(tt: Teardown, opts: Partial<DnsDiscoveryOptions> = {}) {
  const dns = await startDnsServer()
  tt.teardown(() => dns.close())
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
    ...opts,
  })
  tt.teardown(() => discovery.close())
  return { dns, discovery, updates, queries: queryTimes(dns) }
}

const gaps = (times: readonly number[]) => times.slice(1).map((x, i) => x - times[i])

/**
 * Holds the event loop as a busy machine does. minRefresh limits query *starts*, which happen
 * synchronously in start(); the server only sees a query when the loop next polls, so a stall
 * there makes the server's first time late and the gap between the server's times short (CI saw
 * 417 ms for a 500 ms limit). The rate-limit tests stall on purpose and measure from start().
 */
function stallEventLoop(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until);
}

/** Node never fires a timer early, but rounds its start to whole milliseconds. */
const TIMER_ROUNDING_MS = 1

t.test('delay arithmetic', async (t) => {
  t.equal(refreshDelay(10_000, 1000, null, () => 0), 10_000, 'no TTL: refresh')
  t.equal(refreshDelay(10_000, 1000, 30, () => 0), 10_000, 'TTL longer than refresh: refresh')
  t.equal(refreshDelay(10_000, 1000, 2, () => 0), 2000, 'TTL shorter: TTL')
  t.equal(refreshDelay(10_000, 1000, 0, () => 0), 1000, 'TTL 0: minRefresh')
  t.equal(refreshDelay(10_000, 1000, 2, () => 0.5), 1900, 'jitter takes up to 10% off')
  t.equal(refreshDelay(10_000, 1000, 1, () => 0.99), 1000, 'never below minRefresh')
  t.equal(refreshDelay(500, 1000, null, () => 0), 1000, 'minRefresh wins over a smaller refresh')
  t.equal(jittered(1000, 0, () => 0.999_999) > 900, true)
  t.equal(nextBackoff(100, 800, 100), 200)
  t.equal(nextBackoff(400, 800, 100), 800)
  t.equal(nextBackoff(800, 800, 100), 800, 'capped at refresh')
})

t.test('a TTL shorter than refresh sets the pace', async (t) => {
  const { dns, discovery, updates } = await setup(t, { refreshMs: 60_000, minRefreshMs: 50 })
  dns.setA(NAME, ['10.0.0.1'], 1)
  discovery.start()
  const first = await updates.next()
  await updates.next(3000)
  const third = await updates.next(3000)
  const elapsed = third.at - first.at
  // Two TTL-paced intervals of 0.9 to 1 s each; refresh alone would take two minutes.
  t.ok(elapsed >= 1700 && elapsed <= 3500, `two refreshes took ${Math.round(elapsed)}ms`)
  t.equal(third.update.kind, 'reset')
})

t.test('refresh shorter than the TTL sets the pace, with jitter', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 300, minRefreshMs: 50 })
  dns.setA(NAME, ['10.0.0.1'], 3600)
  discovery.start()
  for (let i = 0; i < 5; i++) await updates.next(3000)
  for (const gap of gaps(queries)) t.ok(gap >= 265 && gap <= 700, `gap ${Math.round(gap)}ms within [270, 300] + slack`)
})

t.test('minRefresh is a floor under a zero TTL', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 60_000, minRefreshMs: 250 })
  dns.setA(NAME, ['10.0.0.1'], 0)
  discovery.start()
  for (let i = 0; i < 4; i++) await updates.next(3000)
  t.equal(queries.length, 4)
  for (const gap of gaps(queries)) t.ok(gap >= 245 && gap <= 800, `gap ${Math.round(gap)}ms, at least minRefresh`)
})

t.test('errors back off from minRefresh, doubling up to refresh, and reset on success', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 800, minRefreshMs: 100 })
  dns.setA(NAME, ['10.0.0.1'], 3600)
  dns.setBehaviour('*', 'servfail')
  discovery.start()
  for (let i = 0; i < 5; i++) t.equal((await updates.next(3000)).update.kind, 'error')
  const expected = [100, 200, 400, 800]
  gaps(queries).forEach((gap, i) => {
    t.ok(gap >= expected[i] * 0.9 - 5 && gap <= expected[i] + 250, `backoff ${i}: ${Math.round(gap)}ms ~ ${expected[i]}ms`)
  })
  t.equal(discovery.lastQuery?.result, 'error')

  dns.setBehaviour('*', 'normal')
  t.equal((await updates.next(3000)).update.kind, 'reset')
  dns.setBehaviour('*', 'servfail')
  const failed = await updates.next(3000)
  t.equal(failed.update.kind, 'error')
  const afterReset = await updates.next(3000)
  const gap = afterReset.at - failed.at
  t.ok(gap >= 95 && gap <= 350, `backoff starts again at minRefresh: ${Math.round(gap)}ms`)
})

t.test('empty answers back off from minRefresh, doubling up to refresh, until pods are back', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 800, minRefreshMs: 100 })
  discovery.start()
  for (let i = 0; i < 5; i++) t.same((await updates.next(3000)).update, { kind: 'empty' })
  const expected = [100, 200, 400, 800]
  gaps(queries).forEach((gap, i) => {
    t.ok(gap >= expected[i] * 0.9 - 5 && gap <= expected[i] + 250, `empty ${i}: asked again after ${Math.round(gap)}ms ~ ${expected[i]}ms`)
  })
  t.equal(discovery.lastQuery?.result, 'empty')

  // Pods back: the TTL paces again; gone again: the backoff starts over at minRefresh.
  dns.setA(NAME, ['10.0.0.1'], 3600)
  t.equal((await updates.next(3000)).update.kind, 'reset')
  dns.remove(NAME)
  discovery.requestRefresh()
  const empty = await updates.next(3000)
  t.same(empty.update, { kind: 'empty' })
  const again = await updates.next(3000)
  t.ok(again.at - empty.at >= 95 && again.at - empty.at <= 350, `after pods left, asked again in ${Math.round(again.at - empty.at)}ms`)
})

t.test('a change from errors to empty answers starts the backoff again', async (t) => {
  const { dns, discovery, updates } = await setup(t, { refreshMs: 2000, minRefreshMs: 100 })
  dns.setBehaviour('*', 'servfail')
  discovery.start()
  // Errors at 0, 100, 300, 700: the next would wait 800 ms.
  for (let i = 0; i < 4; i++) t.equal((await updates.next(3000)).update.kind, 'error')
  dns.setBehaviour('*', 'normal')
  const first = await updates.next(3000)
  t.same(first.update, { kind: 'empty' })
  const second = await updates.next(3000)
  t.same(second.update, { kind: 'empty' })
  const gap = second.at - first.at
  t.ok(gap >= 95 && gap <= 400, `DNS back but no pods: asked again after ${Math.round(gap)}ms, not the outage's 800`)
})

t.test('SRV targets that failed bring the next query forward', async (t) => {
  const WEB = 'web.default.svc.cluster.local'
  const { dns, discovery, updates } = await setup(t, { service: WEB, port: null, portName: 'http', refreshMs: 60_000, minRefreshMs: 100 })
  const srvQueries: number[] = []
  dns.on('query', (q) => { if (q.type === 'SRV') srvQueries.push(performance.now()) })
  dns.setSrv(`_http._tcp.${WEB}`, [{ target: `web-0.${WEB}`, port: 8080 }, { target: `web-1.${WEB}`, port: 8080 }], 3600)
  dns.setA(`web-0.${WEB}`, ['10.1.0.1'], 3600)
  dns.setA(`web-1.${WEB}`, ['10.1.0.2'], 3600)
  dns.setBehaviour(`web-1.${WEB}`, 'servfail')
  discovery.start()
  for (let i = 0; i < 3; i++) t.match((await updates.next(3000)).update, { kind: 'reset', failed: { waiting: 1 } })
  const expected = [100, 200]
  gaps(srvQueries).forEach((gap, i) => {
    t.ok(gap >= expected[i] * 0.9 - 5 && gap <= expected[i] + 250, `partial ${i}: asked again after ${Math.round(gap)}ms ~ ${expected[i]}ms`)
  })
  dns.setBehaviour(`web-1.${WEB}`, 'normal')
  const whole = await updates.next(3000)
  t.equal(whole.update.kind === 'reset' ? whole.update.endpoints.length : 0, 2, 'web-1 found on a retry')
  await sleep(500)
  t.equal(updates.all.length, 4, 'then the TTL paces again')
})

t.test('requestRefresh is rate-limited by minRefresh and coalesced', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 60_000, minRefreshMs: 400 })
  dns.setA(NAME, ['10.0.0.1'], 3600)
  discovery.requestRefresh()
  await sleep(100)
  t.equal(queries.length, 0, 'nothing before start')

  const started = performance.now()
  discovery.start()
  stallEventLoop(100)
  await updates.next()
  for (let i = 0; i < 5; i++) discovery.requestRefresh()
  await updates.next(2000)
  t.equal(queries.length, 2)
  const early = queries[1] - started
  t.ok(early >= 400 - TIMER_ROUNDING_MS, `early refresh ${Math.round(early)}ms after the first query started`)
  t.ok(early <= 3000, 'but early: refresh is a minute')
  await sleep(600)
  t.equal(queries.length, 2, 'five calls, one query')

  const asked = performance.now()
  discovery.requestRefresh()
  await updates.next(2000)
  t.ok(queries[2] - asked <= 200, `long after the last query it goes at once (${Math.round(queries[2] - asked)}ms)`)
})

t.test('requestRefresh during a query asks again after it, rate-limited', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 60_000, minRefreshMs: 500, timeoutMs: 2000 })
  dns.setA(NAME, ['10.0.0.1'], 3600)
  dns.setLatency(150)
  const started = performance.now()
  discovery.start()
  stallEventLoop(100)
  while (queries.length === 0) await sleep(5)
  discovery.requestRefresh()
  discovery.requestRefresh()
  t.match(await updates.next(), { update: { kind: 'reset' } })
  t.equal(updates.all.length, 1, 'one update per query: the requests did not start another')
  await updates.next(3000)
  const gap = queries[1] - started
  // The upper bound only tells "after this query" from "after refresh" (a minute).
  t.ok(gap >= 500 - TIMER_ROUNDING_MS && gap <= 3000, `asked again ${Math.round(gap)}ms after the first query started`)
  await sleep(300)
  t.equal(queries.length, 2, 'two calls, one more query')
})

t.test('never two lookups in flight, however often refresh is asked for', async (t) => {
  const { dns, discovery, updates } = await setup(t, { refreshMs: 60_000, minRefreshMs: 50, timeoutMs: 300 })
  dns.setBehaviour('*', 'drop')
  discovery.start()
  const spam = setInterval(() => discovery.requestRefresh(), 5)
  await sleep(1100)
  clearInterval(spam)
  // Each lookup lasts 150 to 300 ms, then 50, 100, 200, 400 ms of backoff: three to five in 1.1 s.
  // Lookups started by the requests would make dozens.
  t.ok(updates.all.length >= 2 && updates.all.length <= 6, `${updates.all.length} lookups completed`)
  t.ok(updates.all.every((u) => u.update.kind === 'error'))
})

t.test('close stops queries and updates', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { refreshMs: 60_000, minRefreshMs: 50 })
  dns.setA(NAME, ['10.0.0.1'], 0)
  discovery.start()
  await updates.next()
  await updates.next()
  discovery.close()
  const seen = { updates: updates.all.length, queries: queries.length }
  discovery.requestRefresh()
  discovery.start()
  await sleep(400)
  t.same({ updates: updates.all.length, queries: queries.length }, seen, 'nothing after close')
})

t.test('close during a query: its answer is never reported', async (t) => {
  const { dns, discovery, updates, queries } = await setup(t, { timeoutMs: 200 })
  dns.setBehaviour('*', 'drop')
  discovery.start()
  while (queries.length === 0) await sleep(5)
  discovery.close()
  await sleep(500)
  t.equal(updates.all.length, 0)
  t.equal(discovery.lastQuery, null)
})
