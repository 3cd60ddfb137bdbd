// Reads the YAML file and hands the plain document to validateConfig. YAML's own problems (syntax,
// duplicate keys, unknown tags) are configuration errors too, with their line and column.
import { closeSync, openSync, readSync } from 'node:fs'
import { isUtf8 } from 'node:buffer'
import { isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml'
import type { Document, YAMLError } from 'yaml'
import { child } from './schema.ts'
import type { ConfigError } from './schema.ts'
import { validateConfig } from './validate.ts'
import type { ValidationResult } from './validate.ts'

export const DEFAULT_CONFIG_PATH = './spoke.yaml'

/**
 * A sidecar's configuration is a few kilobytes. Past this a file is a mistake (a log, a binary,
 * /dev/zero) or an attack, and YAML's cost grows faster than its size: refused before parsing.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024

/** SPEC §2: `-c/--config FILE`, else `$SPOKE_CONFIG`, else `./spoke.yaml`. */
export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return flag
  const fromEnv = env.SPOKE_CONFIG
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH
}

export function loadConfigFile(path: string, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  const bytes = readConfigFile(path)
  return Buffer.isBuffer(bytes) ? loadConfigBytes(bytes, options) : { ok: false, errors: [bytes] }
}

/**
 * The file's bytes, read through its path (a ConfigMap volume swaps the symlink behind it), or
 * why they cannot be read. Reload compares these bytes before it parses them.
 */
export function readConfigFile(path: string): Buffer | ConfigError {
  try {
    return readAtMost(path, MAX_CONFIG_BYTES)
  } catch (err) {
    return { path: '', message: readFailure(err) }
  }
}

/** A configuration file's bytes, validated. */
export function loadConfigBytes(bytes: Buffer, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  if (bytes.length > MAX_CONFIG_BYTES) return { ok: false, errors: [{ path: '', message: `larger than ${MAX_CONFIG_BYTES / 1024} KiB; a configuration file is a few kilobytes` }] }
  // Decoding would silently turn invalid bytes into U+FFFD, inside a name, say.
  if (!isUtf8(bytes)) return { ok: false, errors: [{ path: '', message: `not UTF-8 text (near line ${lineOfFirstInvalidByte(bytes)})` }] }
  return parseConfig(bytes.toString('utf8'), options)
}

/** The file's bytes, at most `limit` + 1 of them (a device like /dev/zero never ends). */
function readAtMost(path: string, limit: number): Buffer {
  const fd = openSync(path, 'r')
  try {
    const buffer = Buffer.allocUnsafe(limit + 1)
    let length = 0
    for (let n; length <= limit && (n = readSync(fd, buffer, length, limit + 1 - length, null)) > 0;) length += n
    return buffer.subarray(0, length)
  } finally {
    closeSync(fd)
  }
}

function lineOfFirstInvalidByte(bytes: Buffer): number {
  const text = bytes.toString('utf8')
  const at = text.indexOf('\uFFFD')
  let line = 1
  for (let i = 0; i < at; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/** The YAML text of a configuration file, validated. */
export function parseConfig(source: string, options: { notYet?: ReadonlySet<string> } = {}): ValidationResult {
  if (source.length > MAX_CONFIG_BYTES) return { ok: false, errors: [{ path: '', message: `larger than ${MAX_CONFIG_BYTES / 1024} KiB; a configuration file is a few kilobytes` }] }
  const lines = new LineCounter()
  // yaml's own duplicate check compares every key with every other (20 000 keys took 3 s,
  // 200 000 minutes); duplicateKeys() below does it in one pass.
  const doc = parseDocument(source, { uniqueKeys: false, prettyErrors: false, lineCounter: lines })
  const problems = [...doc.errors, ...doc.warnings]
  if (problems.length > 0) return { ok: false, errors: problems.map((e) => yamlError(e, lines)) }
  const duplicates = duplicateKeys(doc, lines)
  if (duplicates.length > 0) return { ok: false, errors: duplicates }
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

function yamlError(e: YAMLError, lines: LineCounter): ConfigError {
  const { line, col } = lines.linePos(e.pos[0])
  return { path: '', message: `line ${line}, column ${col}: ${e.message}` }
}

/**
 * Keys repeated within one mapping (as the object they become: `1` and "1" are the same key), and
 * keys that are lists or mappings (`? [a]`), which no configuration key is.
 */
function duplicateKeys(doc: Document, lines: LineCounter): ConfigError[] {
  const errors: ConfigError[] = []
  visit(doc, {
    Map(_, map, ancestors) {
      const seen = new Set<string>()
      for (const pair of map.items) {
        if (!isScalar(pair.key)) {
          const { line, col } = lines.linePos((pair.key as { range?: [number] } | null)?.range?.[0] ?? 0)
          errors.push({ path: pathOf([...ancestors, map]), message: `a key must be plain text, not a list or mapping (line ${line}, column ${col})` })
          continue
        }
        const key = String(pair.key.value)
        if (!seen.has(key)) {
          seen.add(key)
          continue
        }
        const { line, col } = lines.linePos(pair.key.range?.[0] ?? 0)
        errors.push({ path: child(pathOf([...ancestors, map]), key), message: `duplicate key (line ${line}, column ${col})` })
      }
    },
  })
  return errors
}

/** The configuration path (`upstreams[0].connection`) of the last node in a chain from the document down. */
function pathOf(chain: readonly unknown[]): string {
  let path = ''
  chain.forEach((node, i) => {
    if (isPair(node)) path = child(path, isScalar(node.key) ? String(node.key.value) : '?')
    else if (isSeq(node)) path += `[${node.items.indexOf(chain[i + 1] as never)}]`
  })
  return path
}
