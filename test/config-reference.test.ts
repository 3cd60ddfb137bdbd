// docs/config.md is generated from the schema (tools/config-reference.ts): it must be the file
// the generator writes today, and it must list every key a configuration can hold.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { parseConfig } from '../src/config/load.ts'
import { toDocument } from '../src/config/render.ts'
import type { Shape } from '../src/config/schema.ts'
import { CONFIG_SCHEMA } from '../src/config/validate.ts'
import { configReference, REFERENCE_FILE } from '../tools/config-reference.ts'

const reference = configReference()

t.test('docs/config.md is what `npm run docs:config` writes from the schema today', async (t) => {
  const onDisk = readFileSync(REFERENCE_FILE, 'utf8')
  t.ok(onDisk === reference, 'docs/config.md is stale: run `npm run docs:config` and commit it')
  if (onDisk !== reference) {
    const lines = onDisk.split('\n')
    const first = reference.split('\n').findIndex((line, i) => line !== lines[i])
    t.comment(`first difference at line ${first + 1}:\n  on disk:   ${lines[first]}\n  generated: ${reference.split('\n')[first]}`)
  }
})

t.test('every schema entry has a one-line description', async (t) => {
  const walk = (shape: Shape, at: string): void => {
    for (const [key, entry] of Object.entries(shape)) {
      const path = `${at}${key}`
      t.ok(entry.doc.trim() !== '' && !entry.doc.includes('\n'), `${path}: ${entry.doc}`)
      if (entry.field.doc.shape !== undefined) walk(entry.field.doc.shape, `${path}${entry.field.doc.list === true ? '[]' : ''}.`)
    }
  }
  walk(CONFIG_SCHEMA.doc.shape ?? {}, '')
})

/** Each key path of a rendered configuration, as the reference names it: section and key. */
function keyPaths(doc: unknown, at: string, section: string, out: Set<string>): Set<string> {
  if (Array.isArray(doc)) {
    for (const item of doc) if (typeof item === 'object' && item !== null) keyPaths(item, '', `${section}${at}[]`, out)
  } else if (typeof doc === 'object' && doc !== null) {
    for (const [key, value] of Object.entries(doc)) {
      out.add(`${section} ${at}${key}`)
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) keyPaths(value, `${at}${key}.`, section, out)
      else if (Array.isArray(value)) keyPaths(value, `${at}${key}`, section, out)
    }
  }
  return out
}

t.test('every key of a configuration that sets them all is in the reference, in its section', async (t) => {
  // Every optional key set somewhere: a broadcast upstream, a hashed one, an ordinal one.
  const result = parseConfig(`
listeners:
  - { name: a, address: 127.0.0.1:15001, upstream: web }
upstreams:
  - { name: web, service: web.default.svc.cluster.local, port: 8080, mode: broadcast }
  - { name: shards, service: s.default.svc.cluster.local, port: 80, policy: consistent_hash, hashKey: { header: x-k }, hashBalanceFactor: 150% }
  - { name: cookies, service: c.default.svc.cluster.local, port: 80, policy: consistent_hash, hashKey: { cookie: k } }
  - { name: query, service: q.default.svc.cluster.local, port: 80, policy: consistent_hash, hashKey: { query: k } }
  - { name: ord, service: o.default.svc.cluster.local, portName: http, policy: ordinal, hashKey: { header: x-k }, replicas: 3 }
`)
  if (!result.ok) throw new Error(JSON.stringify(result.errors))
  const sections = new Map<string, string>()
  let section = ''
  for (const line of reference.split('\n')) {
    const heading = /^## (?:`(.+)`|(.+))$/.exec(line)
    if (heading !== null) section = heading[1] ?? ''
    const row = /^\| `([^`]+)` \|/.exec(line)
    if (row !== null) sections.set(`${section} ${row[1]}`, line)
  }
  const paths = keyPaths(toDocument(result.config), '', '', new Set())
  t.ok(paths.size > 50, `${paths.size} keys in the rendered configuration`)
  for (const path of paths) t.ok(sections.has(path), `reference row for ${path.trim() || path}`)
})
