// One Kubernetes object in a parsed YAML document: if it is a workload, find its pod template and
// put the sidecar into it. Edits go through the yaml package's node tree, so every comment and
// every untouched node keeps its place; nodes that already hold what spoke wants are not touched,
// which is what makes a second injection a no-op.
import { isDeepStrictEqual } from 'node:util'
import { isMap, isScalar, isSeq, type Document, type YAMLMap, type YAMLSeq } from 'yaml'
import {
  ADMIN_PORT_NAME, CHECKSUM_ANNOTATION, CONFIGMAP_ANNOTATION, configMapNameProblem, configVolume, DEFAULT_CONTAINER_ANNOTATION,
  INJECT_ANNOTATION, INJECTED_LABEL, scrapeAnnotations, SIDECAR_NAME, sidecarContainer,
} from './sidecar.ts'
import type { SidecarOptions } from './sidecar.ts'

/** created and updated: the ConfigMap of `--config`. */
export type Result = 'injected' | 'unchanged' | 'skipped' | 'created' | 'updated'

export interface Outcome {
  /** `deployment/client`, as kubectl names objects. */
  readonly resource: string
  readonly result: Result
  readonly notes: readonly string[]
}

/** Thrown for an object spoke cannot inject as asked (a bad annotation value). */
export class InjectError extends Error {
  override readonly name = 'InjectError'
}

/** Where each workload keeps its pod template; a Pod is its own. */
const POD_TEMPLATE: ReadonlyMap<string, readonly string[]> = new Map([
  ['v1 Pod', []],
  ['apps/v1 Deployment', ['spec', 'template']],
  ['apps/v1 StatefulSet', ['spec', 'template']],
  ['apps/v1 DaemonSet', ['spec', 'template']],
  ['apps/v1 ReplicaSet', ['spec', 'template']],
  ['batch/v1 Job', ['spec', 'template']],
  ['batch/v1 CronJob', ['spec', 'jobTemplate', 'spec', 'template']],
])

const RUN_TO_COMPLETION = new Set(['Job', 'CronJob'])

interface Found {
  readonly kind: string
  /** `deployment/client`. */
  readonly resource: string
  readonly name: string | undefined
  readonly template: unknown
  readonly disabled: boolean
}

/** The workload `resource` is, or null for any other object. */
function find(resource: YAMLMap): Found | null {
  const kind = text(resource.get('kind'))
  const path = POD_TEMPLATE.get(`${text(resource.get('apiVersion'))} ${kind}`)
  if (kind === undefined || path === undefined) return null
  const name = text(resource.getIn(['metadata', 'name']))
  const template = path.length === 0 ? resource : resource.getIn(path, true)
  const disabled = [resource.get('metadata', true), isMap(template) ? template.get('metadata', true) : undefined].some(
    (m) => isMap(m) && text(m.getIn(['annotations', INJECT_ANNOTATION])) === 'disabled',
  )
  return { kind, resource: `${kind.toLowerCase()}/${name ?? '(unnamed)'}`, name, template, disabled }
}

/** The name of the workload spoke would inject, or null (not a workload, or disabled). */
export function injectableName(resource: YAMLMap): string | null {
  const found = find(resource)
  return found === null || found.disabled ? null : (found.name ?? '')
}

/** Injects the sidecar into `resource` if it is a workload; null for any other object. */
export function injectObject(doc: Document, resource: YAMLMap, options: SidecarOptions): Outcome | null {
  const found = find(resource)
  if (found === null) return null
  const { kind, resource: name, template } = found
  const spec = isMap(template) ? template.get('spec', true) : undefined
  if (!isMap(template) || !isMap(spec)) return { resource: name, result: 'skipped', notes: ['it has no pod spec'] }
  if (found.disabled) return { resource: name, result: 'skipped', notes: [`${INJECT_ANNOTATION}: disabled`] }

  const meta = ensureMap(doc, template, 'metadata', 'spec')
  const own = text(meta.getIn(['annotations', CONFIGMAP_ANNOTATION]))
  if (own !== undefined) {
    const problem = configMapNameProblem(own)
    if (problem !== null) throw new InjectError(`${name}: annotation ${CONFIGMAP_ANNOTATION}: ${problem}, not ${JSON.stringify(own)}`)
    // With --config the checksum is that of the ConfigMap written beside it; another one's content is unknown.
    if (options.configChecksum !== undefined && own !== options.configMap) {
      throw new InjectError(`${name}: annotation ${CONFIGMAP_ANNOTATION} names ${own}, but --config writes ConfigMap ${options.configMap}; give --configmap ${own} or remove the annotation`)
    }
  }
  const o: SidecarOptions = own === undefined ? options : { ...options, configMap: own }

  const notes: string[] = []
  const previousPort = adminPortOf(spec)
  let changed = placeSidecar(doc, spec, meta, o)
  changed = putNamed(doc, spec, 'volumes', configVolume(o), 'end') || changed
  changed = setStrings(doc, ensureMap(doc, meta, 'labels'), { [INJECTED_LABEL]: 'true' }) || changed
  changed = annotateForScraping(doc, meta, o, previousPort, notes) || changed
  if (typeof o.configChecksum === 'string') changed = setStrings(doc, ensureMap(doc, meta, 'annotations'), { [CHECKSUM_ANNOTATION]: o.configChecksum }) || changed
  if (o.configChecksum === null) changed = removeKey(meta.get('annotations', true), CHECKSUM_ANNOTATION) || changed

  if (o.classic && RUN_TO_COMPLETION.has(kind)) {
    notes.push('a classic sidecar keeps running after the job\'s containers finish, so the pod never completes; the native form (the default) does not')
  }
  if (spec.get('hostNetwork') === true) {
    notes.push(`hostNetwork: spoke's ports (admin ${o.adminPort} and the listeners) are the node's, shared with every such pod on it`)
  }
  return { resource: name, result: changed ? 'injected' : 'unchanged', notes }
}

