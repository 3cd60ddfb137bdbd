// The Grafana dashboard k8s/grafana/spoke-dashboard.json: every panel on the chosen data source and
// filtered by the namespace, pod and upstream variables; every query naming only metrics and
// labels spoke exports (or SPEC §8 lists), valid PromQL for promtool, and returning data when
// evaluated by promtool over series shaped like spoke's (so a matcher that can never match, such
// as code="5xx", fails too). A real Prometheus run of the same queries: bench/dashboard.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { stringify } from 'yaml'
import { LATENCY_BUCKETS_SECONDS } from '../src/metrics/histogram.ts'
import { catalogue, expressionProblems, type MetricEntry, promtool, promtoolMissing, TARGET_LABELS } from './helpers/promql.ts'

const DASHBOARD = new URL('../k8s/grafana/spoke-dashboard.json', import.meta.url)

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Obj
const variables: Obj[] = dashboard.templating.list
const panels: Obj[] = (dashboard.panels as Obj[]).flatMap((p) => [p, ...(p.panels ?? [])])
const graphs = panels.filter((p) => p.type !== 'row')
const queries = graphs.flatMap((p) => (p.targets as Obj[]).map((q) => ({ panel: p.title as string, id: p.id as number, refId: q.refId as string, expr: q.expr as string })))
/** What Grafana puts in for its own variables, at a 1m scrape interval. */
const BUILT_IN: Record<string, string> = { __rate_interval: '5m', __interval: '1m', __range: '1h' }
const FILTERS = ['namespace', 'pod', 'upstream']
const { metrics, fromSpec } = await catalogue()
const missing = await promtoolMissing()

/** The query as Grafana sends it with "All" selected in every variable. */
function substitute(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    if (name in BUILT_IN) return BUILT_IN[name]
    if (variables.some((v) => v.name === name)) return '.*'
    throw new Error(`${whole} is not a variable of the dashboard`)
  })
}

/** The label_values(selector, label) of a query variable. */
function labelValues(v: Obj): { selector: string; label: string } {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query)
  if (m === null) throw new Error(`variable ${v.name}: not label_values(…): ${v.query}`)
  return { selector: m[1], label: m[2] }
}

