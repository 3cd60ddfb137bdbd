// `spoke demo` (SPEC §2): a self-contained cluster on loopback (a real DNS server answering a
// headless name, pods on 127.0.0.2…, spoke in-process) and live output showing what spoke does.
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Config } from '../config/types.ts'
import { validateConfig } from '../config/validate.ts'
import { silentLogger } from '../log.ts'
import { Spoke } from '../main.ts'
import { type DnsServer, startDnsServer } from './dns-server.ts'
import { Pod, startPods } from './pod.ts'

export interface DemoOptions {
  readonly out: NodeJS.WritableStream
  /** Shortens the timed phases (tests); 1 is the pace a person can follow. */
  readonly speed?: number
}

const SERVICE = 'orders.default.svc.cluster.local'
const TTL_S = 1
const PINNING_REQUESTS = 300
const REQUEST_TIMEOUT_MS = 5000
// Discovery refreshes every second, so a change not seen within this means something is broken.
const CHANGE_TIMEOUT_MS = 5000
const MAX_LOAD_REQUESTS = 5_000_000
const BAR_WIDTH = 30
const COLUMN = 7
const ADDED_POD = { name: 'pod-3', host: '127.0.0.5' }
const BROADCAST_TIMEOUT_MS = 500

export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = new Output(opts.out)
  const cleanup = new Cleanup()
  let code = 0
  try {
    const cluster = await startCluster(out, cleanup)
    await showPinning(cluster, out, cleanup)
    await showScaling(cluster, out, cleanup, opts.speed ?? 1)
    await showBroadcast(cluster, out)
  } catch (err) {
    out.line()
    out.line(out.bad(`demo failed: ${(err as Error).message}`))
    if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') {
      out.line('the demo needs 127.0.0.2-5 (on macOS: sudo ifconfig lo0 alias 127.0.0.2 up, and so on)')
    }
    code = 1
  }
  await cleanup.run()
  out.line()
  out.line(code === 0 ? 'Done: spoke, the pods and the DNS server are stopped.' : 'Stopped everything that was started.')
  return code
}

// ---- the cluster

interface Cluster {
  readonly dns: DnsServer
  /** In DNS or not: every pod the demo started, in column order. */
  readonly pods: Pod[]
  readonly spoke: Spoke
  readonly url: string
  /** The broadcast upstream's listener: the same pods, every request to all of them. */
  readonly broadcastUrl: string
  publish(pods: readonly Pod[]): void
  /** What spoke balances over right now. */
  balancedHosts(): string[]
}

async function startCluster(out: Output, cleanup: Cleanup): Promise<Cluster> {
  const dns = await startDnsServer({ host: '127.0.0.1' })
  cleanup.add(() => dns.close())
  const pods = await startPods(3, { record: false })
  for (const p of pods) cleanup.add(() => p.close())
  const publish = (list: readonly Pod[]): void => dns.setA(SERVICE, list.map((p) => p.host), TTL_S)
  publish(pods)

  const spoke = await Spoke.start(demoConfig(dns, pods[0].port), { log: silentLogger })
  cleanup.add(() => spoke.close())
  const upstream = spoke.upstreams.get('orders')!
  const cluster: Cluster = {
    dns, pods, spoke, publish,
    url: `http://127.0.0.1:${spoke.listeners[0].address!.port}/`,
    broadcastUrl: `http://127.0.0.1:${spoke.listeners[1].address!.port}`,
    balancedHosts: () => upstream.eligible.map((e) => e.address),
  }
  printCluster(out, cluster)
  await spoke.whenDiscovered()
  await waitUntil(() => cluster.balancedHosts().length === pods.length, CHANGE_TIMEOUT_MS, 'spoke to find the pods in DNS')
  out.line(`  spoke found ${pods.length} pods in DNS`)
  return cluster
}

