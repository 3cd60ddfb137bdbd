// SPEC §10 "A valid file takes effect without failing any request": long-lived app connections
// (HTTP/1.1 keep-alive and h2c) stay busy while 20 reloads alternate the policy, the concurrency
// limit, the timeouts and the upstream's service and port (so its pod set changes). Every
// request must get a 200. Bounded in time and count.
import http from 'node:http'
import http2 from 'node:http2'
import t from 'tap'
import { validateConfig } from '../src/config/validate.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, waitFor } from './helpers/harness.ts'
import { reloadDoc, startTwoServices } from './helpers/reload-cluster.ts'

const RELOADS = 20
const H1_CONNECTIONS = 4
const H2_SESSIONS = 2
const STREAMS_PER_SESSION = 4
const POLICIES = ['round_robin', 'least_request', 'peak_ewma'] as const
/** Well above the load's own concurrency: a 503 overloaded would be the test's fault, not the reload's. */
const LIMITS = [64, 128, 512] as const
const TIMEOUTS = ['5s', '10s', '15s'] as const
/** Whatever happens, the test ends. */
const HARD_LIMIT_MS = 60_000

t.test('zero failed requests across 20 reloads that change policy, limits, timeouts and pod sets', async (t) => {
  const cluster = await startTwoServices({ delayMs: 2 })
  const spoke = await Spoke.start(buildConfig(reloadDoc(cluster)), { log: silentLogger })
  await spoke.whenDiscovered()
  await waitFor(() => spoke.upstreams.get('orders')!.eligible.length === 2, 3000, 'pods discovered')
  const port = spoke.listeners[0].address!.port
  const agents = Array.from({ length: H1_CONNECTIONS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }))
  const sessions = Array.from({ length: H2_SESSIONS }, () => http2.connect(`http://127.0.0.1:${port}`))
  t.teardown(async () => {
    for (const a of agents) a.destroy()
    for (const s of sessions) s.close()
    await spoke.close()
    await cluster.close()
  })

  const statuses = new Map<string, number>()
  const pods = new Set<string>()
  let sent = 0
  let running = true
  const count = (status: string, pod: unknown): void => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (typeof pod === 'string') pods.add(pod)
  }
  const h1 = (agent: http.Agent): Promise<void> => new Promise((resolve) => {
    sent++
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume()
      res.on('end', () => { count(String(res.statusCode), res.headers['x-pod']); resolve() })
    })
    req.on('error', (err) => { count(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`, null); resolve() })
  })
  const h2 = (session: http2.ClientHttp2Session): Promise<void> => new Promise((resolve) => {
    sent++
    const stream = session.request({ ':path': '/' })
    let status = 'no answer'
    let pod: unknown = null
    stream.on('response', (headers) => { status = String(headers[':status']); pod = headers['x-pod'] })
    stream.resume()
    stream.on('close', () => { count(status, pod); resolve() })
    stream.on('error', () => {})
  })
  const loop = async (one: () => Promise<void>): Promise<void> => {
    while (running) await one()
  }
  const started = performance.now()
  const load = Promise.all([
    ...agents.map((a) => loop(() => h1(a))),
    ...sessions.flatMap((s) => Array.from({ length: STREAMS_PER_SESSION }, () => loop(() => h2(s)))),
  ])

  const stopAt = setTimeout(() => { running = false }, HARD_LIMIT_MS)
  let reloads = 0
  for (let i = 1; i <= RELOADS && running; i++) {
    await new Promise((r) => setTimeout(r, 100))
    const doc = reloadDoc(cluster, {
      // Every fourth reload moves the upstream to the other service (another port too).
      service: Math.floor(i / 4) % 2 === 0 ? 'a' : 'b',
      upstream: {
        policy: POLICIES[i % POLICIES.length],
        limits: { maxConcurrentRequests: LIMITS[i % LIMITS.length] },
        timeouts: { request: TIMEOUTS[i % TIMEOUTS.length] },
      },
    })
    const outcome = await spoke.reload(validateConfig(doc))
    if (outcome.ok) reloads++
    else t.fail(`reload ${i} rejected: ${JSON.stringify(outcome.errors)}`)
  }
  await new Promise((r) => setTimeout(r, 300))
  running = false
  clearTimeout(stopAt)
  await load
  const ms = Math.round(performance.now() - started)
  const ok = statuses.get('200') ?? 0
  t.comment(`${sent} requests over ${H1_CONNECTIONS} HTTP/1.1 connections and ${H2_SESSIONS} h2c sessions, ${reloads} reloads, ${sent - ok} failed, ${ms} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.equal(reloads, RELOADS, 'every reload applied')
  t.equal(ok, sent, 'every request got a 200')
  t.ok(sent > RELOADS * 10, 'the connections stayed busy through the reloads')
  t.ok([...pods].some((p) => p.startsWith('pod-a-')) && [...pods].some((p) => p.startsWith('pod-b-')), 'both pod sets served')
  t.equal(spoke.reloads.success, RELOADS)
})
