// The soak (docs/reliability.md, "Load"): spoke as the `spoke` executable in front of nginx
// "pods" that are replaced one by one every churn period (a new pod joins DNS, the oldest leaves
// it and gets SIGQUIT, nginx's graceful stop), under a paced load (h2load --rps) at a fixed rate
// or at 70 % of spoke's maximum measured first with wrk. spoke's RSS and open file descriptors
// are sampled every second from /proc. Used by bench/soak.ts and by test/soak.test.ts.
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { startDnsServer } from '../src/demo/dns-server.ts'

const SERVICE = 'pods.soak.svc.cluster.local'
/** Addresses pods are started on, in turn; three are in DNS at any time. */
const POD_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9']
const PODS = 3
const BIN = new URL('../bin/spoke.js', import.meta.url).pathname

export interface SoakOptions {
  readonly durationMs: number
  /** Requests per second; null: measure spoke's maximum with wrk and use `share` of it. */
  readonly rate: number | null
  readonly share: number
  readonly churnEveryMs: number
  /** h2load client connections. */
  readonly connections: number
  /** wrk's run for the maximum. */
  readonly maxRunMs: number
  /** Pin spoke to core 0, everything else to core 1 (bench/lib.sh's split). */
  readonly pin: boolean
  readonly log: (line: string) => void
}

export interface Sample {
  readonly atMs: number
  readonly rssKb: number
  readonly fds: number
}

export interface SoakResult {
  readonly maxRps: number | null
  readonly targetRps: number
  readonly achievedRps: number
  readonly durationMs: number
  /** h2load's counts. */
  readonly requests: { total: number; succeeded: number; failed: number; errored: number; timeout: number; status2xx: number; statusOther: number }
  /** spoke_requests_total by status code, from spoke's /metrics after the run. */
  readonly spokeCodes: Readonly<Record<string, number>>
  readonly churns: number
  readonly retries: number
  readonly ejections: number
  /** Ejections of a pod that had already left DNS (refusing while spoke had not seen it leave). */
  readonly ejectionsOfLeavingPods: number
  readonly connectionsOpened: number
  readonly rss: { readonly idleKb: number; readonly afterWarmupKb: number; readonly endKb: number; readonly maxKb: number; readonly growthPct: number; readonly warmupMs: number }
  readonly fds: { readonly baseline: number; readonly peak: number; readonly after: number }
  readonly samples: readonly Sample[]
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Children started here, stopped by PID at the end whatever happens. */
class Processes {
  readonly #children = new Set<ChildProcess>()

  spawn(command: string, args: readonly string[], pin: string | null): ChildProcess {
    // This Node first on PATH: bin/spoke.js's shebang (`env -S node …`) must find it.
    const options: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` } }
    const child = pin === null
      ? spawn(command, args, options)
      : spawn('taskset', ['-c', pin, command, ...args], options)
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return child
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((c) => stop(c, 'SIGKILL', 0)))
  }
}

/** Signals a child and waits for it to exit; SIGKILL after `graceMs`. */
function stop(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.kill(signal)
  })
}

function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => { stdout += c })
  child.stderr!.on('data', (c: Buffer) => { stderr += c })
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })))
}

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)))
  })
}

/** A port free on every pod address, and two more on 127.0.0.1. */
async function pickPorts(): Promise<{ pod: number; listener: number; admin: number }> {
  const found: number[] = []
  for (let tries = 0; found.length < 3 && tries < 200; tries++) {
    const port = 20000 + Math.floor(Math.random() * 40000)
    const hosts = found.length === 0 ? POD_ADDRESSES : ['127.0.0.1']
    if (found.includes(port)) continue
    if ((await Promise.all(hosts.map((h) => bindable(h, port)))).every(Boolean)) found.push(port)
  }
  if (found.length < 3) throw new Error('soak: no free ports found')
  return { pod: found[0], listener: found[1], admin: found[2] }
}

/** One pod: its own nginx (master + 1 worker) on one address, like a container with one IP. */
class NginxPod {
  readonly host: string
  readonly #child: ChildProcess
  readonly #dir: string

  private constructor(host: string, child: ChildProcess, dir: string) {
    this.host = host
    this.#child = child
    this.#dir = dir
  }

  static async start(processes: Processes, host: string, port: number, name: string, pin: string | null): Promise<NginxPod> {
    const dir = mkdtempSync(join(tmpdir(), 'spoke-soak-pod-'))
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => `  ${d}_temp_path ${dir}/${d};`).join('\n')
    writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
${temp}
  server {
    listen ${host}:${port};
    add_header x-pod ${name};
    location / { return 200 "ok\\n"; }
  }
}
`)
    const child = processes.spawn('nginx', ['-p', `${dir}/`, '-c', `${dir}/nginx.conf`, '-e', `${dir}/error.log`, '-g', 'daemon off;'], pin)
    const deadline = Date.now() + 10_000
    for (;;) {
      const ok = await fetch(`http://${host}:${port}/`).then((r) => r.ok, () => false)
      if (ok) break
      if (child.exitCode !== null || Date.now() > deadline) {
        let log = ''
        try { log = readFileSync(join(dir, 'error.log'), 'utf8') } catch { /* none */ }
        throw new Error(`soak: nginx pod on ${host}:${port} did not start: ${log.trim()}`)
      }
      await sleep(50)
    }
    return new NginxPod(host, child, dir)
  }

