// A tiny field schema: each field knows how to parse what a user wrote (reporting problems with
// their path), how to render the parsed value back, and how to describe itself for the
// configuration reference (docs/config.md, generated from it). Parsing never stops at the first
// problem: a failed field becomes BAD and the walk goes on, so one pass reports everything.
import { isIPv4, isIPv6 } from 'node:net'
import type { HostPort } from './types.ts'
import { formatDuration, formatPercent, formatSize, parseDuration, parsePercent, parseSize } from './units.ts'
import { formatHostPort } from '../net.ts'
import { didYouMean } from './did-you-mean.ts'

export interface ConfigError {
  /** `upstreams[0].connection.maxLifetime`; "" for the whole file. */
  readonly path: string
  readonly message: string
}

export const BAD: unique symbol = Symbol('invalid')

export interface Ctx {
  readonly errors: ConfigError[]
  /** Feature names refused for now: "upstream.broadcast" (a key), "upstream.protocol: h2c" (a value). */
  readonly notYet: ReadonlySet<string>
}

export interface Field {
  /** `raw` is what the user wrote, never undefined. Returns BAD after reporting. */
  parse(raw: unknown, at: string, ctx: Ctx): unknown
  /** The inverse of parse, in the user-facing shape. */
  render(value: unknown): unknown
  /** Appended to the key in the parsed object: durations are held as `timeoutMs`. */
  readonly suffix?: string
  readonly doc: FieldDoc
}

/** A field as the configuration reference shows it (Markdown). */
export interface FieldDoc {
  /** The kind of value: "duration", "integer", "mapping". */
  readonly type: string
  /** Which values of that kind are allowed, where not all are: "1 to 1000", "0 or longer". */
  readonly range?: string
  /** The only values allowed, and the feature name that may refuse some of them (see choice). */
  readonly choices?: { readonly values: readonly string[]; readonly feature?: string }
  /** A mapping's keys, or the keys of each mapping in a list. */
  readonly shape?: Shape
  /** A list of values of this kind. */
  readonly list?: boolean
}

export interface Entry {
  readonly field: Field
  /** As the user would write it; parsed like user input. */
  readonly default?: unknown
  /** Absent means null, and null is not rendered. */
  readonly optional?: boolean
  /** A key refused while ctx.notYet holds this name. */
  readonly feature?: string
  /** What the key does, one line of Markdown for docs/config.md. */
  readonly doc: string
}

export type Shape = Readonly<Record<string, Entry>>
export type Parsed = Record<string, unknown>

export const required = (field: Field, doc: string): Entry => ({ field, doc })
export const defaulted = (field: Field, value: unknown, doc: string): Entry => ({ field, default: value, doc })
export const optional = (field: Field, doc: string, feature?: string): Entry => ({ field, optional: true, feature, doc })

export function report(ctx: Ctx, path: string, message: string): typeof BAD {
  ctx.errors.push({ path, message })
  return BAD
}

/** True when none of the values failed to parse: cross-field checks run only on good values. */
export const good = (...values: unknown[]): boolean => values.every((v) => v !== BAD)

export const child = (at: string, key: string): string => (at === '' ? key : `${at}.${key}`)

// ---- structure

/** A mapping with a fixed set of keys; `check` sees the parsed values (BAD where a field failed). */
export function object(shape: Shape, check?: (value: Parsed, at: string, ctx: Ctx) => void): Field {
  const keys = Object.keys(shape)
  return {
    doc: { type: 'mapping', shape },
    parse(raw, at, ctx) {
      if (!isMapping(raw)) return report(ctx, at, `must be a mapping, not ${describe(raw)}`)
      for (const key of Object.keys(raw)) {
        if (!Object.hasOwn(shape, key)) report(ctx, child(at, key), unknownKeyMessage(key, keys))
      }
      const out: Parsed = {}
      for (const key of keys) {
        const entry = shape[key]
        const value = Object.hasOwn(raw, key) ? raw[key] : undefined
        out[key + (entry.field.suffix ?? '')] = parseEntry(entry, value, child(at, key), ctx)
      }
      check?.(out, at, ctx)
      return out
    },
    render(value) {
      const parsed = value as Parsed
      const doc: Parsed = {}
      for (const key of keys) {
        const entry = shape[key]
        const v = parsed[key + (entry.field.suffix ?? '')]
        if (entry.optional === true && v === null) continue
        doc[key] = entry.field.render(v)
      }
      return doc
    },
  }
}

