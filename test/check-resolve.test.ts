// `spoke check --resolve` (SPEC §2) run as the operator runs it, bin/spoke.js in a child process,
// against a real DNS server on 127.0.0.1 and real pods on 127.0.0.2…: one upstream whose pods
// answer, one whose only pod refuses connections, one misspelled service (NXDOMAIN), one SRV
// upstream with StatefulSet host names, and a UDP upstream (resolved, not connected to).
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startPods } from '../src/demo/pod.ts'
import { podSubset } from '../src/upstream/pod-subset.ts'
import { deadAddress } from './helpers/scripted-pod.ts'

const BIN = new URL('../bin/spoke.js', import.meta.url).pathname

function run(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    // Bounded: DNS timeout 1 s and connectTimeout 500 ms make a healthy run take well under 5 s.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

function writeConfig(doc: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'spoke-resolve-')), 'spoke.yaml')
  writeFileSync(file, stringify(doc))
  return file
}

t.test('check --resolve prints each pod with its connect result and exits by whether every upstream has a pod', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pods = await startPods(2)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  const port = pods[0].port
  const refusing = await deadAddress('127.0.0.9')
  dns.setA('orders.default.svc.cluster.local', pods.map((p) => p.host))
  dns.setA('ledger.default.svc.cluster.local', ['127.0.0.9'])
  dns.setSrv('_http._tcp.web.default.svc.cluster.local', [
    { target: 'web-0.web.default.svc.cluster.local', port },
    { target: 'web-1.web.default.svc.cluster.local', port },
  ])
  dns.setA('web-0.web.default.svc.cluster.local', [pods[0].host])
  dns.setA('web-1.web.default.svc.cluster.local', [pods[1].host])
  dns.setA('events.default.svc.cluster.local', ['127.0.0.2', '127.0.0.3'])

  const base = {
    admin: { address: '127.0.0.1:0' },
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '1s' },
  }
  const connection = { connectTimeout: '500ms' }
  const good = writeConfig({
    ...base,
    listeners: [
      { name: 'orders', address: '127.0.0.1:0', upstream: 'orders' },
      { name: 'web', address: '127.0.0.1:0', upstream: 'web' },
      { name: 'events', address: '127.0.0.1:0', protocol: 'udp', upstream: 'events' },
    ],
    upstreams: [
      { name: 'orders', service: 'orders.default.svc.cluster.local', port, connection },
      { name: 'web', service: 'web.default.svc.cluster.local', portName: 'http', connection },
      { name: 'events', service: 'events.default.svc.cluster.local', port: 9999, protocol: 'udp', mode: 'broadcast' },
    ],
  })
  const ok = await run(['check', '--resolve', '-c', good])
  t.equal(ok.code, 0, `every upstream has a pod: exit 0 (stderr: ${ok.stderr})`)
  t.equal(ok.stderr, '')
  t.match(ok.stdout, new RegExp(`^upstream orders: orders\\.default\\.svc\\.cluster\\.local port ${port} \\(http1\\): 2 pods in [\\d.]+ ms: OK$`, 'm'))
  t.match(ok.stdout, /^ {2}POD +HOST NAME +CONNECT +TIME$/m, 'a table header')
  t.match(ok.stdout, new RegExp(`^ {2}127\\.0\\.0\\.2:${port} +- +ok +[\\d.]+ ms$`, 'm'))
  t.match(ok.stdout, new RegExp(`^ {2}127\\.0\\.0\\.3:${port} +web-1\\.web\\.default\\.svc\\.cluster\\.local +ok +[\\d.]+ ms$`, 'm'), 'SRV host names are shown')
  t.match(ok.stdout, /^upstream web: _http\._tcp\.web\.default\.svc\.cluster\.local \(http1\): 2 pods/m, 'the SRV name asked is shown')
  t.match(ok.stdout, /^ {2}127\.0\.0\.2:9999 +- +not probed \(udp\)$/m, 'UDP pods are resolved, not connected to')

  const bad = writeConfig({
    ...base,
    listeners: [
      { name: 'orders', address: '127.0.0.1:0', upstream: 'orders' },
      { name: 'ledger', address: '127.0.0.1:0', upstream: 'ledger' },
      { name: 'typo', address: '127.0.0.1:0', upstream: 'typo' },
    ],
    upstreams: [
      { name: 'orders', service: 'orders.default.svc.cluster.local', port, connection },
      { name: 'ledger', service: 'ledger.default.svc.cluster.local', port: refusing.port, connection },
      { name: 'typo', service: 'ordres.default.svc.cluster.local', port, connection },
    ],
  })
  const failed = await run(['check', '--resolve', '-c', bad])
  t.equal(failed.code, 1, 'an upstream without a reachable pod: exit 1')
  t.match(failed.stdout, new RegExp(`^ {2}127\\.0\\.0\\.9:${refusing.port} +- +refused +[\\d.]+ ms$`, 'm'), 'the refusing pod is shown as refused')
  t.match(failed.stdout, /^upstream orders: .*: OK$/m, 'the healthy upstream is still reported OK')
  t.same(failed.stderr.trimEnd().split('\n'), [
    `spoke: upstream ledger: none of the 1 pods accepted a connection on port ${refusing.port}`,
    'spoke: upstream typo: DNS has no pods for ordres.default.svc.cluster.local (NXDOMAIN or an empty answer): check the service name, its namespace and that the Service is headless',
  ], 'one line per upstream that failed, on stderr')

  const invalid = writeConfig({ listeners: [], upstreams: [] })
  const two = await run(['check', '--resolve', '-c', invalid])
  t.equal(two.code, 2, 'an invalid file exits 2 before any query')
  t.match(two.stderr, /listeners: must have at least 1 entry/)

  const misuse = await run(['run', '--resolve', '-c', good])
  t.equal(misuse.code, 2, '--resolve belongs to check')
  t.match(misuse.stderr, /--resolve is an option of check only/)
})

