// Hostile and fuzzed configuration files never start a half-working proxy. Three layers:
//  1. thousands of seeded mutations of config/spoke.example.yaml through the loader (in process):
//     never a throw, always bounded, and either every problem with its path or a configuration
//     that renders and parses back equal;
//  2. hostile documents (alias bombs, deep nesting, huge files, duplicate keys, not UTF-8, tags,
//     devices) through `spoke check`: exit 2 with the problem named, in bounded time;
//  3. `spoke run` on a sample of both: exit 2 with nothing listening, or every listener and the
//     admin port answering.
// Reproduce: SPOKE_FUZZ_SEED=<seed> npx tap test/config-fuzz.test.ts
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { MAX_CONFIG_BYTES, parseConfig } from '../src/config/load.ts'
import { toYaml } from '../src/config/render.ts'
import { startDnsServer } from '../src/demo/dns-server.ts'
import { freePort } from './helpers/spoke-process.ts'

const SEED = Number(process.env.SPOKE_FUZZ_SEED ?? 0xc0f1) >>> 0
const MUTATIONS = 3000
const BIN = new URL('../bin/spoke.js', import.meta.url).pathname
const EXAMPLE = readFileSync(new URL('../config/spoke.example.yaml', import.meta.url), 'utf8')

/** mulberry32 (as in fuzz-listener.test.ts). */
function rng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const HOSTILE_VALUES = ['-1', '0', '1e309', '.nan', '.inf', '""', '[]', '{}', 'null', '~', '*nowhere', '&anchor', '!!binary aGk=', '"\\u0000"', '"x\\ny"',
  `"${'a'.repeat(300)}"`, 'yes', 'on', '0x10', '0o17', '1_000', '10m', '0ms', '-5s', '99999999999999999999', '"127.0.0.1:99999"', '"[::1]:80"', '"0.0.0.0:1"',
  '"10.1.2.3:80"', '"localhost:80"', '-', ':', "'", '"', '#', '|', '>', '? x', '%', '@', '`', 'round_robin', 'h2c', 'udp', 'broadcast', '"50%"', '150%', '"1MiB"', '2', '65536', '"orders"']

function mutate(next: () => number, text: string): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]
  const lines = text.split('\n')
  const i = Math.floor(next() * lines.length)
  switch (Math.floor(next() * 9)) {
    case 0: lines.splice(i, 1); break
    case 1: lines.splice(i, 0, lines[i]); break
    case 2: lines[i] = ` ${lines[i]}`; break
    case 3: lines[i] = lines[i].replace(/^ {2}/, ''); break
    case 4: lines[i] = lines[i].replace(/:(\s+)(\S.*)?$/, `:$1${pick(HOSTILE_VALUES)}`); break
    case 5: lines[i] = lines[i].replace(/^(\s*-?\s*)([A-Za-z]+)/, (_, lead: string, key: string) => `${lead}${key.slice(0, -1)}${pick([...'abcdefxyz_'])}`); break
    case 6: {
      const j = Math.floor(next() * lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]]
      break
    }
    case 7: {
      const at = Math.floor(next() * (lines[i].length + 1))
      lines[i] = lines[i].slice(0, at) + String.fromCharCode(Math.floor(next() * 128)) + lines[i].slice(at + 1)
      break
    }
    default: lines.splice(i, 0, `${' '.repeat(Math.floor(next() * 3) * 2)}${pick(['x', 'port', 'name', 'upstreams', 'listeners', 'admin', 'connection'])}: ${pick(HOSTILE_VALUES)}`)
  }
  return lines.join('\n')
}

/** The example on free loopback ports and the test's DNS server, so that `spoke run` can start it. */
async function runnableExample(dnsPort: number): Promise<string> {
  let text = EXAMPLE
  for (const port of ['9901', '15001', '15011']) text = text.replace(`127.0.0.1:${port}`, `127.0.0.1:${await freePort()}`)
  return text.replace('shutdown:\n', `dns:\n  servers: ["127.0.0.1:${dnsPort}"]\n  timeout: 500ms\nshutdown:\n`).replace('linger: 5s', 'linger: 0s')
}

