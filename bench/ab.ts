// A/B of two builds of spoke: `node bench/ab.ts REV [ROUNDS] [get|post|all]` builds REV in a
// temporary git worktree, then runs it and this checkout's build (`npm run build` first) one after
// the other, in alternating order, against the same nginx pods: GETs (the loads of `npm run bench`
// and `npm run bench:h2`) and POSTs of 512 bytes, from wrk (HTTP/1.1 app, http1 pods) and from
// h2load (h2c app, h2c pods). spoke is pinned to core 1,
// the load generator to core 0. Prints each pair's req/s and spoke's CPU per request (utime +
// stime from /proc over the measured run), then the median of the pairs' CPU ratios, which is
// what to read: single runs on a shared 2-core machine vary by ±20 %, and each build's best
// round, which other load on the machine can only make worse.
// Needs nginx, wrk, h2load and taskset (see .ci/run), and 127.0.0.2–7.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startNginxPods } from '../test/helpers/nginx.ts'

const [rev, roundsArg, methodsArg = 'all'] = process.argv.slice(2)
if (rev === undefined || !['get', 'post', 'all'].includes(methodsArg)) {
  console.error('usage: node bench/ab.ts REV [ROUNDS] [get|post|all]   (compares REV with this checkout)')
  process.exit(2)
}
const ROUNDS = Number(roundsArg ?? 8)
const HERE = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const tmp = mkdtempSync(join(tmpdir(), 'spoke-ab-'))
const OLD = join(tmp, 'old')
execFileSync('git', ['-C', HERE, 'worktree', 'add', '--detach', OLD, rev], { stdio: 'ignore' })
symlinkSync(join(HERE, 'node_modules'), join(OLD, 'node_modules'))
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: OLD, stdio: 'inherit' })
if (!existsSync(join(HERE, 'dist'))) throw new Error('run `npm run build` first')

const dns = await startDnsServer()
const H1 = 'pods-h1.default.svc.cluster.local'
const H2 = 'pods-h2.default.svc.cluster.local'
const keepAlive = 'keepalive_requests 10000000; keepalive_timeout 300s; client_body_buffer_size 64k;'
const h1Pods = await startNginxPods(['127.0.0.2', '127.0.0.3', '127.0.0.4'], keepAlive)
const h2Pods = await startNginxPods(['127.0.0.5', '127.0.0.6', '127.0.0.7'], `${keepAlive} http2_max_concurrent_streams 128;`, ' http2')
dns.setA(H1, h1Pods.hosts, 300)
dns.setA(H2, h2Pods.hosts, 300)
const body = join(tmp, 'body')
writeFileSync(body, Buffer.alloc(512, 0x61))
const lua = join(tmp, 'post.lua')
writeFileSync(lua, 'wrk.method = "POST"\nwrk.body = string.rep("a", 512)\nwrk.headers["Content-Type"] = "application/octet-stream"\n')

type Scenario = 'GET wrk→http1' | 'GET h2load→h2c' | 'POST wrk→http1' | 'POST h2load→h2c'
const SCENARIOS: Scenario[] = (['GET wrk→http1', 'GET h2load→h2c', 'POST wrk→http1', 'POST h2load→h2c'] as const)
  .filter((s) => methodsArg === 'all' || s.startsWith(methodsArg.toUpperCase()))
const http1 = (scenario: Scenario): boolean => scenario.endsWith('http1')
const load = (scenario: Scenario, url: string, seconds: number): string[] => {
  const post = scenario.startsWith('POST')
  return http1(scenario)
    ? ['-c', '0', 'wrk', '-t1', '-c50', `-d${seconds}s`, ...(post ? ['-s', lua] : []), url]
    : ['-c', '0', 'h2load', '-t1', '-c10', '-m10', '-D', String(seconds), ...(post ? ['-d', body] : []), url]
}
const cpuTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return Number(fields[11]) + Number(fields[12])
}