t.test('check --resolve reports a DNS server that does not answer as a failed lookup, within the DNS timeout', async (t) => {
  const silent = await startDnsServer()
  t.teardown(() => silent.close())
  silent.setBehaviour('*', 'drop')
  const file = writeConfig({
    dns: { servers: [`127.0.0.1:${silent.address.port}`], timeout: '500ms' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: 'orders.default.svc.cluster.local', port: 8080 }],
  })
  const started = performance.now()
  const result = await run(['check', '--resolve', '-c', file])
  t.equal(result.code, 1)
  t.match(result.stderr, new RegExp(`^spoke: upstream orders: DNS lookup of orders\\.default\\.svc\\.cluster\\.local failed \\(asked 127\\.0\\.0\\.1:${silent.address.port}\\): .*(ETIMEOUT|timed out)`, 'm'))
  t.ok(performance.now() - started < 10_000, 'bounded by the DNS timeout (plus process start)')
})

t.test('with subsetSize, check --resolve marks the pods this identity uses and judges the upstream by them', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pods = await startPods(3)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  dns.setA('orders.default.svc.cluster.local', pods.map((p) => p.host))
  const file = writeConfig({
    dns: { servers: [`127.0.0.1:${dns.address.port}`], timeout: '1s' },
    listeners: [{ name: 'orders', address: '127.0.0.1:0', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: 'orders.default.svc.cluster.local', port: pods[0].port, discovery: { subsetSize: 1 }, connection: { connectTimeout: '500ms' } }],
  })
  const marked = async (id: string): Promise<string[]> => {
    const result = await run(['check', '--resolve', '-c', file], { SPOKE_ID: id })
    t.equal(result.code, 0, `${id}: exit 0`)
    t.match(result.stdout, /^ {2}subsetSize 1: this sidecar uses the pods marked yes$/m)
    t.match(result.stdout, /^ {2}POD +HOST NAME +SUBSET +CONNECT +TIME$/m)
    return [...result.stdout.matchAll(/^ {2}(127\.0\.0\.\d+):\d+ +- +yes +ok/gm)].map((m) => m[1])
  }
  // The same choice `spoke run` makes for the identity: pod-subset.ts, given the same answer.
  const expected = (id: string): string[] => podSubset(pods.map((p) => ({ address: p.host, port: p.port, hostname: null })), 1, id).chosen.map((d) => d.address)
  const seen = new Set<string>()
  for (const id of ['client-0', 'client-1', 'client-2']) {
    const chosen = await marked(id)
    t.same(chosen, expected(id), `${id}: the subset spoke run would use`)
    for (const c of chosen) seen.add(c)
  }
  t.ok(seen.size > 1, 'different identities, different subsets')
})
