// SPEC §10 in-process: each rule of a reload, on real sockets (real DNS server, real pods).
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { validateConfig } from '../src/config/validate.ts'
import { ConfigWatcher, contentHash } from '../src/lifecycle/config-watch.ts'
import { createLogger, type Logger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { buildConfig, request, singleConnectionAgent, waitFor } from './helpers/harness.ts'
import { reloadDoc, startTwoServices, type TwoServices } from './helpers/reload-cluster.ts'

interface Logged { level: string; msg: string; [k: string]: unknown }

function capturingLogger(): { log: Logger; lines: Logged[] } {
  const lines: Logged[] = []
  return { lines, log: createLogger('info', (l) => { lines.push(JSON.parse(l) as Logged) }) }
}

async function start(cluster: TwoServices, doc: Record<string, unknown>, log: Logger): Promise<Spoke> {
  const spoke = await Spoke.start(buildConfig(doc), { log })
  await spoke.whenDiscovered()
  await waitFor(() => spoke.upstreams.get('orders')!.eligible.length === 2, 3000, 'pods discovered')
  return spoke
}

const port = (spoke: Spoke, i = 0): number => spoke.listeners[i].address!.port
const valid = (doc: unknown): ReturnType<typeof validateConfig> => validateConfig(doc)

async function metrics(spoke: Spoke): Promise<string> {
  return (await request(`http://127.0.0.1:${spoke.admin.address!.port}/metrics`)).body
}

/** A second client connection that was open before the reload and is still the same socket after. */
function rawKeepAlive(p: number): Promise<{ ask(path: string): Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: p }, () => {
      let waiting: ((s: string) => void) | null = null
      let buffered = ''
      socket.on('data', (c: Buffer) => {
        buffered += c.toString('latin1')
        const end = buffered.indexOf('\r\n\r\n')
        const length = /content-length: (\d+)/i.exec(buffered)
        if (end >= 0 && length !== null && buffered.length >= end + 4 + Number(length[1])) {
          const answer = buffered
          buffered = ''
          waiting?.(answer)
        }
      })
      resolve({
        ask: (path) => new Promise((r) => { waiting = r; socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`) }),
        close: () => socket.destroy(),
      })
    })
    socket.on('error', reject)
  })
}

t.test('settings of a kept upstream apply at once; the listener keeps its socket and app connections', async (t) => {
  const cluster = await startTwoServices()
  const { log, lines } = capturingLogger()
  const spoke = await start(cluster, reloadDoc(cluster), log)
  t.teardown(async () => { await spoke.close(); await cluster.close() })
  const upstream = spoke.upstreams.get('orders')!
  const client = await rawKeepAlive(port(spoke))
  t.match(await client.ask('/'), /^HTTP\/1\.1 200/)
  const before = await metrics(spoke)
  t.match(before, /spoke_config_reloads_total\{result="success"\} 0/, 'both series from the start')
  t.match(before, /spoke_config_reloads_total\{result="failure"\} 0/)

  const outcome = await spoke.reload(valid(reloadDoc(cluster, { upstream: { policy: 'least_request', limits: { maxConcurrentRequests: 1 }, timeouts: { request: '3s' } } })))
  t.ok(outcome.ok, 'applied')
  t.equal(spoke.upstreams.get('orders'), upstream, 'the same upstream: pods and connections kept')
  t.equal(upstream.config.policy, 'least_request')
  t.equal(upstream.config.timeouts.requestMs, 3000)
  t.match(await client.ask('/'), /^HTTP\/1\.1 200/, 'the app connection opened before the reload still serves')
  // The new limit holds for new requests: two at once through a limit of 1 → one 503 overloaded.
  const answers = await Promise.all([request(`http://127.0.0.1:${port(spoke)}/slow?ms=300`), request(`http://127.0.0.1:${port(spoke)}/slow?ms=300`)])
  t.strictSame(answers.map((a) => a.status).sort(), [200, 503], 'maxConcurrentRequests: 1 applies to new requests')
  const config = JSON.parse((await request(`http://127.0.0.1:${spoke.admin.address!.port}/config`)).body)
  t.equal(config.upstreams[0].policy, 'least_request', '/config shows the running configuration')
  t.equal(config.upstreams[0].limits.maxConcurrentRequests, 1)
  t.match(await metrics(spoke), /spoke_config_reloads_total\{result="success"\} 1/)
  t.equal((await request(`http://127.0.0.1:${spoke.admin.address!.port}/ready`)).status, 200, '/ready stays 200')
  const info = lines.find((l) => l.msg === 'configuration reloaded')
  t.strictSame(info?.upstreamsUpdated, ['orders'], 'the log says what changed')
  client.close()
})

t.test('a changed service gets a new upstream with new pods; the old one finishes its requests', async (t) => {
  const cluster = await startTwoServices()
  const { log, lines } = capturingLogger()
  const spoke = await start(cluster, reloadDoc(cluster), log)
  t.teardown(async () => { await spoke.close(); await cluster.close() })
  const old = spoke.upstreams.get('orders')!
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  t.match((await request(`http://127.0.0.1:${port(spoke)}/`, { agent })).headers['x-pod'], /^pod-a-/)
  const slow = request(`http://127.0.0.1:${port(spoke)}/slow?ms=600`)
  await waitFor(() => old.inFlight === 1, 2000, 'the slow request in flight')

  const outcome = await spoke.reload(valid(reloadDoc(cluster, { service: 'b' })))
  t.ok(outcome.ok)
  const replaced = spoke.upstreams.get('orders')!
  t.not(replaced, old, 'a new upstream')
  for (let i = 0; i < 6; i++) {
    t.match((await request(`http://127.0.0.1:${port(spoke)}/`, { agent })).headers['x-pod'], /^pod-b-/, 'new requests go to the new pods, on the same app connection')
  }
  const first = await slow
  t.equal(first.status, 200, 'the request in flight on the old upstream finished')
  t.match(first.headers['x-pod'], /^pod-a-/)
  await waitFor(() => [...old.endpoints].every((e) => e.connections === 0), 3000, 'the old upstream closed its connections')
  t.strictSame(lines.find((l) => l.msg === 'configuration reloaded')?.upstreamsReplaced, ['orders'])
})

t.test('added listeners bind, removed ones stop accepting, kept ones change upstream', async (t) => {
  const cluster = await startTwoServices()
  const { log } = capturingLogger()
  const doc = reloadDoc(cluster)
  doc.listeners = [{ name: 'one', address: '127.0.0.1:0', upstream: 'orders' }, { name: 'two', address: '127.0.0.1:0', upstream: 'orders' }]
  const spoke = await start(cluster, doc, log)
  t.teardown(async () => { await spoke.close(); await cluster.close() })
  const [p1, p2] = [port(spoke, 0), port(spoke, 1)]
  const next = reloadDoc(cluster)
  next.upstreams = [...(next.upstreams as object[]), { ...(reloadDoc(cluster, { service: 'b' }).upstreams as object[])[0], name: 'other' }]
  // Port 0 listeners are the same socket under the same name (reload-plan.ts).
  next.listeners = [{ name: 'one', address: '127.0.0.1:0', upstream: 'other' }, { name: 'three', address: '127.0.0.1:0', upstream: 'orders' }]
  const outcome = await spoke.reload(valid(next))
  t.ok(outcome.ok, JSON.stringify(outcome))
  t.equal(spoke.listeners.length, 2)
  t.equal(port(spoke, 0), p1, 'listener one kept its socket')
  t.match((await request(`http://127.0.0.1:${p1}/`)).headers['x-pod'], /^pod-b-/, 'and sends to its new upstream')
  const p3 = port(spoke, 1)
  t.not(p3, p2)
  t.match((await request(`http://127.0.0.1:${p3}/`)).headers['x-pod'], /^pod-a-/, 'listener three bound')
  await t.rejects(request(`http://127.0.0.1:${p2}/`), { code: 'ECONNREFUSED' }, 'listener two stopped accepting')
})

t.test('a listener that cannot bind rejects the whole reload; the running configuration stays', async (t) => {
  const cluster = await startTwoServices()
  const { log, lines } = capturingLogger()
  const spoke = await start(cluster, reloadDoc(cluster), log)
  const taken = net.createServer()
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
  t.teardown(async () => { taken.close(); await spoke.close(); await cluster.close() })
  const takenPort = (taken.address() as net.AddressInfo).port
  const upstream = spoke.upstreams.get('orders')!
  const doc = reloadDoc(cluster, { upstream: { policy: 'peak_ewma' } })
  const freePort = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)) }) })
  doc.listeners = [
    ...(doc.listeners as object[]),
    { name: 'fine', address: `127.0.0.1:${freePort}`, upstream: 'orders' },
    { name: 'clash', address: `127.0.0.1:${takenPort}`, upstream: 'orders' },
  ]
  const outcome = await spoke.reload(valid(doc))
  t.notOk(outcome.ok, 'rejected')
  t.equal(upstream.config.policy, 'round_robin', 'the running configuration stays')
  t.equal(spoke.listeners.length, 1)
  await t.rejects(request(`http://127.0.0.1:${freePort}/`), { code: 'ECONNREFUSED' }, 'what the reload bound is closed again')
  t.equal((await request(`http://127.0.0.1:${port(spoke)}/`)).status, 200, 'still serving')
  t.match(await metrics(spoke), /spoke_config_reloads_total\{result="failure"\} 1/)
  t.ok(lines.some((l) => l.level === 'error' && /clash|cannot listen/.test(String(l.problem))), 'the problem is logged at error')
})

