// SPEC §3 as a schema: the one place that says which keys exist, their types, ranges and defaults
// (written as a user would write them), and which cross-references must hold. The result is
// frozen and fully defaulted, or the list of every problem found. The upstream's keys are in
// upstream-schema.ts. Each key's one-line `doc` is what docs/config.md says of it
// (`npm run docs:config` writes it from this schema).
import { boolean, child, choice, defaulted, duration, good, hostPort, list, object, renderHostPort, report, required, size } from './schema.ts'
import type { ConfigError, Ctx, Field, Parsed } from './schema.ts'
import { didYouMean } from './did-you-mean.ts'
import { name } from './names.ts'
import type { Config } from './types.ts'
import { UPSTREAM } from './upstream-schema.ts'

export type { ConfigError } from './schema.ts'

export type ValidationResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly errors: readonly ConfigError[] }

/**
 * Parts of SPEC §3 the data plane does not implement yet. They are refused with "not supported
 * yet" rather than accepted and ignored; enabling one is deleting its line here (the schema and
 * its cross-checks below are already written and tested with this set emptied).
 */
export const NOT_YET: ReadonlySet<string> = new Set([
])

export function validateConfig(doc: unknown, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  const ctx: Ctx = { errors: [], notYet: options.notYet ?? NOT_YET }
  if (doc === null || doc === undefined) {
    report(ctx, '', 'the configuration is empty; listeners and upstreams are required')
  } else {
    const parsed = CONFIG_SCHEMA.parse(doc, '', ctx)
    if (ctx.errors.length === 0) return { ok: true, config: deepFreeze(parsed) as Config }
  }
  return { ok: false, errors: ctx.errors }
}

// ---- listener

const LISTENER = object({
  name: required(name, 'the listener in logs and metrics (label `listener`); unique'),
  address: required(hostPort({ minPort: 0 }), 'where the app sends, HTTP/1.1 and h2c on the same port; port 0: any free port'),
  protocol: defaulted(choice(['http', 'udp'], 'listener.protocol'), 'http',
    '`udp`: each datagram goes to every pod of a `protocol: udp`, `mode: broadcast` upstream'),
  upstream: required(name, 'the `name` of the upstream that takes this listener\'s requests'),
  headersTimeout: defaulted(duration(), '10s', "each request's line and headers must arrive within this"),
  idleTimeout: defaulted(duration(), '60s', 'an app connection with no request in flight closes after this'),
  maxHeaderSize: defaulted(size(1024, 1024 ** 2), '16KiB',
    'request line and headers (h2c: the decoded header block); a larger one gets 431'),
})

// ---- the whole file

/** The schema behind validateConfig; render.ts walks it backwards. */
export const CONFIG_SCHEMA: Field = object(
  {
    admin: defaulted(
      object({
        address: defaulted(hostPort({ minPort: 0 }), '127.0.0.1:9901',
          'where `/metrics`, `/ready`, `/healthz`, `/endpoints` and `/config` are served; port 0: any free port'),
      }),
      {},
      'the admin server',
    ),
    accessLog: defaulted(boolean(), false, '`true`: one JSON line per request on stdout'),
    reload: defaulted(duration({ zero: true }), '5s',
      "how often the file's content is checked for a change (SIGHUP always reloads); 0 = SIGHUP only"),
    shutdown: defaulted(
      object({
        linger: defaulted(duration({ zero: true }), '5s',
          "after SIGTERM, keep accepting this long (`/ready` is 503 already), so the app's last calls go out"),
        drainTimeout: defaulted(duration({ zero: true }), '30s', 'then wait at most this long for in-flight requests; 0 = cut them at once'),
      }),
      {},
      'what SIGTERM and SIGINT do',
    ),
    dns: defaulted(
      object({
        servers: defaulted(list(hostPort({ minPort: 1, defaultPort: 53 })), [],
          'the DNS servers discovery asks; empty: those of /etc/resolv.conf'),
        timeout: defaulted(duration(), '2s', 'how long one lookup may take, retries included'),
      }),
      {},
      'the DNS servers',
    ),
    listeners: required(list(LISTENER, { min: 1 }), 'the addresses the app sends to, each tied to one upstream'),
    upstreams: required(list(UPSTREAM, { min: 1 }), 'the headless Services and how requests reach their pods'),
  },
  checkReferences,
)

