// What the alerts and the dashboard may name: the metrics spoke exports (read from the registry
// itself, fed one of everything so that every series shows its labels), the SPEC §8 metrics not
// exported yet, and the labels Prometheus adds to a scraped pod. An expression that names a
// metric or a label outside that catalogue is a typo, or a metric that was renamed under it.
import { execFile } from 'node:child_process'
import { LatencyHistogram } from '../../src/metrics/histogram.ts'
import { createRegistry, type EndpointSource, type ListenerSource, type UpstreamSource } from '../../src/metrics/registry.ts'

export interface MetricEntry {
  readonly type: string
  readonly labels: ReadonlySet<string>
}

/**
 * SPEC v2 §8 metrics that src/metrics/registry.ts does not export yet. An entry here is used only
 * while the registry lacks the name; once it exports it, the registry's own labels count.
 */
export const SPEC_NOT_YET_EXPORTED: Readonly<Record<string, { type: string; labels: string[] }>> = {
  spoke_grpc_responses_total: { type: 'counter', labels: ['listener', 'upstream', 'grpc_status'] },
  spoke_config_reloads_total: { type: 'counter', labels: ['result'] },
  spoke_build_info: { type: 'gauge', labels: ['version', 'node_version'] },
}

/** Added to every series by the scrape (k8s/prometheus/podmonitor.yaml and scrape-config.yaml). */
export const TARGET_LABELS: readonly string[] = ['namespace', 'pod', 'container', 'job', 'instance']

export async function exportedMetrics(): Promise<Map<string, MetricEntry>> {
  const duration = new LatencyHistogram()
  duration.observe(0.001)
  const byStatus = new Float64Array(600)
  byStatus[200] = 1
  const byGrpcStatus = new Float64Array(17)
  byGrpcStatus[14] = 1
  const endpoint: EndpointSource = {
    key: '127.0.0.2:8080', state: { tag: 'active' }, statusCounts: byStatus,
    errorCounts: new Map([['connect_failed', 1]]), connections: 1,
  }
  const upstream = (name: string, mode: string): UpstreamSource => ({
    name, config: { mode, protocol: 'http1' }, endpoints: [endpoint], drainingEndpoints: [],
    stats: {
      connectionsOpened: 1, connectionsClosed: new Map([['idle', 1]]), retries: 1, ejections: 1,
      dnsQueries: { success: 1 }, dnsLastSuccess: 1, duration, broadcasts: { success: 1 },
    },
  })
  const listeners: ListenerSource[] = [
    { name: 'orders', upstream: { name: 'orders' }, counts: { byStatus, byGrpcStatus } },
    { name: 'events', upstream: { name: 'events' }, udp: { datagrams: 1, dropped: 1, sendErrors: 1 } },
  ]
  const registry = createRegistry(listeners, [upstream('orders', 'balance'), upstream('events', 'broadcast')])
  const out = new Map<string, MetricEntry>()
  const add = (name: string, type: string, labels: Iterable<string>): void => {
    const known = out.get(name)
    out.set(name, { type, labels: new Set([...(known?.labels ?? []), ...labels]) })
  }
  for (const m of await registry.getMetricsAsJSON()) {
    const values = m.values as { labels: Record<string, unknown>; metricName?: string }[]
    const type = String(m.type)
    add(m.name, type, [])
    for (const v of values) {
      const labels = Object.keys(v.labels)
      if (type === 'histogram') {
        add(m.name, type, labels.filter((l) => l !== 'le'))
        add(v.metricName ?? m.name, 'histogram-series', labels)
      } else {
        add(m.name, type, labels)
      }
    }
  }
  return out
}

export interface Catalogue {
  readonly metrics: ReadonlyMap<string, MetricEntry>
  /** SPEC_NOT_YET_EXPORTED names that the registry lacks, so were taken from SPEC. */
  readonly fromSpec: readonly string[]
}

