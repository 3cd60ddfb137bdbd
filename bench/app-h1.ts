// CPU per request of the app side alone: spoke's HTTP/1.1 adapter (src/proxy/app-h1.ts) against
// Node's http.Server, each answering every request at once with the same small answer, no pod
// behind. `node bench/app-h1.ts [ROUNDS]` runs them one after the other, alternating, under
// wrk (50 connections, pinned to core 0; the server to core 1) and prints each run's req/s and CPU
// per request (utime + stime from /proc), then the medians. Kernel time for the read and the
// write of each request is in both figures alike.
// Needs wrk and taskset.
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { AppH1 } from '../src/proxy/app-h1.ts'
import type { AppSide } from '../src/proxy/app-side.ts'
import type { Downstream } from '../src/proxy/downstream.ts'

const HEADERS = ['content-type', 'text/plain', 'content-length', '3']

if (process.argv[2] === '--serve') {
  // The server half: argv[3] names it, argv[4] is the port.
  const port = Number(process.argv[4])
  if (process.argv[3] === 'node') {
    http.createServer((_req, res) => {
      res.writeHead(200, HEADERS)
      res.end('ok\n')
    }).listen(port, '127.0.0.1')
  } else {
    const side = {
      config: { name: 'bench', headersTimeoutMs: 10_000, idleTimeoutMs: 60_000, maxHeaderSize: 16 * 1024 },
      upstream: { name: 'bench', keyHeader: null },
      counts: { byStatus: new Float64Array(600) },
      log: { debug() {}, info() {}, warn() {}, error() {} },
      accessLog: false,
      serve(downstream: Downstream) {
        downstream.respond(200, HEADERS)
        downstream.end(null, 'ok\n')
        downstream.finished()
      },
      upgrade() {},
    } as unknown as AppSide
    const h1 = new AppH1(side)
    h1.started()
    // The listener's sniffing reduced to what it hands over: the first bytes.
    net.createServer({ noDelay: true }, (socket) => socket.once('data', (first: Buffer) => h1.accept(socket, first))).listen(port, '127.0.0.1')
  }
} else {
  const rounds = Number(process.argv[2] ?? 5)
  const port = 22000 + Math.floor(Math.random() * 20000)
  const cpuTicks = (pid: number): number => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return Number(fields[11]) + Number(fields[12])
  }
  const run = async (which: string): Promise<{ rps: number; cpuUs: number }> => {
    const server = spawn('taskset', ['-c', '1', process.execPath, new URL(import.meta.url).pathname, '--serve', which, String(port)], { stdio: 'inherit' })
    try {
      for (let i = 0; i < 50; i++) {
        const up = await new Promise<boolean>((resolve) => {
          const probe = net.connect(port, '127.0.0.1')
          probe.on('connect', () => { probe.destroy(); resolve(true) }).on('error', () => resolve(false))
        })
        if (up) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const wrk = (seconds: number): string => execFileSync('taskset', ['-c', '0', 'wrk', '-t1', '-c50', `-d${seconds}s`, `http://127.0.0.1:${port}/`]).toString()
      wrk(2)
      const before = cpuTicks(server.pid!)
      const out = wrk(4)
      const done = Number(/(\d+) requests in/.exec(out)![1])
      return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), cpuUs: (cpuTicks(server.pid!) - before) * 1e4 / done }
    } finally {
      server.kill()
      await new Promise((r) => server.once('exit', r))
    }
  }
  const results: Record<string, number[]> = { node: [], spoke: [] }
  for (let round = 1; round <= rounds; round++) {
    for (const which of round % 2 === 1 ? ['node', 'spoke'] : ['spoke', 'node']) {
      const r = await run(which)
      results[which].push(r.cpuUs)
      console.log(`round ${round} ${which.padEnd(5)} ${r.rps.toFixed(0).padStart(6)} req/s ${r.cpuUs.toFixed(1).padStart(5)} µs`)
    }
  }
  const median = (list: number[]): number => {
    const s = [...list].sort((a, b) => a - b)
    return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const node = median(results.node)
  const spoke = median(results.spoke)
  console.log(`median CPU per request: Node's http.Server ${node.toFixed(1)} µs, spoke's adapter ${spoke.toFixed(1)} µs (${(spoke / node).toFixed(3)} ×)`)
}
