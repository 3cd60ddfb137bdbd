import t from 'tap'
import { toDocument, toYaml } from '../src/config/render.ts'
import type { Config } from '../src/config/types.ts'
import { NOT_YET, validateConfig } from '../src/config/validate.ts'
import type { ConfigError } from '../src/config/validate.ts'
import { parse as parseYaml } from 'yaml'

const ALL_FEATURES = new Set<string>()

function minimal(): Record<string, any> {
  return {
    listeners: [{ name: 'orders', address: '127.0.0.1:15001', upstream: 'orders' }],
    upstreams: [{ name: 'orders', service: 'orders.default.svc.cluster.local', port: 8080 }],
  }
}

function valid(doc: unknown, notYet: ReadonlySet<string> = NOT_YET): Config {
  const result = validateConfig(doc, { notYet })
  if (!result.ok) throw new Error(`expected a valid config, got ${JSON.stringify(result.errors, null, 2)}`)
  return result.config
}

function errors(doc: unknown, notYet: ReadonlySet<string> = NOT_YET): readonly ConfigError[] {
  const result = validateConfig(doc, { notYet })
  if (result.ok) throw new Error('expected errors, got a valid config')
  return result.errors
}

const paths = (errs: readonly ConfigError[]): string[] => errs.map((e) => e.path).sort()

/** The single error at `path`; fails the test when there is not exactly one error in all. */
function onlyError(t: Asserts, doc: unknown, path: string, message: RegExp, notYet: ReadonlySet<string> = NOT_YET): void {
  const errs = errors(doc, notYet)
  t.same(paths(errs), [path], `errors: ${JSON.stringify(errs)}`)
  t.match(errs[0]?.message, message, `message at ${path}`)
}

interface Asserts {
  same(found: unknown, wanted: unknown, message: string): boolean
  match(found: unknown, pattern: RegExp, message: string): boolean
}

const DEFAULT_UPSTREAM = {
  name: 'orders',
  service: 'orders.default.svc.cluster.local',
  port: 8080,
  portName: null,
  protocol: 'http1',
  hostRewrite: 'service',
  mode: 'balance',
  policy: 'round_robin',
  slowStartMs: 0,
  discovery: { refreshMs: 5000, minRefreshMs: 1000, family: 'auto', subsetSize: 0 },
  connection: {
    perEndpoint: 1,
    maxPerEndpoint: 64,
    maxLifetimeMs: 600_000,
    lifetimeJitter: 0.1,
    maxRequests: 0,
    idleTimeoutMs: 60_000,
    connectTimeoutMs: 2000,
    keepaliveMs: 30_000,
    drainTimeoutMs: 30_000,
  },
  timeouts: { requestMs: 15_000, perTryMs: 0 },
  retries: { attempts: 1, on: ['connect-failure', 'refused-stream', 'reset-before-response'] },
  outlierDetection: { consecutiveFailures: 5, ejectionTimeMs: 30_000, maxEjectedPercent: 50 },
  limits: { maxConcurrentRequests: 1024 },
  broadcast: null,
  hashKey: null,
  replicas: null,
  hashBalanceFactor: null,
}

t.test('a minimal file is filled with the defaults of SPEC §3', async (t) => {
  const config = valid(minimal())
  t.strictSame(config, {
    admin: { address: { host: '127.0.0.1', port: 9901 } },
    accessLog: false,
    reloadMs: 5000,
    shutdown: { lingerMs: 5000, drainTimeoutMs: 30_000 },
    dns: { servers: [], timeoutMs: 2000 },
    listeners: [
      {
        name: 'orders',
        address: { host: '127.0.0.1', port: 15001 },
        protocol: 'http',
        upstream: 'orders',
        headersTimeoutMs: 10_000,
        idleTimeoutMs: 60_000,
        maxHeaderSize: 16_384,
      },
    ],
    upstreams: [DEFAULT_UPSTREAM],
  })
})

t.test('the result is deeply frozen', async (t) => {
  const config = valid(minimal())
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.upstreams[0].connection))
  t.ok(Object.isFrozen(config.upstreams[0].retries.on))
  t.ok(Object.isFrozen(config.listeners[0].address))
  t.throws(() => {
    ;(config.upstreams[0].connection as { maxRequests: number }).maxRequests = 5
  }, TypeError)
})

