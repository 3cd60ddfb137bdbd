// `spoke inject` over a stream of YAML documents. Each document is parsed on its own; a document
// that gets the sidecar is written back from its node tree (comments kept), and every other one
// (Services, ConfigMaps, skipped or already injected workloads) is copied byte for byte from the
// input, so the output differs from the input exactly where spoke changed something.
import { Composer, CST, isMap, isSeq, LineCounter, Parser } from 'yaml'
import type { Document } from 'yaml'
import { InjectError, injectObject } from './workload.ts'
import type { Outcome } from './workload.ts'
import type { SidecarOptions } from './sidecar.ts'

export { InjectError } from './workload.ts'
export type { Outcome } from './workload.ts'

export interface InjectResult {
  readonly output: string
  /** One per workload found, in input order. */
  readonly outcomes: readonly Outcome[]
}

/** Throws InjectError on YAML that does not parse (nothing half-done is returned). */
export function injectManifests(source: string, options: SidecarOptions): InjectResult {
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
  const changed = docs.map((doc) => {
    const found = injectDocument(doc, options)
    outcomes.push(...found)
    return found.some((o) => o.result === 'injected')
  })

  const segments = segmentsOf(tokens)
  if (segments.length !== docs.length) {
    // Not expected from the yaml package; writing every document from its tree is still correct.
    return { output: docs.map((d) => d.toString({ lineWidth: 0, flowCollectionPadding: false })).join(''), outcomes }
  }
  const output = segments.map((segment, i) => {
    if (!changed[i]) return segment.map((t) => CST.stringify(t)).join('')
    const original = segment.map((t) => CST.stringify(t)).join('')
    return docs[i].toString({ lineWidth: 0, flowCollectionPadding: false, indentSeq: !indentlessSequences(original) })
  })
  return { output: output.join(''), outcomes }
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