export async function catalogue(): Promise<Catalogue> {
  const metrics = await exportedMetrics()
  const fromSpec: string[] = []
  for (const [name, entry] of Object.entries(SPEC_NOT_YET_EXPORTED)) {
    if (metrics.has(name)) continue
    metrics.set(name, { type: entry.type, labels: new Set(entry.labels) })
    fromSpec.push(name)
  }
  return { metrics, fromSpec }
}

const AGGREGATIONS = ['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group']
const FUNCTIONS = new Set([
  ...AGGREGATIONS, 'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'changes', 'resets', 'histogram_quantile',
  'timestamp', 'time', 'absent', 'absent_over_time', 'scalar', 'vector', 'clamp', 'clamp_min', 'clamp_max', 'abs', 'round',
  'ceil', 'floor', 'label_replace', 'label_join', 'sort', 'sort_desc', 'max_over_time', 'min_over_time', 'avg_over_time',
  'sum_over_time', 'count_over_time', 'last_over_time', 'quantile_over_time', 'present_over_time',
])
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2'])
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g

/**
 * Problems with the names in one PromQL expression: a metric, function or label that the
 * catalogue does not know. A lexical pass, enough for the expressions of this repository
 * (no label_replace: a label it made would look unknown).
 */
export function expressionProblems(expr: string, known: ReadonlyMap<string, MetricEntry>): string[] {
  const problems: string[] = []
  const used: MetricEntry[] = []
  const labelsUsed: string[] = []
  // Strings out first (a regex value such as "5.." or "2|4" holds no names), then label
  // matchers, then grouping clauses; what remains are metric names, functions and keywords.
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  rest = rest.replace(/\{([^}]*)\}/g, (_, matchers: string) => {
    for (const m of matchers.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) labelsUsed.push(`${m[1]}@matcher`)
    return ' '
  })
  rest = rest.replace(GROUPING, (_, _kw: string, list: string) => {
    for (const l of list.split(',').map((s) => s.trim()).filter((s) => s !== '')) labelsUsed.push(l)
    return ' '
  })
  rest = rest.replace(/\[[^\]]*\]/g, ' ')
  for (const m of rest.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m
    if (call !== undefined && !KEYWORDS.has(name)) {
      if (!FUNCTIONS.has(name)) problems.push(`unknown function ${name}`)
      continue
    }
    if (KEYWORDS.has(name) || AGGREGATIONS.includes(name)) continue
    if (/^(e|Inf|NaN)$/i.test(name)) continue
    const entry = known.get(name)
    if (entry === undefined) problems.push(`unknown metric ${name}`)
    else used.push(entry)
  }
  // An unknown metric makes every label look unknown: say the one thing that is wrong.
  if (problems.length > 0) return problems
  const allowed = new Set([...TARGET_LABELS, '__name__', ...used.flatMap((e) => [...e.labels])])
  for (const l of labelsUsed) {
    const label = l.replace(/@matcher$/, '')
    if (!allowed.has(label)) problems.push(`label ${label} is not a label of ${used.length === 0 ? 'any metric here' : 'the metrics used'}`)
  }
  // Per selector, a matcher must belong to that metric: `spoke_retries_total{code="503"}`
  // would select nothing, even where another metric of the expression has `code`.
  for (const s of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    const entry = known.get(s[1])
    if (entry === undefined) continue
    for (const m of s[2].matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) {
      if (!entry.labels.has(m[1]) && !TARGET_LABELS.includes(m[1])) problems.push(`${s[1]} has no label ${m[1]}`)
    }
  }
  return problems
}

export function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, out: stdout + stderr })
      // A number: promtool's exit status; a string (ENOENT): it could not be started.
      const code = (err as { code?: number | string }).code
      resolve(typeof code === 'number' ? { code, out: stdout + stderr } : { code: -1, out: err.message })
    })
  })
}

/** Why promtool cannot run here, or null when it can. */
export async function promtoolMissing(): Promise<string | null> {
  const r = await promtool(['--version'])
  return r.code === 0 ? null : `promtool is not installed (Debian package prometheus; .ci/run installs it): ${r.out.trim()}`
}