t.test(`${MUTATIONS} mutations of the example through the loader: a full list of problems or a configuration that round-trips (seed ${SEED})`, async (t) => {
  t.comment(`seed ${SEED} (reproduce: SPOKE_FUZZ_SEED=${SEED} npx tap test/config-fuzz.test.ts)`)
  const next = rng(SEED)
  let valid = 0
  let invalid = 0
  let slowestMs = 0
  const failures: string[] = []
  for (let n = 0; n < MUTATIONS; n++) {
    let text = EXAMPLE
    for (let k = 1 + Math.floor(next() * 3); k > 0; k--) text = mutate(next, text)
    const started = performance.now()
    let result: ReturnType<typeof parseConfig>
    try {
      result = parseConfig(text)
    } catch (err) {
      failures.push(`threw ${(err as Error).message} on ${JSON.stringify(text)}`)
      continue
    }
    slowestMs = Math.max(slowestMs, performance.now() - started)
    if (!result.ok) {
      invalid++
      const bad = result.errors.filter((e) => typeof e.path !== 'string' || typeof e.message !== 'string' || e.message === '')
      if (result.errors.length === 0 || bad.length > 0) failures.push(`errors without path or message: ${JSON.stringify(result.errors)}`)
      continue
    }
    valid++
    const config = result.config
    const again = parseConfig(toYaml(config))
    if (!again.ok) failures.push(`valid, but its rendering is not: ${JSON.stringify(again.errors)} for ${JSON.stringify(text)}`)
    else if (JSON.stringify(again.config) !== JSON.stringify(config)) failures.push(`does not round-trip: ${JSON.stringify(text)}`)
    const upstreams = new Set(config.upstreams.map((u) => u.name))
    if (!config.listeners.every((l) => upstreams.has(l.upstream))) failures.push(`a listener without its upstream: ${JSON.stringify(text)}`)
    if (!Object.isFrozen(config) || !Object.isFrozen(config.upstreams[0])) failures.push('not frozen')
  }
  t.comment(`${valid} valid, ${invalid} invalid; slowest load ${slowestMs.toFixed(1)} ms`)
  t.same(failures.slice(0, 5), [], 'no throw; every invalid file fully reported; every valid one round-trips')
  t.ok(valid > 50 && invalid > 50, 'the mutations produce both outcomes')
  t.ok(slowestMs < 1000, `every load bounded (slowest ${slowestMs.toFixed(1)} ms)`)
})

interface Cli {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

function cli(args: string[], options: { untilReady?: string } = {}): { done: Promise<Cli>; child: ChildProcess } {
  const started = performance.now()
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => { stdout += c })
  child.stderr!.on('data', (c: Buffer) => { if (stderr.length < 100_000) stderr += c })
  const done = new Promise<Cli>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started })))
  return { done, child }
}

function writeConfig(dir: string, name: string, content: string | Buffer): string {
  const file = join(dir, name)
  writeFileSync(file, content)
  return file
}

