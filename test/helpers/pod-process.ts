// Pods as child processes (test/helpers/pod-main.ts): real SIGKILL and SIGSTOP, and pods inside
// a network namespace. Each writes its POST arrivals to a file the test reads back.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onOnePort } from '../../src/net.ts'
import { PostLedger } from './load.ts'

const MAIN = new URL('./pod-main.ts', import.meta.url).pathname

export class PodProcess {
  readonly name: string
  readonly host: string
  readonly port: number
  readonly #child: ChildProcess
  readonly #log: string
  readonly exited: Promise<void>

  private constructor(name: string, host: string, port: number, child: ChildProcess, log: string) {
    this.name = name
    this.host = host
    this.port = port
    this.#child = child
    this.#log = log
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => resolve())
    })
  }

  /**
   * Starts `node pod-main.ts` (inside `netns` with `ip netns exec` when given) and waits for it
   * to listen. Rejects with the pod's error (code EADDRINUSE when the port is taken).
   */
  static start(options: { name: string; host: string; port: number; netns?: string; protocol?: 'http1' | 'h2c' }): Promise<PodProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'spoke-pod-'))
    const log = join(dir, 'posts.log')
    const args = [MAIN, options.name, options.host, String(options.port), log, options.protocol ?? 'http1']
    const child = options.netns === undefined
      ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn('ip', ['netns', 'exec', options.netns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    return new Promise((resolve, reject) => {
      let out = ''
      let err = ''
      let started = false
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
      child.stderr!.on('data', (c: Buffer) => { err += c })
      child.stdout!.on('data', (c: Buffer) => {
        out += c
        if (!started && out.includes('ready\n')) {
          started = true
          clearTimeout(timer)
          resolve(new PodProcess(options.name, options.host, options.port, child, log))
        }
      })
      child.once('exit', (code, signal) => {
        if (started) return
        clearTimeout(timer)
        rmSync(dir, { recursive: true, force: true })
        const error: NodeJS.ErrnoException = new Error(`pod ${options.name} did not start (${code ?? signal}): ${err.trim()}`)
        if (err.includes('EADDRINUSE')) error.code = 'EADDRINUSE'
        reject(error)
      })
    })
  }

  get pid(): number {
    return this.#child.pid!
  }

  signal(signal: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal)
  }

  /** The x-request-id of every POST that reached this pod (read before the pod is closed). */
  postIds(): string[] {
    try {
      return readFileSync(this.#log, 'utf8').split('\n').filter((l) => l !== '')
    } catch {
      return []
    }
  }

  /** SIGKILL (also after SIGSTOP), then the temporary file goes. */
  async close(): Promise<void> {
    this.signal('SIGKILL')
    await this.exited
    rmSync(join(this.#log, '..'), { recursive: true, force: true })
  }
}

/** `count` pod processes on 127.0.0.2, .3, … sharing one port. */
export function startPodProcesses(count: number, protocol: 'http1' | 'h2c' = 'http1'): Promise<PodProcess[]> {
  return onOnePort(count, 2, (host, port, i) => PodProcess.start({ name: `${protocol === 'h2c' ? 'h2c' : 'pod'}-${i}`, host, port, protocol }))
}

/** Every POST id that reached any of these pods, in one ledger. */
export function ledgerOf(pods: readonly PodProcess[]): PostLedger {
  const ledger = new PostLedger()
  for (const p of pods) for (const id of p.postIds()) ledger.add(id)
  return ledger
}
