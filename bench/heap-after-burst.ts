// Whether an h2c burst leaves live JavaScript objects behind: `MAXC=20 node bench/heap-after-burst.ts`
// sends 8 s of h2load (200 connections × 10 streams) through a fresh spoke whose upstream admits
// MAXC requests at once (20: almost every stream is refused 503 `overloaded`; 100000: none is),
// then has spoke write a heap snapshot, which V8 takes after a full collection: its size is what
// the burst left alive. Needs nginx, h2load and 127.0.0.5–7 (docs/memory.md).
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startNginxPods } from '../test/helpers/nginx.ts'
const HERE = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
const dns = await startDnsServer()
const pods = await startNginxPods(['127.0.0.5', '127.0.0.6', '127.0.0.7'], 'keepalive_requests 10000000; keepalive_timeout 300s; http2_max_concurrent_streams 128;', ' http2')
dns.setA('p.default.svc.cluster.local', pods.hosts, 300)
const port = 20000 + Math.floor(Math.random() * 30000)
const max = process.env.MAXC ?? '1024'
// The snapshot is written into spoke's working directory.
writeFileSync('/tmp/leak.yaml', `admin: { address: "127.0.0.1:${port + 1}" }\nshutdown: { linger: 0s, drainTimeout: 1s }\ndns: { servers: ["127.0.0.1:${dns.address.port}"] }\nlisteners: [{ name: b, address: "127.0.0.1:${port}", upstream: p }]\nupstreams: [{ name: p, service: p.default.svc.cluster.local, port: ${pods.port}, protocol: h2c, limits: { maxConcurrentRequests: ${max} } }]\n`)
const dir = `/tmp/leak-${max}`
execFileSync('mkdir', ['-p', dir])
const spoke = spawn('node', ['--heapsnapshot-signal=SIGUSR2', `${HERE}/bin/spoke.js`, 'run', '-c', '/tmp/leak.yaml', '--log-level', 'error'], { stdio: 'inherit', cwd: dir })
for (let i = 0; i < 100; i++) { if (await fetch(`http://127.0.0.1:${port + 1}/ready`).then((r) => r.ok, () => false)) break; await new Promise((r) => setTimeout(r, 100)) }
const out = execFileSync('h2load', ['-t1', '-c200', '-m10', '-D', '8', `http://127.0.0.1:${port}/`]).toString()
console.log(out.split('\n').filter((l) => /status codes|requests:/.test(l)).join('\n'))
await new Promise((r) => setTimeout(r, 2000))
process.kill(spoke.pid!, 'SIGUSR2')
await new Promise((r) => setTimeout(r, 8000))
for (const f of readdirSync(dir)) console.log(f, (statSync(`${dir}/${f}`).size / 1e6).toFixed(1), 'MB')
spoke.kill('SIGTERM'); await new Promise((r) => spoke.once('exit', r))
await pods.close(); await dns.close()
