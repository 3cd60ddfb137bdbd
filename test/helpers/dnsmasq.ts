// dnsmasq as a child process: a real, independent DNS server for the discovery tests, so spoke's
// resolver is checked against a server other than our own (its own limits, TCP handling and
// answer layout). It binds 127.0.0.1 on a free port only, is authoritative for `cluster.local`
// (unknown names are NXDOMAIN, never forwarded), and is stopped by its PID.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import dns from 'node:dns'
import net from 'node:net'

export interface DnsmasqRecords {
  /** `_http._tcp.web…` → targets with their port. */
  readonly srv?: ReadonlyMap<string, readonly { target: string; port: number }[]>
  /** Host name → IPv4 addresses. */
  readonly hosts?: ReadonlyMap<string, readonly string[]>
  /** TTL of every answer (dnsmasq's --local-ttl); default 5. */
  readonly ttl?: number
}

export interface Dnsmasq {
  readonly pid: number
  readonly port: number
  /** What dnsmasq printed, for a failing test's message. */
  readonly output: () => string
  stop(): Promise<void>
}

/** The binary, or null when it is not installed (`.ci/run` installs Debian's dnsmasq-base). */
export function dnsmasqPath(): string | null {
  for (const path of ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq']) {
    try {
      execFileSync(path, ['--version'], { stdio: 'ignore', timeout: 5000 })
      return path
    } catch { /* not here */ }
  }
  return null
}

/** A port free on 127.0.0.1 for both UDP and TCP at this moment (dnsmasq needs both). */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject)
      udp.bind(0, '127.0.0.1', () => resolve())
    })
    const port = udp.address().port
    const tcp = net.createServer()
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false))
      tcp.listen(port, '127.0.0.1', () => resolve(true))
    })
    await new Promise<void>((resolve) => tcp.close(() => resolve()))
    await new Promise<void>((resolve) => udp.close(() => resolve()))
    if (ok) return port
  }
  throw new Error('no port free on 127.0.0.1 for both UDP and TCP')
}

function recordArgs(records: DnsmasqRecords): string[] {
  const args: string[] = []
  for (const [name, targets] of records.srv ?? []) {
    for (const t of targets) args.push(`--srv-host=${name},${t.target},${t.port}`)
  }
  // One line per address: a --host-record line holds at most one of each family.
  for (const [name, addresses] of records.hosts ?? []) for (const a of addresses) args.push(`--host-record=${name},${a}`)
  return args
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Resolves once dnsmasq answers a query (any answer), false if it exits or stays silent for 5 s. */
async function answering(child: ChildProcess, port: number): Promise<boolean> {
  const resolver = new dns.promises.Resolver({ timeout: 100, tries: 1 })
  resolver.setServers([`127.0.0.1:${port}`])
  const deadline = performance.now() + 5000
  while (performance.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      await resolver.resolve4('probe.cluster.local')
      return true
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      // NXDOMAIN or NODATA is an answer; a timeout or a refused port means not listening yet.
      if (code === 'ENOTFOUND' || code === 'ENODATA') return true
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return false
}

export async function startDnsmasq(records: DnsmasqRecords, binary = dnsmasqPath()): Promise<Dnsmasq> {
  if (binary === null) throw new Error('dnsmasq is not installed (apt-get install dnsmasq-base)')
  // A port found free can be taken before dnsmasq binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const child = spawn(binary, [
      '--no-resolv', '--no-hosts', '--conf-file=/dev/null',
      // Foreground, no pid file, no change of user (so it runs the same as root in CI and as a
      // developer), TCP answered in this process rather than in forked children.
      '--no-daemon',
      // Only 127.0.0.1:port: never port 53, never another interface.
      '--listen-address=127.0.0.1', '--bind-interfaces', `--port=${port}`,
      '--local=/cluster.local/', `--local-ttl=${records.ttl ?? 5}`,
      '--log-facility=-',
      ...recordArgs(records),
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const keep = (chunk: Buffer): void => {
      if (output.length < 20_000) output += chunk.toString('utf8')
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    child.on('error', (err) => keep(Buffer.from(String(err))))
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 2000)
      await exited(child)
      clearTimeout(killer)
    }
    if (await answering(child, port)) {
      return { pid: child.pid!, port, output: () => output, stop }
    }
    await stop()
    if (attempt >= 4 || !/address already in use/i.test(output)) throw new Error(`dnsmasq did not start:\n${output}`)
  }
}
