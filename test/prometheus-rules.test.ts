// The alerts of k8s/prometheus/rules.yaml: well formed for an operator to act on, naming only
// metrics and labels spoke exports (or SPEC §8 lists), valid for promtool, and each one checked
// by promtool's unit tests (test/fixtures/prometheus/rules.test.yaml) both firing and silent. A
// rule that fires on nothing is caught too: with its expression replaced by one that never
// matches, the unit tests must fail.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse, stringify } from 'yaml'
import { catalogue, expressionProblems, promtool, promtoolMissing } from './helpers/promql.ts'

const RULES = new URL('../k8s/prometheus/rules.yaml', import.meta.url)
const UNIT_TESTS = new URL('./fixtures/prometheus/rules.test.yaml', import.meta.url)

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface RuleFile { groups: { name: string; rules: Rule[] }[] }
interface UnitTests {
  rule_files: string[]
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[]
}

const rule = parse(readFileSync(RULES, 'utf8')) as { kind: string; spec: RuleFile }
const alerts = rule.spec.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => r.alert !== undefined)
const missing = await promtoolMissing()

/** The spec as a rules file beside a copy of the unit tests, in a directory removed at teardown. */
function workdir(t: Test, spec: RuleFile): { dir: string; tests: string } {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const unit = parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests
  writeFileSync(join(dir, unit.rule_files[0]), stringify(spec))
  copyFileSync(UNIT_TESTS, join(dir, 'rules.test.yaml'))
  return { dir, tests: join(dir, 'rules.test.yaml') }
}

t.test('the alerts: the ones asked for, each with a for, a severity, and text naming the sidecar and a way in', async (t) => {
  t.equal(rule.kind, 'PrometheusRule')
  t.same(alerts.map((a) => a.alert).sort(), [
    'SpokeConfigReloadFailed', 'SpokeDNSStale', 'SpokeGrpcErrors', 'SpokeHighErrorRate', 'SpokeNoEndpoints', 'SpokeOutlierEjections',
  ])
  for (const a of alerts) {
    t.match(a.for, /^\d+[smh]$/, `${a.alert}: a for`)
    t.ok(['critical', 'warning'].includes(a.labels?.severity ?? ''), `${a.alert}: severity critical or warning`)
    const text = `${a.annotations?.summary} ${a.annotations?.description}`
    for (const label of ['namespace', 'pod']) t.match(text, `$labels.${label}`, `${a.alert}: says which sidecar (${label})`)
    if (/by \([^)]*upstream/.test(a.expr)) t.match(text, '$labels.upstream', `${a.alert}: says which upstream`)
    t.ok((a.annotations?.runbook ?? '').length > 40, `${a.alert}: a runbook hint`)
  }
})

t.test('every metric and label the alerts use is one spoke exports or SPEC §8 lists', async (t) => {
  const { metrics, fromSpec } = await catalogue()
  if (fromSpec.length > 0) t.comment(`taken from SPEC §8, not exported yet: ${fromSpec.join(', ')}`)
  for (const a of alerts) t.same(expressionProblems(a.expr, metrics), [], a.alert)
})

t.test('the name check catches a misspelt metric, label or function', async (t) => {
  const { metrics } = await catalogue()
  t.same(expressionProblems('sum by (upstream) (rate(spoke_requests_total{code=~"5.."}[5m]))', metrics), [])
  t.same(expressionProblems('sum by (upstream) (rate(spoke_request_total[5m]))', metrics), ['unknown metric spoke_request_total'])
  t.same(expressionProblems('sum by (upstrem) (rate(spoke_requests_total[5m]))', metrics), ['label upstrem is not a label of the metrics used'])
  t.same(expressionProblems('spoke_retries_total{code="503"} + on (namespace) spoke_requests_total', metrics), ['spoke_retries_total has no label code'])
  t.same(expressionProblems('sum(rates(spoke_retries_total[5m]))', metrics), ['unknown function rates'])
  t.same(expressionProblems('histogram_quantile(0.9, sum by (le) (rate(spoke_request_duration_seconds_bucket[1m])))', metrics), [])
})

t.test('promtool check rules accepts the PrometheusRule\'s spec', { skip: missing ?? false }, async (t) => {
  const { dir } = workdir(t, rule.spec)
  const r = await promtool(['check', 'rules', join(dir, 'spoke-rules.yml')])
  t.equal(r.code, 0, r.out)
  t.match(r.out, `SUCCESS: ${alerts.length} rules found`)
})

t.test('promtool test rules: every alert fires where it should and stays silent where it should not', { skip: missing ?? false }, async (t) => {
  const unit = parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests
  const cases = unit.tests.flatMap((c) => c.alert_rule_test ?? [])
  for (const a of alerts) {
    const own = cases.filter((c) => c.alertname === a.alert)
    t.ok(own.some((c) => c.exp_alerts.length > 0), `${a.alert}: a case where it fires`)
    t.ok(own.some((c) => c.exp_alerts.length === 0), `${a.alert}: a case where it does not`)
  }
  const { tests } = workdir(t, rule.spec)
  const r = await promtool(['test', 'rules', tests])
  t.equal(r.code, 0, r.out)
  t.match(r.out, 'SUCCESS')
})

t.test('the unit tests fail for an alert that never fires', { skip: missing ?? false }, async (t) => {
  for (const a of alerts) {
    const broken = structuredClone(rule.spec)
    for (const g of broken.groups) for (const r of g.rules) if (r.alert === a.alert) r.expr = 'vector(0) > 1'
    const { tests } = workdir(t, broken)
    const r = await promtool(['test', 'rules', tests])
    t.not(r.code, 0, `${a.alert} broken: promtool test rules fails`)
    t.match(r.out, `alertname: ${a.alert}`, 'and names it')
  }
})
