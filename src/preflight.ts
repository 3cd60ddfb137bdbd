// `spoke check --resolve` (SPEC §2): "does it work from here?", run in the pod by an operator.
// Each upstream is resolved once through the same discovery code `spoke run` uses, and one
// connection is opened to every pod found, within the upstream's connectTimeout. Nothing is sent
// on those connections: the question is reachability, not what the pods answer.
import { getServers } from 'node:dns'
import { sidecarIdentity } from './balance/subset.ts'
import { mapBounded } from './concurrency.ts'
import { formatConfigError, type TextOut } from './config/check.ts'
import { loadConfigFile } from './config/load.ts'
import type { Config, UpstreamConfig } from './config/types.ts'
import { dnsDiscovery } from './discovery/dns.ts'
import { type DiscoveredEndpoint, type DiscoveryUpdate, endpointKey } from './discovery/types.ts'
import { ConnectError, dial } from './transport/dial.ts'
import { podSubset } from './upstream/pod-subset.ts'

export const EXIT_REACHABLE = 0
export const EXIT_UNREACHABLE = 1
export const EXIT_INVALID_CONFIG = 2

/** Connections opened at once per upstream: a StatefulSet of hundreds is probed in bounded batches. */
const CONNECTS_IN_FLIGHT = 32

export interface PodProbe {
  readonly pod: DiscoveredEndpoint
  /** `connected`, the connect error's errno (ECONNREFUSED, ETIMEDOUT…), or null for UDP pods (not probed). */
  readonly result: string | null
  readonly ms: number
  /** With discovery.subsetSize: whether this sidecar's subset holds the pod (the others get no connection); else null. */
  readonly inSubset: boolean | null
}

export interface UpstreamProbe {
  readonly upstream: UpstreamConfig
  /** How the query ended: pods, none (NXDOMAIN or empty answer), or no answer. */
  readonly dns: { readonly kind: 'found' | 'empty' } | { readonly kind: 'error'; readonly message: string }
  readonly dnsMs: number
  readonly pods: readonly PodProbe[]
  /** Why this upstream would not work, else null. */
  readonly problem: string | null
}

export async function probeUpstream(upstream: UpstreamConfig, dns: Config['dns'], identity: string): Promise<UpstreamProbe> {
  const started = performance.now()
  const update = await resolveOnce(upstream, dns)
  const dnsMs = performance.now() - started
  if (update.kind !== 'reset') {
    const what = queryName(upstream)
    const problem = update.kind === 'empty'
      ? `DNS has no pods for ${what} (NXDOMAIN or an empty answer): check the service name, its namespace and that the Service is headless`
      : `DNS lookup of ${what} failed (asked ${askedServers(dns)}): ${update.error.message}`
    const result = update.kind === 'empty' ? { kind: 'empty' as const } : { kind: 'error' as const, message: update.error.message }
    return { upstream, dns: result, dnsMs, pods: [], problem }
  }
  // Every pod is probed; with subsetting, `spoke run` would use only this identity's subset.
  const size = upstream.discovery.subsetSize
  const subset = size === 0 ? null : new Set(podSubset(update.endpoints, size, identity).chosen)
  const probed = upstream.protocol === 'udp'
    ? update.endpoints.map((pod) => ({ pod, result: null, ms: 0 }))
    : await mapBounded(update.endpoints, CONNECTS_IN_FLIGHT, (pod) => connectOnce(pod, upstream.connection.connectTimeoutMs))
  const pods = probed.map((p) => ({ ...p, inSubset: subset === null ? null : subset.has(p.pod) }))
  const used = pods.filter((p) => p.inSubset !== false)
  const problem = upstream.protocol === 'udp' || used.some((p) => p.result === 'connected')
    ? null
    : `none of the ${used.length} pods${subset === null ? '' : ` in the subset of ${identity}`} accepted a connection on port ${update.endpoints[0].port}`
  return { upstream, dns: { kind: 'found' }, dnsMs, pods, problem }
}

/** One lookup through the discovery `spoke run` uses, so both see the same answer the same way. */
function resolveOnce(upstream: UpstreamConfig, dns: Config['dns']): Promise<DiscoveryUpdate> {
  return new Promise((resolve) => {
    const discovery = dnsDiscovery(upstream, dns, (update) => {
      discovery.close()
      resolve(update)
    })
    discovery.start()
  })
}