/**
 * Native: the first init container, so that every later init container and the app start only
 * once spoke is ready. Classic: the first container, started first (though nothing waits for it).
 */
function placeSidecar(doc: Document, spec: YAMLMap, meta: YAMLMap, o: SidecarOptions): boolean {
  const [list, other] = o.classic ? ['containers', 'initContainers'] : ['initContainers', 'containers']
  let changed = removeNamed(spec, other, SIDECAR_NAME)
  changed = putNamed(doc, spec, list, sidecarContainer(o), 'start') || changed
  if (o.classic && text(meta.getIn(['annotations', DEFAULT_CONTAINER_ANNOTATION])) === undefined) {
    // `kubectl logs` and `exec` would otherwise pick spoke, now the first container.
    const app = items(spec.get('containers', true)).map((c) => text(c.get('name'))).find((n) => n !== SIDECAR_NAME)
    if (app !== undefined) changed = setStrings(doc, ensureMap(doc, meta, 'annotations'), { [DEFAULT_CONTAINER_ANNOTATION]: app }) || changed
  }
  return changed
}

/**
 * Prometheus' annotation convention has room for one port per pod. An app that already uses it
 * for its own metrics keeps it; spoke is then scraped through the PodMonitor (or a scrape job of
 * its own) instead. An explicit `prometheus.io/scrape: "false"` is respected too.
 */
function annotateForScraping(doc: Document, meta: YAMLMap, o: SidecarOptions, previousPort: string | undefined, notes: string[]): boolean {
  const wanted = scrapeAnnotations(o)
  const current = meta.get('annotations', true)
  const has = (key: string): string | undefined => (isMap(current) ? text(current.get(key)) : undefined)
  // A port that was spoke's own admin port (before --admin-port changed it) is spoke's to move.
  const ours = (key: string): boolean => key === 'prometheus.io/port' && has(key) === previousPort
  const clash = Object.keys(wanted).filter((k) => has(k) !== undefined && has(k) !== wanted[k] && !ours(k))
  if (clash.length > 0) {
    notes.push(`left ${clash.map((k) => `${k}: "${has(k)}"`).join(', ')} as it was; scrape spoke's port ${o.adminPort} with the PodMonitor`)
    return false
  }
  return setStrings(doc, ensureMap(doc, meta, 'annotations'), wanted)
}

/** The admin port of a spoke sidecar already in the pod, in either list. */
function adminPortOf(spec: YAMLMap): string | undefined {
  const sidecar = [...items(spec.get('initContainers', true)), ...items(spec.get('containers', true))].find((c) => text(c.get('name')) === SIDECAR_NAME)
  const port = items(sidecar?.get('ports', true)).find((p) => text(p.get('name')) === ADMIN_PORT_NAME)
  return text(port?.get('containerPort'))
}

// ---- node helpers

function text(node: unknown): string | undefined {
  const value = isScalar(node) ? node.value : node
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined
}

function items(node: unknown): YAMLMap[] {
  return isSeq(node) ? node.items.filter((i): i is YAMLMap => isMap(i)) : []
}

/** The map at `key`, created (or put in place of a null) when missing. */
function ensureMap(doc: Document, parent: YAMLMap, key: string, before?: string): YAMLMap {
  const node = parent.get(key, true)
  if (isMap(node)) return node
  const created = doc.createNode({}) as YAMLMap
  add(doc, parent, key, created, before)
  return created
}

/** Sets `key`, a new key going before `before` where that key exists (metadata before spec, as people write it). */
function add(doc: Document, parent: YAMLMap, key: string, value: unknown, before?: string): void {
  const at = before === undefined || parent.has(key) ? -1 : parent.items.findIndex((p) => text(p.key) === before)
  if (at === -1) parent.set(doc.createNode(key), value)
  else parent.items.splice(at, 0, doc.createPair(key, value))
}

function setStrings(doc: Document, map: YAMLMap, values: Record<string, string>): boolean {
  let changed = false
  for (const [key, value] of Object.entries(values)) {
    const node = map.get(key, true)
    if (isScalar(node) && node.value === value) continue
    map.set(doc.createNode(key), doc.createNode(value))
    changed = true
  }
  return changed
}

function indexOfNamed(seq: YAMLSeq, name: string): number {
  return seq.items.findIndex((i) => isMap(i) && text(i.get('name')) === name)
}

/** Puts `value` as the item named like it in the list at `key`: left alone when equal, else replaced in place or added. */
function putNamed(doc: Document, parent: YAMLMap, key: string, value: Record<string, unknown>, where: 'start' | 'end'): boolean {
  const node = doc.createNode(value)
  const seq = parent.get(key, true)
  if (!isSeq(seq)) {
    add(doc, parent, key, doc.createNode([value]), key === 'initContainers' ? 'containers' : undefined)
    return true
  }
  const at = indexOfNamed(seq, value.name as string)
  if (at === -1) {
    if (where === 'start') seq.items.unshift(node)
    else seq.items.push(node)
    return true
  }
  if (isDeepStrictEqual((seq.items[at] as YAMLMap).toJSON(), value)) return false
  seq.items[at] = node
  return true
}

function removeKey(map: unknown, key: string): boolean {
  return isMap(map) && map.delete(key)
}

function removeNamed(parent: YAMLMap, key: string, name: string): boolean {
  const seq = parent.get(key, true)
  if (!isSeq(seq)) return false
  const at = indexOfNamed(seq, name)
  if (at === -1) return false
  seq.items.splice(at, 1)
  if (seq.items.length === 0 && key === 'initContainers') parent.delete(key)
  return true
}