t.test('a file with several mistakes reports every one, with its path', async (t) => {
  const doc = {
    admin: { address: '127.0.0.1:9901', adress: '1.2.3.4:1' },
    listeners: [
      { name: 'orders', address: '127.0.0.1:15001', upstream: 'ordres' },
      { name: 'other', address: '127.0.0.1:99999', upstream: 'orders', headersTimeout: '10 seconds' },
    ],
    upstreams: [
      {
        name: 'orders',
        service: 'orders.default.svc.cluster.local',
        port: 8080,
        portName: 'http',
        mode: 'broadkast',
        connection: { maxLifetme: '10m', connectTimeout: '5x' },
      },
    ],
  }
  const errs = errors(doc)
  t.strictSame(
    [...errs].sort((a, b) => a.path.localeCompare(b.path)),
    [
      { path: 'admin.adress', message: 'unknown key (did you mean "address"?)' },
      { path: 'listeners[0].upstream', message: 'no upstream is named "ordres" (did you mean "orders"?)' },
      { path: 'listeners[1].address', message: 'port must be from 0 to 65535, not 99999' },
      {
        path: 'listeners[1].headersTimeout',
        message: 'must be a duration such as "250ms", "5s", "10m" or "1h", not "10 seconds"',
      },
      {
        path: 'upstreams[0].connection.connectTimeout',
        message: 'must be a duration such as "250ms", "5s", "10m" or "1h", not "5x"',
      },
      { path: 'upstreams[0].connection.maxLifetme', message: 'unknown key (did you mean "maxLifetime"?)' },
      { path: 'upstreams[0].mode', message: 'must be one of balance | broadcast, not "broadkast" (did you mean "broadcast"?)' },
      { path: 'upstreams[0].portName', message: 'set either port or portName, not both' },
    ],
  )
})

t.test('every feature of SPEC §3 is accepted; the not-yet mechanism still refuses a listed one at its path', async (t) => {
  t.equal(NOT_YET.size, 0, 'nothing of SPEC §3 is refused any more')
  const cases: [string, string, (d: Record<string, any>) => void][] = [
    ['upstreams[0].policy', 'upstream.policy: consistent_hash', (d) => { d.upstreams[0].policy = 'consistent_hash'; d.upstreams[0].hashKey = { header: 'x-account-id' } }],
    ['upstreams[0].mode', 'upstream.mode: broadcast', (d) => (d.upstreams[0].mode = 'broadcast')],
    ['upstreams[0].replicas', 'upstream.replicas', (d) => (d.upstreams[0].replicas = 3)],
  ]
  for (const [path, feature, mutate] of cases) {
    const doc = minimal()
    mutate(doc)
    onlyError(t, doc, path, /not supported yet/, new Set([feature]))
  }
})

t.test('the choices offered leave out what is not supported yet', async (t) => {
  const doc = minimal()
  doc.upstreams[0].policy = 'round-robin'
  onlyError(t, doc, 'upstreams[0].policy', /^must be one of round_robin \| least_request \| peak_ewma \| random \| consistent_hash, not "round-robin" \(did you mean "round_robin"\?\)$/, new Set(['upstream.policy: ordinal']))
})

t.test('unknown keys are refused at every level', async (t) => {
  const cases: [string, (d: Record<string, any>) => void, RegExp][] = [
    ['acessLog', (d) => (d.acessLog = true), /^unknown key \(did you mean "accessLog"\?\)$/],
    ['shutdown.lingr', (d) => (d.shutdown = { lingr: '1s' }), /did you mean "linger"/],
    ['dns.server', (d) => (d.dns = { server: [] }), /did you mean "servers"/],
    ['listeners[0].maxheadersize', (d) => (d.listeners[0].maxheadersize = '1KiB'), /did you mean "maxHeaderSize"/],
    ['upstreams[0].timeout', (d) => (d.upstreams[0].timeout = { request: '1s' }), /did you mean "timeouts"/],
    ['upstreams[0].discovery.ttl', (d) => (d.upstreams[0].discovery = { ttl: '1s' }), /^unknown key$/],
    ['upstreams[0].retries.attempt', (d) => (d.upstreams[0].retries = { attempt: 2 }), /did you mean "attempts"/],
    ['upstreams[0].limits.max', (d) => (d.upstreams[0].limits = { max: 1 }), /^unknown key$/],
    ['upstreams[0].outlierDetection.ejectionTimeout', (d) => (d.upstreams[0].outlierDetection = { ejectionTimeout: '1s' }), /did you mean "ejectionTime"/],
    ['__proto__', (d) => Object.defineProperty(d, '__proto__', { value: {}, enumerable: true }), /^unknown key$/],
  ]
  for (const [path, mutate, message] of cases) {
    const doc = minimal()
    mutate(doc)
    onlyError(t, doc, path, message)
  }
})