function parseEntry(entry: Entry, raw: unknown, at: string, ctx: Ctx): unknown {
  if (raw === undefined) {
    if (entry.optional === true) return null
    if (!Object.hasOwn(entry, 'default')) return report(ctx, at, 'is required')
    return entry.field.parse(entry.default, at, ctx)
  }
  if (entry.feature !== undefined && ctx.notYet.has(entry.feature)) return report(ctx, at, 'is not supported yet')
  return entry.field.parse(raw, at, ctx)
}

export function list(item: Field, opts: { min?: number; unique?: boolean } = {}): Field {
  const min = opts.min ?? 0
  const limits = [min > 0 ? `at least ${min} ${min === 1 ? 'entry' : 'entries'}` : '', opts.unique === true ? 'no repeats' : '']
  return {
    doc: {
      ...item.doc,
      list: true,
      type: item.doc.shape !== undefined ? 'list of mappings' : `list of: ${item.doc.type}`,
      range: [...limits, item.doc.range ?? ''].filter((x) => x !== '').join('; ') || undefined,
    },
    parse(raw, at, ctx) {
      if (!Array.isArray(raw)) return report(ctx, at, `must be a list, not ${describe(raw)}`)
      if (raw.length < min) report(ctx, at, `must have at least ${min} ${min === 1 ? 'entry' : 'entries'}`)
      const out = raw.map((v, i) => item.parse(v, `${at}[${i}]`, ctx))
      if (opts.unique === true) {
        out.forEach((v, i) => {
          if (good(v) && out.indexOf(v) < i) report(ctx, `${at}[${i}]`, `duplicates ${at}[${out.indexOf(v)}]`)
        })
      }
      return out
    },
    render: (value) => (value as unknown[]).map((v) => item.render(v)),
  }
}

// ---- scalars

/**
 * A string checked by `problem`, which returns what is wrong or null; `normalize` runs after.
 * `type` says what it is, for the reference.
 */
export function text(type: string, problem: (s: string) => string | null, normalize: (s: string) => string = (s) => s): Field {
  return {
    doc: { type },
    parse(raw, at, ctx) {
      if (typeof raw !== 'string') return report(ctx, at, `must be a string, not ${describe(raw)}`)
      const why = problem(raw)
      return why === null ? normalize(raw) : report(ctx, at, why)
    },
    render: (value) => value,
  }
}

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Field {
  return {
    doc: { type: 'integer', range: span(min, max, String) },
    parse(raw, at, ctx) {
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= min && raw <= max) return raw
      return report(ctx, at, `must be an integer ${rangeText(min, max, String)}, not ${describe(raw)}`)
    },
    render: (value) => value,
  }
}

export function boolean(): Field {
  return {
    doc: { type: 'boolean' },
    parse: (raw, at, ctx) => (typeof raw === 'boolean' ? raw : report(ctx, at, `must be true or false, not ${describe(raw)}`)),
    render: (value) => value,
  }
}

/** One of `values`; those named `${feature}: ${value}` in ctx.notYet are refused as not supported yet. */
export function choice(values: readonly string[], feature?: string): Field {
  return {
    doc: { type: 'string', choices: { values, feature } },
    parse(raw, at, ctx) {
      if (typeof raw === 'string' && values.includes(raw)) {
        if (feature !== undefined && ctx.notYet.has(`${feature}: ${raw}`)) {
          return report(ctx, at, `${raw} is not supported yet`)
        }
        return raw
      }
      const offered = values.filter((v) => feature === undefined || !ctx.notYet.has(`${feature}: ${v}`))
      const hint = typeof raw === 'string' ? didYouMean(raw, offered) : ''
      return report(ctx, at, `must be one of ${offered.join(' | ')}, not ${describe(raw)}${hint}`)
    },
    render: (value) => value,
  }
}

/** Milliseconds; a bare 0 is accepted only where `zero` says it disables something. */
export function duration(opts: { zero?: boolean; max?: number } = {}): Field {
  const min = opts.zero === true ? 0 : 1
  const max = opts.max ?? MAX_DURATION_MS
  const floor = min === 0 ? '0 or longer' : 'longer than 0'
  return {
    doc: { type: 'duration', range: opts.max === undefined ? floor : `${floor}, at most ${formatDuration(max)}` },
    suffix: 'Ms',
    parse(raw, at, ctx) {
      const ms = parseDuration(raw)
      if (ms === null) {
        return report(ctx, at, `must be a duration such as "250ms", "5s", "10m" or "1h", not ${describe(raw)}`)
      }
      if (ms < min) return report(ctx, at, 'must be greater than 0')
      if (ms > max) return report(ctx, at, `must be at most ${formatDuration(max)}`)
      return ms
    },
    render: (value) => bareNumber(formatDuration(value as number)),
  }
}

