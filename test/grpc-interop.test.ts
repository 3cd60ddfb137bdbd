// The official gRPC interop cases through spoke (issue 11): the interop servers of three
// independent stacks (grpc-node's on @grpc/grpc-js from npm, grpc/grpc's Python one on Debian's
// grpcio, grpc-go's built against Debian's golang-google-grpc-dev) run as three pods each behind
// a headless Service (a real DNS server over UDP); the official client of each stack runs every
// case against every server stack, directly to one pod (the baseline) and through spoke's h2c
// upstream. Every case must pass both ways, and every pod must get calls through spoke.
// docs/conformance.md records the matrix this prints.
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { silentLogger } from '../src/log.ts'
import { Spoke } from '../src/main.ts'
import { type CaseResult, CASES, type InteropCase, type InteropServer, InteropEnv, pooled, runInteropCases, type Stack, STACKS, startInteropServers } from './helpers/grpc-interop.ts'
import { buildConfig, waitFor } from './helpers/harness.ts'

type Route = 'direct' | 'spoke'
const ROUTES: readonly Route[] = ['direct', 'spoke']
/** Each server stack is one headless Service of three pods: grpc-js on 127.0.0.2-4, grpcio on .5-7, grpc-go on .8-10. */
const SERVICE = (stack: Stack): string => `interop-${stack}.default.svc.cluster.local`
const FIRST_HOST: Record<Stack, number> = { 'grpc-js': 2, grpcio: 5, 'grpc-go': 8 }
const PODS = 3
/** Client processes at a time (each runs the 14 cases of one client → server, route). */
const PARALLEL = 4

const env = await InteropEnv.create()
t.teardown(() => env.close())
const dns = await startDnsServer()
t.teardown(() => dns.close())
const pods = {} as Record<Stack, InteropServer[]>
for (const stack of STACKS) {
  pods[stack] = await startInteropServers(stack, PODS, FIRST_HOST[stack], env)
  t.teardown(() => Promise.all(pods[stack].map((p) => p.close())))
  dns.setA(SERVICE(stack), pods[stack].map((p) => p.host), 1)
}
const spoke = await Spoke.start(buildConfig({
  admin: { address: '127.0.0.1:0' },
  dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '500ms' },
  listeners: STACKS.map((s) => ({ name: s, address: '127.0.0.1:0', upstream: s })),
  upstreams: STACKS.map((s) => ({
    name: s, service: SERVICE(s), port: pods[s][0].port, protocol: 'h2c',
    discovery: { refresh: '1s', minRefresh: '100ms' },
  })),
}), { log: silentLogger })
t.teardown(() => spoke.close())
await spoke.whenDiscovered()
for (const s of STACKS) await waitFor(() => spoke.upstreams.get(s)!.eligible.length === PODS, 3000, `${s} pods discovered`)
const listenerPort = (s: Stack): number => spoke.listeners.find((l) => l.name === s)!.address!.port

interface Run { client: Stack; server: Stack; route: Route; results?: Map<InteropCase, CaseResult> }
const runs: Run[] = []
for (const client of STACKS) for (const server of STACKS) for (const route of ROUTES) runs.push({ client, server, route })
const started = performance.now()
await pooled(runs.map((run) => async () => {
  // Direct: the client's channel to one pod, as an app without spoke has it.
  const [host, port] = run.route === 'direct' ? [pods[run.server][0].host, pods[run.server][0].port] : ['127.0.0.1', listenerPort(run.server)]
  run.results = await runInteropCases(run.client, CASES, host, port, env)
}), PARALLEL)
const seconds = ((performance.now() - started) / 1000).toFixed(1)
const find = (client: Stack, server: Stack, route: Route, testCase: InteropCase): CaseResult =>
  runs.find((r) => r.client === client && r.server === server && r.route === route)!.results!.get(testCase)!

// The matrix docs/conformance.md records: one row per case, one column per client → server pair.
const pairs = STACKS.flatMap((client) => STACKS.map((server) => [client, server] as const))
const mark = (r: CaseResult): string => (r.ok ? 'pass' : `FAIL(${r.exit})`)
const lines = [`| case | ${pairs.map(([c, s]) => `${c} → ${s}`).join(' | ')} |`, `| --- |${pairs.map(() => ' --- |').join('')}`]
for (const testCase of CASES) {
  lines.push(`| ${testCase} | ${pairs.map(([c, s]) => `${mark(find(c, s, 'direct', testCase))} / ${mark(find(c, s, 'spoke', testCase))}`).join(' | ')} |`)
}
const total = (route: Route): string => {
  const results = runs.filter((r) => r.route === route).flatMap((r) => [...r.results!.values()])
  return `${results.filter((r) => r.ok).length}/${results.length}`
}
t.comment(`interop matrix (direct / through spoke), ${CASES.length * runs.length} cases in ${seconds} s:\n${lines.join('\n')}\ndirect ${total('direct')}, through spoke ${total('spoke')}`)

for (const [client, server] of pairs) {
  t.test(`${client} client → ${server} pods`, async (t) => {
    for (const testCase of CASES) {
      const direct = find(client, server, 'direct', testCase)
      const through = find(client, server, 'spoke', testCase)
      // The baseline: a failure here is the two stacks disagreeing, not spoke.
      t.ok(direct.ok, `${testCase}: passes direct (baseline)`, direct.ok ? {} : { exit: direct.exit, output: direct.output.slice(-2000) })
      if (direct.ok) t.ok(through.ok, `${testCase}: passes through spoke`, through.ok ? {} : { exit: through.exit, output: through.output.slice(-2000) })
    }
  })
}

t.test('every pod got calls through spoke', async (t) => {
  const doc = await (await fetch(`http://127.0.0.1:${spoke.admin.address!.port}/endpoints`)).json() as { upstreams: { name: string; endpoints: { endpoint: string; requests: number }[] }[] }
  for (const stack of STACKS) {
    const upstream = doc.upstreams.find((u) => u.name === stack)!
    t.same(upstream.endpoints.map((e) => e.endpoint).sort(), pods[stack].map((p) => p.address).sort(), `${stack}: spoke knows the ${PODS} pods`)
    for (const e of upstream.endpoints) t.ok(e.requests > 0, `${stack} pod ${e.endpoint}: ${e.requests} calls`)
  }
})
