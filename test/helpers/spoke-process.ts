// spoke as a child process (bin/spoke.js, the compiled dist/ that `npm test` builds first), for
// tests that measure spoke alone: its CPU time and resident memory from /proc, which an
// in-process spoke would share with the test's own clients and pods.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SERVICE } from './harness.ts'

const BIN = new URL('../../bin/spoke.js', import.meta.url).pathname
/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on every Linux ABI Node runs on). */
const TICKS_PER_SECOND = 100

export interface SpokeProcess {
  readonly pid: number
  readonly port: number
  readonly url: string
  readonly adminUrl: string
  /** User + system CPU seconds spoke has used so far. */
  cpuSeconds(): number
  /** Resident set size in bytes. */
  rssBytes(): number
  alive(): boolean
  output(): string
  /** SIGTERM (no linger), SIGKILL if it has not exited within 5 s; resolves with the exit code. */
  stop(): Promise<number | null>
}

export interface SpokeProcessOptions {
  /** Port of the test DNS server on 127.0.0.1. */
  readonly dnsPort: number
  /** The pods' port (they share one across loopback addresses). */
  readonly podPort: number
  readonly listener?: Record<string, unknown>
  readonly upstream?: Record<string, unknown>
  /** Added to the environment spoke runs with (SPOKE_ID, say). */
  readonly env?: Record<string, string>
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export async function startSpokeProcess(options: SpokeProcessOptions): Promise<SpokeProcess> {
  const port = await freePort()
  const adminPort = await freePort()
  // JSON is YAML: the same document shape as the harness's in-process configs.
  const config = {
    admin: { address: `127.0.0.1:${adminPort}` },
    shutdown: { linger: '0', drainTimeout: '2s' },
    dns: { servers: [`127.0.0.1:${options.dnsPort}`], timeout: '500ms' },
    listeners: [{ name: 'orders', address: `127.0.0.1:${port}`, upstream: 'orders', ...options.listener }],
    upstreams: [{ name: 'orders', service: SERVICE, port: options.podPort, discovery: { refresh: '1s', minRefresh: '100ms' }, ...options.upstream }],
  }
  const file = join(mkdtempSync(join(tmpdir(), 'spoke-proc-')), 'spoke.yaml')
  writeFileSync(file, JSON.stringify(config, null, 2))
  const child: ChildProcess = spawn(process.execPath, [BIN, 'run', '-c', file, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  let output = ''
  child.stdout!.on('data', (c: Buffer) => { output += c })
  child.stderr!.on('data', (c: Buffer) => { output += c })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const adminUrl = `http://127.0.0.1:${adminPort}`
  const deadline = Date.now() + 15_000
  for (;;) {
    const ready = await fetch(`${adminUrl}/ready`).then((r) => r.status, () => 0)
    if (ready === 200) break
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`spoke never became ready: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const pid = child.pid!
  return {
    pid, port, adminUrl,
    url: `http://127.0.0.1:${port}`,
    cpuSeconds() {
      // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
    },
    rssBytes() {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      return m === null ? 0 : Number(m[1]) * 1024
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}