function demoConfig(dns: DnsServer, podPort: number): Config {
  const result = validateConfig({
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [dnsAddress(dns)], timeout: '500ms' },
    listeners: [
      { name: 'orders', address: '127.0.0.1:0', upstream: 'orders' },
      { name: 'orders-all', address: '127.0.0.1:0', upstream: 'orders-all' },
    ],
    upstreams: [
      { name: 'orders', service: SERVICE, port: podPort, discovery: { refresh: '1s', minRefresh: '200ms' } },
      {
        name: 'orders-all', service: SERVICE, port: podPort, mode: 'broadcast',
        discovery: { refresh: '1s', minRefresh: '200ms' },
        broadcast: { require: 'quorum', timeout: `${BROADCAST_TIMEOUT_MS}ms` },
      },
    ],
  })
  if (!result.ok) throw new Error(`demo configuration: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)
  return result.config
}

function printCluster(out: Output, c: Cluster): void {
  const label = (s: string): string => `  ${s.padEnd(18)}`
  out.line(out.bold('spoke demo: a Kubernetes headless Service, all on loopback'))
  out.line()
  out.line(`${label('headless Service')}${SERVICE}`)
  out.line(`${label('DNS server')}${dnsAddress(c.dns)}, A records, TTL ${TTL_S}s`)
  c.pods.forEach((p, i) => out.line(`${label(i === 0 ? 'pods' : '')}${p.name}  ${p.address}`))
  out.line(`${label('spoke')}${c.url.slice(7, -1)}  (admin 127.0.0.1:${c.spoke.admin.address!.port})`)
  out.line(`${label('')}${c.broadcastUrl.slice(7)}  broadcast: every request to every pod`)
  out.line(`${label('')}resolves the name every 1s`)
}

function dnsAddress(dns: DnsServer): string {
  return `${dns.address.host}:${dns.address.port}`
}

// ---- 1: one connection, direct vs through spoke

async function showPinning(c: Cluster, out: Output, cleanup: Cleanup): Promise<void> {
  out.line()
  out.line(out.bold(`1. One long-lived client connection sends ${PINNING_REQUESTS} requests`))
  const target = c.pods[0]
  await pinningRun(out, cleanup, c.pods, `http://${target.address}/`, `direct to ${target.name} (what kube-proxy gives you)`)
  await pinningRun(out, cleanup, c.pods, c.url, 'through spoke')
}

async function pinningRun(out: Output, cleanup: Cleanup, pods: readonly Pod[], url: string, title: string): Promise<void> {
  const client = new Client()
  cleanup.add(async () => client.close())
  const tally = new Map<string, number>()
  let errors = 0
  for (let i = 0; i < PINNING_REQUESTS; i++) {
    const pod = await client.get(url)
    if (pod === null) errors++
    else bump(tally, pod)
  }
  // Closed now, so the pods' connection counts later only show spoke's connections.
  client.close()
  out.line()
  out.line(`  ${title}, ${plural(client.connections, 'connection')}:`)
  printBars(out, pods.map((p) => p.name), tally, PINNING_REQUESTS)
  if (errors > 0) out.line(out.bad(`    ${plural(errors, 'error')}: ${client.lastError}`))
}

// ---- 2: pods join and leave under load

async function showScaling(c: Cluster, out: Output, cleanup: Cleanup, speed: number): Promise<void> {
  const scaled = (ms: number): number => ms / speed
  out.line()
  out.line(out.bold('2. Pods join and leave while one client connection keeps sending'))
  out.line()
  const load = new Load(c.url)
  cleanup.add(() => load.stop())
  const columns = [...c.pods.map((p) => p.name), ADDED_POD.name]
  const table = new LiveTable(out, columns, (name) => c.pods.some((p) => p.name === name))
  table.header()
  const ticker = setInterval(() => table.row(load.takeWindow()), scaled(500))
  try {
    await sleep(scaled(2500))
    await addPod(c, table, cleanup)
    await sleep(scaled(3000))
    await removePod(c, c.pods[0], table)
    await sleep(scaled(3000))
  } finally {
    clearInterval(ticker)
  }
  await load.stop()
  // The last, partial window only if it is long enough for its rate and shares to mean something.
  const last = load.takeWindow()
  if (last.ms >= scaled(250)) table.row(last)
  printSummary(out, columns, load, table.elapsedMs())
}

async function addPod(c: Cluster, table: LiveTable, cleanup: Cleanup): Promise<void> {
  const pod = await Pod.start({ ...ADDED_POD, port: c.pods[0].port, record: false })
  cleanup.add(() => pod.close())
  c.pods.push(pod)
  c.publish(c.pods)
  table.event(`+ ${pod.name} (${pod.host}) started and published in DNS`)
  await waitUntil(() => c.balancedHosts().includes(pod.host), CHANGE_TIMEOUT_MS, `spoke to pick up ${pod.name}`)
  table.event(`  spoke re-resolved: ${pod.name} joins, the client did not reconnect`)
}

async function removePod(c: Cluster, pod: Pod, table: LiveTable): Promise<void> {
  c.publish(c.pods.filter((p) => p !== pod))
  table.event(`- ${pod.name} (${pod.host}) removed from DNS`)
  await waitUntil(() => !c.balancedHosts().includes(pod.host), CHANGE_TIMEOUT_MS, `spoke to drop ${pod.name}`)
  table.event(`  spoke re-resolved: no new requests to ${pod.name}, draining`)
  // spoke closes its connections once their in-flight requests finish; then the pod can go.
  const drained = await waitUntil(() => pod.openConnections === 0, CHANGE_TIMEOUT_MS, '', false)
  await pod.close()
  table.event(drained ? `  ${pod.name} drained and shut down` : `  ${pod.name} shut down with connections still open`)
}