t.test('types are checked strictly', async (t) => {
  const cases: [string, (d: Record<string, any>) => void, RegExp][] = [
    ['upstreams[0].port', (d) => (d.upstreams[0].port = '8080'), /^must be an integer from 1 to 65535, not "8080"$/],
    ['upstreams[0].port', (d) => (d.upstreams[0].port = 0), /from 1 to 65535, not 0/],
    ['upstreams[0].port', (d) => (d.upstreams[0].port = 80.5), /not 80.5/],
    ['upstreams[0].port', (d) => (d.upstreams[0].port = null), /not null/],
    ['accessLog', (d) => (d.accessLog = 'yes'), /^must be true or false, not "yes"$/],
    ['admin', (d) => (d.admin = '127.0.0.1:9901'), /^must be a mapping, not "127.0.0.1:9901"$/],
    ['listeners', (d) => (d.listeners = { name: 'x' }), /^must be a list, not a mapping$/],
    ['listeners', (d) => (d.listeners = []), /^must have at least 1 entry$/],
    ['upstreams[0].connection', (d) => (d.upstreams[0].connection = null), /must be a mapping, not null/],
    ['upstreams[0].connection.lifetimeJitter', (d) => (d.upstreams[0].connection = { lifetimeJitter: 0.1 }), /percentage such as "10%", not 0.1/],
    ['upstreams[0].connection.lifetimeJitter', (d) => (d.upstreams[0].connection = { lifetimeJitter: '100%' }), /^must be below 100%$/],
    ['upstreams[0].connection.perEndpoint', (d) => (d.upstreams[0].connection = { perEndpoint: 0 }), /from 1 to 1000/],
    ['upstreams[0].connection.maxPerEndpoint', (d) => (d.upstreams[0].connection = { perEndpoint: 8, maxPerEndpoint: 4 }), /^must be at least perEndpoint \(8\)$/],
    ['upstreams[0].connection.connectTimeout', (d) => (d.upstreams[0].connection = { connectTimeout: 0 }), /^must be greater than 0$/],
    ['upstreams[0].connection.maxLifetime', (d) => (d.upstreams[0].connection = { maxLifetime: '30d' }), /duration/],
    ['upstreams[0].connection.maxLifetime', (d) => (d.upstreams[0].connection = { maxLifetime: '1000h' }), /^must be at most 576h$/],
    ['upstreams[0].discovery.minRefresh', (d) => (d.upstreams[0].discovery = { refresh: '2s', minRefresh: '3s' }), /^must not be longer than refresh$/],
    ['upstreams[0].discovery.family', (d) => (d.upstreams[0].discovery = { family: 'ip4' }), /one of auto \| ipv4 \| ipv6/],
    ['upstreams[0].retries.attempts', (d) => (d.upstreams[0].retries = { attempts: 11 }), /from 0 to 10, not 11/],
    ['upstreams[0].retries.attempts', (d) => (d.upstreams[0].retries = { attempts: -1 }), /from 0 to 10, not -1/],
    ['upstreams[0].retries.on[1]', (d) => (d.upstreams[0].retries = { on: ['connect-failure', 'refused_stream'] }), /did you mean "refused-stream"/],
    ['upstreams[0].retries.on', (d) => (d.upstreams[0].retries = { on: 'connect-failure' }), /must be a list/],
    ['upstreams[0].retries.on[1]', (d) => (d.upstreams[0].retries = { on: ['refused-stream', 'refused-stream'] }), /^duplicates upstreams\[0\]\.retries\.on\[0\]$/],
    ['upstreams[0].outlierDetection.maxEjectedPercent', (d) => (d.upstreams[0].outlierDetection = { maxEjectedPercent: 101 }), /from 0 to 100/],
    ['upstreams[0].outlierDetection.maxEjectedPercent', (d) => (d.upstreams[0].outlierDetection = { maxEjectedPercent: '50%' }), /not "50%"/],
    ['upstreams[0].limits.maxConcurrentRequests', (d) => (d.upstreams[0].limits = { maxConcurrentRequests: 0 }), /of at least 1, not 0/],
    ['listeners[0].maxHeaderSize', (d) => (d.listeners[0].maxHeaderSize = '100'), /^must be from 1KiB to 1MiB$/],
    ['listeners[0].maxHeaderSize', (d) => (d.listeners[0].maxHeaderSize = '16kb'), /must be a size/],
    ['listeners[0].idleTimeout', (d) => (d.listeners[0].idleTimeout = 60), /not 60/],
    ['listeners[0].name', (d) => (d.listeners[0].name = ''), /letters, digits/],
    ['listeners[0].name', (d) => (d.listeners[0].name = 7), /must be a string, not 7/],
    ['upstreams[0].hostRewrite', (d) => (d.upstreams[0].hostRewrite = 'host'), /service \| keep/],
  ]
  for (const [path, mutate, message] of cases) {
    const doc = minimal()
    mutate(doc)
    onlyError(t, doc, path, message)
  }
})