  /** SIGQUIT: nginx's graceful stop (stop accepting, finish requests, close idle connections). */
  async stop(): Promise<void> {
    await stop(this.#child, 'SIGQUIT', 10_000)
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

function sample(pid: number, startedAt: number): Sample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
    return { atMs: Date.now() - startedAt, rssKb, fds: readdirSync(`/proc/${pid}/fd`).length }
  } catch {
    return null
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function metricsOf(adminUrl: string): Promise<string> {
  return fetch(`${adminUrl}/metrics`).then((r) => r.text())
}

function counter(text: string, name: string): number {
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  return sum
}

function codes(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^spoke_requests_total\{.*code="(\d+)".*\} (\S+)/.exec(line)
    if (m !== null) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2])
  }
  return out
}

/** Waits until `read()` is at most `target` (or stable for `stableMs` when target is null). */
async function settle(read: () => number, target: number | null, timeoutMs: number, stableMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let last = read()
  let since = Date.now()
  for (;;) {
    await sleep(250)
    const now = read()
    if (target !== null && now <= target) return now
    if (now !== last) { last = now; since = Date.now() }
    if (target === null && Date.now() - since >= stableMs) return now
    if (Date.now() > deadline) return now
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { log } = options
  const processes = new Processes()
  const core0 = options.pin ? '0' : null
  const core1 = options.pin ? '1' : null
  const dir = mkdtempSync(join(tmpdir(), 'spoke-soak-'))
  const dns = await startDnsServer()
  const pods: NginxPod[] = []
  try {
    const ports = await pickPorts()
    let nextAddress = 0
    const newPod = async (): Promise<NginxPod> => {
      const host = POD_ADDRESSES[nextAddress % POD_ADDRESSES.length]
      const pod = await NginxPod.start(processes, host, ports.pod, `pod-${nextAddress}`, core1)
      nextAddress++
      return pod
    }
    for (let i = 0; i < PODS; i++) pods.push(await newPod())
    dns.setA(SERVICE, pods.map((p) => p.host), 1)
    // When each address joined or left DNS, to tell which pods spoke ejected.
    const dnsHistory: { host: string; at: number; inDns: boolean }[] = pods.map((p) => ({ host: p.host, at: Date.now(), inDns: true }))

    const config = join(dir, 'spoke.yaml')
    // Every default but one: extra connections close after 5 s idle instead of 60 s, so that
    // the descriptors can be seen back at their baseline soon after the load.
    writeFileSync(config, `admin: { address: "127.0.0.1:${ports.admin}" }
shutdown: { linger: 0s, drainTimeout: 5s }
dns: { servers: ["127.0.0.1:${dns.address.port}"] }
listeners:
  - { name: soak, address: "127.0.0.1:${ports.listener}", upstream: pods }
upstreams:
  - name: pods
    service: ${SERVICE}
    port: ${ports.pod}
    connection: { idleTimeout: 5s }
`)
    // The executable, as users run it, so that its shebang's V8 flags apply.
    const spoke = processes.spawn(BIN, ['run', '-c', config, '--log-level', 'warn'], core0)
    const spokeOut = output(spoke)
    const adminUrl = `http://127.0.0.1:${ports.admin}`
    const url = `http://127.0.0.1:${ports.listener}/`
    const readyBy = Date.now() + 15_000
    while ((await fetch(`${adminUrl}/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (spoke.exitCode !== null || Date.now() > readyBy) throw new Error(`soak: spoke did not become ready: ${(await spokeOut).stderr}`)
      await sleep(100)
    }
    const pid = spoke.pid!
    const startedAt = Date.now()
    const fdsNow = (): number => sample(pid, startedAt)?.fds ?? NaN

    let maxRps: number | null = null
    let target = options.rate ?? 0
    if (options.rate === null) {
      const secs = Math.max(1, Math.round(options.maxRunMs / 1000))
      log(`soak: measuring spoke's maximum (wrk -t1 -c50, 3 s warm-up, ${secs} s)`)
      await output(processes.spawn('wrk', ['-t1', '-c50', '-d3s', url], core1))
      const wrk = await output(processes.spawn('wrk', ['-t1', '-c50', `-d${secs}s`, url], core1))
      maxRps = Number(/Requests\/sec:\s+([\d.]+)/.exec(wrk.stdout)?.[1] ?? NaN)
      if (!Number.isFinite(maxRps)) throw new Error(`soak: could not read wrk's result: ${wrk.stdout}${wrk.stderr}`)
      target = Math.round(maxRps * options.share)
    }
    // The baseline: spoke idle, three pods, the extra connections of the wrk run closed.
    const idle = sample(pid, startedAt)!
    // Stable for longer than idleTimeout (5 s) after wrk, so that its extra connections are gone.
    const baselineFds = await settle(fdsNow, null, 20_000, options.rate === null ? 7000 : 1000)
    const idleRssKb = sample(pid, startedAt)?.rssKb ?? idle.rssKb

    const perClient = Math.max(1, Math.round(target / options.connections))
    const secs = Math.max(1, Math.round(options.durationMs / 1000))
    log(`soak: ${options.connections} connections × ${perClient} req/s = ${perClient * options.connections} req/s for ${secs} s, a pod replaced every ${options.churnEveryMs / 1000} s; fds at rest ${baselineFds}`)
    const samples: Sample[] = []
    const sampler = setInterval(() => {
      const s = sample(pid, startedAt)
      if (s !== null) samples.push(s)
    }, 1000)
    const loadStartedAt = Date.now() - startedAt
    const h2load = output(processes.spawn('h2load', ['--h1', '-c', String(options.connections), '--rps', String(perClient), '-D', String(secs), url], core1))
    let churns = 0
    let loading = true
    h2load.then(() => { loading = false })
    const churner = (async () => {
      for (;;) {
        const wake = Date.now() + options.churnEveryMs
        while (loading && Date.now() < wake) await sleep(100)
        if (!loading) return
        // Kubernetes' order: the new pod is Ready and joins the endpoints; the old one leaves
        // them and gets its stop signal at the same moment.
        const fresh = await newPod()
        const old = pods.shift()!
        pods.push(fresh)
        dns.setA(SERVICE, pods.map((p) => p.host), 1)
        dnsHistory.push({ host: fresh.host, at: Date.now(), inDns: true }, { host: old.host, at: Date.now(), inDns: false })
        churns++
        await old.stop()
      }
    })()
    const load = await h2load
    await churner
    clearInterval(sampler)
    if (load.code !== 0) throw new Error(`soak: h2load failed: ${load.stderr}`)

    const after = await settle(fdsNow, baselineFds, 20_000)
    const metrics = await metricsOf(adminUrl)
    await stop(spoke, 'SIGTERM', 10_000)
    let ejectionsOfLeavingPods = 0
    for (const line of (await spokeOut).stdout.split('\n')) {
      if (!line.includes('"endpoint ejected"')) continue
      const entry = JSON.parse(line) as { time: string; endpoint: string }
      const at = Date.parse(entry.time)
      const host = entry.endpoint.slice(0, entry.endpoint.lastIndexOf(':'))
      const last = dnsHistory.filter((h) => h.host === host && h.at <= at).at(-1)
      if (last !== undefined && !last.inDns) ejectionsOfLeavingPods++
    }

    const num = (re: RegExp): number => Number(re.exec(load.stdout)?.[1] ?? NaN)
    const requests = {
      total: num(/requests: (\d+) total/),
      succeeded: num(/(\d+) succeeded/),
      failed: num(/(\d+) failed/),
      errored: num(/(\d+) errored/),
      timeout: num(/(\d+) timeout/),
      status2xx: num(/status codes: (\d+) 2xx/),
      statusOther: num(/(\d+) 3xx/) + num(/(\d+) 4xx/) + num(/(\d+) 5xx/),
    }
    const during = samples.filter((s) => s.atMs >= loadStartedAt)
    // Warm-up: the first fifth of the run (a minute of five); RSS compares the median of the
    // next window with the median of the last one, so a single GC peak does not decide.
    const warmupMs = Math.round(options.durationMs / 5)
    const windowMs = Math.max(3000, Math.min(30_000, options.durationMs / 5))
    const afterWarmup = during.filter((s) => s.atMs >= loadStartedAt + warmupMs && s.atMs < loadStartedAt + warmupMs + windowMs).map((s) => s.rssKb)
    const lastAt = during.at(-1)?.atMs ?? 0
    const end = during.filter((s) => s.atMs > lastAt - windowMs).map((s) => s.rssKb)
    const afterWarmupKb = median(afterWarmup)
    const endKb = median(end)
    return {
      maxRps,
      targetRps: perClient * options.connections,
      achievedRps: Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(load.stdout)?.[1] ?? NaN),
      durationMs: options.durationMs,
      requests,
      spokeCodes: codes(metrics),
      churns,
      retries: counter(metrics, 'spoke_retries_total'),
      ejections: counter(metrics, 'spoke_outlier_ejections_total'),
      ejectionsOfLeavingPods,
      connectionsOpened: counter(metrics, 'spoke_upstream_connections_opened_total'),
      rss: {
        idleKb: idleRssKb,
        afterWarmupKb,
        endKb,
        maxKb: Math.max(...during.map((s) => s.rssKb)),
        growthPct: Math.round(((endKb - afterWarmupKb) / afterWarmupKb) * 1000) / 10,
        warmupMs,
      },
      fds: { baseline: baselineFds, peak: Math.max(...during.map((s) => s.fds)), after },
      samples,
    }
  } finally {
    await Promise.all(pods.map((p) => p.stop().catch(() => {})))
    await processes.stopAll()
    await dns.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The figures as a markdown table (bench/soak.ts prints it; docs/reliability.md quotes it). */
export function soakReport(r: SoakResult): string {
  const mib = (kb: number): string => (kb / 1024).toFixed(1)
  const nonOk = Object.entries(r.spokeCodes).filter(([code]) => code !== '200').map(([c, n]) => `${n} × ${c}`).join(', ') || 'none'
  const errors = r.requests.failed + r.requests.errored + r.requests.timeout + r.requests.statusOther
  return [
    '| measure | result | target |',
    '| --- | ---: | --- |',
    `| spoke's maximum (wrk -c50) | ${r.maxRps === null ? 'not measured (fixed rate)' : `${Math.round(r.maxRps)} req/s`} | — |`,
    `| offered load (h2load --rps) | ${r.targetRps} req/s for ${Math.round(r.durationMs / 1000)} s (achieved ${r.achievedRps} req/s) | 70 % of the maximum |`,
    `| pods replaced | ${r.churns} (one every ${Math.round(r.durationMs / Math.max(1, r.churns + 1) / 1000)} s or so) | every 10 s |`,
    `| requests | ${r.requests.total} sent, ${r.requests.status2xx} × 2xx | — |`,
    `| client-visible errors | ${errors} (failed ${r.requests.failed}, errored ${r.requests.errored}, timeout ${r.requests.timeout}, non-2xx ${r.requests.statusOther}); spoke's non-200 answers: ${nonOk} | 0 |`,
    `| retries / ejections | ${r.retries} / ${r.ejections} (${r.ejectionsOfLeavingPods} of pods that had already left DNS) | — |`,
    `| upstream connections opened | ${r.connectionsOpened} | — |`,
    `| spoke RSS | idle ${mib(r.rss.idleKb)} MiB; after warm-up (${Math.round(r.rss.warmupMs / 1000)} s) ${mib(r.rss.afterWarmupKb)} MiB; end ${mib(r.rss.endKb)} MiB; max ${mib(r.rss.maxKb)} MiB | — |`,
    `| RSS growth after warm-up | ${r.rss.growthPct} % | < 10 % |`,
    `| file descriptors | ${r.fds.baseline} at rest before, ${r.fds.peak} at peak, ${r.fds.after} after the load | back to ${r.fds.baseline} |`,
  ].join('\n')
}
