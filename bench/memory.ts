// Memory under bursts of app connections (issue 13): `node bench/memory.ts [H2_ROUNDS]`.
// Each scenario starts a fresh spoke with default settings (only what the config needs) and
// samples its VmRSS, RssAnon and RssFile from /proc/PID/status every 250 ms: 5 s idle before, the
// load, and 60 s after the load stops.
//   1. HTTP/1.1: 5 000 concurrent keep-alive app connections (wrk -t1 -c5000, 20 s), http1 pods.
//   2. HTTP/2: 2 000 h2c app connections × 10 streams (h2load -c2000 -m10, 20 s), h2c pods;
//      H2_ROUNDS times (default 3) on the same spoke, to see whether RSS keeps growing.
// Goals: peak VmRSS < 256 MiB; 60 s after the load, VmRSS within 40 MB (40e6 bytes) of idle.
// spoke runs as the executable (its shebang's V8 flags, as the image's ENTRYPOINT), pinned to
// core 1; the load generator to core 0. Needs nginx, wrk, h2load, taskset and 127.0.0.2–7.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startNginxPods } from '../test/helpers/nginx.ts'

const H2_ROUNDS = Number(process.argv[2] ?? 3)
if (!Number.isInteger(H2_ROUNDS) || H2_ROUNDS < 1 || H2_ROUNDS > 10) {
  console.error('usage: node bench/memory.ts [H2_ROUNDS (1–10, default 3)]')
  process.exit(2)
}
const IDLE_MS = 5_000
// MEMORY_LOAD_S and MEMORY_AFTER_S shorten a run to try the script; the figures need the defaults.
// MEMORY_SKIP_H1=1 runs the h2c scenario only.
const LOAD_S = Number(process.env.MEMORY_LOAD_S ?? 20)
const AFTER_MS = Number(process.env.MEMORY_AFTER_S ?? 60) * 1000
const SAMPLE_MS = 250
const PEAK_GOAL_KB = 256 * 1024
const RETURN_GOAL_KB = 40e6 / 1024
const HERE = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const tmp = mkdtempSync(join(tmpdir(), 'spoke-memory-'))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Sample { t: number; rss: number; anon: number; file: number }
/** VmRSS, RssAnon, RssFile in kB; null once the process is gone. */
function sample(pid: number, t0: number): Sample | null {
  let status: string
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8') } catch { return null }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { t: Date.now() - t0, rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') }
}

/** Samples every SAMPLE_MS until stopped; a timer, so that it keeps going while a load runs. */
function sampler(pid: number, t0: number): { samples: Sample[]; stop(): void } {
  const samples: Sample[] = []
  const take = (): void => { const s = sample(pid, t0); if (s !== null) samples.push(s) }
  take()
  const timer = setInterval(take, SAMPLE_MS)
  return { samples, stop: () => clearInterval(timer) }
}