async function connectOnce(pod: DiscoveredEndpoint, timeoutMs: number): Promise<Omit<PodProbe, 'inSubset'>> {
  const started = performance.now()
  try {
    // Closed at once: no keepalive.
    const socket = await dial(pod.address, pod.port, { connectTimeoutMs: timeoutMs, keepaliveMs: 0 })
    socket.destroy()
    return { pod, result: 'connected', ms: performance.now() - started }
  } catch (err) {
    const errno = err instanceof ConnectError ? err.errno : (err as Error).message
    return { pod, result: errno, ms: performance.now() - started }
  }
}

/** The servers a lookup went to, as the operator would check them. */
function askedServers(dns: Config['dns']): string {
  const servers = dns.servers.length > 0 ? dns.servers.map((s) => endpointKey(s.host, s.port)) : getServers()
  return servers.length === 0 ? 'no server: resolv.conf lists none' : servers.join(', ')
}

function queryName(upstream: UpstreamConfig): string {
  return upstream.portName === null
    ? upstream.service
    : `_${upstream.portName}._${upstream.protocol === 'udp' ? 'udp' : 'tcp'}.${upstream.service}`
}


// ---- the report

const CONNECT_WORDS: Readonly<Record<string, string>> = {
  connected: 'ok',
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'reset',
}

/** The table an operator reads: per upstream its query, then one row per pod. */
export function formatProbes(probes: readonly UpstreamProbe[]): string {
  const lines: string[] = []
  for (const p of probes) {
    const u = p.upstream
    const verdict = p.problem === null ? 'OK' : 'FAILED'
    const found = p.dns.kind === 'found' ? `${p.pods.length} pod${p.pods.length === 1 ? '' : 's'}` : p.dns.kind === 'empty' ? 'no pods' : 'no answer'
    lines.push(`upstream ${u.name}: ${queryName(u)}${u.port === null ? '' : ` port ${u.port}`} (${u.protocol}): ${found} in ${ms(p.dnsMs)}: ${verdict}`)
    const subsetting = p.pods.some((pod) => pod.inSubset !== null)
    if (subsetting) lines.push(`  subsetSize ${u.discovery.subsetSize}: this sidecar uses the pods marked yes`)
    if (p.pods.length > 0) {
      const rows = p.pods.map((pod) => [
        endpointKey(pod.pod.address, pod.pod.port),
        pod.pod.hostname ?? '-',
        ...(subsetting ? [pod.inSubset === true ? 'yes' : '-'] : []),
        pod.result === null ? 'not probed (udp)' : `${CONNECT_WORDS[pod.result] ?? pod.result}`,
        pod.result === null ? '' : ms(pod.ms),
      ])
      const header = ['POD', 'HOST NAME', ...(subsetting ? ['SUBSET'] : []), 'CONNECT', 'TIME']
      lines.push(...table([header, ...rows]).map((l) => `  ${l}`))
    }
    if (p.problem !== null) lines.push(`  ${p.problem}`)
    lines.push('')
  }
  return lines.join('\n')
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd())
}

/** Exit 0 when every upstream has a pod to send to; 1 with one line per upstream that has none; 2 on an invalid file. */
export async function runResolveCheck(args: { configPath: string; stdout: TextOut; stderr: TextOut }): Promise<number> {
  const loaded = loadConfigFile(args.configPath)
  if (!loaded.ok) {
    args.stderr.write(loaded.errors.map((e) => formatConfigError(args.configPath, e) + '\n').join(''))
    return EXIT_INVALID_CONFIG
  }
  const config = loaded.config
  const identity = sidecarIdentity()
  const probes = await Promise.all(config.upstreams.map((u) => probeUpstream(u, config.dns, identity)))
  args.stdout.write(formatProbes(probes))
  const failed = probes.filter((p) => p.problem !== null)
  args.stderr.write(failed.map((p) => `spoke: upstream ${p.upstream.name}: ${p.problem}\n`).join(''))
  return failed.length === 0 ? EXIT_REACHABLE : EXIT_UNREACHABLE
}