t.test('zero disables where SPEC says so', async (t) => {
  const doc = minimal()
  doc.upstreams[0].connection = { maxLifetime: 0, maxRequests: 0, idleTimeout: '0' }
  doc.upstreams[0].timeouts = { request: 0 }
  doc.upstreams[0].outlierDetection = { consecutiveFailures: 0 }
  doc.shutdown = { linger: 0, drainTimeout: '0s' }
  doc.reload = 0
  const config = valid(doc)
  t.equal(config.reloadMs, 0, 'reload: 0 = SIGHUP only')
  t.equal(config.upstreams[0].connection.maxLifetimeMs, 0)
  t.equal(config.upstreams[0].connection.idleTimeoutMs, 0)
  t.equal(config.upstreams[0].timeouts.requestMs, 0)
  t.equal(config.upstreams[0].outlierDetection.consecutiveFailures, 0)
  t.equal(config.shutdown.lingerMs, 0)
  t.equal(config.shutdown.drainTimeoutMs, 0)
})

t.test('addresses are IP literals with a port', async (t) => {
  const good: [string, { host: string; port: number }][] = [
    ['127.0.0.1:15001', { host: '127.0.0.1', port: 15001 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['[::1]:15001', { host: '::1', port: 15001 }],
    ['[::]:65535', { host: '::', port: 65535 }],
  ]
  for (const [address, expected] of good) {
    const doc = minimal()
    doc.listeners[0].address = address
    t.strictSame(valid(doc).listeners[0].address, expected, address)
    const doc2 = minimal()
    doc2.listeners[0].address = '127.0.0.9:1'
    doc2.admin = { address }
    t.strictSame(valid(doc2).admin.address, expected, address)
  }
  const bad = ['localhost:15001', '127.0.0.1', '::1:15001', '[::1]', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.256:1', '[127.0.0.1]:1', ':80', 15001]
  for (const address of bad) {
    const doc = minimal()
    doc.listeners[0].address = address
    onlyError(t, doc, 'listeners[0].address', /^(must be "ip:port"|port must be)/)
    const doc2 = minimal()
    doc2.admin = { address }
    onlyError(t, doc2, 'admin.address', /^(must be "ip:port"|port must be)/)
  }
})

t.test('dns servers are "ip", "ip:port" or "[ipv6]:port"', async (t) => {
  const doc = minimal()
  doc.dns = { servers: ['10.0.0.10', '10.0.0.11:5353', '[fd00::1]:53', '[::1]', '::1'], timeout: '500ms' }
  t.strictSame(valid(doc).dns, {
    servers: [
      { host: '10.0.0.10', port: 53 },
      { host: '10.0.0.11', port: 5353 },
      { host: 'fd00::1', port: 53 },
      { host: '::1', port: 53 },
      { host: '::1', port: 53 },
    ],
    timeoutMs: 500,
  })
  const bad = minimal()
  bad.dns = { servers: ['10.0.0.1:0', 'dns.google', '10.0.0.1:53:53'] }
  t.same(paths(errors(bad)), ['dns.servers[0]', 'dns.servers[1]', 'dns.servers[2]'])
})

t.test('service is a fully qualified DNS name', async (t) => {
  for (const service of ['orders.default.svc.cluster.local', 'a.b', 'x-1.y-2.test']) {
    const doc = minimal()
    doc.upstreams[0].service = service
    t.equal(valid(doc).upstreams[0].service, service)
  }
  const dotted = minimal()
  dotted.upstreams[0].service = 'orders.default.svc.cluster.local.'
  t.equal(valid(dotted).upstreams[0].service, 'orders.default.svc.cluster.local', 'the trailing dot is dropped')
  const bad: [unknown, RegExp][] = [
    ['orders', /fully qualified/],
    ['Orders.default', /label "Orders"/],
    ['orders_x.default', /label "orders_x"/],
    ['-orders.default', /label "-orders"/],
    ['orders..default', /label ""/],
    ['.', /1 to 253/],
    ['10.0.0.1', /not the IP address/],
    [`${'a'.repeat(64)}.default`, /label "a{64}"/],
    [`${'a.'.repeat(127)}ab`, /1 to 253/],
    [8080, /must be a string/],
  ]
  for (const [service, message] of bad) {
    const doc = minimal()
    doc.upstreams[0].service = service
    onlyError(t, doc, 'upstreams[0].service', message)
  }
})

t.test('exactly one of port and portName', async (t) => {
  const named = minimal()
  delete named.upstreams[0].port
  named.upstreams[0].portName = 'http'
  const u = valid(named).upstreams[0]
  t.equal(u.port, null)
  t.equal(u.portName, 'http')

  const neither = minimal()
  delete neither.upstreams[0].port
  onlyError(t, neither, 'upstreams[0].port', /^is required \(or portName\)$/)

  const both = minimal()
  both.upstreams[0].portName = 'http'
  onlyError(t, both, 'upstreams[0].portName', /not both/)

  for (const portName of ['HTTP', 'http-', 'a--b', '123', 'a-very-long-port-name', 'h_t', '']) {
    const doc = minimal()
    delete doc.upstreams[0].port
    doc.upstreams[0].portName = portName
    onlyError(t, doc, 'upstreams[0].portName', /SRV port name/)
  }
})

t.test('names are unique, addresses are unique, listeners name existing upstreams', async (t) => {
  const doc = minimal()
  doc.listeners.push({ name: 'orders', address: '127.0.0.1:15001', upstream: 'orders' })
  doc.listeners.push({ name: 'admin-clash', address: '127.0.0.1:9901', upstream: 'users' })
  doc.upstreams.push({ name: 'orders', service: 'other.default.svc.cluster.local', port: 80 })
  t.strictSame(errors(doc), [
    { path: 'listeners[1].name', message: 'duplicates the name of listeners[0]' },
    { path: 'upstreams[1].name', message: 'duplicates the name of upstreams[0]' },
    { path: 'listeners[1].address', message: 'is already used by listeners[0].address' },
    { path: 'listeners[2].address', message: 'is already used by admin.address' },
    { path: 'listeners[2].upstream', message: 'no upstream is named "users"' },
  ])
})

t.test('port 0 may repeat: each listener gets its own ephemeral port', async (t) => {
  const doc = minimal()
  doc.admin = { address: '127.0.0.1:0' }
  doc.listeners[0].address = '127.0.0.1:0'
  doc.listeners.push({ name: 'second', address: '127.0.0.1:0', upstream: 'orders' })
  t.equal(valid(doc).listeners.length, 2)
})

t.test('a listener naming an upstream that failed to parse is not reported twice', async (t) => {
  const doc = minimal()
  doc.upstreams[0].name = 'bad name'
  onlyError(t, doc, 'upstreams[0].name', /letters, digits/)
  const notMapping = minimal()
  notMapping.upstreams.push('users')
  onlyError(t, notMapping, 'upstreams[1]', /must be a mapping, not "users"/)
})

t.test('the whole document must be a mapping', async (t) => {
  t.strictSame(errors(null), [{ path: '', message: 'the configuration is empty; listeners and upstreams are required' }])
  t.strictSame(errors(['x']), [{ path: '', message: 'must be a mapping, not a list' }])
  t.strictSame(paths(errors({})), ['listeners', 'upstreams'])
  t.match(errors({})[0].message, /^is required$/)
})

t.test('with the later features enabled, their schema and cross-checks hold', async (t) => {
  t.test('broadcast gets its defaults and is refused outside broadcast mode', async (t) => {
    const doc = minimal()
    doc.upstreams[0].mode = 'broadcast'
    t.strictSame(valid(doc, ALL_FEATURES).upstreams[0].broadcast, {
      require: 'all',
      timeoutMs: 5000,
      maxBodySize: 1_048_576,
      includeBodies: false,
    })
    doc.upstreams[0].broadcast = { require: 2, timeout: '1s', maxBodySize: '64KiB', includeBodies: true }
    t.strictSame(valid(doc, ALL_FEATURES).upstreams[0].broadcast, {
      require: 2,
      timeoutMs: 1000,
      maxBodySize: 65_536,
      includeBodies: true,
    })
    doc.upstreams[0].broadcast = { require: '2' }
    onlyError(t, doc, 'upstreams[0].broadcast.require', /a YAML number/, ALL_FEATURES)
    doc.upstreams[0].broadcast = { require: 0 }
    onlyError(t, doc, 'upstreams[0].broadcast.require', /not 0/, ALL_FEATURES)
    doc.upstreams[0].mode = 'balance'
    doc.upstreams[0].broadcast = { require: 'any' }
    onlyError(t, doc, 'upstreams[0].broadcast', /^is only for mode: broadcast$/, ALL_FEATURES)
  })

  t.test('hash keys go with consistent_hash and ordinal', async (t) => {
    const doc = minimal()
    doc.upstreams[0].policy = 'consistent_hash'
    onlyError(t, doc, 'upstreams[0].hashKey', /^is required for policy: consistent_hash$/, ALL_FEATURES)
    doc.upstreams[0].hashKey = { header: 'X-Account-Id' }
    t.strictSame(valid(doc, ALL_FEATURES).upstreams[0].hashKey, { header: 'x-account-id' })
    doc.upstreams[0].hashKey = { cookie: 'session' }
    t.strictSame(valid(doc, ALL_FEATURES).upstreams[0].hashKey, { cookie: 'session' })
    doc.upstreams[0].hashKey = { header: 'x', query: 'y' }
    onlyError(t, doc, 'upstreams[0].hashKey', /exactly one of header, query or cookie/, ALL_FEATURES)
    doc.upstreams[0].hashKey = {}
    onlyError(t, doc, 'upstreams[0].hashKey', /exactly one/, ALL_FEATURES)
    doc.upstreams[0].hashKey = { header: 'bad header' }
    onlyError(t, doc, 'upstreams[0].hashKey.header', /HTTP header name/, ALL_FEATURES)
    doc.upstreams[0].hashKey = { query: 'k' }
    doc.upstreams[0].policy = 'random'
    onlyError(t, doc, 'upstreams[0].hashKey', /^is only for policy: consistent_hash or ordinal$/, ALL_FEATURES)
  })

  t.test('ordinal needs portName and replicas', async (t) => {
    const doc = minimal()
    doc.upstreams[0].policy = 'ordinal'
    doc.upstreams[0].hashKey = { query: 'shard' }
    t.same(paths(errors(doc, ALL_FEATURES)), ['upstreams[0].portName', 'upstreams[0].replicas'])
    delete doc.upstreams[0].port
    doc.upstreams[0].portName = 'http'
    doc.upstreams[0].replicas = 3
    t.equal(valid(doc, ALL_FEATURES).upstreams[0].replicas, 3)
    doc.upstreams[0].policy = 'least_request'
    delete doc.upstreams[0].hashKey
    onlyError(t, doc, 'upstreams[0].replicas', /^is only for policy: ordinal$/, ALL_FEATURES)
  })

  t.test('sharding: every problem at once, each at its path', async (t) => {
    const doc = minimal()
    doc.upstreams[0].policy = 'ordinal'
    doc.upstreams[0].hashBalanceFactor = '150%'
    t.strictSame([...errors(doc, ALL_FEATURES)].sort((a, b) => a.path.localeCompare(b.path)), [
      { path: 'upstreams[0].hashBalanceFactor', message: 'is only for policy: consistent_hash' },
      { path: 'upstreams[0].hashKey', message: 'is required for policy: ordinal' },
      { path: 'upstreams[0].portName', message: 'is required for policy: ordinal (use portName instead of port)' },
      { path: 'upstreams[0].replicas', message: 'is required for policy: ordinal' },
    ])
  })

  t.test('subsetSize and slowStart: balanced upstreams only, since broadcast and sharding need every pod', async (t) => {
    const doc = minimal()
    doc.upstreams[0].policy = 'peak_ewma'
    doc.upstreams[0].slowStart = '30s'
    doc.upstreams[0].discovery = { subsetSize: 3 }
    doc.upstreams[0].connection = { keepalive: '10s' }
    const u = valid(doc).upstreams[0]
    t.same([u.policy, u.slowStartMs, u.discovery.subsetSize, u.connection.keepaliveMs], ['peak_ewma', 30_000, 3, 10_000])
    const rendered = (toDocument(valid(doc)) as Record<string, any>).upstreams[0]
    t.same([rendered.slowStart, rendered.discovery.subsetSize, rendered.connection.keepalive], ['30s', 3, '10s'])
    doc.upstreams[0].connection = { keepalive: 0 }
    t.equal(valid(doc).upstreams[0].connection.keepaliveMs, 0, 'keepalive: 0 turns probing off')

    doc.upstreams[0].mode = 'broadcast'
    doc.upstreams[0].policy = 'round_robin'
    t.same(errors(doc), [
      { path: 'upstreams[0].discovery.subsetSize', message: 'must be 0 for mode: broadcast, which needs every pod' },
      { path: 'upstreams[0].slowStart', message: 'must be 0 for mode: broadcast: only a balanced pick can give a pod less than its share' },
    ])
    doc.upstreams[0].mode = 'balance'
    doc.upstreams[0].policy = 'consistent_hash'
    doc.upstreams[0].hashKey = { header: 'x-account-id' }
    t.same(errors(doc).map((e) => `${e.path}: ${e.message}`), [
      'upstreams[0].discovery.subsetSize: must be 0 for policy: consistent_hash, which needs every pod',
      'upstreams[0].slowStart: must be 0 for policy: consistent_hash: only a balanced pick can give a pod less than its share',
    ])
    doc.upstreams[0].discovery = { subsetSize: -1 }
    doc.upstreams[0].slowStart = 0
    onlyError(t, doc, 'upstreams[0].discovery.subsetSize', /^must be an integer from 0/)
  })

  t.test('hashBalanceFactor: consistent_hash only, a percentage of at least 100%', async (t) => {
    const doc = minimal()
    doc.upstreams[0].policy = 'consistent_hash'
    doc.upstreams[0].hashKey = { header: 'x-account-id' }
    t.equal(valid(doc).upstreams[0].hashBalanceFactor, null, 'off unless set')
    doc.upstreams[0].hashBalanceFactor = '125%'
    t.equal(valid(doc).upstreams[0].hashBalanceFactor, 1.25)
    t.equal((toDocument(valid(doc)) as Record<string, any>).upstreams[0].hashBalanceFactor, '125%')
    doc.upstreams[0].hashBalanceFactor = '90%'
    onlyError(t, doc, 'upstreams[0].hashBalanceFactor', /^must be at least 100%$/)
    doc.upstreams[0].hashBalanceFactor = 1.5
    onlyError(t, doc, 'upstreams[0].hashBalanceFactor', /percentage/)
  })

  t.test('a broadcast has no use for a key', async (t) => {
    const doc = minimal()
    doc.upstreams[0].mode = 'broadcast'
    doc.upstreams[0].policy = 'consistent_hash'
    doc.upstreams[0].hashKey = { header: 'x-account-id' }
    onlyError(t, doc, 'upstreams[0].policy', /^consistent_hash has no meaning for mode: broadcast/, ALL_FEATURES)
    doc.upstreams[0].policy = 'round_robin'
    onlyError(t, doc, 'upstreams[0].hashKey', /^is only for policy: consistent_hash or ordinal$/, ALL_FEATURES)
  })

  t.test('UDP listeners feed UDP broadcast upstreams only', async (t) => {
    const doc = minimal()
    doc.listeners.push({ name: 'events', address: '127.0.0.1:15001', protocol: 'udp', upstream: 'events' })
    doc.upstreams.push({ name: 'events', service: 'events.default.svc.cluster.local', port: 9000, protocol: 'udp', mode: 'broadcast' })
    const config = valid(doc, ALL_FEATURES)
    t.equal(config.listeners[1].protocol, 'udp', 'a UDP listener may share a TCP listener\'s address')
    doc.upstreams[1].mode = 'balance'
    t.same(paths(errors(doc, ALL_FEATURES)), ['listeners[1].upstream', 'upstreams[1].mode'])
    doc.upstreams[1].mode = 'broadcast'
    doc.listeners[0].upstream = 'events'
    onlyError(t, doc, 'listeners[0].upstream', /only a protocol: udp listener/, ALL_FEATURES)
  })

  t.test('the SPEC §3 example is valid', async (t) => {
    const config = valid(specExample(), ALL_FEATURES)
    t.equal(config.upstreams.length, 2)
    t.strictSame(config.upstreams[0].hashKey, { header: 'x-account-id' })
  })
})

/** SPEC §3's example, plus the `orders-events` upstream its UDP listener names. */
function specExample(): Record<string, any> {
  const doc = parseYaml(`
admin: { address: 127.0.0.1:9901 }
accessLog: false
reload: 5s
shutdown: { linger: 5s, drainTimeout: 30s }
dns: { servers: [], timeout: 2s }
listeners:
  - { name: orders, address: 127.0.0.1:15001, upstream: orders, headersTimeout: 10s, idleTimeout: 60s, maxHeaderSize: 16KiB }
  - { name: orders-udp, address: 127.0.0.1:15002, protocol: udp, upstream: orders-events }
upstreams:
  - name: orders
    service: orders.default.svc.cluster.local
    port: 8080
    protocol: http1
    hostRewrite: service
    mode: balance
    policy: consistent_hash
    discovery: { refresh: 5s, minRefresh: 1s, family: auto }
    connection: { perEndpoint: 1, maxPerEndpoint: 64, maxLifetime: 10m, lifetimeJitter: 10%, maxRequests: 0,
                  idleTimeout: 60s, connectTimeout: 2s, drainTimeout: 30s }
    timeouts: { request: 15s }
    retries: { attempts: 1, on: [connect-failure, refused-stream, reset-before-response] }
    outlierDetection: { consecutiveFailures: 5, ejectionTime: 30s, maxEjectedPercent: 50 }
    limits: { maxConcurrentRequests: 1024 }
    hashKey: { header: x-account-id }
  - name: orders-events
    service: orders.default.svc.cluster.local
    portName: events
    protocol: udp
    mode: broadcast
    broadcast: { require: quorum, timeout: 5s, maxBodySize: 1MiB, includeBodies: false }
`)
  return doc
}

t.test('render → validate gives back an equal config', async (t) => {
  const unusual = minimal()
  unusual.admin = { address: '[::1]:0' }
  unusual.accessLog = true
  unusual.shutdown = { linger: 0, drainTimeout: '1500ms' }
  unusual.dns = { servers: ['10.0.0.10', '[fd00::53]:5353'], timeout: '1.5s' }
  unusual.listeners[0] = { ...unusual.listeners[0], address: '[::]:15001', headersTimeout: '2m', maxHeaderSize: 2000 }
  unusual.upstreams[0] = {
    ...unusual.upstreams[0],
    portName: 'grpc',
    hostRewrite: 'keep',
    policy: 'least_request',
    discovery: { refresh: '90s', minRefresh: '250ms', family: 'ipv6' },
    connection: { perEndpoint: 4, maxPerEndpoint: 4, maxLifetime: 0, lifetimeJitter: '12.5%', maxRequests: 1000 },
    retries: { attempts: 0, on: [] },
  }
  delete unusual.upstreams[0].port
  const cases: [string, Record<string, any>, ReadonlySet<string>][] = [
    ['minimal', minimal(), NOT_YET],
    ['unusual values', unusual, NOT_YET],
    ['SPEC example', specExample(), ALL_FEATURES],
  ]
  for (const [name, doc, notYet] of cases) {
    const config = valid(doc, notYet)
    t.strictSame(valid(toDocument(config), notYet), config, `${name}: toDocument`)
    t.strictSame(valid(parseYaml(toYaml(config)), notYet), config, `${name}: toYaml`)
  }
})

t.test('toDocument uses the shape users write', async (t) => {
  const doc = toDocument(valid(minimal())) as Record<string, any>
  t.equal(doc.admin.address, '127.0.0.1:9901')
  t.equal(doc.shutdown.linger, '5s')
  t.equal(doc.listeners[0].maxHeaderSize, '16KiB')
  t.equal(doc.upstreams[0].connection.maxLifetime, '10m')
  t.equal(doc.upstreams[0].connection.lifetimeJitter, '10%')
  t.equal(doc.upstreams[0].port, 8080)
  t.notOk('portName' in doc.upstreams[0])
  for (const key of ['broadcast', 'hashKey', 'replicas']) t.notOk(key in doc.upstreams[0], `${key} omitted`)
  const ipv6 = minimal()
  ipv6.admin = { address: '[::1]:9901' }
  ipv6.upstreams[0].connection = { maxLifetime: 0 }
  const rendered = toDocument(valid(ipv6)) as Record<string, any>
  t.equal(rendered.admin.address, '[::1]:9901')
  t.equal(rendered.upstreams[0].connection.maxLifetime, 0)
})
