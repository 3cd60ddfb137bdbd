import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { type Pod, startPods } from '../src/demo/pod.ts'
import { request, SERVICE, waitFor } from './helpers/harness.ts'

const BIN = new URL('../bin/spoke.js', import.meta.url).pathname

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

function spoke(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c })
  child.stderr!.on('data', (c: Buffer) => { err += c })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-cli-'))
  const file = join(dir, 'spoke.yaml')
  writeFileSync(file, yaml)
  return file
}

t.test('usage: --version, --help, unknown command, missing config', async (t) => {
  const version = spoke(['--version'])
  t.equal(await version.exited, 0)
  t.match(version.stdout(), /^spoke \d+\.\d+\.\d+\n$/)
  const help = spoke(['--help'])
  t.equal(await help.exited, 0)
  t.match(help.stdout(), /spoke <command>/)
  const unknown = spoke(['frobnicate'])
  t.equal(await unknown.exited, 2)
  t.match(unknown.stderr(), /unknown command "frobnicate"/)
  const missing = spoke(['run', '-c', '/nonexistent/spoke.yaml'])
  t.equal(await missing.exited, 2)
  t.match(missing.stderr(), /nonexistent/)
})

t.test('spoke check: every mistake with its path, exit 2', async (t) => {
  const file = writeConfig(`
listeners:
  - name: a
    address: 127.0.0.1:99999
    upstream: nope
upstreams:
  - name: b
    service: b.default.svc.cluster.local
    port: 80
    conection: {}
    timeouts: { request: 5 }
`)
  const run = spoke(['check', '-c', file])
  t.equal(await run.exited, 2)
  const err = run.stderr()
  t.match(err, 'listeners[0].address')
  t.match(err, 'listeners[0].upstream')
  t.match(err, 'upstreams[0].conection')
  t.match(err, 'upstreams[0].timeouts.request')
  t.equal(run.stdout(), '')
  const ok = spoke(['check'], { SPOKE_CONFIG: writeConfig('listeners: [{name: a, address: "127.0.0.1:1", upstream: b}]\nupstreams: [{name: b, service: b.default.svc.cluster.local, port: 80}]\n') })
  t.equal(await ok.exited, 0)
  t.match(ok.stdout(), /maxLifetime: 10m/)
})

t.test('spoke check: subsetSize with a mode or policy that needs every pod names its path', async (t) => {
  const upstream = (name: string, extra: string): string => `  - { name: ${name}, service: ${name}.default.svc.cluster.local, ${extra} }\n`
  const file = writeConfig(`listeners: [{ name: a, address: "127.0.0.1:1", upstream: ok }]
upstreams:
${upstream('ok', 'port: 80, discovery: { subsetSize: 3 }')}${upstream('fanout', 'port: 80, mode: broadcast, discovery: { subsetSize: 3 }')}${upstream('hashed', 'port: 80, policy: consistent_hash, hashKey: { header: x-id }, discovery: { subsetSize: 3 }')}${upstream('sharded', 'portName: http, policy: ordinal, replicas: 3, hashKey: { header: x-id }, discovery: { subsetSize: 3 }')}`)
  const run = spoke(['check', '-c', file])
  t.equal(await run.exited, 2)
  t.equal(run.stdout(), '')
  t.strictSame(run.stderr().trim().split('\n'), [
    `${file}: upstreams[1].discovery.subsetSize: must be 0 for mode: broadcast, which needs every pod`,
    `${file}: upstreams[2].discovery.subsetSize: must be 0 for policy: consistent_hash, which needs every pod`,
    `${file}: upstreams[3].discovery.subsetSize: must be 0 for policy: ordinal, which needs every pod`,
  ], 'one line each, with its path; the balanced upstream may have one')
  const ok = spoke(['check', '-c', writeConfig(`listeners: [{ name: a, address: "127.0.0.1:1", upstream: ok }]\nupstreams:\n${upstream('ok', 'port: 80, discovery: { subsetSize: 3 }')}`)])
  t.equal(await ok.exited, 0)
  t.match(ok.stdout(), /\n {6}subsetSize: 3\n/, 'the effective configuration shows it')
})

