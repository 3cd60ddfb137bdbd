// `spoke inject` over a stream of YAML documents. Each document is parsed on its own; a document
// that gets the sidecar is written back from its node tree (comments kept), and every other one
// (Services, ConfigMaps, skipped or already injected workloads) is copied byte for byte from the
// input, so the output differs from the input exactly where spoke changed something.
import { Composer, CST, Document, isMap, isSeq, LineCounter, Parser, Scalar } from 'yaml'
import type { YAMLMap } from 'yaml'
import { InjectError, injectableName, injectObject } from './workload.ts'
import type { Outcome } from './workload.ts'
import { configMapNameProblem, configMapObject } from './sidecar.ts'
import type { SidecarOptions } from './sidecar.ts'

export { InjectError } from './workload.ts'
export type { Outcome } from './workload.ts'

export interface InjectResult {
  readonly output: string
  /** One per workload found, in input order; with a config, its ConfigMap first. */
  readonly outcomes: readonly Outcome[]
}

/** `spoke inject --config`: the file to ship in a ConfigMap beside the workloads. */
export interface ConfigToShip {
  readonly text: string
  /** For the pod template's annotation; null: no annotation, leaving a change to spoke's reload. */
  readonly checksum: string | null
  /** The ConfigMap's name; without one, `<workload>-spoke` (one workload in the input only). */
  readonly name?: string
}

export const CONFIG_KEY = 'spoke.yaml'

/** Throws InjectError on YAML that does not parse (nothing half-done is returned). */
export function injectManifests(source: string, options: SidecarOptions, config?: ConfigToShip): InjectResult {
  const lines = new LineCounter()
  const tokens = [...new Parser(lines.addNewLine).parse(source)]
  const docs = [...new Composer().compose(tokens)]
  const errors = docs.flatMap((d) => d.errors)
  if (errors.length > 0) {
    throw new InjectError(errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0])
      return `line ${line}, column ${col}: ${e.message.split('\n')[0]}`
    }).join('\n'))
  }

  // Nothing but comments (or nothing at all): nothing to inject, and nothing to lose.
  if (docs.length === 0) return { output: source, outcomes: [] }

  const outcomes: Outcome[] = []
  let shipped: string | undefined
  if (config !== undefined) {
    shipped = config.name ?? derivedName(docs)
    options = { ...options, configMap: shipped, configChecksum: config.checksum }
  }
  const changed = docs.map((doc) => {
    const found = injectDocument(doc, options)
    outcomes.push(...found)
    let updated = found.some((o) => o.result === 'injected')
    if (shipped !== undefined && isOurConfigMap(doc, shipped)) {
      const put = putConfig(doc, config!.text)
      outcomes.unshift({ resource: `configmap/${shipped}`, result: put ? 'updated' : 'unchanged', notes: [] })
      updated ||= put
      shipped = undefined
    }
    return updated
  })

  // No ConfigMap of that name in the input: a new one, first, so that it exists before any pod mounts it.
  const prefix = shipped === undefined ? '' : newConfigMap(shipped, config!.text, source)
  if (shipped !== undefined) outcomes.unshift({ resource: `configmap/${shipped}`, result: 'created', notes: [] })

  const segments = segmentsOf(tokens)
  if (segments.length !== docs.length) {
    // Not expected from the yaml package; writing every document from its tree is still correct.
    return { output: prefix + docs.map((d) => d.toString({ lineWidth: 0, flowCollectionPadding: false })).join(''), outcomes }
  }
  const output = segments.map((segment, i) => {
    if (!changed[i]) return segment.map((t) => CST.stringify(t)).join('')
    const original = segment.map((t) => CST.stringify(t)).join('')
    return docs[i].toString({ lineWidth: 0, flowCollectionPadding: false, indentSeq: !indentlessSequences(original) })
  })
  return { output: prefix + output.join(''), outcomes }
}

/**
 * `<name>-spoke` after the one workload to inject. A stream of several would share one file
 * under one workload's name, which `kubectl delete` of that workload's manifests would take away.
 */