/** setTimeout fires at once beyond 2^31-1 ms; 24 days stays below it and past any sane setting. */
export const MAX_DURATION_MS = 24 * 24 * 3_600_000

export function size(min: number, max: number): Field {
  return {
    doc: { type: 'size', range: span(min, max, formatSize) },
    parse(raw, at, ctx) {
      const bytes = parseSize(raw)
      if (bytes === null) {
        return report(ctx, at, `must be a size such as "512KiB", "1MiB" or a byte count, not ${describe(raw)}`)
      }
      if (bytes < min || bytes > max) return report(ctx, at, `must be ${rangeText(min, max, formatSize)}`)
      return bytes
    },
    render: (value) => bareNumber(formatSize(value as number)),
  }
}

/** A fraction in [0, maxExclusive): "10%" is 0.1. */
export function percent(maxExclusive: number, minInclusive = 0): Field {
  const below = maxExclusive === Infinity ? '' : ` to below ${formatPercent(maxExclusive)}`
  return {
    doc: { type: 'percentage', range: below === '' ? `at least ${formatPercent(minInclusive)}` : `${formatPercent(minInclusive)}${below}` },
    parse(raw, at, ctx) {
      const f = parsePercent(raw)
      if (f === null) return report(ctx, at, `must be a percentage such as "10%", not ${describe(raw)}`)
      if (f >= maxExclusive) return report(ctx, at, `must be below ${formatPercent(maxExclusive)}`)
      if (f < minInclusive) return report(ctx, at, `must be at least ${formatPercent(minInclusive)}`)
      return f
    },
    render: (value) => formatPercent(value as number),
  }
}

/**
 * "ip:port" or "[ipv6]:port" with an IP literal (no DNS lookup at start-up). With `defaultPort`
 * the port may be left out, and a bare IPv6 literal is accepted too.
 */
export function hostPort(opts: { minPort: number; defaultPort?: number }): Field {
  const type = opts.defaultPort === undefined ? '`ip:port`' : '`ip` or `ip:port`'
  const port = `port ${span(opts.minPort, 65535, String)}${opts.defaultPort === undefined ? '' : `, ${opts.defaultPort} when left out`}`
  return {
    doc: { type, range: `an IP literal; ${port}` },
    parse(raw, at, ctx) {
      const hp = typeof raw === 'string' ? parseHostPort(raw, opts.defaultPort) : null
      const form = opts.defaultPort === undefined ? '"ip:port"' : '"ip" or "ip:port"'
      if (hp === null) {
        return report(ctx, at, `must be ${form} with an IP literal ("127.0.0.1:9901", "[::1]:9901"), not ${describe(raw)}`)
      }
      if (hp.port < opts.minPort || hp.port > 65535) {
        return report(ctx, at, `port must be ${rangeText(opts.minPort, 65535, String)}, not ${hp.port}`)
      }
      return hp
    },
    render: (value) => renderHostPort(value as HostPort),
  }
}

export function parseHostPort(s: string, defaultPort?: number): HostPort | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(s)
  if (m === null) {
    return defaultPort !== undefined && isIPv6(s) ? { host: s, port: defaultPort } : null
  }
  const [, v6, v4, port] = m
  if (v6 !== undefined ? !isIPv6(v6) : !isIPv4(v4)) return null
  if (port === undefined && defaultPort === undefined) return null
  return { host: v6 ?? v4, port: port === undefined ? (defaultPort as number) : Number(port) }
}

export function renderHostPort({ host, port }: HostPort): string {
  return formatHostPort(host, port)
}

// ---- messages

export function describe(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw)
  if (raw === null || typeof raw === 'number' || typeof raw === 'boolean') return String(raw)
  if (Array.isArray(raw)) return 'a list'
  if (isMapping(raw)) return 'a mapping'
  return `a value of type ${typeof raw}`
}

function rangeText(min: number, max: number, fmt: (n: number) => string): string {
  return `${max >= Number.MAX_SAFE_INTEGER ? 'of' : 'from'} ${span(min, max, fmt)}`
}

/** "1 to 1000", or "at least 0" without an upper bound. */
function span(min: number, max: number, fmt: (n: number) => string): string {
  return max >= Number.MAX_SAFE_INTEGER ? `at least ${fmt(min)}` : `${fmt(min)} to ${fmt(max)}`
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  return `unknown key${didYouMean(key, known)}`
}

function isMapping(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && Object.getPrototypeOf(raw) === Object.prototype
}

/** "0" and "1000" render as YAML numbers, which read better and parse back the same. */
function bareNumber(s: string): string | number {
  return /^\d+$/.test(s) ? Number(s) : s
}