// ---- 3: broadcast

interface Envelope {
  broadcastId: string
  outcome: string
  endpoints: number
  succeeded: number
  responses: { endpoint: string; status?: number; error?: string; durationMs: number }[]
}

async function showBroadcast(c: Cluster, out: Output): Promise<void> {
  out.line()
  out.line(out.bold('3. Broadcast: one request in, a copy to every pod, one answer out'))
  out.line(out.dim(`  DELETE /cache/item-42 to the broadcast listener (require: quorum, timeout ${BROADCAST_TIMEOUT_MS}ms)`))
  await broadcastOnce(c, out, 'every pod up')
  const slow = c.pods.find((p) => c.balancedHosts().includes(p.host))!
  slow.behaviour = { delayMs: Infinity }
  try {
    await broadcastOnce(c, out, `${slow.name} stops answering`)
  } finally {
    slow.behaviour = null
  }
}

async function broadcastOnce(c: Cluster, out: Output, title: string): Promise<void> {
  const { status, body } = await send(`${c.broadcastUrl}/cache/item-42`, 'DELETE')
  const env = JSON.parse(body) as Envelope
  const names = new Map(c.pods.map((p) => [p.address, p.name]))
  out.line()
  out.line(`  ${title}: HTTP ${status}, outcome ${env.outcome === 'success' ? out.good(env.outcome) : out.bad(env.outcome)}, ${env.succeeded} of ${env.endpoints} succeeded`)
  for (const r of env.responses) {
    const answer = r.status !== undefined ? `status ${r.status}`.padEnd(12) : out.bad(`error ${r.error}`.padEnd(12))
    out.line(`    ${(names.get(r.endpoint) ?? r.endpoint).padEnd(6)} ${r.endpoint.padEnd(16)} ${answer} ${r.durationMs.toFixed(1).padStart(7)} ms`)
  }
  out.line(out.dim(`    every copy carried x-spoke-broadcast-id: ${env.broadcastId}`))
}

function send(url: string, method: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS}ms`)))
    req.on('error', reject)
    req.end()
  })
}

function printSummary(out: Output, columns: readonly string[], load: Load, elapsedMs: number): void {
  out.line()
  const errors = load.errors === 0 ? out.good('0 errors') : out.bad(plural(load.errors, 'error'))
  out.line(`  ${fmt(load.requests)} requests in ${(elapsedMs / 1000).toFixed(1)}s, ${plural(load.connections, 'client connection')}, ${errors}`)
  printBars(out, columns, load.totals, load.requests)
  if (load.errors > 0) out.line(out.bad(`    last error: ${load.lastError}`))
}

// ---- clients

/** One keep-alive connection, like an application's long-lived HTTP client. */
class Client {
  /** Every TCP connection the client used: 1 unless something closed it. */
  readonly #sockets = new Set<Socket>()
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  lastError = ''

  get connections(): number {
    return this.#sockets.size
  }

  /** The `x-pod` of the answer, or null for a failed request (kept in lastError). */
  get(url: string): Promise<string | null> {
    return new Promise((resolve) => {
      const fail = (why: string): void => {
        this.lastError = why
        resolve(null)
      }
      const req = http.get(url, { agent: this.#agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        res.resume()
        res.on('error', (err) => fail(err.message))
        res.on('end', () => {
          const pod = res.headers['x-pod']
          if (res.statusCode === 200 && typeof pod === 'string') resolve(pod)
          else fail(`HTTP ${res.statusCode} ${res.headers['x-spoke-error'] ?? ''}`.trim())
        })
      })
      req.on('socket', (s: Socket) => this.#sockets.add(s))
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS}ms`)))
      req.on('error', (err) => fail(err.message))
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}

interface Window {
  readonly counts: ReadonlyMap<string, number>
  readonly requests: number
  readonly errors: number
  readonly ms: number
}

/** Requests back to back on one client connection until stopped. */
class Load {
  readonly totals = new Map<string, number>()
  requests = 0
  errors = 0
  readonly #client = new Client()
  #window = new Map<string, number>()
  #windowErrors = 0
  #windowStart = performance.now()
  #stopping = false
  readonly #done: Promise<void>

  constructor(url: string) {
    this.#done = this.#run(url)
  }

  get connections(): number {
    return this.#client.connections
  }

  get lastError(): string {
    return this.#client.lastError
  }