t.test('the dashboard: a data source variable, namespace, pod and upstream variables, every panel on them', async (t) => {
  t.equal(dashboard.uid, 'spoke-sidecar')
  const ds = variables.find((v) => v.name === 'datasource')
  t.match(ds, { type: 'datasource', query: 'prometheus' })
  for (const name of FILTERS) {
    const v = variables.find((x) => x.name === name)
    t.match(v, { type: 'query', multi: true, includeAll: true, allValue: '.*', datasource: { uid: '${datasource}' } }, `variable ${name}`)
    t.equal(labelValues(v!).label, name)
  }
  t.ok(graphs.length >= 12, `${graphs.length} panels`)
  t.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique')
  for (const p of graphs) {
    t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: on the chosen data source`)
    t.ok(p.targets.length > 0 && p.targets.every((q: Obj) => typeof q.expr === 'string' && q.expr.length > 0), `${p.title}: queries`)
    t.equal(new Set(p.targets.map((q: Obj) => q.refId)).size, p.targets.length, `${p.title}: distinct refIds`)
    t.ok(typeof p.description === 'string' && p.description.length > 20, `${p.title}: says what it shows`)
  }
  // Panels tile the 24-column grid without overlapping.
  const owner = new Map<string, string>()
  const clashes: string[] = []
  for (const p of panels) {
    const { x, y, w, h } = p.gridPos
    if (x < 0 || x + w > 24) clashes.push(`${p.title}: outside the grid`)
    for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
      const other = owner.get(`${i},${j}`)
      if (other !== undefined) clashes.push(`${p.title} overlaps ${other} at ${i},${j}`)
      owner.set(`${i},${j}`, p.title)
    }
  }
  t.same([...new Set(clashes)].slice(0, 5), [], 'panels overlap nothing')
})

t.test('every selector is filtered by the variables, with =~ (they are multi-value)', async (t) => {
  for (const q of queries) {
    for (const s of q.expr.matchAll(/\b(spoke_\w+)\s*\{([^}]*)\}|\b(spoke_\w+)\b(?!\s*\{)/g)) {
      const name = s[1] ?? s[3]
      const entry = metrics.get(name)
      if (entry === undefined) continue // reported by the next test
      const matchers = s[2] ?? ''
      for (const label of FILTERS.filter((l) => TARGET_LABELS.includes(l) || entry.labels.has(l))) {
        t.match(matchers, `${label}=~"$${label}"`, `${q.panel} ${q.refId}: ${name} filtered by $${label}`)
      }
    }
    for (const m of q.expr.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"\$\{?(\w+)\}?"/g)) t.equal(m[2], '=~', `${q.panel}: ${m[1]} matches $${m[3]} as a regex`)
  }
})

t.test('every metric and label the queries use is one spoke exports or SPEC §8 lists', async (t) => {
  if (fromSpec.length > 0) t.comment(`taken from SPEC §8, not exported yet: ${fromSpec.join(', ')}`)
  for (const q of queries) t.same(expressionProblems(substitute(q.expr), metrics), [], `${q.panel} ${q.refId}`)
  for (const v of variables.filter((x) => x.type === 'query')) {
    const { selector, label } = labelValues(v)
    t.same(expressionProblems(`count by (${label}) (${substitute(selector)})`, metrics), [], `variable ${v.name}`)
  }
})

/** Series of every metric the queries use, with each label taking a few values spoke gives it. */
function syntheticSeries(used: ReadonlyMap<string, MetricEntry>): { series: string; values: string }[] {
  const VALUES: Record<string, string[]> = {
    code: ['200', '503', 'connect_failed'], grpc_status: ['0', '14'], state: ['active', 'ejected', 'draining'],
    reason: ['idle', 'error'], result: ['success', 'error', 'failure'], endpoint: ['127.0.0.2:8080', '127.0.0.3:8080'],
    version: ['0.1.0'], node_version: ['v24.21.0'],
  }
  const target = { namespace: 'default', pod: 'client-0' }
  const combinations = (labels: string[]): Record<string, string>[] => labels.reduce<Record<string, string>[]>(
    (acc, l) => acc.flatMap((c) => (VALUES[l] ?? ['orders']).map((v) => ({ ...c, [l]: v }))), [target])
  const text = (name: string, labels: Record<string, string>): string => `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(', ')}}`
  const out: { series: string; values: string }[] = []
  for (const [name, entry] of used) {
    const labels = [...entry.labels]
    for (const c of combinations(labels)) {
      if (entry.type === 'histogram') {
        // Cumulative buckets: each le holds at least what the one below holds.
        const les = [...LATENCY_BUCKETS_SECONDS.map(String), '+Inf']
        les.forEach((le, i) => out.push({ series: text(`${name}_bucket`, { ...c, le }), values: `0+${i + 1}x20` }))
        out.push({ series: text(`${name}_count`, c), values: `0+${les.length}x20` })
        out.push({ series: text(`${name}_sum`, c), values: '0+1x20' })
      } else if (name === 'spoke_dns_last_success_timestamp_seconds') {
        out.push({ series: text(name, c), values: '0+60x20' })
      } else {
        out.push({ series: text(name, c), values: entry.type === 'counter' ? '0+10x20' : '1x20' })
      }
    }
  }
  return out
}

async function evaluate(t: Test, exprs: string[]): Promise<{ code: number; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-dashboard-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const used = new Map([...metrics].filter(([name]) => exprs.some((e) => new RegExp(`\\b${name}(_bucket|_sum|_count)?\\b`).test(e))))
  writeFileSync(join(dir, 'test.yml'), stringify({
    rule_files: [],
    evaluation_interval: '1m',
    tests: [{
      interval: '1m',
      input_series: syntheticSeries(used),
      // absent(q) is empty exactly when q returns something.
      promql_expr_test: exprs.map((expr) => ({ expr: `absent(${expr})`, eval_time: '10m', exp_samples: [] })),
    }],
  }))
  return promtool(['test', 'rules', join(dir, 'test.yml')])
}

t.test('promtool check rules accepts every query (as a recording rule)', { skip: missing ?? false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-dashboard-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const rules = queries.map((q) => ({ record: `dashboard:panel_${q.id}_${q.refId}`, expr: substitute(q.expr) }))
  const variableRules = variables.filter((v) => v.type === 'query').map((v) => ({ record: `dashboard:variable_${v.name}`, expr: substitute(labelValues(v).selector) }))
  writeFileSync(join(dir, 'dashboard.yml'), stringify({ groups: [{ name: 'dashboard', rules: [...rules, ...variableRules] }] }))
  const r = await promtool(['check', 'rules', join(dir, 'dashboard.yml')])
  t.equal(r.code, 0, r.out)
  t.match(r.out, `SUCCESS: ${rules.length + variableRules.length} rules found`)
})

t.test('promtool evaluates every query over series shaped like spoke\'s, and each returns data', { skip: missing ?? false }, async (t) => {
  const exprs = [...queries.map((q) => substitute(q.expr)), ...variables.filter((v) => v.type === 'query').map((v) => substitute(labelValues(v).selector))]
  const r = await evaluate(t, exprs)
  t.equal(r.code, 0, r.out)
  t.match(r.out, 'SUCCESS')
})

t.test('and the evaluation fails for a query that can match nothing', { skip: missing ?? false }, async (t) => {
  const r = await evaluate(t, ['sum by (code) (rate(spoke_requests_total{code=~"5xx"}[5m]))'])
  t.not(r.code, 0)
  t.match(r.out, 'code=~\\"5xx\\"')
})
