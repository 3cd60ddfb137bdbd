// The pod side alone: CPU per request of one build's HTTP/1.1 pool and connections against nginx,
// with no app side at all (no listener, no engine), so that a change to the transport shows
// without the app side's cost and noise around it. A/B of two builds, interleaved:
//
//   node bench/pod-side.ts TREE_A TREE_B [ROUNDS] [get|post]
//
// Each measurement is a fresh process of one build (pinned to core 1; nginx is left to core 0)
// keeping 16 requests in flight over 8 connections to three nginx pods for 1 s of warm-up and
// 4 s measured; it reports user and system CPU time per request from process.cpuUsage(). Build
// both trees first (`npm run build`). Prints each pair, then the median of the B/A ratios.
import { execFileSync } from 'node:child_process'
import { startNginxPods } from '../test/helpers/nginx.ts'

interface Result { rps: number; userUs: number; systemUs: number }

const [first, ...rest] = process.argv.slice(2)
if (first === '--child') {
  const [tree, host, port, method] = rest
  const result = await measure(tree, host.split(','), Number(port), method === 'post')
  process.stdout.write(JSON.stringify(result))
  process.exit(0)
}

const [treeA, treeB, roundsArg, methodArg = 'get'] = [first, ...rest]
if (treeA === undefined || treeB === undefined || !['get', 'post'].includes(methodArg)) {
  console.error('usage: node bench/pod-side.ts TREE_A TREE_B [ROUNDS] [get|post]')
  process.exit(2)
}
const rounds = Number(roundsArg ?? 6)
const pods = await startNginxPods(['127.0.0.2', '127.0.0.3', '127.0.0.4'], 'keepalive_requests 10000000; keepalive_timeout 300s; client_body_buffer_size 64k;')
const run = (tree: string): Result => JSON.parse(execFileSync('taskset', ['-c', '1', process.execPath, import.meta.filename, '--child', tree, pods.hosts.join(','), String(pods.port), methodArg]).toString()) as Result
const ratios: number[] = []
try {
  console.log(`A = ${treeA}, B = ${treeB}; ${methodArg.toUpperCase()}; CPU per request (user + system) in µs`)
  for (let round = 1; round <= rounds; round++) {
    const a1 = round % 2 === 1 ? run(treeA) : null
    const b = run(treeB)
    const a = a1 ?? run(treeA)
    const ta = a.userUs + a.systemUs
    const tb = b.userUs + b.systemUs
    ratios.push(tb / ta)
    console.log(`round ${round}  A ${a.rps.toFixed(0).padStart(6)} req/s ${ta.toFixed(1).padStart(5)} µs (user ${a.userUs.toFixed(1)}) | B ${b.rps.toFixed(0).padStart(6)} req/s ${tb.toFixed(1).padStart(5)} µs (user ${b.userUs.toFixed(1)}) | B/A ${(tb / ta).toFixed(3)}`)
  }
  ratios.sort((x, y) => x - y)
  const median = ratios.length % 2 === 1 ? ratios[(ratios.length - 1) / 2] : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2
  console.log(`B/A median ${median.toFixed(3)} (pairs ${ratios[0].toFixed(2)}–${ratios.at(-1)!.toFixed(2)})`)
} finally {
  await pods.close()
}

async function measure(tree: string, hosts: string[], port: number, post: boolean): Promise<Result> {
  const { Pool } = await import(`${tree}/dist/transport/pool.js`)
  const { H1Connection } = await import(`${tree}/dist/transport/h1-connection.js`)
  const { dial, tcpKeepalive } = await import(`${tree}/dist/transport/dial.js`)
  const config = { perEndpoint: 8, maxPerEndpoint: 8, maxLifetimeMs: 0, lifetimeJitter: 0, maxRequests: 0, idleTimeoutMs: 0, connectTimeoutMs: 1000, keepaliveMs: 30_000, drainTimeoutMs: 1000 }
  const hooks = { connectFailed() {}, opened() {}, closed() {}, connectedChanged() {} }
  // Builds before keepalive (dial.js without tcpKeepalive) took the connect timeout alone.
  const dialWith = tcpKeepalive === undefined ? 1000 : config
  const pools = hosts.map((host) => {
    // Builds from before spoke's own connection: an undici Client over the socket dial() connected.
    const connector = typeof H1Connection.open === 'function'
      ? (events: unknown) => H1Connection.open(host, port, dialWith, events)
      : (events: unknown) => dial(host, port, dialWith).then((s: unknown) => new H1Connection(s, `http://${host}:${port}`, events))
    const pool = new Pool(config, connector, hooks, { inFlight: 0, requests: 0 })
    pool.start()
    return pool
  })
  const body = Buffer.alloc(512, 0x61)
  let done = 0
  let next = 0
  const send = (): void => {
    const pool = pools[next++ % pools.length]
    const headers = ['user-agent', 'bench', 'accept', '*/*', 'host', 'pods.example']
    if (post) headers.splice(4, 0, 'content-type', 'application/octet-stream', 'content-length', '512')
    pool.dispatch({ method: post ? 'POST' : 'GET', path: '/', headers, body: post ? body : null }, {
      onRequestStart() {},
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd() { done++; send() },
      onResponseError(_c: unknown, e: Error) { throw e },
    })
  }
  await new Promise((r) => setTimeout(r, 300))
  for (let i = 0; i < 16; i++) send()
  await new Promise((r) => setTimeout(r, 1000))
  const startDone = done
  const startCpu = process.cpuUsage()
  const startAt = performance.now()
  await new Promise((r) => setTimeout(r, 4000))
  const cpu = process.cpuUsage(startCpu)
  const n = done - startDone
  return { rps: n / ((performance.now() - startAt) / 1000), userUs: cpu.user / n, systemUs: cpu.system / n }
}