t.test('a port already in use: exit 1 with one line naming the listener and address', async (t) => {
  const blocker = net.createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => blocker.close())
  const taken = (blocker.address() as net.AddressInfo).port
  const file = writeConfig(`admin: { address: "127.0.0.1:${await freePort()}" }
dns: { servers: ["127.0.0.1:9"] }
listeners: [{ name: orders, address: "127.0.0.1:${taken}", upstream: orders }]
upstreams: [{ name: orders, service: ${SERVICE}, port: 80 }]
`)
  const run = spoke(['run', '-c', file])
  t.equal(await run.exited, 1)
  t.match(run.stderr(), `listener orders: cannot listen on 127.0.0.1:${taken}: EADDRINUSE`)
  t.equal(run.stderr().trim().split('\n').length, 1, 'one line')
})

async function startedSpoke(t: { teardown(fn: () => unknown): void }, linger: string): Promise<{ run: Run; url: string; admin: string; pods: Pod[] }> {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pods = await startPods(2)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  dns.setA(SERVICE, pods.map((p) => p.host), 1)
  const port = await freePort()
  const adminPort = await freePort()
  const file = writeConfig(`admin: { address: "127.0.0.1:${adminPort}" }
shutdown: { linger: ${linger}, drainTimeout: 5s }
dns: { servers: ["127.0.0.1:${dns.address.port}"] }
listeners: [{ name: orders, address: "127.0.0.1:${port}", upstream: orders }]
upstreams: [{ name: orders, service: ${SERVICE}, port: ${pods[0].port} }]
`)
  const run = spoke(['run', '-c', file, '--log-level', 'info'])
  t.teardown(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL') })
  const admin = `http://127.0.0.1:${adminPort}`
  const deadline = Date.now() + 10_000
  for (;;) {
    const ready = await fetch(`${admin}/ready`).then((r) => r.status, () => 0)
    if (ready === 200) break
    if (Date.now() > deadline) throw new Error(`spoke never became ready: ${run.stderr()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { run, url: `http://127.0.0.1:${port}`, admin, pods }
}

t.test('SIGTERM: /ready 503 at once, linger keeps accepting, in-flight completes, exit 0', async (t) => {
  const { run, url, admin, pods } = await startedSpoke(t, '500ms')
  const slow = request(`${url}/slow?ms=1200`)
  await waitFor(() => pods.some((p) => p.received.some((r) => r.url.startsWith('/slow'))), 2000, 'the slow request at a pod')
  run.child.kill('SIGTERM')
  await waitFor(() => run.stdout().includes('shutting down'), 2000, 'the shutdown log line')
  t.equal((await fetch(`${admin}/ready`)).status, 503, '/ready is 503 at once')
  t.equal((await fetch(`${admin}/healthz`)).status, 200, '/healthz still 200')
  const during = await request(`${url}/`)
  t.equal(during.status, 200, 'a request during linger still goes out')
  t.equal((await slow).status, 200, 'the in-flight request completed')
  t.equal(await run.exited, 0, 'exit 0')
  const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: string })
  t.ok(lines.every((l) => typeof l.msg === 'string' && typeof l.level === 'string'), 'logs are JSON lines')
  t.ok(lines.some((l) => l.msg === 'spoke stopped'))
})

t.test('a second signal exits at once with status 1', async (t) => {
  const { run } = await startedSpoke(t, '10s')
  run.child.kill('SIGTERM')
  await waitFor(() => run.stdout().includes('shutting down'), 2000, 'the shutdown log line')
  const started = Date.now()
  run.child.kill('SIGINT')
  t.equal(await run.exited, 1)
  t.ok(Date.now() - started < 2000, 'at once, not after the 10 s linger')
})
