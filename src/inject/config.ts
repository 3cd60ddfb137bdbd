// `spoke inject --config`: the spoke.yaml a pod will run, read and judged for a pod. The file is
// validated as `spoke check` does; then what only matters inside Kubernetes is checked: kubelet's
// probes and Prometheus connect to the pod IP, so the admin port must listen on every address,
// while the listeners are the app's and should stay on loopback.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIPv4 } from 'node:net'
import { loadConfigFile } from '../config/load.ts'
import { formatConfigError } from '../config/check.ts'
import type { HostPort } from '../config/types.ts'
import { formatHostPort } from '../net.ts'

export interface PodConfig {
  /** The file as written, comments and all: what goes into the ConfigMap. */
  readonly text: string
  /** sha256 of `text`, for the pod template's annotation: a changed file rolls the pods. */
  readonly checksum: string
  readonly adminPort: number
  /** Things that work but are probably not meant (a listener open to the cluster). */
  readonly warnings: readonly string[]
}

/** Every problem, one line each (`spoke check`'s lines for an invalid file). */
export type PodConfigResult = { readonly ok: true; readonly config: PodConfig } | { readonly ok: false; readonly problems: readonly string[] }

export function readPodConfig(path: string): PodConfigResult {
  const result = loadConfigFile(path)
  if (!result.ok) return { ok: false, problems: result.errors.map((e) => formatConfigError(path, e)) }
  const { admin, listeners } = result.config
  const unreachable = adminProblem(admin.address)
  if (unreachable !== null) return { ok: false, problems: [`${path}: admin.address ${formatHostPort(admin.address.host, admin.address.port)} ${unreachable}`] }
  // Read again for the bytes: loadConfigFile has checked size and encoding, and returns no text.
  const text = readFileSync(path, 'utf8')
  const warnings = listeners.flatMap((l, i) => (isLoopback(l.address.host) ? [] : [
    `${path}: listeners[${i}].address ${formatHostPort(l.address.host, l.address.port)} accepts connections from the whole cluster, not only from the app in the pod; use ${loopbackLike(l.address)}`,
  ]))
  return { ok: true, config: { text, checksum: checksumOf(text), adminPort: admin.address.port, warnings } }
}

export function checksumOf(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Why kubelet could not reach spoke's admin port at this address, or null. */
function adminProblem({ host, port }: HostPort): string | null {
  const wildcard = `${host.includes(':') ? '[::]' : '0.0.0.0'}:${port === 0 ? 9901 : port}`
  if (isLoopback(host)) return `is loopback: kubelet's probes and Prometheus connect to the pod IP; use ${wildcard}`
  if (host !== '0.0.0.0' && host !== '::') return `is one fixed address, and a pod's IP is known only once it runs; use ${wildcard}`
  if (port === 0) return `has port 0 (any free port): the probes need a fixed one; use ${wildcard}`
  return null
}

function isLoopback(host: string): boolean {
  const v4 = host.toLowerCase().startsWith('::ffff:') ? host.slice(7) : host
  return isIPv4(v4) ? v4.startsWith('127.') : host === '::1'
}

function loopbackLike({ host, port }: HostPort): string {
  return host.includes(':') ? `[::1]:${port}` : `127.0.0.1:${port}`
}
