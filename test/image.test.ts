// The container image without a Docker engine: the Dockerfile is read and its three stages
// replayed here, step by step (test/helpers/dockerfile.ts), so what is checked is what the
// Dockerfile says, not a copy of it. One step is done differently: the build stage's full
// `npm ci` (a dozen seconds) links this worktree's node_modules instead, which `npm ci` installed
// from the same package-lock.json.
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { startPods } from '../src/demo/pod.ts'
import { dockerignore, execForm, listFiles, parseDockerfile, replayStage } from './helpers/dockerfile.ts'
import { request, SERVICE } from './helpers/harness.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const stages = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'))
const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'))
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> }
/** Where distroless's nodejs images keep node. */
const DISTROLESS_NODE = '/nodejs/bin/node'
const FULL_INSTALL = 'npm ci --ignore-scripts --no-audit --no-fund'
const NONROOT = 65532

const stage = (name: string) => {
  const s = stages.find((x) => x.name === name)
  if (s === undefined) throw new Error(`no stage ${name} in the Dockerfile`)
  return s
}
const ops = (name: string, op: string): string[] => stage(name).instructions.filter((i) => i.op === op).map((i) => i.args)

t.test('the Dockerfile: Node 24 images by tag, three stages, numeric non-root user, exec-form entry point', async (t) => {
  t.same(stages.map((s) => s.name), ['build', 'prod', stages[2]?.name], 'build, prod, then the runtime stage')
  const runtime = stages[2]
  const major = readFileSync(join(REPO, '.nvmrc'), 'utf8').trim().split('.')[0]
  t.equal(stage('build').image, `node:${major}-bookworm-slim`, 'build on the Node image of .nvmrc')
  t.equal(stage('prod').image, `node:${major}-bookworm-slim`)
  t.equal(runtime.image, `gcr.io/distroless/nodejs${major}-debian12:nonroot`, 'run on distroless with the same Node major')
  t.same(ops('build', 'RUN'), [FULL_INSTALL, 'npm run build'], 'build: install everything, compile')
  t.same(ops(runtime.name, 'RUN'), [], 'nothing runs in the runtime stage: it has no shell')
  t.same(ops(runtime.name, 'USER'), [`${NONROOT}:${NONROOT}`], 'a numeric user, so runAsNonRoot can check it')

  const entrypoint = execForm(runtime.instructions.find((i) => i.op === 'ENTRYPOINT'))
  t.equal(entrypoint[0], DISTROLESS_NODE)
  t.equal(entrypoint.at(-1), '/app/bin/spoke.js')
  const shebang = readFileSync(join(REPO, 'bin/spoke.js'), 'utf8').split('\n')[0]
  const flags = shebang.replace(/^#!\/usr\/bin\/env -S node\s*/, '').split(/\s+/).filter((f) => f !== '')
  t.same(entrypoint.slice(1, -1), flags, 'the entry point passes node the V8 flags of bin/spoke.js\'s shebang')
  t.same(execForm(runtime.instructions.find((i) => i.op === 'CMD')), ['run', '-c', '/etc/spoke/spoke.yaml'])

  for (const path of ['node_modules', 'dist', '.git', 'test', 'k8s', 'bench', 'src/cli.ts']) {
    t.equal(ignored(path), path !== 'src/cli.ts', `.dockerignore ${path !== 'src/cli.ts' ? 'keeps out' : 'lets in'} ${path}`)
  }
})

t.test('the stages replayed: compiled from the copied files, production dependencies only; as uid 65532 from a read-only folder, spoke serves', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'spoke-image-'))
  chmodSync(tmp, 0o755)
  t.teardown(() => {
    chmodTree(tmp, true)
    rmSync(tmp, { recursive: true, force: true })
  })
  // npm ci installs from the npm cache that this worktree's own `npm ci` filled.
  const env = { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_loglevel: 'error' }
  const common = { context: REPO, ignored, env }
  const build = await replayStage(stage('build'), {
    ...common, root: join(tmp, 'build'), stages: new Map(),
    substitutes: new Map([[FULL_INSTALL, (cwd: string) => symlinkSync(join(REPO, 'node_modules'), join(cwd, 'node_modules'))]]),
  })
  t.ok(existsSync(build.fs('/src/dist/cli.js')), 'the build stage compiled dist/ from what it copied')
  const prod = await replayStage(stage('prod'), { ...common, root: join(tmp, 'prod'), stages: new Map([['build', build.fs]]) })
  const runtime = await replayStage(stages[2], { ...common, root: join(tmp, 'runtime'), stages: new Map([['build', build.fs], ['prod', prod.fs]]) })

  const app = runtime.fs('/app')
  const installed = readdirSync(join(app, 'node_modules')).flatMap((d) => d.startsWith('@') ? readdirSync(join(app, 'node_modules', d)).map((s) => `${d}/${s}`) : [d])
  for (const dep of Object.keys(pkg.dependencies)) t.ok(installed.includes(dep), `${dep} installed`)
  for (const dev of Object.keys(pkg.devDependencies)) t.notOk(installed.includes(dev), `devDependency ${dev} left out`)
  const files = listFiles(app)
  t.ok(files.includes('dist/cli.js') && files.includes('bin/spoke.js') && files.includes('package.json'))
  t.notOk(files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests in the image')

  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const pods = await startPods(2)
  t.teardown(() => Promise.all(pods.map((p) => p.close())))
  dns.setA(SERVICE, pods.map((p) => p.host), 1)
  const [adminPort, port] = [await freePort(), await freePort()]
  // What the ConfigMap mount puts at /etc/spoke/spoke.yaml.
  const config = runtime.fs('/etc/spoke/spoke.yaml')
  mkdirSync(dirname(config), { recursive: true })
  writeFileSync(config, `admin: { address: "127.0.0.1:${adminPort}" }
shutdown: { linger: 0s }
dns: { servers: ["127.0.0.1:${dns.address.port}"] }
listeners: [{ name: orders, address: "127.0.0.1:${port}", upstream: orders }]
upstreams: [{ name: orders, service: ${SERVICE}, port: ${pods[0].port} }]
`)
  // A read-only root filesystem: nothing under /app may need writing. As root, a chmod stops no
  // one, so spoke runs as the image's user, who owns nothing there.
  chmodTree(app, false)
  const asImageUser = process.getuid?.() === 0 ? { uid: NONROOT, gid: NONROOT } : {}
  // The base image's node, at its place: a copy of this Node, which may sit where the image's
  // user cannot reach it (CI installs it under root's home).
  const node = runtime.fs(DISTROLESS_NODE)
  mkdirSync(dirname(node), { recursive: true, mode: 0o755 })
  copyFileSync(process.execPath, node)
  chmodSync(node, 0o755)
  const argv = [...runtime.entrypoint, ...runtime.cmd].map((a) => (a.startsWith('/') ? runtime.fs(a) : a))
  const start = (args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } => {
    // `env -i`: the image's bare environment. tap adds its own NODE_OPTIONS to every child it
    // sees spawned, which would have node write tap's process records as the image's user.
    const child = spawn('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', 'HOME=/home/nonroot', ...args], {
      cwd: runtime.fs(runtime.workdir), stdio: ['ignore', 'pipe', 'pipe'], ...asImageUser,
    })
    let out = ''
    child.stdout!.on('data', (c: Buffer) => { out += c })
    child.stderr!.on('data', (c: Buffer) => { out += c })
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    return { child, out: () => out, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) }
  }

  const version = start([...argv.slice(0, runtime.entrypoint.length), '--version'])
  t.equal(await version.exited, 0)
  t.equal(version.out(), `spoke ${pkg.version}\n`)

  const spoke = start(argv)
  const admin = `http://127.0.0.1:${adminPort}`
  const deadline = Date.now() + 10_000
  while ((await fetch(`${admin}/ready`).then((r) => r.status, () => 0)) !== 200) {
    if (spoke.child.exitCode !== null || Date.now() > deadline) throw new Error(`never ready: ${spoke.out()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  t.pass('/ready answers 200')
  const answers = await Promise.all([1, 2, 3, 4].map(() => request(`http://127.0.0.1:${port}/`)))
  t.same(answers.map((a) => a.status), [200, 200, 200, 200], 'requests reach the pods through spoke')
  t.match(await (await fetch(`${admin}/metrics`)).text(), 'spoke_requests_total{listener="orders",upstream="orders",code="200"} 4')
  spoke.child.kill('SIGTERM')
  t.equal(await spoke.exited, 0, 'SIGTERM: exit 0')
  t.notMatch(spoke.out(), /EACCES|EROFS|permission denied/i)
})

/** Write permission off (or back on) for everything under `dir`, folders included. */
function chmodTree(dir: string, writable: boolean): void {
  if (!existsSync(dir)) return
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) chmodOne(join(dir, entry), writable)
  chmodOne(dir, writable)
}

function chmodOne(path: string, writable: boolean): void {
  const s = lstatSync(path)
  if (s.isSymbolicLink()) return
  chmodSync(path, writable ? s.mode | 0o200 : s.mode & ~0o222)
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })
}
