// The official gRPC interop test clients and servers of three independent stacks, as child
// processes: grpc-node's test/interop on @grpc/grpc-js (npm), grpc/grpc's Python interop on
// Debian's python3-grpcio, and grpc-go's interop built offline (GOPATH mode) against Debian's
// golang-google-grpc-dev. All are vendored under test/vendor/ (see the READMEs there); the
// Python messages are generated and the Go binaries built at run time, into a scratch directory.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import net from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { onOnePort } from '../../src/net.ts'

export type Stack = 'grpc-js' | 'grpcio' | 'grpc-go'
export const STACKS: readonly Stack[] = ['grpc-js', 'grpcio', 'grpc-go']

/** The cases of issue 11 (the official names, as the clients' --test_case takes them). */
export const CASES = [
  'empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream',
  'timeout_on_sleeping_server', 'custom_metadata', 'status_code_and_message', 'special_status_message',
  'unimplemented_method', 'unimplemented_service', 'cancel_after_begin', 'cancel_after_first_response',
] as const
export type InteropCase = (typeof CASES)[number]

/** Debian's interpreter: the one python3-grpcio is installed for (a python3 earlier on PATH may lack grpc). */
export const PYTHON = '/usr/bin/python3'
/** Debian's Go; grpc-go and its dependencies are Debian's -dev packages under /usr/share/gocode. */
const GO = '/usr/bin/go'
const GOCODE = '/usr/share/gocode'
export const APT_PACKAGES = 'python3-grpcio python3-grpc-tools python3-pkg-resources golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-google-protobuf-dev'

const VENDOR = new URL('../vendor/', import.meta.url).pathname
const NODE_INTEROP = join(VENDOR, 'grpc-node/test/interop')
const GRPC_REPO = join(VENDOR, 'grpc')
const PY_TESTS_ROOT = join(GRPC_REPO, 'src/python/grpcio_tests')
const GO_INTEROP = join(VENDOR, 'grpc-go/interop')
const PROTOS = ['empty', 'messages', 'test'].map((p) => `src/proto/grpc/testing/${p}.proto`)

function run(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, output: `${stdout}${stderr}${err !== null && typeof err.code !== 'number' ? String(err) : ''}` })
    })
  })
}

/**
 * A scratch directory with what the stacks need built: the Python messages and stubs (Debian's
 * grpc_tools.protoc on the vendored protos), Python's bytecode cache, and the grpc-go interop
 * client and server. Nothing is written into the repository. Throws naming the Debian packages
 * when something is missing.
 */
export class InteropEnv {
  readonly dir: string
  private constructor(dir: string) {
    this.dir = dir
  }

  static async create(): Promise<InteropEnv> {
    const missing = `missing Debian packages (apt-get install ${APT_PACKAGES})`
    if (!existsSync(PYTHON) || !existsSync(GO)) throw new Error(`${PYTHON} or ${GO}: ${missing}`)
    const env = new InteropEnv(mkdtempSync(join(tmpdir(), 'spoke-interop-')))
    try {
      const probe = await run(PYTHON, ['-c', 'import grpc, grpc_tools.protoc'])
      if (probe.code !== 0) throw new Error(`Debian's grpc for Python: ${missing}: ${probe.output.trim()}`)
      const [gen, go] = await Promise.all([
        run(PYTHON, ['-m', 'grpc_tools.protoc', `-I${GRPC_REPO}`, `--python_out=${env.pyDir}`, `--grpc_python_out=${env.pyDir}`, ...PROTOS]),
        env.#buildGo(),
      ])
      if (gen.code !== 0) throw new Error(`grpc_tools.protoc failed: ${gen.output}`)
      if (go.code !== 0) throw new Error(`building grpc-go's interop client and server failed (${missing}?): ${go.output}`)
      return env
    } catch (err) {
      env.close()
      throw err
    }
  }

  private get pyDir(): string {
    const dir = join(this.dir, 'py')
    mkdirSync(dir, { recursive: true })
    return dir
  }

  get goBin(): string {
    return join(this.dir, 'bin')
  }