/** The memory figures of prom-client's default metrics, in MiB (what V8 and Node say they hold). */
async function processMetrics(adminPort: number): Promise<string> {
  const text = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text(), () => '')
  const get = (name: string): number => Number(new RegExp(`^${name} ([\\d.e+]+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576
  return `metrics: resident ${get('process_resident_memory_bytes').toFixed(1)}, heap used ${get('nodejs_heap_size_used_bytes').toFixed(1)}` +
    ` / total ${get('nodejs_heap_size_total_bytes').toFixed(1)}, external ${get('nodejs_external_memory_bytes').toFixed(1)} MiB`
}

/** Runs a load generator pinned to core 0, killed by its PID if it overruns its time by 30 s. */
function runLoad(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('taskset', ['-c', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), (LOAD_S + 30) * 1000)
    child.once('error', (e) => { clearTimeout(timer); reject(e) })
    const started = Date.now()
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve(`${out}\n[${args[0]} ${signal === null ? `exited ${code}` : `killed by ${signal}`} after ${((Date.now() - started) / 1000).toFixed(1)} s]`)
    })
  })
}

/** One line of what the load generator says: requests done, how many were not 2xx, how it ended. */
function loadSummary(out: string, h1: boolean): string {
  const ended = /\[(\w+ (?:exited|killed) [^\]]+)\]$/.exec(out)?.[1] ?? ''
  return `${loadCounts(out, h1)} [${ended}]`
}
function loadCounts(out: string, h1: boolean): string {
  if (h1) {
    const done = /(\d+) requests in/.exec(out)?.[1] ?? '?'
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0'
    const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none'
    return `wrk: ${done} requests, ${non2xx} non-2xx, socket errors: ${errors}`
  }
  const requests = /requests: (.*)/.exec(out)?.[1]
  const codes = /status codes: (.*)/.exec(out)?.[1]
  if (requests === undefined) return `h2load said: ${out.trim().split('\n').slice(-6, -1).join(' / ')}`
  return `h2load: ${requests}; status codes: ${codes}`
}

const mib = (kb: number): string => (kb / 1024).toFixed(1)
const at = (samples: Sample[], t: number): Sample | undefined => samples.find((s) => s.t >= t) ?? samples.at(-1)

interface Row { name: string; idle: Sample; peak: Sample; after5?: Sample; after30?: Sample; after60?: Sample }
const rows: Row[] = []

const dns = await startDnsServer()
const H1 = 'pods-h1.default.svc.cluster.local'
const H2 = 'pods-h2.default.svc.cluster.local'
const keepAlive = 'keepalive_requests 10000000; keepalive_timeout 300s;'
// spoke keeps at most 64 connections per pod by default: nginx's 1 024 worker connections suffice.
const h1Pods = await startNginxPods(['127.0.0.2', '127.0.0.3', '127.0.0.4'], keepAlive)
const h2Pods = await startNginxPods(['127.0.0.5', '127.0.0.6', '127.0.0.7'], `${keepAlive} http2_max_concurrent_streams 128;`, ' http2')
dns.setA(H1, h1Pods.hosts, 300)
dns.setA(H2, h2Pods.hosts, 300)

/** A port free on 127.0.0.1 now, and the one after it: the kernel's choice, checked by binding both. */
async function freePorts(): Promise<number> {
  const bind = (port: number): Promise<net.Server | null> => new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(null))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server))
  })
  const close = (server: net.Server | null): Promise<void> => new Promise((resolve) => (server === null ? resolve() : server.close(() => resolve())))
  for (let tries = 0; tries < 20; tries++) {
    const first = await bind(0)
    const port = first === null ? 0 : (first.address() as net.AddressInfo).port
    const second = port === 0 || port === 65535 ? null : await bind(port + 1)
    await close(first)
    await close(second)
    if (second !== null) return port
  }
  throw new Error('no two consecutive free ports on 127.0.0.1')
}

async function scenario(name: string, h1: boolean, rounds: number): Promise<void> {
  const port = await freePorts()
  const upstream = h1
    ? `{ name: p, service: ${H1}, port: ${h1Pods.port} }`
    : `{ name: p, service: ${H2}, port: ${h2Pods.port}, protocol: h2c }`
  const config = join(tmp, 'spoke.yaml')
  writeFileSync(config, `admin: { address: "127.0.0.1:${port + 1}" }\nshutdown: { linger: 0s, drainTimeout: 1s }\n` +
    `dns: { servers: ["127.0.0.1:${dns.address.port}"] }\nlisteners: [{ name: b, address: "127.0.0.1:${port}", upstream: p }]\nupstreams: [${upstream}]\n`)
  // taskset execs the executable, whose shebang execs node: the child's pid is spoke's.
  const spoke = spawn('taskset', ['-c', '1', join(HERE, 'bin/spoke.js'), 'run', '-c', config, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] })
  try {
    let ready = false
    // Up to 30 s: right after a burst, the previous one's thousands of closing sockets slow it.
    for (let i = 0; i < 300 && !ready; i++) {
      ready = await fetch(`http://127.0.0.1:${port + 1}/ready`).then((r) => r.ok, () => false)
      if (!ready) await sleep(100)
    }
    if (!ready) throw new Error('spoke did not become ready in 30 s')
    const url = `http://127.0.0.1:${port}/`
    const load = h1
      ? ['wrk', '-t1', '-c5000', `-d${LOAD_S}s`, '--timeout', '10s', url]
      : ['h2load', '-t1', '-c2000', '-m10', '-D', String(LOAD_S), url]
    let idle: Sample | undefined
    for (let round = 1; round <= rounds; round++) {
      const label = rounds > 1 ? `${name}, round ${round}` : name
      const t0 = Date.now()
      const s = sampler(spoke.pid!, t0)
      await sleep(IDLE_MS)
      // Idle is the first round's: later rounds are compared with the process before any load.
      idle ??= s.samples.at(-1)!
      console.log(`${label}: idle VmRSS ${mib(idle.rss)} MiB; ${await processMetrics(port + 1)}`)
      const loadStart = Date.now() - t0
      const out = await runLoad(load)
      const loadEnd = Date.now() - t0
      console.log(`${label}: ${loadSummary(out, h1)}`)
      console.log(`${label}: just after the load, ${await processMetrics(port + 1)}`)
      await sleep(AFTER_MS - (Date.now() - t0 - loadEnd) + SAMPLE_MS)
      s.stop()
      console.log(`${label}: +60 s, ${await processMetrics(port + 1)}`)
      const during = s.samples.filter((x) => x.t >= loadStart)
      const peak = during.reduce((a, b) => (b.rss > a.rss ? b : a))
      rows.push({ name: label, idle, peak, after5: at(s.samples, loadEnd + 5000), after30: at(s.samples, loadEnd + 30_000), after60: at(s.samples, loadEnd + 60_000) })
    }
  } finally {
    spoke.kill('SIGTERM')
    const killer = setTimeout(() => spoke.kill('SIGKILL'), 5000)
    if (spoke.exitCode === null) await new Promise((r) => spoke.once('exit', r))
    clearTimeout(killer)
  }
}

try {
  const started = new Date().toISOString()
  if (process.env.MEMORY_SKIP_H1 === undefined) await scenario('HTTP/1.1 5 000 conns', true, 1)
  await scenario('h2c 2 000 conns × 10', false, H2_ROUNDS)
  console.log(`\nstarted ${started}; VmRSS in MiB (RssAnon + RssFile); peak over the load and the 60 s after; goals: peak < 256 MiB, +60 s ≤ idle + 40 MB`)
  console.log('| scenario | idle | peak | +5 s | +30 s | +60 s | peak < 256 MiB | +60 s within 40 MB of idle |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | :---: | :---: |')
  const cell = (s: Sample | undefined): string => (s === undefined ? '—' : `${mib(s.rss)} (${mib(s.anon)} + ${mib(s.file)})`)
  for (const r of rows) {
    const back = r.after60 !== undefined && r.after60.rss - r.idle.rss <= RETURN_GOAL_KB
    console.log(`| ${r.name} | ${cell(r.idle)} | ${cell(r.peak)} | ${cell(r.after5)} | ${cell(r.after30)} | ${cell(r.after60)} | ${r.peak.rss < PEAK_GOAL_KB ? 'yes' : 'no'} | ${back ? 'yes' : 'no'} |`)
  }
} finally {
  await h1Pods.close()
  await h2Pods.close()
  await dns.close()
  rmSync(tmp, { recursive: true, force: true })
}
