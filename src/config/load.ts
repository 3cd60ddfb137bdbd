// Reads the YAML file and hands the plain document to validateConfig. YAML's own problems (syntax,
// duplicate keys, unknown tags) are configuration errors too, with their line and column.
import { readFileSync } from 'node:fs'
import { isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml'
import type { Document, YAMLError } from 'yaml'
import { child } from './schema.ts'
import type { ConfigError } from './schema.ts'
import { validateConfig } from './validate.ts'
import type { ValidationResult } from './validate.ts'

export const DEFAULT_CONFIG_PATH = './spoke.yaml'

/** SPEC §2: `-c/--config FILE`, else `$SPOKE_CONFIG`, else `./spoke.yaml`. */
export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return flag
  const fromEnv = env.SPOKE_CONFIG
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH
}

export function loadConfigFile(path: string, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  let source: string
  try {
    source = readFileSync(path, 'utf8')
  } catch (err) {
    return { ok: false, errors: [{ path: '', message: readFailure(err) }] }
  }
  return parseConfig(source, options)
}

/** The YAML text of a configuration file, validated. */
export function parseConfig(source: string, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  const lines = new LineCounter()
  const doc = parseDocument(source, { uniqueKeys: true, prettyErrors: false, lineCounter: lines })
  const problems = [...doc.errors, ...doc.warnings]
  if (problems.length > 0) return { ok: false, errors: problems.map((e) => yamlError(e, doc, lines)) }
  let plain: unknown
  try {
    plain = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    // An alias to a missing anchor, or too many aliases (a "billion laughs" file).
    return { ok: false, errors: [{ path: '', message: (err as Error).message }] }
  }
  return validateConfig(plain, options)
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'file not found'
  if (code === 'EISDIR') return 'is a directory, not a file'
  if (code === 'EACCES') return 'permission denied'
  return `cannot read: ${(err as Error).message}`
}

function yamlError(e: YAMLError, doc: Document, lines: LineCounter): ConfigError {
  const { line, col } = lines.linePos(e.pos[0])
  const where = `line ${line}, column ${col}`
  if (e.code === 'DUPLICATE_KEY') {
    const path = pathAt(doc, e.pos[0])
    if (path !== null) return { path, message: `duplicate key (${where})` }
  }
  return { path: '', message: `${where}: ${e.message}` }
}

/** The configuration path (`upstreams[0].name`) of the mapping key that starts at `offset`. */
function pathAt(doc: Document, offset: number): string | null {
  let found: string | null = null
  visit(doc, {
    Pair(_, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.range?.[0] !== offset) return undefined
      const chain = [...ancestors, pair]
      let path = ''
      chain.forEach((node, i) => {
        if (isPair(node)) path = child(path, isScalar(node.key) ? String(node.key.value) : '?')
        else if (isSeq(node)) path += `[${node.items.indexOf(chain[i + 1] as never)}]`
      })
      found = path
      return visit.BREAK
    },
  })
  return found
}
