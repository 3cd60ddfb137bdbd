// SPEC §10 through the real executable: SIGHUP reloads (and no longer kills spoke), an invalid
// file is rejected while spoke keeps serving, the content poll notices a changed file and a
// ConfigMap-style symlink swap. Needs `npm run build` (bin/spoke.js runs dist/).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request, waitFor } from './helpers/harness.ts'
import { SERVICE_A, SERVICE_B, startTwoServices, type TwoServices } from './helpers/reload-cluster.ts'

const BIN = new URL('../bin/spoke.js', import.meta.url).pathname

interface Run {
  child: ChildProcess
  logs: () => { level: string; msg: string; [k: string]: unknown }[]
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

function yaml(cluster: TwoServices, ports: { listener: number; admin: number }, extra: { service?: 'a' | 'b'; policy?: string; reload?: string } = {}): string {
  const b = extra.service === 'b'
  return `admin: { address: "127.0.0.1:${ports.admin}" }
reload: ${extra.reload ?? '0'}
shutdown: { linger: 0s, drainTimeout: 2s }
dns: { servers: ["127.0.0.1:${cluster.dns.address.port}"], timeout: 500ms }
listeners: [{ name: orders, address: "127.0.0.1:${ports.listener}", upstream: orders }]
upstreams:
  - { name: orders, service: ${b ? SERVICE_B : SERVICE_A}, port: ${(b ? cluster.b : cluster.a)[0].port}, policy: ${extra.policy ?? 'round_robin'}, discovery: { refresh: 1s, minRefresh: 100ms } }
`
}

async function startSpoke(t: { teardown(fn: () => unknown): void }, file: string, admin: number): Promise<Run> {
  const child = spawn(process.execPath, [BIN, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => { out += c })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const deadline = Date.now() + 10_000
  while ((await fetch(`http://127.0.0.1:${admin}/ready`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`spoke did not become ready: ${out}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, logs: () => out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) }
}

async function runningConfig(admin: number): Promise<{ upstreams: { policy: string; service: string }[] }> {
  return (await fetch(`http://127.0.0.1:${admin}/config`)).json() as never
}

t.test('SIGHUP reloads; unchanged content is not a reload; an invalid file is rejected and spoke keeps serving', async (t) => {
  const cluster = await startTwoServices()
  t.teardown(() => cluster.close())
  const ports = { listener: await freePort(), admin: await freePort() }
  const file = join(mkdtempSync(join(tmpdir(), 'spoke-reload-')), 'spoke.yaml')
  writeFileSync(file, yaml(cluster, ports))
  const run = await startSpoke(t, file, ports.admin)
  const url = `http://127.0.0.1:${ports.listener}/`

  run.child.kill('SIGHUP')
  await waitFor(() => run.logs().some((l) => /not changed/.test(l.msg)), 5000, 'the unchanged-file line')
  t.equal(run.child.exitCode, null, 'SIGHUP does not end spoke')

  writeFileSync(file, yaml(cluster, ports, { service: 'b', policy: 'least_request' }))
  run.child.kill('SIGHUP')
  await waitFor(() => run.logs().some((l) => l.msg === 'configuration reloaded'), 5000, 'the reload')
  t.equal((await runningConfig(ports.admin)).upstreams[0].policy, 'least_request', '/config shows the new file')
  t.match((await request(url)).headers['x-pod'], /^pod-b-/, 'requests go to the new pods')

  writeFileSync(file, yaml(cluster, ports).replace('policy: round_robin', 'policy: fastest').replace('timeout: 500ms', 'timeout: soon'))
  run.child.kill('SIGHUP')
  await waitFor(() => run.logs().some((l) => l.msg.startsWith('reload rejected;')), 5000, 'the rejection')
  const errors = run.logs().filter((l) => l.level === 'error' && l.msg === 'reload rejected')
  t.strictSame(errors.map((l) => l.path).sort(), ['dns.timeout', 'upstreams[0].policy'], 'every problem at error, with its path')
  t.equal(run.child.exitCode, null, 'still running')
  t.equal((await request(url)).status, 200, 'still serving, on the running configuration')
  t.match((await request(url)).headers['x-pod'], /^pod-b-/)
  const metrics = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text()
  t.match(metrics, /spoke_config_reloads_total\{result="success"\} 1\n/)
  t.match(metrics, /spoke_config_reloads_total\{result="failure"\} 1\n/)
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/ready`)).status, 200, '/ready stayed 200')
})

t.test('the content poll notices a rewritten file and a ConfigMap-style symlink swap', async (t) => {
  const cluster = await startTwoServices()
  t.teardown(() => cluster.close())
  const ports = { listener: await freePort(), admin: await freePort() }
  // The kubelet's layout: spoke.yaml → ..data/spoke.yaml, ..data → ..<timestamp> directory.
  const dir = mkdtempSync(join(tmpdir(), 'spoke-configmap-'))
  const version = (name: string, content: string): void => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'spoke.yaml'), content)
    symlinkSync(name, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  version('..v1', yaml(cluster, ports, { reload: '200ms' }))
  symlinkSync('..data/spoke.yaml', join(dir, 'spoke.yaml'))
  const run = await startSpoke(t, join(dir, 'spoke.yaml'), ports.admin)

  version('..v2', yaml(cluster, ports, { reload: '200ms', policy: 'peak_ewma' }))
  await waitFor(() => run.logs().some((l) => l.msg === 'configuration reloaded'), 10_000, 'the poll noticing the swap')
  t.equal((await runningConfig(ports.admin)).upstreams[0].policy, 'peak_ewma')
  t.equal((await request(`http://127.0.0.1:${ports.listener}/`)).status, 200)
})
