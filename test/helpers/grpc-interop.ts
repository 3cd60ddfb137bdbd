// The official gRPC interop test client and server of two independent stacks, as child
// processes: grpc-node's test/interop on @grpc/grpc-js, and grpc/grpc's Python interop on
// Debian's python3-grpcio. Both are vendored under test/vendor/ (see the README there); the
// Python messages are generated at run time by Debian's python3-grpc-tools.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onOnePort } from '../../src/net.ts'

export type Stack = 'grpc-js' | 'grpcio'
export const STACKS: readonly Stack[] = ['grpc-js', 'grpcio']

/** The cases of issue 11 (the official names, as the clients' --test_case takes them). */
export const CASES = [
  'empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream',
  'timeout_on_sleeping_server', 'custom_metadata', 'status_code_and_message', 'special_status_message',
  'unimplemented_method', 'unimplemented_service', 'cancel_after_begin', 'cancel_after_first_response',
] as const
export type InteropCase = (typeof CASES)[number]

/** Debian's interpreter: the one python3-grpcio is installed for (a pyenv python3 on PATH has no grpc). */
export const PYTHON = '/usr/bin/python3'

const VENDOR = new URL('../vendor/', import.meta.url).pathname
const NODE_INTEROP = join(VENDOR, 'grpc-node/test/interop')
const GRPC_REPO = join(VENDOR, 'grpc')
const PY_TESTS_ROOT = join(GRPC_REPO, 'src/python/grpcio_tests')
const PROTOS = ['empty', 'messages', 'test'].map((p) => `src/proto/grpc/testing/${p}.proto`)

function run(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, output: `${stdout}${stderr}${err !== null && typeof err.code !== 'number' ? String(err) : ''}` })
    })
  })
}

/**
 * A scratch directory holding the Python messages and stubs (generated here by Debian's
 * grpc_tools.protoc from the vendored protos) and Python's bytecode cache, so nothing is written
 * into the repository. Throws naming the packages when Debian's grpc is missing.
 */
export class PythonEnv {
  readonly dir: string
  private constructor(dir: string) {
    this.dir = dir
  }