t.test('hostile documents through `spoke check`: exit 2, the problem named, bounded time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-config-fuzz-'))
  const base = 'listeners: [{name: a, address: "127.0.0.1:1", upstream: b}]\nupstreams: [{name: b, service: b.default.svc.cluster.local, port: 80}]\n'
  const letters = 'abcdefghij'
  // Each level refers to the previous one nine times: 10^9 "lol"s if expanded.
  const laughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n${[...letters.slice(1)].map((l, i) => `${l}: &${l} [${Array(9).fill(`*${letters[i]}`).join(',')}]`).join('\n')}\n${base}`
  let keys = ''
  for (let i = 0; keys.length < MAX_CONFIG_BYTES - 64; i++) keys += `k${i}: 1\n`
  const cases: Array<[string, string | Buffer, RegExp]> = [
    ['billion laughs', laughs, /Excessive alias count/],
    ['deep flow nesting', '['.repeat(200_000), /Maximum call stack size exceeded|line 1/],
    ['deep mapping nesting', '{a: '.repeat(200_000), /line 1, column \d+/],
    ['larger than the limit', `${base}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`, /larger than 1024 KiB/],
    ['a key for every line up to the limit', keys, /k0: unknown key/],
    ['the same key 50 000 times', 'a: 1\n'.repeat(50_000), /a: duplicate key \(line 2, column 1\)/],
    ['duplicate listeners key', `${base}listeners: []\n`, /listeners: duplicate key \(line 3, column 1\)/],
    ['not UTF-8 (latin-1)', Buffer.concat([Buffer.from(base), Buffer.from('admin: {address: "caf\xe9"}\n', 'latin1')]), /not UTF-8 text \(near line 3\)/],
    ['UTF-16 with a BOM', Buffer.from(`\ufeff${base}`, 'utf16le'), /not UTF-8 text/],
    ['a NUL byte', `${base}x: a\u0000b\n`, /x: unknown key|line 3/],
    ['an unknown tag', `${base}admin: !!js/function "function () {}"\n`, /Unresolved tag/],
    ['a binary value', `${base}accessLog: !!binary aGk=\n`, /accessLog: must be true or false/],
    ['a merge key', `base: &b {address: "127.0.0.1:9"}\nadmin: {<<: *b}\n${base}`, /admin\.<<: unknown key/],
    ['__proto__', `${base}__proto__: {admin: 1}\n`, /__proto__: unknown key/],
    ['a list as a key', `${base}? [a, b]\n: 1\n`, /a key must be plain text/],
    ['two documents', `${base}---\n${base}`, /multiple documents/],
    ['an alias to nothing', `admin: *nowhere\n${base}`, /Unresolved alias/],
    ['a scalar', 'hello\n', /must be a mapping/],
    ['a list', '- a\n', /must be a mapping, not a list/],
    ['wrong types everywhere', 'listeners: 1\nupstreams: {a: 1}\nadmin: []\naccessLog: "yes"\nshutdown: 5\n', /listeners: must be a list/],
    ['infinite and not-a-number ports', 'listeners: [{name: a, address: "127.0.0.1:1", upstream: b}]\nupstreams: [{name: b, service: b.default.svc.cluster.local, port: .inf}, {name: c, service: c.default.svc.cluster.local, port: .nan}]\n', /port: must be an integer from 1 to 65535, not Infinity/],
  ]
  for (const [name, content, expected] of cases) {
    const file = writeConfig(dir, `${name.replace(/\W+/g, '-')}.yaml`, content)
    const { code, stdout, stderr, ms } = await cli(['check', '-c', file]).done
    t.equal(code, 2, `${name}: exit 2`)
    t.equal(stdout, '', `${name}: no configuration printed`)
    t.match(stderr.slice(0, 2000), expected, `${name}: ${stderr.split('\n')[0].slice(file.length + 2, file.length + 120)}`)
    t.ok(ms < 15_000, `${name}: ${Math.round(ms)} ms`)
  }
  for (const device of ['/dev/zero', '/dev/urandom']) {
    const { code, stderr } = await cli(['check', '-c', device]).done
    t.equal(code, 2, `${device}: exit 2`)
    t.match(stderr, /larger than 1024 KiB/)
  }
  t.comment(`${cases.length + 2} hostile documents`)
})

/** Whether something accepts TCP connections at host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => { socket.destroy(); resolve(true) })
    socket.on('error', () => resolve(false))
  })
}

function addresses(effective: unknown): Array<{ host: string; port: number }> {
  const doc = effective as { admin: { address: string }; listeners: Array<{ address: string; protocol: string }> }
  const all = [doc.admin.address, ...doc.listeners.filter((l) => l.protocol !== 'udp').map((l) => l.address)]
  return all.map((a) => {
    const m = /^\[?(.*?)\]?:(\d+)$/.exec(a)!
    return { host: m[1], port: Number(m[2]) }
  })
}

t.test('`spoke run` on mutated and hostile files: exit 2 with nothing listening, or everything listening', async (t) => {
  const dns = await startDnsServer()
  t.teardown(() => dns.close())
  const dir = mkdtempSync(join(tmpdir(), 'spoke-config-run-'))
  const next = rng(SEED ^ 0x5a5a)
  const runnable = await runnableExample(dns.address.port)
  const examplePorts = [...runnable.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])).filter((port) => port !== dns.address.port)
  // Up to 8 mutations that check valid and 8 that do not, plus hostile files, each started for real.
  const picked: Array<{ name: string; text: string; valid: boolean }> = []
  for (let n = 0; n < 2000 && picked.length < 16; n++) {
    const text = mutate(next, runnable)
    const valid = parseConfig(text).ok
    if (picked.filter((p) => p.valid === valid).length < 8) picked.push({ name: `mutation ${n}`, text, valid })
  }
  picked.push({ name: 'the example itself', text: runnable, valid: true })
  picked.push({ name: 'billion laughs', text: `x: &a [*a]\n${runnable}`, valid: false })
  picked.push({ name: 'a listener on an address that is not this host\'s', text: runnable.replace(/address: 127\.0\.0\.1:(\d+)(\s+# the app)/, 'address: 192.0.2.1:$1$2'), valid: true })
  let started = 0
  let refused = 0
  for (const { name, text, valid } of picked) {
    const file = writeConfig(dir, 'spoke.yaml', text)
    const effective = valid ? parseYaml((await cli(['check', '-c', file]).done).stdout) : null
    const { done, child } = cli(['run', '-c', file, '--log-level', 'error'])
    let exited: Cli | null = null
    void done.then((r) => { exited = r })
    if (!valid) {
      t.equal((await done).code, 2, `${name}: invalid, exit 2`)
      const open = await Promise.all(examplePorts.map((port) => listening('127.0.0.1', port)))
      t.notOk(open.some(Boolean), `${name}: none of the file's ports listening`)
      refused++
      continue
    }
    const ports = addresses(effective)
    // Until it exits or every port answers; a start that does neither within 10 s fails below.
    const deadline = performance.now() + 10_000
    while (exited === null && performance.now() < deadline && !(await Promise.all(ports.map((p) => listening(p.host, p.port)))).every(Boolean)) {
      await new Promise((r) => setTimeout(r, 50))
    }
    if (exited !== null) {
      // A valid file that still cannot start (an address not on this host): exit 1, one line, and
      // nothing of it left listening.
      const { code, stderr } = exited as Cli
      t.equal(code, 1, `${name}: could not start, exit 1 (${stderr.trim()})`)
      const open = await Promise.all(ports.map((p) => listening(p.host, p.port)))
      t.notOk(open.some(Boolean), `${name}: nothing left listening`)
      refused++
      continue
    }
    const open = await Promise.all(ports.map((p) => listening(p.host, p.port)))
    t.ok(open.every(Boolean), `${name}: every listener and the admin port accept connections (${ports.map((p) => `${p.host}:${p.port}`).join(', ')})`)
    started++
    child.kill('SIGTERM')
    t.equal((await done).code, 0, `${name}: clean exit on SIGTERM`)
  }
  t.comment(`spoke run: ${started} started whole, ${refused} refused to start; none half-way`)
  t.ok(started >= 1 && refused >= 8, 'both outcomes exercised')
})