t.test('an invalid file is rejected with every problem at error, each with its path', async (t) => {
  const cluster = await startTwoServices()
  const { log, lines } = capturingLogger()
  const spoke = await start(cluster, reloadDoc(cluster), log)
  t.teardown(async () => { await spoke.close(); await cluster.close() })
  const bad = reloadDoc(cluster, { upstream: { policy: 'fastest', limits: { maxConcurrentRequests: -1 } } })
  const outcome = await spoke.reload(valid(bad))
  t.notOk(outcome.ok)
  const problems = lines.filter((l) => l.level === 'error' && l.msg === 'reload rejected')
  t.strictSame(problems.map((l) => l.path).sort(), ['upstreams[0].limits.maxConcurrentRequests', 'upstreams[0].policy'])
  t.equal(spoke.upstreams.get('orders')!.config.policy, 'round_robin')
  t.equal((await request(`http://127.0.0.1:${port(spoke)}/`)).status, 200)
  t.match(await metrics(spoke), /spoke_config_reloads_total\{result="failure"\} 1/)
})

t.test('a changed admin.address rebinds the admin server', async (t) => {
  const cluster = await startTwoServices()
  const spoke = await start(cluster, reloadDoc(cluster), createLogger('error', () => {}))
  t.teardown(async () => { await spoke.close(); await cluster.close() })
  const before = spoke.admin.address!.port
  const outcome = await spoke.reload(valid(reloadDoc(cluster, { admin: '127.0.0.2:0' })))
  t.ok(outcome.ok)
  t.equal(spoke.admin.address!.address, '127.0.0.2')
  t.equal((await request(`http://127.0.0.2:${spoke.admin.address!.port}/ready`)).status, 200)
  await t.rejects(request(`http://127.0.0.1:${before}/ready`), { code: 'ECONNREFUSED' })
})

