import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { runCheck } from '../src/config/check.ts'
import { loadConfigFile, parseConfig, resolveConfigPath } from '../src/config/load.ts'
import { validateConfig } from '../src/config/validate.ts'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'config')

function check(configPath: string): { code: number; stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  const code = runCheck({
    configPath,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  })
  return { code, stdout, stderr }
}

t.test('a valid file prints the effective configuration and exits 0', async (t) => {
  const file = join(FIXTURES, 'minimal.yaml')
  const { code, stdout, stderr } = check(file)
  t.equal(code, 0)
  t.equal(stderr, '')
  const loaded = loadConfigFile(file)
  t.ok(loaded.ok)
  const reparsed = validateConfig(parseYaml(stdout))
  t.ok(reparsed.ok, 'the printed YAML is itself a valid configuration')
  if (loaded.ok && reparsed.ok) t.strictSame(reparsed.config, loaded.config)
  t.match(stdout, /^admin:\n {2}address: 127\.0\.0\.1:9901\naccessLog: false\n/)
  t.match(stdout, /\n {6}maxLifetime: 10m\n {6}lifetimeJitter: 10%\n/)
  t.notMatch(stdout, /broadcast:|hashKey:|replicas:|portName:/)
})

t.test('an invalid file prints every problem, one per line, and exits 2', async (t) => {
  const file = join(FIXTURES, 'several-mistakes.yaml')
  const { code, stdout, stderr } = check(file)
  t.equal(code, 2)
  t.equal(stdout, '')
  t.strictSame(stderr.split('\n').sort(), [
    '',
    `${file}: listeners[0].upstream: no upstream is named "order" (did you mean "orders"?)`,
    `${file}: upstreams[0].connection.idleTimeout: must be a duration such as "250ms", "5s", "10m" or "1h", not "60x"`,
    `${file}: upstreams[0].connection.maxLifetme: unknown key (did you mean "maxLifetime"?)`,
    `${file}: upstreams[0].mode: must be one of balance | broadcast, not "broadkast" (did you mean "broadcast"?)`,
    `${file}: upstreams[0].port: must be an integer from 1 to 65535, not 70000`,
    `${file}: upstreams[1].portName: set either port or portName, not both`,
  ])
})

t.test('a missing file exits 2', async (t) => {
  const file = join(FIXTURES, 'does-not-exist.yaml')
  const { code, stdout, stderr } = check(file)
  t.equal(code, 2)
  t.equal(stdout, '')
  t.equal(stderr, `${file}: file not found\n`)
  t.equal(check(FIXTURES).stderr, `${FIXTURES}: is a directory, not a file\n`)
})

t.test('YAML problems are reported with their line and column', async (t) => {
  const dir = t.testdir({
    'syntax.yaml': 'listeners: [\nupstreams: x\n',
    'duplicate.yaml': 'listeners:\n  - name: a\n    address: 127.0.0.1:1\n    name: b\nupstreams: []\n',
    'empty.yaml': '# nothing here\n',
    'tab.yaml': 'listeners:\n\t- name: a\n',
  })
  const syntax = check(join(dir, 'syntax.yaml'))
  t.equal(syntax.code, 2)
  t.match(syntax.stderr, /syntax\.yaml: line \d+, column \d+: /)

  const duplicate = check(join(dir, 'duplicate.yaml'))
  t.equal(duplicate.code, 2)
  t.equal(duplicate.stderr, `${join(dir, 'duplicate.yaml')}: listeners[0].name: duplicate key (line 4, column 5)\n`)

  const empty = check(join(dir, 'empty.yaml'))
  t.equal(empty.code, 2)
  t.equal(empty.stderr, `${join(dir, 'empty.yaml')}: the configuration is empty; listeners and upstreams are required\n`)

  const tab = check(join(dir, 'tab.yaml'))
  t.equal(tab.code, 2)
  t.match(tab.stderr, /tab\.yaml: line 2, column 1: /)
})

t.test('YAML constructs that would hide a mistake are errors', async (t) => {
  const badAlias = parseConfig('listeners: *nowhere\n')
  t.notOk(badAlias.ok)
  if (!badAlias.ok) t.match(badAlias.errors[0], { path: '' })
  const unknownTag = parseConfig('accessLog: !bool yes\n')
  t.notOk(unknownTag.ok)
  if (!unknownTag.ok) t.match(unknownTag.errors[0], { path: '', message: /^line 1, column 12: .*!bool/ })
  const twoDocs = parseConfig('a: 1\n---\nb: 2\n')
  t.notOk(twoDocs.ok)
  if (!twoDocs.ok) t.match(twoDocs.errors[0], { path: '', message: /^line 2, column 1: / })
})

t.test('every key of the SPEC §3 example is known; only the keys that contradict each other are refused', async (t) => {
  const result = loadConfigFile(join(FIXTURES, 'spec-example.yaml'))
  t.notOk(result.ok)
  if (result.ok) return
  t.strictSame(
    result.errors.map((e) => `${e.path}: ${e.message}`).sort(),
    [
      // The example names an upstream it does not define.
      'listeners[1].upstream: no upstream is named "orders-events"',
      // The example shows every key on one upstream, mode balance and policy round_robin among them.
      'upstreams[0].broadcast: is only for mode: broadcast',
      'upstreams[0].hashKey: is only for policy: consistent_hash or ordinal',
      'upstreams[0].replicas: is only for policy: ordinal',
    ],
  )
})

t.test('the configuration file is -c, else $SPOKE_CONFIG, else ./spoke.yaml', async (t) => {
  t.equal(resolveConfigPath('a.yaml', { SPOKE_CONFIG: 'b.yaml' }), 'a.yaml')
  t.equal(resolveConfigPath(undefined, { SPOKE_CONFIG: 'b.yaml' }), 'b.yaml')
  t.equal(resolveConfigPath(undefined, {}), './spoke.yaml')
  t.equal(resolveConfigPath(undefined, { SPOKE_CONFIG: '' }), './spoke.yaml')
})

t.test('runCheck reads the file it is given, nothing cached', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'spoke.yaml')
  writeFileSync(file, 'listeners: []\nupstreams: []\n')
  t.equal(check(file).code, 2)
  writeFileSync(
    file,
    'listeners: [{name: a, address: "127.0.0.1:0", upstream: u}]\nupstreams: [{name: u, service: u.test, portName: http}]\n',
  )
  const ok = check(file)
  t.equal(ok.code, 0)
  t.match(ok.stdout, /\n {4}portName: http\n/)
})
