// `spoke demo` (SPEC §2): a self-contained cluster on loopback (a real DNS server answering a
// headless name, pods on 127.0.0.2…, spoke in-process) and live output showing what spoke does.
import { Cleanup } from './cleanup.ts'
import { BROADCAST_TIMEOUT_MS, CHANGE_TIMEOUT_MS, type Cluster, startCluster } from './cluster.ts'
import { Pod } from './pod.ts'
import { fmt, LiveTable, Output, plural, printBars } from './printout.ts'
import { bump, Client, Load, send } from './traffic.ts'
import { sleep, waitUntil } from './waiting.ts'

export interface DemoOptions {
  readonly out: NodeJS.WritableStream
  /** Shortens the timed phases (tests); 1 is the pace a person can follow. */
  readonly speed?: number
}

const PINNING_REQUESTS = 300
const ADDED_POD = { name: 'pod-3', host: '127.0.0.5' }

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

function printSummary(out: Output, columns: readonly string[], load: Load, elapsedMs: number): void {
  out.line()
  const errors = load.errors === 0 ? out.good('0 errors') : out.bad(plural(load.errors, 'error'))
  out.line(`  ${fmt(load.requests)} requests in ${(elapsedMs / 1000).toFixed(1)}s, ${plural(load.connections, 'client connection')}, ${errors}`)
  printBars(out, columns, load.totals, load.requests)
  if (load.errors > 0) out.line(out.bad(`    last error: ${load.lastError}`))
}
