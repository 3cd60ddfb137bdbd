// The dashboard's queries over a real run, drawn: Debian's Prometheus (127.0.0.1, a scratch data
// directory, scrape and evaluation every second) scrapes the `spoke` executable while it balances
// paced HTTP and gRPC load over real pods on 127.0.0.2…, through a scripted run: a pod that answers
// 503 (ejections), another that resets every request (retries), a pod joining DNS, a DNS outage (SERVFAIL), a pod leaving
// DNS, and, where this build exports spoke_config_reloads_total, a rejected and an accepted
// reload. Then every query of k8s/grafana/spoke-dashboard.json is asked of Prometheus'
// HTTP API over the run and drawn by bench/dashboard-plot.ts (gnuplot) into a PNG.
//
// Usage: npm run dashboard [-- --out docs/dashboard.png --data /tmp/dashboard.json]
// About two minutes; needs `prometheus` and `gnuplot` (Debian: prometheus, gnuplot-nox). Stops
// everything it started (spoke and Prometheus by PID) before it exits.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { stringify } from 'yaml'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { frame, startGrpcPods } from '../src/demo/grpc-pod.ts'
import { startPods } from '../src/demo/pod.ts'
import { type Panel, plot, type RunData } from './dashboard-plot.ts'

const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'docs/dashboard.png' }, data: { type: 'string' } } })
const DASHBOARD = new URL('../k8s/grafana/spoke-dashboard.json', import.meta.url)
const BIN = new URL('../bin/spoke.js', import.meta.url).pathname
const ORDERS = 'orders.default.svc.cluster.local'
const PAYMENTS = 'payments.default.svc.cluster.local'
/** Grafana's $__rate_interval for a 1 s scrape is 4 s; 5 s smooths the 1 s jitter of a busy machine. */
const RATE_INTERVAL = '5s'
const HTTP_RPS = 100
const GRPC_RPS = 20
const RUN_S = 100

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const log = (line: string): void => { process.stderr.write(`[dashboard] ${line}\n`) }

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as net.AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

const children: ChildProcess[] = []
function start(command: string, argv: string[], logFile: string): ChildProcess {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => { out += c })
  child.stderr!.on('data', (c: Buffer) => { out += c })
  child.on('exit', () => writeFileSync(logFile, out))
  children.push(child)
  return child
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await once(child, 'exit')
  clearTimeout(killer)
}

const tmp = mkdtempSync(join(tmpdir(), 'spoke-dashboard-'))
const dns = await startDnsServer({ host: '127.0.0.1' })
const pods = await startPods(5, { record: false })
const grpcPods = await startGrpcPods(2, { first: 10 })
const [admin, ordersPort, paymentsPort, prometheusPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
const publish = (list: typeof pods): void => dns.setA(ORDERS, list.map((p) => p.host), 5)
publish(pods.slice(0, 4))
dns.setA(PAYMENTS, grpcPods.map((p) => p.host), 5)

const spokeConfig = (retries: number): Record<string, unknown> => ({
  admin: { address: `127.0.0.1:${admin}` },
  dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
  shutdown: { linger: '0s', drainTimeout: '5s' },
  listeners: [
    { name: 'orders', address: `127.0.0.1:${ordersPort}`, upstream: 'orders' },
    { name: 'payments', address: `127.0.0.1:${paymentsPort}`, upstream: 'payments' },
  ],
  upstreams: [
    // refresh 5s, the default, is what the dashboard's DNS line and the alert assume.
    { name: 'orders', service: ORDERS, port: pods[0].port, discovery: { refresh: '5s', minRefresh: '1s' }, retries: { attempts: retries }, outlierDetection: { ejectionTime: '10s' } },
    { name: 'payments', service: PAYMENTS, port: grpcPods[0].port, protocol: 'h2c', discovery: { refresh: '5s', minRefresh: '1s' } },
  ],
})
const configFile = join(tmp, 'spoke.yaml')
writeFileSync(configFile, stringify(spokeConfig(1)))
const spoke = start('node', [BIN, 'run', '-c', configFile, '--log-level', 'warn'], join(tmp, 'spoke.log'))
const prometheusConfig = join(tmp, 'prometheus.yml')
writeFileSync(prometheusConfig, stringify({
  global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
  // The labels a PodMonitor's target gets: the sidecar's pod.
  scrape_configs: [{ job_name: 'spoke', static_configs: [{ targets: [`127.0.0.1:${admin}`], labels: { namespace: 'default', pod: 'client-7c9d5-x2x8q' } }] }],
}))
const prometheus = start('prometheus', [
  `--config.file=${prometheusConfig}`, `--storage.tsdb.path=${join(tmp, 'data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`,
], join(tmp, 'prometheus.log'))
const api = `http://127.0.0.1:${prometheusPort}/api/v1`

const loadStops: (() => Promise<void>)[] = []
try {
  await until('spoke to be ready', 15_000, async () => (await fetch(`http://127.0.0.1:${admin}/ready`)).ok)
  await until('Prometheus to scrape spoke', 30_000, async () => {
    const body = await (await fetch(`${api}/query?query=up`)).json() as { data: { result: unknown[] } }
    return body.data.result.length > 0
  })
  const hasReloads = (await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()).includes('spoke_config_reloads_total')
  log(`spoke (pid ${spoke.pid}) and Prometheus (pid ${prometheus.pid}) up; ${RUN_S} s of load`)

  const t0 = Date.now()
  loadStops.push(httpLoad(`http://127.0.0.1:${ordersPort}`), grpcLoad(`http://127.0.0.1:${paymentsPort}`))
  const events: { atS: number; label: string }[] = []
  const at = async (s: number, label: string, act: () => void): Promise<void> => {
    await sleep(Math.max(0, t0 + s * 1000 - Date.now()))
    act()
    events.push({ atS: (Date.now() - t0) / 1000, label })
    log(`${s} s: ${label}`)
  }
  await at(15, `${pods[3].host} answers 503`, () => { pods[3].behaviour = { status: 503 } })
  await at(30, `${pods[3].host} recovers, ${pods[2].host} resets`, () => { pods[3].behaviour = null; pods[2].behaviour = { reset: true } })
  await at(40, `${pods[2].host} recovers`, () => { pods[2].behaviour = null })
  await at(45, `${pods[4].host} joins`, () => publish(pods))
  await at(55, 'DNS SERVFAIL', () => dns.setBehaviour('*', 'servfail'))
  if (hasReloads) {
    await at(62, 'bad reload', () => { writeFileSync(configFile, 'listeners: [oops\n'); spoke.kill('SIGHUP') })
    await at(70, 'good reload', () => { writeFileSync(configFile, stringify(spokeConfig(2))); spoke.kill('SIGHUP') })
  }
  await at(80, 'DNS back', () => dns.setBehaviour('*', 'normal'))
  await at(88, `${pods[0].host} leaves`, () => publish(pods.slice(1)))
  await sleep(Math.max(0, t0 + RUN_S * 1000 - Date.now()))
  await Promise.all(loadStops.splice(0).map((s) => s()))
  await sleep(3000) // the last scrapes

  const data: RunData = { startS: t0 / 1000 - 3, endS: Date.now() / 1000, events, panels: await queryPanels(t0 / 1000 - 3, Date.now() / 1000) }
  if (args.data !== undefined) writeFileSync(args.data, JSON.stringify(data))
  plot(data, args.out!)
  log(`wrote ${args.out}`)
} finally {
  await Promise.all(loadStops.map((s) => s()))
  for (const child of children) await stop(child)
  await Promise.all([...pods, ...grpcPods].map((p) => p.close()))
  await dns.close()
  rmSync(tmp, { recursive: true, force: true })
}

/** Paced GETs over a few keep-alive connections: mostly `/`, some slow, 3 % answered 503. */
function httpLoad(base: string): () => Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  let n = 0
  let inFlight = 0
  const timer = setInterval(() => {
    if (inFlight >= 64) return
    const i = n++
    const path = i % 33 === 0 ? '/status/503' : i % 10 === 0 ? `/slow?ms=${5 + (i * 37) % 120}` : '/'
    inFlight++
    http.get(`${base}${path}`, { agent }, (res) => { res.resume(); res.on('end', () => inFlight--) })
      .on('error', () => inFlight--)
  }, 1000 / HTTP_RPS)
  return async () => { clearInterval(timer); agent.destroy() }
}