  static async create(): Promise<PythonEnv> {
    if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: apt-get install python3-grpcio python3-grpc-tools`)
    const probe = await run(PYTHON, ['-c', 'import grpc, grpc_tools.protoc'])
    if (probe.code !== 0) throw new Error(`Debian's grpc for Python is missing (apt-get install python3-grpcio python3-grpc-tools): ${probe.output.trim()}`)
    const dir = mkdtempSync(join(tmpdir(), 'spoke-interop-py-'))
    const gen = await run(PYTHON, ['-m', 'grpc_tools.protoc', `-I${GRPC_REPO}`, `--python_out=${dir}`, `--grpc_python_out=${dir}`, ...PROTOS])
    if (gen.code !== 0) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`grpc_tools.protoc failed: ${gen.output}`)
    }
    return new PythonEnv(dir)
  }

  /** The generated `src.proto.grpc.testing` first, then the vendored `tests.interop`. */
  get env(): NodeJS.ProcessEnv {
    return { ...process.env, PYTHONPATH: `${this.dir}:${PY_TESTS_ROOT}`, PYTHONPYCACHEPREFIX: join(this.dir, 'pycache'), PYTHONUNBUFFERED: '1' }
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function command(stack: Stack, role: 'client' | 'server', args: readonly string[], py: PythonEnv): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  // Node children run plain CommonJS without the test runner's loaders: tap adds its NODE_OPTIONS
  // to every child it sees spawned, so `env -u` takes them off again (they triple start-up).
  if (stack === 'grpc-js') return { file: '/usr/bin/env', args: ['-u', 'NODE_OPTIONS', process.execPath, join(NODE_INTEROP, `interop_${role}.js`), ...args], env: process.env }
  return { file: PYTHON, args: ['-m', `tests.interop.${role}`, ...args], env: py.env }
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** One interop server process (`--host`, `--port`: 127.0.0.0/8 only). */
export class InteropServer {
  readonly stack: Stack
  readonly host: string
  readonly port: number
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #output = ''

  private constructor(stack: Stack, host: string, port: number, child: ChildProcess) {
    this.stack = stack
    this.host = host
    this.port = port
    this.#child = child
    child.stdout!.on('data', (c: Buffer) => { this.#output += c })
    child.stderr!.on('data', (c: Buffer) => { this.#output += c })
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => resolve())
    })
  }

  get pid(): number {
    return this.#child.pid!
  }

  get address(): string {
    return `${this.host}:${this.port}`
  }

  output(): string {
    return this.#output
  }

  /** Starts the server and waits until it accepts connections; a taken port rejects with code EADDRINUSE. */
  static async start(stack: Stack, host: string, port: number, py: PythonEnv): Promise<InteropServer> {
    // Readiness is "accepts connections", so the port must not be someone else's already.
    if (await connects(host, port)) throw Object.assign(new Error(`${host}:${port} is taken`), { code: 'EADDRINUSE' })
    const c = command(stack, 'server', [`--host=${host}`, `--port=${port}`], py)
    const child = spawn(c.file, c.args, { env: c.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const server = new InteropServer(stack, host, port, child)
    const deadline = Date.now() + 15_000
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const out = server.output()
        const error: NodeJS.ErrnoException = new Error(`${stack} interop server on ${host}:${port} exited (${child.exitCode ?? child.signalCode}): ${out.trim()}`)
        if (/EADDRINUSE|address already in use|Failed to bind/i.test(out)) error.code = 'EADDRINUSE'
        throw error
      }
      if (await connects(host, port)) return server
      if (Date.now() > deadline) {
        await server.close()
        throw new Error(`${stack} interop server on ${host}:${port} never listened: ${server.output().trim()}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** SIGKILL by PID (the interop servers have no graceful stop worth waiting for). */
  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
    await this.#exited
  }
}

/** `count` servers of `stack` on 127.0.0.<first>… sharing one port, as a headless Service's pods do. */
export function startInteropServers(stack: Stack, count: number, first: number, py: PythonEnv): Promise<InteropServer[]> {
  return onOnePort(count, first, (host, port) => InteropServer.start(stack, host, port, py))
}

export interface CaseResult {
  ok: boolean
  /** How the case ended: `ok`, the client's exit code, or `timeout`. */
  exit: number | string
  ms: number
  /** What the client printed during the case (its error, for a failure). */
  output: string
}

const CLIENT_DRIVER: Record<Stack, string> = {
  'grpc-js': new URL('./grpc-interop-client.ts', import.meta.url).pathname,
  grpcio: new URL('./grpc_interop_client.py', import.meta.url).pathname,
}

/**
 * Runs `cases` with the official client of `stack` against host:port, one after another in one
 * client process (see grpc-interop-client.ts, grpc_interop_client.py): each case gets a new
 * channel exactly as the client's command line would make it. A case fails when its assertion
 * ends the process or it runs past `caseTimeoutMs`; the cases after it then run in a new process.
 */
export async function runInteropCases(stack: Stack, cases: readonly InteropCase[], host: string, port: number, py: PythonEnv, caseTimeoutMs = 10_000): Promise<Map<InteropCase, CaseResult>> {
  const results = new Map<InteropCase, CaseResult>()
  let remaining = [...cases]
  while (remaining.length > 0) {
    const c = stack === 'grpc-js'
      ? { file: '/usr/bin/env', args: ['-u', 'NODE_OPTIONS', process.execPath, CLIENT_DRIVER[stack], `${host}:${port}`, ...remaining], env: process.env }
      : { file: PYTHON, args: [CLIENT_DRIVER[stack], host, String(port), ...remaining], env: py.env }
    await new Promise<void>((resolve) => {
      const child = spawn(c.file, c.args, { env: c.env, stdio: ['ignore', 'pipe', 'pipe'] })
      let current: { name: InteropCase; started: number; output: string } | null = null
      let pending = ''
      let stderr = ''
      let timer: NodeJS.Timeout | null = null
      let timedOut = false
      const arm = (): void => {
        if (timer !== null) clearTimeout(timer)
        timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, caseTimeoutMs)
      }
      arm()
      child.stdout!.on('data', (b: Buffer) => {
        pending += b
        let nl: number
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl)
          pending = pending.slice(nl + 1)
          const m = /^(start|ok) (\S+)$/.exec(line)
          if (m !== null && m[1] === 'start') {
            current = { name: m[2] as InteropCase, started: performance.now(), output: '' }
            arm()
          } else if (m !== null && current !== null && m[2] === current.name) {
            results.set(current.name, { ok: true, exit: 'ok', ms: Math.round(performance.now() - current.started), output: current.output })
            remaining = remaining.filter((x) => x !== current!.name)
            current = null
          } else if (current !== null) current.output += `${line}\n`
        }
      })
      child.stderr!.on('data', (b: Buffer) => { if (current !== null) current.output += b; else stderr += b })
      child.once('close', (code, signal) => {
        if (timer !== null) clearTimeout(timer)
        if (current !== null) {
          results.set(current.name, { ok: false, exit: timedOut ? 'timeout' : (code ?? signal ?? 'unknown'), ms: Math.round(performance.now() - current.started), output: current.output + pending })
          remaining = remaining.filter((x) => x !== current!.name)
        } else if (remaining.length > 0) {
          // Ended before starting a case: every case left fails with what the client said.
          for (const name of remaining) results.set(name, { ok: false, exit: code ?? signal ?? 'unknown', ms: 0, output: pending + stderr })
          remaining = []
        }
        resolve()
      })
    })
  }
  return results
}

/** Runs `jobs` with at most `limit` at a time; results in the jobs' order. */
export async function pooled<T>(jobs: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker))
  return results
}