t.test('the watcher: content poll, a ConfigMap-style symlink swap, SIGHUP without a change', async (t) => {
  const cluster = await startTwoServices()
  const { log, lines } = capturingLogger()
  const dir = mkdtempSync(join(tmpdir(), 'spoke-reload-'))
  // As the kubelet lays a ConfigMap volume out: spoke.yaml → ..data/spoke.yaml, ..data → ..v1.
  const write = (version: string, doc: Record<string, unknown>): void => {
    mkdirSync(join(dir, version))
    writeFileSync(join(dir, version, 'spoke.yaml'), JSON.stringify(doc))
  }
  const first = reloadDoc(cluster, { top: { reload: '100ms' } })
  write('..v1', first)
  symlinkSync('..v1', join(dir, '..data'))
  symlinkSync('..data/spoke.yaml', join(dir, 'spoke.yaml'))
  const file = join(dir, 'spoke.yaml')
  const spoke = await start(cluster, first, log)
  const watcher = new ConfigWatcher(file, spoke, log, contentHash(readFileSync(file)))
  watcher.start()
  t.teardown(async () => { watcher.stop(); await spoke.close(); await cluster.close() })

  await watcher.check('SIGHUP')
  t.ok(lines.some((l) => l.level === 'info' && /not changed/.test(l.msg)), 'SIGHUP with the same content: logged, not a reload')
  t.equal(spoke.reloads.success + spoke.reloads.failure, 0)

  // The swap: a new version directory, a new symlink renamed over ..data (atomic, as the kubelet does).
  write('..v2', reloadDoc(cluster, { top: { reload: '100ms' }, upstream: { policy: 'least_request' } }))
  symlinkSync('..v2', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  await waitFor(() => spoke.upstreams.get('orders')!.config.policy === 'least_request', 5000, 'the poll noticed the swap')
  t.equal(spoke.reloads.success, 1)

  // An invalid version: rejected once, not again on every poll.
  write('..v3', { listeners: [] })
  symlinkSync('..v3', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  await waitFor(() => spoke.reloads.failure === 1, 5000, 'the invalid file rejected')
  await new Promise((r) => setTimeout(r, 500))
  t.equal(spoke.reloads.failure, 1, 'an unchanged rejected file is not tried again')
  t.equal(spoke.upstreams.get('orders')!.config.policy, 'least_request', 'the running configuration stays')
})