let nextPort = 20000 + Math.floor(Math.random() * 30000)
async function run(tree: string, scenario: Scenario): Promise<{ rps: number; cpuUs: number }> {
  const port = (nextPort += 2)
  const upstream = http1(scenario)
    ? `{ name: p, service: ${H1}, port: ${h1Pods.port} }`
    : `{ name: p, service: ${H2}, port: ${h2Pods.port}, protocol: h2c }`
  const config = join(tmp, 'spoke.yaml')
  writeFileSync(config, `admin: { address: "127.0.0.1:${port + 1}" }\nshutdown: { linger: 0s, drainTimeout: 1s }\n` +
    `dns: { servers: ["127.0.0.1:${dns.address.port}"] }\nlisteners: [{ name: b, address: "127.0.0.1:${port}", upstream: p }]\nupstreams: [${upstream}]\n`)
  // taskset execs node: the child's pid is spoke's.
  const spoke = spawn('taskset', ['-c', '1', 'node', join(tree, 'bin/spoke.js'), 'run', '-c', config, '--log-level', 'error'], { stdio: 'ignore' })
  try {
    for (let i = 0; i < 100; i++) {
      const ready = await fetch(`http://127.0.0.1:${port + 1}/ready`).then((r) => r.ok, () => false)
      if (ready) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const url = `http://127.0.0.1:${port}/`
    execFileSync('taskset', load(scenario, url, 2), { stdio: 'ignore' })
    const before = cpuTicks(spoke.pid!)
    const out = execFileSync('taskset', load(scenario, url, 5)).toString()
    const cpuSeconds = (cpuTicks(spoke.pid!) - before) / 100
    const [rps, done, failed] = http1(scenario)
      ? [Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), Number(/(\d+) requests in/.exec(out)![1]), Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)]
      : [Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)![1]), Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(out)![1]), Number(/(\d+) failed/.exec(out)![1])]
    if (failed > 0) throw new Error(`${failed} requests failed`)
    return { rps, cpuUs: cpuSeconds * 1e6 / done }
  } finally {
    spoke.kill('SIGTERM')
    if (spoke.exitCode === null) await new Promise((r) => spoke.once('exit', r))
  }
}

const ratios = new Map<Scenario, number[]>(SCENARIOS.map((s) => [s, []]))
/** Each build's lowest CPU per request over the rounds: other load on the machine only adds. */
const best = new Map<string, number>()
const keepBest = (key: string, cpuUs: number): void => { best.set(key, Math.min(best.get(key) ?? Infinity, cpuUs)) }
try {
  console.log(`A = ${rev}, B = this checkout; POST bodies 512 B; spoke CPU per request in µs`)
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      // Alternate which build goes first, so that a drift of the machine favours neither.
      const a = round % 2 === 1 ? await run(OLD, scenario) : null
      const b = await run(HERE, scenario)
      const a2 = a ?? await run(OLD, scenario)
      ratios.get(scenario)!.push(b.cpuUs / a2.cpuUs)
      keepBest(`A ${scenario}`, a2.cpuUs)
      keepBest(`B ${scenario}`, b.cpuUs)
      console.log(`round ${round} ${scenario.padEnd(15)} A ${a2.rps.toFixed(0).padStart(6)} req/s ${a2.cpuUs.toFixed(1).padStart(6)} µs | B ${b.rps.toFixed(0).padStart(6)} req/s ${b.cpuUs.toFixed(1).padStart(6)} µs | B/A ${(b.cpuUs / a2.cpuUs).toFixed(3)}`)
    }
  }
  for (const [scenario, list] of ratios) {
    const sorted = [...list].sort((x, y) => x - y)
    const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
    const a = best.get(`A ${scenario}`)!
    const b = best.get(`B ${scenario}`)!
    console.log(`${scenario}: CPU per request B/A median ${median.toFixed(3)} (pairs ${sorted[0].toFixed(2)}–${sorted.at(-1)!.toFixed(2)}, ${list.filter((r) => r > 1).length} of ${list.length} above 1); best of each: A ${a.toFixed(1)} µs, B ${b.toFixed(1)} µs, B/A ${(b / a).toFixed(3)}`)
  }
} finally {
  await h1Pods.close()
  await h2Pods.close()
  await dns.close()
  execFileSync('git', ['-C', HERE, 'worktree', 'remove', '--force', OLD], { stdio: 'ignore' })
  rmSync(tmp, { recursive: true, force: true })
}
