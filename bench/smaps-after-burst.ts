// Where spoke's memory sits after h2c bursts: `node bench/smaps-after-burst.ts` runs ROUNDS (2)
// bursts of h2load (2 000 connections × 10 streams, LOAD_S = 15 s) through a fresh spoke and reads
// its /proc/<pid>/smaps 2 s after each: malloc's brk heap, anonymous mappings under 60 MiB (V8's
// 256 KiB pages among them) and larger ones (thread arenas); then, unless NOGC=1, it has spoke run
// a full collection (SIGUSR2 to a hook loaded with --expose-gc; GCOPTS picks its kind, e.g.
// '{"type":"major","execution":"sync","flavor":"last-resort"}') and reads again at +3, +10 and
// +30 s. NODEFLAGS: V8 flags for spoke; LOGLEVEL=info shows the memory reducer's lines.
// Needs nginx, h2load, taskset and 127.0.0.5–7 (docs/memory.md).
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startNginxPods } from '../test/helpers/nginx.ts'
const HERE = new URL('..', import.meta.url).pathname.replace(/\/$/, '')
mkdirSync('/tmp/memx', { recursive: true })
writeFileSync('/tmp/memx/gc-hook.mjs', "process.on('SIGUSR2', () => {\n  const before = process.memoryUsage()\n  globalThis.gc(process.env.GCOPTS ? JSON.parse(process.env.GCOPTS) : undefined)\n  const after = process.memoryUsage()\n  const mb = (n) => (n / 1048576).toFixed(1)\n  console.error(`gc: rss ${mb(before.rss)} -> ${mb(after.rss)}; heapUsed ${mb(before.heapUsed)} -> ${mb(after.heapUsed)}; heapTotal ${mb(before.heapTotal)} -> ${mb(after.heapTotal)}; external ${mb(after.external)} ab ${mb(after.arrayBuffers)}`)\n})\n")
const dns = await startDnsServer()
const pods = await startNginxPods(['127.0.0.5', '127.0.0.6', '127.0.0.7'], 'keepalive_requests 10000000; keepalive_timeout 300s; http2_max_concurrent_streams 128;', ' http2')
dns.setA('p.default.svc.cluster.local', pods.hosts, 300)
const port = 20000 + Math.floor(Math.random() * 30000)
writeFileSync('/tmp/memx/c.yaml', `admin: { address: "127.0.0.1:${port + 1}" }\nshutdown: { linger: 0s, drainTimeout: 1s }\ndns: { servers: ["127.0.0.1:${dns.address.port}"] }\nlisteners: [{ name: b, address: "127.0.0.1:${port}", upstream: p }]\nupstreams: [{ name: p, service: p.default.svc.cluster.local, port: ${pods.port}, protocol: h2c }]\n`)
const flags = (process.env.NODEFLAGS ?? '--max-semi-space-size=4').split(' ').filter(Boolean)
const spoke = spawn('node', [...flags, '--expose-gc', '--import', '/tmp/memx/gc-hook.mjs', `${HERE}/bin/spoke.js`, 'run', '-c', '/tmp/memx/c.yaml', '--log-level', process.env.LOGLEVEL ?? 'error'], { stdio: 'inherit', env: { ...process.env } })
for (let i = 0; i < 100; i++) { if (await fetch(`http://127.0.0.1:${port + 1}/ready`).then((r) => r.ok, () => false)) break; await new Promise((r) => setTimeout(r, 100)) }
const pid = spoke.pid!
function mem(label: string) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8')
  const g = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)![1]) / 1024
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')
  let name = ''; let heap = 0; let anonSmall = 0; let anonBig = 0; let size = 0; const big: string[] = []
  for (const l of smaps) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(l)
    if (m) { name = m[3]; size = (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1048576; continue }
    const r = /^Rss:\s+(\d+)/.exec(l)
    if (r) { const mb = Number(r[1]) / 1024; if (name === '[heap]') heap += mb; else if (name === '') { if (size >= 60) { anonBig += mb; big.push(`${size.toFixed(0)}M:${mb.toFixed(0)}`) } else anonSmall += mb } }
  }
  if (label.includes('gc+30')) { const hist = new Map<string, [number, number]>(); let nm = ''; let sz = 0; for (const l of smaps) { const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(l); if (m) { nm = m[3]; sz = (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024; continue } const r = /^Rss:\s+(\d+)/.exec(l); if (r && nm === '') { const k = sz < 300 ? '<300K' : sz < 1100 ? '<1.1M' : sz < 4200 ? '<4.2M' : sz < 17000 ? '<17M' : '>=17M'; const e = hist.get(k) ?? [0, 0]; e[0]++; e[1] += Number(r[1]) / 1024; hist.set(k, e) } } console.log([...hist].map(([k, [n, mb]]) => `${k}: ${n} maps ${mb.toFixed(1)}MB`).join(' | ')) }
  console.log(`${label}: VmRSS ${g('VmRSS').toFixed(1)} anon ${g('RssAnon').toFixed(1)} | brk ${heap.toFixed(1)} anon<60M-maps ${anonSmall.toFixed(1)} anon>=60M-maps ${anonBig.toFixed(1)} [${big.join(' ')}]`)
}
mem('idle')
const rounds = Number(process.env.ROUNDS ?? 2)
for (let r = 1; r <= rounds; r++) {
  const out = execFileSync('taskset', ['-c', '0', 'h2load', '-t1', '-c2000', '-m10', '-D', process.env.LOAD_S ?? '15', `http://127.0.0.1:${port}/`], { maxBuffer: 1e8 }).toString()
  console.log(out.split('\n').filter((l) => /status codes|requests:/.test(l)).join('\n'))
  await new Promise((res) => setTimeout(res, 2000))
  mem(`round ${r} +2s`)
  if (!process.env.NOGC) process.kill(pid, 'SIGUSR2')
  for (const w of [3, 10, 30]) { await new Promise((res) => setTimeout(res, w === 3 ? 3000 : w === 10 ? 7000 : 20000)); mem(`round ${r} gc+${w}s`) }
}
spoke.kill('SIGTERM'); await new Promise((r) => spoke.once('exit', r))
await pods.close(); await dns.close()