function derivedName(docs: readonly Document[]): string {
  const names = new Set<string>()
  for (const doc of docs) {
    const root = doc.contents
    if (!isMap(root)) continue
    const list = root.get('items', true)
    const objects = isSeq(list) && String(root.get('kind')).endsWith('List') ? list.items : [root]
    for (const o of objects) {
      const name = isMap(o) ? injectableName(o) : null
      if (name !== null) names.add(name)
    }
  }
  if (names.size !== 1) {
    const found = names.size === 0 ? 'no workload to inject' : `${names.size} workloads (${[...names].join(', ')})`
    throw new InjectError(`--config: found ${found}; name the ConfigMap with --configmap NAME`)
  }
  const name = `${[...names][0]}-spoke`
  const problem = configMapNameProblem(name)
  if (problem !== null) throw new InjectError(`--config: the ConfigMap name ${JSON.stringify(name)} ${problem}; name it with --configmap NAME`)
  return name
}

function isOurConfigMap(doc: Document, name: string): boolean {
  const root = doc.contents
  return isMap(root) && root.get('apiVersion') === 'v1' && root.get('kind') === 'ConfigMap' && root.getIn(['metadata', 'name']) === name
}

/** Sets the ConfigMap's spoke.yaml, leaving its other keys; false when it already holds `text`. */
function putConfig(doc: Document, text: string): boolean {
  const root = doc.contents as YAMLMap
  if (root.getIn(['data', CONFIG_KEY]) === text) return false
  if (!isMap(root.get('data', true))) root.set('data', doc.createNode({}))
  root.setIn(['data', CONFIG_KEY], literal(text))
  return true
}

function newConfigMap(name: string, text: string, source: string): string {
  const doc = new Document(configMapObject(name, ''))
  doc.setIn(['data', CONFIG_KEY], literal(text))
  const yaml = '# spoke.yaml for the spoke sidecar, written by spoke inject --config\n' + doc.toString({ lineWidth: 0, flowCollectionPadding: false })
  // A stream opening with `---` already separates its first document from this one.
  return /^---(\s|$)/.test(source) ? yaml : `${yaml}---\n`
}

/** A `|` block, which shows the file as the user wrote it. */
function literal(text: string): Scalar {
  const node = new Scalar(text)
  node.type = Scalar.BLOCK_LITERAL
  return node
}

function injectDocument(doc: Document, options: SidecarOptions): Outcome[] {
  const root = doc.contents
  if (!isMap(root)) return []
  const kind = root.get('kind')
  const list = root.get('items', true)
  // `kubectl get ... -o yaml` answers with a List (or a DeploymentList) holding the objects.
  if (typeof kind === 'string' && kind.endsWith('List') && isSeq(list)) {
    return list.items.flatMap((item) => {
      const outcome = isMap(item) ? injectObject(doc, item, options) : null
      return outcome === null ? [] : [outcome]
    })
  }
  const outcome = injectObject(doc, root, options)
  return outcome === null ? [] : [outcome]
}

type Token = CST.Token

/**
 * The tokens of each document as the Composer attaches them: the comments and directives before
 * it, the document itself, and its `...` end marker; whatever follows the last document is its.
 */
function segmentsOf(tokens: readonly Token[]): Token[][] {
  const segments: Token[][] = []
  let pending: Token[] = []
  for (const token of tokens) {
    if (token.type === 'doc-end' && pending.length === 0 && segments.length > 0) {
      segments.at(-1)!.push(token)
      continue
    }
    pending.push(token)
    if (token.type === 'document') {
      segments.push(pending)
      pending = []
    }
  }
  if (pending.length > 0) {
    if (segments.length > 0) segments.at(-1)!.push(...pending)
    else segments.push(pending)
  }
  return segments.filter((s) => s.some((t) => t.type === 'document'))
}

/** kubectl writes `containers:\n- name: …` (items not indented under their key); keep that style. */
function indentlessSequences(source: string): boolean {
  return /^( *)[^\s#-][^\n]*:[ \t]*(#[^\n]*)?\n\1- /m.test(source)
}