function checkReferences(v: Parsed, _at: string, ctx: Ctx): void {
  const listeners = goodItems(v.listeners, 'listeners')
  const upstreams = goodItems(v.upstreams, 'upstreams')
  uniqueNames(listeners, ctx)
  uniqueNames(upstreams, ctx)
  uniqueAddresses(listeners, v.admin, ctx)

  const byName = new Map(upstreams.filter(({ item }) => good(item.name)).map(({ item }) => [item.name, item]))
  // With an upstream unreadable, a listener naming it is not known to be wrong.
  const allNamesKnown =
    Array.isArray(v.upstreams) && upstreams.length === v.upstreams.length && upstreams.every(({ item }) => good(item.name))
  for (const { item: l, at } of listeners) {
    if (!good(l.upstream)) continue
    const u = byName.get(l.upstream)
    if (u === undefined) {
      if (!allNamesKnown) continue
      const hint = didYouMean(l.upstream as string, [...byName.keys()] as string[])
      report(ctx, child(at, 'upstream'), `no upstream is named ${JSON.stringify(l.upstream)}${hint}`)
    } else {
      checkListenerFitsUpstream(l, u, at, ctx)
    }
  }
}

/** UDP listeners fan datagrams out; HTTP listeners cannot send to pods that only speak UDP. */
function checkListenerFitsUpstream(l: Parsed, u: Parsed, at: string, ctx: Ctx): void {
  if (!good(l.protocol, u.protocol, u.mode)) return
  if (l.protocol === 'udp' && (u.protocol !== 'udp' || u.mode !== 'broadcast')) {
    report(ctx, child(at, 'upstream'), 'must name a protocol: udp, mode: broadcast upstream for protocol: udp')
  }
  if (l.protocol === 'http' && u.protocol === 'udp') {
    report(ctx, child(at, 'upstream'), 'names a protocol: udp upstream, which only a protocol: udp listener can use')
  }
}

interface Located {
  readonly item: Parsed
  readonly at: string
}

function goodItems(items: unknown, at: string): Located[] {
  if (!Array.isArray(items)) return []
  return items.flatMap((item, i) => (good(item) ? [{ item: item as Parsed, at: `${at}[${i}]` }] : []))
}

function uniqueNames(items: readonly Located[], ctx: Ctx): void {
  const seen = new Map<unknown, string>()
  for (const { item, at } of items) {
    if (!good(item.name)) continue
    const first = seen.get(item.name)
    if (first === undefined) seen.set(item.name, at)
    else report(ctx, child(at, 'name'), `duplicates the name of ${first}`)
  }
}

/** Port 0 is exempt: each such listener gets its own ephemeral port. TCP and UDP may share one. */
function uniqueAddresses(listeners: readonly Located[], admin: unknown, ctx: Ctx): void {
  const seen = new Map<string, string>()
  const claim = (protocol: unknown, address: unknown, at: string): void => {
    if (!good(protocol, address) || (address as { port: number }).port === 0) return
    const key = `${protocol === 'udp' ? 'udp' : 'tcp'} ${renderHostPort(address as { host: string; port: number })}`
    const first = seen.get(key)
    if (first === undefined) seen.set(key, at)
    else report(ctx, at, `is already used by ${first}`)
  }
  if (good(admin)) claim('http', (admin as Parsed).address, 'admin.address')
  for (const { item, at } of listeners) claim(item.protocol, item.address, child(at, 'address'))
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