/** Paced unary gRPC calls on one h2c connection: 1 in 20 fails UNAVAILABLE, 1 in 25 NOT_FOUND. */
function grpcLoad(base: string): () => Promise<void> {
  const session = http2.connect(base)
  session.on('error', () => {})
  let n = 0
  const timer = setInterval(() => {
    const i = n++
    const [method, body] = i % 20 === 0 ? ['Fail', { code: 14 }] : i % 25 === 0 ? ['Fail', { code: 5 }] : ['Unary', { n: i }]
    const stream = session.request({ ':method': 'POST', ':path': `/demo.Echo/${method}`, 'content-type': 'application/grpc', te: 'trailers' })
    stream.on('error', () => {})
    stream.resume()
    stream.end(frame(body))
  }, 1000 / GRPC_RPS)
  return async () => { clearInterval(timer); session.close() }
}

/** Every query of every panel, as Grafana would send it with "All" in each variable. */
async function queryPanels(startS: number, endS: number): Promise<Panel[]> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { type: string; title: string; fieldConfig?: { defaults: { unit?: string; thresholds?: { steps: { value: number | null }[] } } }; targets?: { expr: string; legendFormat: string }[] }[] }
  const out: Panel[] = []
  for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
    const series: { name: string; points: [number, number][] }[] = []
    const missing: string[] = []
    for (const target of p.targets ?? []) {
      const expr = target.expr.replaceAll('$__rate_interval', RATE_INTERVAL).replace(/\$(namespace|pod|upstream)\b/g, '.*')
      const url = `${api}/query_range?query=${encodeURIComponent(expr)}&start=${startS}&end=${endS}&step=1`
      const body = await (await fetch(url)).json() as { status: string; error?: string; data: { result: { metric: Record<string, string>; values: [number, string][] }[] } }
      if (body.status !== 'success') throw new Error(`${p.title}: ${body.error}`)
      if (body.data.result.length === 0) missing.push(...[...expr.matchAll(/\b(spoke_\w+?)(_bucket)?\{/g)].map((m) => m[1]))
      for (const r of body.data.result) {
        series.push({
          name: target.legendFormat.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => r.metric[l] ?? ''),
          points: r.values.map(([t, v]) => [t, Number(v)]),
        })
      }
    }
    const steps = p.fieldConfig?.defaults.thresholds?.steps ?? []
    out.push({
      title: p.title, unit: p.fieldConfig?.defaults.unit ?? 'short',
      threshold: steps.find((s) => s.value !== null)?.value ?? null, series, noData: series.length === 0 ? [...new Set(missing)] : [],
    })
  }
  return out
}
