// docs/config.md, written from the configuration schema (src/config/validate.ts and
// upstream-schema.ts): every key with its type, default, allowed values and the one line its
// entry documents. `npm run docs:config` writes the file; test/config-reference.test.ts fails
// when it differs from what this returns, so the reference cannot fall behind the schema.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { MAX_DURATION_MS, type Entry, type Field, type Shape } from '../src/config/schema.ts'
import { CONFIG_SCHEMA, NOT_YET } from '../src/config/validate.ts'

export const REFERENCE_FILE = fileURLToPath(new URL('../docs/config.md', import.meta.url))

const INTRO = `# Configuration reference

<!-- Generated from the schema in src/config/ by \`npm run docs:config\`: edit the schema's docs,
not this file. test/config-reference.test.ts fails when this file is out of date. -->

spoke reads one YAML file: \`-c FILE\`, else \`$SPOKE_CONFIG\`, else \`./spoke.yaml\`.
\`spoke check -c FILE\` validates it and prints it back with every default filled in; every
problem is reported with its path (\`upstreams[0].connection.maxLifetime\`) and the reason, all at
once. Unknown keys are errors. [\`config/spoke.example.yaml\`](../config/spoke.example.yaml) is a
complete example; the README's "Behaviour worth knowing" says how the settings play out.

Values:

- **duration**: a number with a unit, \`250ms\`, \`5s\`, \`1.5s\`, \`10m\`, \`1h\` (a whole number
  of milliseconds); a bare \`0\` where the key allows it. At most ${MAX_DURATION_MS / 86_400_000} days.
- **size**: \`512KiB\`, \`1MiB\`, \`1GiB\` (powers of 1024), \`16KB\`, \`1MB\` (powers of 1000), or a
  byte count.
- **percentage**: a number and \`%\`: \`10%\`, \`150%\`.
- \`ip:port\`: an IP literal, not a host name (\`127.0.0.1:15001\`, \`[::1]:15001\`).
`

/** The whole of docs/config.md. */
export function configReference(): string {
  const top = shapeOf(CONFIG_SCHEMA)
  const sections = [section('Top level', rows(top, ''))]
  for (const [key, entry] of Object.entries(top)) {
    if (isListOfMappings(entry.field)) sections.push(section(`\`${key}[]\``, rows(shapeOf(entry.field), '')))
  }
  return `${INTRO}\n${sections.join('\n')}`
}

function section(title: string, body: readonly string[]): string {
  return [`## ${title}`, '', '| key | type | default | allowed | what it does |', '| --- | --- | --- | --- | --- |', ...body, ''].join('\n')
}

/** One row per key, a mapping's keys right under it (`discovery.refresh`); lists of mappings get a section. */
function rows(shape: Shape, prefix: string): string[] {
  return Object.entries(shape).flatMap(([key, entry]) => {
    const path = `${prefix}${key}`
    const { field } = entry
    if (isListOfMappings(field)) return [row(path, entry, `${entry.doc}: see [\`${path}[]\`](#${path.toLowerCase()})`)]
    const own = row(path, entry, entry.doc)
    return field.doc.shape === undefined ? [own] : [own, ...rows(field.doc.shape, `${path}.`)]
  })
}

function row(path: string, entry: Entry, doc: string): string {
  const { type, range, choices } = entry.field.doc
  const offered = choices?.values.map((v) => {
    const refused = choices.feature !== undefined && NOT_YET.has(`${choices.feature}: ${v}`)
    return `\`${v}\`${refused ? ' (not supported yet)' : ''}`
  })
  const allowed = [range, offered?.join(', ')].filter((x) => x !== undefined && x !== '').join('; ')
  const notYet = entry.feature !== undefined && NOT_YET.has(entry.feature) ? ' (not supported yet)' : ''
  const cells = [`\`${path}\``, type, defaultOf(entry), allowed, `${doc}${notYet}`]
  return `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
}

/** As a user would write it; a mapping's defaults are its keys'. */
function defaultOf(entry: Entry): string {
  if (entry.optional === true) return 'not set'
  if (!Object.hasOwn(entry, 'default')) return 'required'
  const value = entry.default
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return ''
  return `\`${Array.isArray(value) ? `[${value.join(', ')}]` : String(value)}\``
}

function shapeOf(field: Field): Shape {
  const shape = field.doc.shape
  if (shape === undefined) throw new Error(`not a mapping: ${field.doc.type}`)
  return shape
}

const isListOfMappings = (field: Field): boolean => field.doc.list === true && field.doc.shape !== undefined

if (import.meta.main) writeFileSync(REFERENCE_FILE, configReference())
