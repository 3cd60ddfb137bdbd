// A pod's own network for the faults loopback cannot express: a network namespace joined to the
// host by a veth pair on a private /30, where iptables can drop every packet (a blackholed pod:
// connects never complete, established connections go silent). Root only; everything created
// here is removed by close(), and namespaces left by a test process that died are swept.
import { execFileSync } from 'node:child_process'

const PREFIX = 'spoke-bh-'

function run(args: readonly string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function has(tool: string): boolean {
  try {
    run(['sh', '-c', `command -v ${tool}`])
    return true
  } catch {
    return false
  }
}

/** Why network namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and iptables rules'
  for (const [tool, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables']]) {
    if (!has(tool)) return `${tool} not found (Debian: apt-get install ${pkg})`
  }
  const probe = `${PREFIX}probe-${process.pid}`
  try {
    run(['ip', 'netns', 'add', probe])
    run(['ip', 'netns', 'exec', probe, 'iptables', '-L', 'INPUT', '-n'])
  } catch (err) {
    return `cannot create a network namespace with iptables in it: ${String((err as { stderr?: string }).stderr ?? err).trim()}`
  } finally {
    try { run(['ip', 'netns', 'del', probe]) } catch { /* it was never created */ }
  }
  return null
}

/** Deletes namespaces this helper made in test processes that are gone. */
function sweepStale(): void {
  for (const line of run(['ip', 'netns', 'list']).split('\n')) {
    const name = line.split(' ')[0]
    const pid = Number(/^spoke-bh-(?:probe-)?(\d+)/.exec(name)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch {
      try { run(['ip', 'netns', 'del', name]) } catch { /* raced with its owner */ }
    }
  }
  for (const line of run(['ip', '-o', 'link', 'show']).split('\n')) {
    // Host ends of pairs whose namespace is gone: spk<pid>x<n>@…
    const m = /^\d+: (spk(\d+)x\d+)@/.exec(line)
    if (m === null || Number(m[2]) === process.pid) continue
    try {
      process.kill(Number(m[2]), 0)
    } catch {
      try { run(['ip', 'link', 'del', m[1]]) } catch { /* already gone */ }
    }
  }
}

let created = 0

export class Netns {
  readonly name: string
  /** The host's end of the veth pair. */
  readonly hostAddress: string
  /** The address a pod inside listens on. */
  readonly podAddress: string
  readonly #veth: string
  #closed = false

  private constructor(name: string, veth: string, hostAddress: string, podAddress: string) {
    this.name = name
    this.#veth = veth
    this.hostAddress = hostAddress
    this.podAddress = podAddress
  }

  static create(): Netns {
    sweepStale()
    const n = created++
    const name = `${PREFIX}${process.pid}-${n}`
    // Interface names have 15 characters at most; the peer lives inside the namespace.
    const veth = `spk${process.pid}x${n}`
    const used = run(['ip', '-o', '-4', 'addr', 'show'])
    let third = 0
    let base = 0
    for (let tries = 0; ; tries++) {
      third = Math.floor(Math.random() * 256)
      base = Math.floor(Math.random() * 64) * 4
      if (!used.includes(`10.213.${third}.${base + 1}/`) || tries > 50) break
    }
    const ns = new Netns(name, veth, `10.213.${third}.${base + 1}`, `10.213.${third}.${base + 2}`)
    try {
      run(['ip', 'netns', 'add', name])
      run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name])
      run(['ip', 'addr', 'add', `${ns.hostAddress}/30`, 'dev', veth])
      run(['ip', 'link', 'set', veth, 'up'])
      run(['ip', '-n', name, 'addr', 'add', `${ns.podAddress}/30`, 'dev', 'eth0'])
      run(['ip', '-n', name, 'link', 'set', 'eth0', 'up'])
      run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
    } catch (err) {
      ns.close()
      throw err
    }
    return ns
  }

  /** Every packet into or out of the namespace dropped: SYNs unanswered, connections silent. */
  blackhole(): void {
    run(['ip', 'netns', 'exec', this.name, 'iptables', '-A', 'INPUT', '-j', 'DROP'])
    run(['ip', 'netns', 'exec', this.name, 'iptables', '-A', 'OUTPUT', '-j', 'DROP'])
  }

  /** Removes the veth pair (both ends), the namespace and its iptables rules. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    // The kernel frees a deleted namespace's devices only later: remove the pair now.
    try { run(['ip', 'link', 'del', this.#veth]) } catch { /* never created */ }
    try { run(['ip', 'netns', 'del', this.name]) } catch { /* never created */ }
  }
}