  /**
   * GOPATH mode, offline: google.golang.org/grpc is Debian's, seen through a directory of
   * symbolic links to its entries plus `interop`, the vendored one (Debian leaves it out). The
   * directory stays put (under ~/.cache/spoke-ci, one per checkout) so that Go's build cache,
   * keyed by package directory, makes later builds take a second instead of half a minute.
   */
  #buildGo(): Promise<{ code: number; output: string }> {
    const debian = join(GOCODE, 'src/google.golang.org/grpc')
    if (!existsSync(debian)) return Promise.resolve({ code: 1, output: `${debian} is missing` })
    const checkout = createHash('sha256').update(GO_INTEROP).digest('hex').slice(0, 12)
    const gopath = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), `spoke-ci/grpc-go-interop/${checkout}`)
    const grpc = join(gopath, 'src/google.golang.org/grpc')
    mkdirSync(grpc, { recursive: true })
    // Links made or corrected in place, not all removed first: another run may be building.
    const entries = readdirSync(debian).filter((e) => e !== 'interop')
    for (const entry of entries) linkTo(join(debian, entry), join(grpc, entry))
    linkTo(GO_INTEROP, join(grpc, 'interop'))
    for (const stale of readdirSync(grpc)) if (stale !== 'interop' && !entries.includes(stale)) rmSync(join(grpc, stale), { force: true })
    mkdirSync(this.goBin, { recursive: true })
    const env = { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${GOCODE}`, GOFLAGS: '', GOPROXY: 'off' }
    return run(GO, ['build', '-o', `${this.goBin}/`, 'google.golang.org/grpc/interop/client', 'google.golang.org/grpc/interop/server'], env)
  }

  /** Python's: the generated `src.proto.grpc.testing` first, then the vendored `tests.interop`. */
  get pythonEnv(): NodeJS.ProcessEnv {
    return { ...process.env, PYTHONPATH: `${this.pyDir}:${PY_TESTS_ROOT}`, PYTHONPYCACHEPREFIX: join(this.dir, 'pycache'), PYTHONUNBUFFERED: '1' }
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** `path` becomes a symbolic link to `target` (kept when it is one already). */
function linkTo(target: string, path: string): void {
  try {
    if (readlinkSync(path) === target) return
    rmSync(path, { force: true })
  } catch {
    // not there yet
  }
  try {
    symlinkSync(target, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
}

function serverCommand(stack: Stack, host: string, port: number, env: InteropEnv): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const args = [`--host=${host}`, `--port=${port}`]
  switch (stack) {
    // Node children run plain CommonJS without the test runner's loaders: tap adds its
    // NODE_OPTIONS to every child it sees spawned, so `env -u` takes them off again.
    case 'grpc-js': return { file: '/usr/bin/env', args: ['-u', 'NODE_OPTIONS', process.execPath, join(NODE_INTEROP, 'interop_server.js'), ...args], env: process.env }
    case 'grpcio': return { file: PYTHON, args: ['-m', 'tests.interop.server', ...args], env: env.pythonEnv }
    case 'grpc-go': return { file: join(env.goBin, 'server'), args, env: process.env }
  }
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
  static async start(stack: Stack, host: string, port: number, env: InteropEnv): Promise<InteropServer> {
    // Readiness is "accepts connections", so the port must not be someone else's already.
    if (await connects(host, port)) throw Object.assign(new Error(`${host}:${port} is taken`), { code: 'EADDRINUSE' })
    const c = serverCommand(stack, host, port, env)
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

  /** SIGKILL by PID (the interop servers keep no state worth a graceful stop). */
  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
    await this.#exited
  }
}

/** `count` servers of `stack` on 127.0.0.<first>… sharing one port, as a headless Service's pods do. */
export function startInteropServers(stack: Stack, count: number, first: number, env: InteropEnv): Promise<InteropServer[]> {
  return onOnePort(count, first, (host, port) => InteropServer.start(stack, host, port, env))
}

export interface CaseResult {
  ok: boolean
  /** How the case ended: `ok`, the client's exit code or signal, or `timeout`. */
  exit: number | string
  ms: number
  /** What the client printed during the case (its error, for a failure). */
  output: string
}

const CLIENT_DRIVER = {
  'grpc-js': new URL('./grpc-interop-client.ts', import.meta.url).pathname,
  grpcio: new URL('./grpc_interop_client.py', import.meta.url).pathname,
}

/**
 * Runs `cases` with the official client of `stack` against host:port. grpc-go's client runs once
 * per case, as the interop runner runs it. grpc-js's and grpcio's take ~0.2 s to start, so one
 * process runs the cases one after another (grpc-interop-client.ts, grpc_interop_client.py), each
 * case with a new channel exactly as the client's command line makes it. A case fails when its
 * assertion ends the process or it runs past `caseTimeoutMs`; the cases after it then run in a
 * new process.
 */
export async function runInteropCases(stack: Stack, cases: readonly InteropCase[], host: string, port: number, env: InteropEnv, caseTimeoutMs = 5_000): Promise<Map<InteropCase, CaseResult>> {
  const results = new Map<InteropCase, CaseResult>()
  if (stack === 'grpc-go') {
    for (const name of cases) results.set(name, await runGoCase(name, host, port, env, caseTimeoutMs))
    return results
  }
  let remaining = [...cases]
  while (remaining.length > 0) {
    const c = stack === 'grpc-js'
      ? { file: '/usr/bin/env', args: ['-u', 'NODE_OPTIONS', process.execPath, CLIENT_DRIVER[stack], `${host}:${port}`, ...remaining], env: process.env }
      : { file: PYTHON, args: [CLIENT_DRIVER[stack], host, String(port), ...remaining], env: env.pythonEnv }
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
        } else {
          // Ended without starting the cases left: each fails with what the client said.
          for (const name of remaining) results.set(name, { ok: false, exit: code ?? signal ?? 'unknown', ms: 0, output: pending + stderr })
          remaining = []
        }
        resolve()
      })
    })
  }
  return results
}

/** grpc-go's client, once for one case: its exit status is the verdict. */
function runGoCase(name: InteropCase, host: string, port: number, env: InteropEnv, timeoutMs: number): Promise<CaseResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    const child = spawn(join(env.goBin, 'client'), [`--server_host=${host}`, `--server_port=${port}`, `--test_case=${name}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout!.on('data', (b: Buffer) => { output += b })
    child.stderr!.on('data', (b: Buffer) => { output += b })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ ok: code === 0, exit: code === 0 ? 'ok' : timedOut ? 'timeout' : (code ?? signal ?? 'unknown'), ms: Math.round(performance.now() - started), output })
    })
  })
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