  /** What happened since the previous call. */
  takeWindow(): Window {
    const now = performance.now()
    const counts = this.#window
    let requests = this.#windowErrors
    for (const n of counts.values()) requests += n
    const w = { counts, requests, errors: this.#windowErrors, ms: now - this.#windowStart }
    this.#window = new Map()
    this.#windowErrors = 0
    this.#windowStart = now
    return w
  }

  async stop(): Promise<void> {
    this.#stopping = true
    await this.#done
    this.#client.close()
  }

  async #run(url: string): Promise<void> {
    while (!this.#stopping && this.requests < MAX_LOAD_REQUESTS) {
      const pod = await this.#client.get(url)
      this.requests++
      if (pod === null) {
        this.errors++
        this.#windowErrors++
      } else {
        bump(this.totals, pod)
        bump(this.#window, pod)
      }
    }
  }
}

// ---- output

/** The live view: one row per window with each pod's share, and events between rows. */
class LiveTable {
  readonly #out: Output
  readonly #columns: readonly string[]
  readonly #started: (name: string) => boolean
  readonly #start = performance.now()

  constructor(out: Output, columns: readonly string[], started: (name: string) => boolean) {
    this.#out = out
    this.#columns = columns
    this.#started = started
  }

  elapsedMs(): number {
    return performance.now() - this.#start
  }

  header(): void {
    const cells = [...this.#columns, 'req/s', 'errors'].map((c) => c.padStart(COLUMN)).join('')
    this.#out.line(this.#out.dim(`  ${'time'.padStart(6)}${cells}`))
  }

  row(w: Window): void {
    const shares = this.#columns.map((name) => {
      const n = w.counts.get(name) ?? 0
      const share = w.requests === 0 || !this.#started(name) ? '-' : `${Math.round((n / w.requests) * 100)}%`
      return share.padStart(COLUMN)
    })
    const rate = fmt(Math.round(w.requests / (w.ms / 1000))).padStart(COLUMN)
    const errors = String(w.errors).padStart(COLUMN)
    this.#out.line(`  ${this.#time()}${shares.join('')}${rate}${w.errors === 0 ? errors : this.#out.bad(errors)}`)
  }

  event(text: string): void {
    this.#out.line(this.#out.dim(`  ${this.#time()}  ${text}`))
  }

  #time(): string {
    return `${(this.elapsedMs() / 1000).toFixed(1)}s`.padStart(6)
  }
}

function printBars(out: Output, names: readonly string[], tally: ReadonlyMap<string, number>, total: number): void {
  const width = Math.max(...names.map((n) => n.length))
  for (const name of names) {
    const n = tally.get(name) ?? 0
    const bar = out.barChar.repeat(total === 0 ? 0 : Math.round((n / total) * BAR_WIDTH))
    out.line(`    ${name.padEnd(width)}  ${out.bar(bar.padEnd(BAR_WIDTH))}  ${fmt(n).padStart(COLUMN)}`)
  }
}

/** Plain text; colour and block characters only on a terminal. */
class Output {
  readonly #out: NodeJS.WritableStream
  readonly #tty: boolean

  constructor(out: NodeJS.WritableStream) {
    this.#out = out
    this.#tty = (out as { isTTY?: boolean }).isTTY === true
  }

  get barChar(): string {
    return this.#tty ? '█' : '#'
  }

  line(text = ''): void {
    this.#out.write(`${text}\n`)
  }

  bold(s: string): string { return this.#paint(1, s) }
  dim(s: string): string { return this.#paint(2, s) }
  good(s: string): string { return this.#paint(32, s) }
  bad(s: string): string { return this.#paint(31, s) }
  bar(s: string): string { return this.#paint(36, s) }

  #paint(code: number, s: string): string {
    return this.#tty ? `\x1b[${code}m${s}\x1b[0m` : s
  }
}

// ---- small helpers

/** Closes what was started, last first, whatever fails along the way. */
class Cleanup {
  readonly #closers: Array<() => Promise<unknown>> = []

  add(close: () => Promise<unknown>): void {
    this.#closers.push(close)
  }

  async run(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close()
      } catch {
        // Best effort: the rest must still close.
      }
    }
  }
}

/** Polls until `check` holds; on timeout throws, or returns false when `mustHold` is false. */
async function waitUntil(check: () => boolean, timeoutMs: number, what: string, mustHold = true): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > deadline) {
      if (mustHold) throw new Error(`timed out waiting for ${what}`)
      return false
    }
    await sleep(20)
  }
  return true
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function bump(tally: Map<string, number>, key: string): void {
  tally.set(key, (tally.get(key) ?? 0) + 1)
}

function fmt(n: number): string {
  return n.toLocaleString('en-US')
}

function plural(n: number, word: string): string {
  return `${fmt(n)} ${word}${n === 1 ? '' : 's'}`
}
