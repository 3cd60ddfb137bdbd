import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { request, singleConnectionAgent, startCluster } from './helpers/harness.ts'

/** `name{a="x",b="y"} 12` lines → [{name, labels, value}]. */
function parse(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

t.test('/metrics passes promtool and its per-pod counters equal what the pods counted', async (t) => {
  const cluster = await startCluster({ pods: 3 })
  t.teardown(() => cluster.close())
  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 90; i++) await request(`${cluster.url}/`, { agent })
  for (let i = 0; i < 6; i++) await request(`${cluster.url}/status/503`, { agent })
  const text = await (await fetch(`${cluster.adminUrl}/metrics`)).text()

  const promtool = await new Promise<string>((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(stdout + stderr))
    child.stdin!.end(text)
  })
  // promtool's lint flags prom-client's own default gauges named *_total; nothing else may appear.
  const findings = promtool.split('\n').filter((l) => l.trim() !== '' && !/nodejs_active_\w+_total/.test(l))
  t.same(findings, [], `promtool findings: ${promtool}`)
  t.notMatch(promtool, /error while linting|parse error/i)

  const samples = parse(text)
  for (const pod of cluster.pods) {
    const endpoint = `${pod.host}:${pod.port}`
    const counted = samples.filter((s) => s.name === 'spoke_endpoint_requests_total' && s.labels.endpoint === endpoint)
    const total = counted.reduce((n, s) => n + s.value, 0)
    t.equal(total, pod.requests, `${endpoint}: spoke counted ${total}, the pod ${pod.requests}`)
    t.equal(counted.find((s) => s.labels.code === '503')?.value ?? 0, pod.received.filter((r) => r.url === '/status/503').length)
  }
  const requests = samples.filter((s) => s.name === 'spoke_requests_total')
  t.same(requests.map((s) => [s.labels.listener, s.labels.upstream, s.labels.code, s.value]).sort(), [['orders', 'orders', '200', 90], ['orders', 'orders', '503', 6]])
  const count = samples.find((s) => s.name === 'spoke_request_duration_seconds_count')
  t.equal(count?.value, 96)
  const buckets = samples.filter((s) => s.name === 'spoke_request_duration_seconds_bucket')
  t.equal(buckets[0].labels.le, '0.0001', 'buckets start at 100 µs')
  t.equal(buckets.at(-1)!.value, 96, '+Inf bucket holds every request')
  const active = samples.find((s) => s.name === 'spoke_endpoints' && s.labels.state === 'active')
  t.equal(active?.value, 3)
  t.ok(samples.find((s) => s.name === 'spoke_upstream_connections')!.value >= 3)
  t.ok(samples.find((s) => s.name === 'spoke_dns_queries_total' && s.labels.result === 'success')!.value >= 1)
  t.ok(samples.some((s) => s.name === 'process_resident_memory_bytes'), 'default process metrics')
})

t.test('a pod that leaves discovery loses its series', async (t) => {
  const cluster = await startCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  for (let i = 0; i < 10; i++) await request(`${cluster.url}/`)
  const leaving = cluster.pods[0]
  const key = `${leaving.host}:${leaving.port}`
  t.match(await (await fetch(`${cluster.adminUrl}/metrics`)).text(), key)
  cluster.publish([cluster.pods[1]])
  const upstream = [...cluster.spoke.upstreams.values()][0]
  const deadline = Date.now() + 3000
  while ([...upstream.endpoints].length !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  t.notMatch(await (await fetch(`${cluster.adminUrl}/metrics`)).text(), key)
})

t.test('admin endpoints: /ready /healthz /endpoints /config', async (t) => {
  const cluster = await startCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  t.equal((await fetch(`${cluster.adminUrl}/ready`)).status, 200)
  t.equal((await fetch(`${cluster.adminUrl}/healthz`)).status, 200)
  for (let i = 0; i < 4; i++) await request(`${cluster.url}/`)
  const doc = await (await fetch(`${cluster.adminUrl}/endpoints`)).json() as { upstreams: { name: string; mode: string; lastDiscovery: { result: string; at: string }; endpoints: { endpoint: string; state: string; connections: number; requests: number; connectionAgesSeconds: number[] }[] }[] }
  const u = doc.upstreams[0]
  t.equal(u.name, 'orders')
  t.equal(u.mode, 'balance')
  t.equal(u.lastDiscovery.result, 'success')
  t.ok(!Number.isNaN(Date.parse(u.lastDiscovery.at)))
  t.equal(u.endpoints.length, 2)
  for (const e of u.endpoints) {
    t.equal(e.state, 'active')
    t.equal(e.requests, 2)
    t.equal(e.connections, 1)
    t.equal(e.connectionAgesSeconds.length, 1)
  }
  const config = await (await fetch(`${cluster.adminUrl}/config`)).json() as { upstreams: { connection: { maxLifetime: string } }[] }
  t.equal(config.upstreams[0].connection.maxLifetime, '10m', 'effective config with defaults, in the file\'s units')
  t.equal((await fetch(`${cluster.adminUrl}/nope`)).status, 404)
  const index = await fetch(`${cluster.adminUrl}/`)
  t.equal(index.status, 200, 'GET / answers an index')
  const text = await index.text()
  t.match(text, /^spoke \d+\.\d+\.\d+ admin\n/)
  for (const path of ['/metrics', '/ready', '/healthz', '/endpoints', '/config']) t.match(text, new RegExp(`^  ${path} `, 'm'), `the index names ${path}`)
})

t.test('spoke_build_info names the version and Node.js, always 1', async (t) => {
  const cluster = await startCluster({ pods: 1 })
  t.teardown(() => cluster.close())
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  const text = await (await fetch(`${cluster.adminUrl}/metrics`)).text()
  t.match(text, `# TYPE spoke_build_info gauge\nspoke_build_info{version="${version}",node_version="${process.versions.node}"} 1\n`)
})
