// Where a sharded upstream's key comes from (SPEC §3 `hashKey`): a header, a query parameter or
// a cookie. Read only for consistent_hash and ordinal upstreams; an empty value is no key.
import type { HashKey } from '../config/types.ts'

/**
 * The request's key, or null when it has none. `field` is the value of the header named by the
 * upstream's keyHeader (the Cookie header for a cookie key), as readRequestHead captured it.
 */
export function hashKeyOf(source: HashKey, field: string | null, path: string): string | null {
  let key: string | null
  if ('header' in source) key = field
  else if ('cookie' in source) key = field === null ? null : cookieValue(field, source.cookie)
  else key = queryValue(path, source.query)
  return key === '' ? null : key
}

/** How the key is named in an error message: `header x-account-id`. */
export function describeHashKey(source: HashKey): string {
  if ('header' in source) return `header ${source.header}`
  if ('cookie' in source) return `cookie ${source.cookie}`
  return `query parameter ${source.query}`
}

/** The first `name=value` pair of a Cookie header (RFC 6265 §4.2.1), without the optional quotes. */
export function cookieValue(header: string, name: string): string | null {
  let start = 0
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end < 0) end = header.length
    const eq = header.indexOf('=', start)
    if (eq > start && eq < end && header.slice(start, eq).trim() === name) {
      const value = header.slice(eq + 1, end).trim()
      return value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34 ? value.slice(1, -1) : value
    }
    start = end + 1
  }
  return null
}

/** The first value of query parameter `name`, decoded as a form would be (`+` is a space). */
export function queryValue(path: string, name: string): string | null {
  const q = path.indexOf('?')
  if (q < 0) return null
  const hash = path.indexOf('#', q)
  return new URLSearchParams(path.slice(q + 1, hash < 0 ? undefined : hash)).get(name)
}
