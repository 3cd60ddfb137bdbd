// A real Prometheus server (Debian's) scraping spoke. The scrape job is k8s/prometheus/scrape-config.yaml
// itself; only its Kubernetes service discovery is swapped for a file listing what Kubernetes
// discovery would report for a pod that `spoke inject` prepared (its annotations as
// __meta_kubernetes_pod_annotation_* labels, one target per declared container port), because
// Debian builds Prometheus without Kubernetes discovery. So the annotations inject writes, the
// relabelling, and spoke's /metrics are checked together, end to end. Beside it, two jobs with the
// target labels prometheus-operator gives a PodMonitor's targets, with and without
// k8s/prometheus/podmonitor.yaml's relabelings, show that spoke's `endpoint` label survives them.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { injectManifests } from '../src/inject/inject.ts'
import { request, singleConnectionAgent, startCluster } from './helpers/harness.ts'

const SCRAPE_CONFIG = new URL('../k8s/prometheus/scrape-config.yaml', import.meta.url)
const PODMONITOR = new URL('../k8s/prometheus/podmonitor.yaml', import.meta.url)
const APP_PORT = 8080

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

interface Sample {
  metric: Record<string, string>
  value: [number, string]
}

/** The label Kubernetes discovery makes of an annotation name (Prometheus' SanitizeLabelName). */
const sanitize = (name: string): string => name.replace(/[^a-zA-Z0-9_]/g, '_')

/** What Prometheus' kubernetes_sd_configs (role: pod) reports for `pod`: one target per container port. */
function discovered(pod: Obj, ip: string): Record<string, string>[] {
  const containers: Obj[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers]
  const annotations: Record<string, string> = pod.metadata.annotations ?? {}
  const common: Record<string, string> = { __meta_kubernetes_namespace: 'default', __meta_kubernetes_pod_name: pod.metadata.name, __meta_kubernetes_pod_ip: ip }
  for (const [k, v] of Object.entries(annotations)) {
    common[`__meta_kubernetes_pod_annotation_${sanitize(k)}`] = v
    common[`__meta_kubernetes_pod_annotationpresent_${sanitize(k)}`] = 'true'
  }
  return containers.flatMap((c) => (c.ports ?? []).map((p: Obj) => ({
    ...common, __address__: `${ip}:${p.containerPort}`, __meta_kubernetes_pod_container_name: c.name,
  })))
}

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), out: stdout + stderr }))
  })
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

t.test('Prometheus finds spoke by the injected annotations, scrapes it (up == 1) and stores spoke_requests_total with its labels', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'spoke-prometheus-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const cluster = await startCluster({ pods: 2 })
  t.teardown(() => cluster.close())
  const adminPort = cluster.spoke.admin.address!.port

  // Two pods as the cluster would list them: one injected (with spoke's admin port of this test),
  // one not. The second must be dropped by the job's `keep` rule.
  const app = `apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers:
    - name: app
      image: app:1
      ports: [{name: http, containerPort: ${APP_PORT}}]
`
  const injected = injectManifests(app.replace('NAME', 'client-0'), { image: 'spoke:test', configMap: 'spoke-config', adminPort, classic: false })
  const [pod] = parseAllDocuments(injected.output).map((d) => d.toJS() as Obj)
  const [plain] = parseAllDocuments(app.replace('NAME', 'other-0')).map((d) => d.toJS() as Obj)
  const targets = [...discovered(pod, '127.0.0.1'), ...discovered(plain, '127.0.0.1')]
  t.equal(targets.length, 3, 'the app and spoke-admin ports of the injected pod, the app port of the other')
  writeFileSync(join(tmp, 'targets.json'), JSON.stringify([...targets.map((labels) => ({ targets: [labels.__address__], labels: Object.fromEntries(Object.entries(labels).filter(([k]) => k !== '__address__')) }))]))

  const [job] = (parse(readFileSync(SCRAPE_CONFIG, 'utf8')) as { scrape_configs: Obj[] }).scrape_configs
  t.same(job.kubernetes_sd_configs, [{ role: 'pod' }], 'the job discovers pods')
  const { kubernetes_sd_configs: _, ...rest } = job
  // What prometheus-operator makes of the PodMonitor, for its labels: the target labels it sets
  // (endpoint is the port's name), then the PodMonitor's own relabelings; and the same without
  // them, to show what they prevent.
  const [endpoint] = (parse(readFileSync(PODMONITOR, 'utf8')) as Obj).spec.podMetricsEndpoints
  const operatorJob = (name: string, relabelings: Obj[]): Obj => ({
    job_name: name,
    static_configs: [{ targets: [`127.0.0.1:${adminPort}`], labels: { namespace: 'default', pod: 'client-0' } }],
    relabel_configs: [{ target_label: 'endpoint', replacement: endpoint.port }, ...relabelings],
  })
  const config = join(tmp, 'prometheus.yml')
  writeFileSync(config, stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      { ...rest, file_sd_configs: [{ files: [join(tmp, 'targets.json')], refresh_interval: '1s' }] },
      operatorJob('podmonitor', endpoint.relabelings ?? []),
      operatorJob('podmonitor-without-relabelings', []),
    ],
  }))
  const check = await promtool(['check', 'config', config])
  t.equal(check.code, 0, `promtool check config: ${check.out}`)

  const prometheus: ChildProcess = spawn('prometheus', [
    `--config.file=${config}`, `--storage.tsdb.path=${join(tmp, 'data')}`, '--web.listen-address=127.0.0.1:0', '--log.level=info',
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  prometheus.stderr!.on('data', (c: Buffer) => { log += c })
  const exited = new Promise<void>((resolve) => prometheus.on('exit', () => resolve()))
  t.teardown(async () => {
    if (prometheus.exitCode !== null || prometheus.signalCode !== null) return
    prometheus.kill('SIGTERM')
    const killer = setTimeout(() => prometheus.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(killer)
  })
  const api = await until('Prometheus to listen', 15_000, async () => {
    if (prometheus.exitCode !== null) throw new Error(`prometheus exited: ${log}`)
    const address = /msg="Listening on" address=(\S+)/.exec(log)?.[1]
    return address === undefined ? undefined : `http://${address}/api/v1`
  }).catch((err: Error) => { throw new Error(`${err.message}: ${log}`) })
  const query = async (q: string): Promise<Sample[]> => {
    const body = await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json() as { status: string; data: { result: Sample[] } }
    if (body.status !== 'success') throw new Error(JSON.stringify(body))
    return body.data.result
  }

  const up = await until('a scrape of spoke', 20_000, async () => {
    const r = await query('up{job="kubernetes-pods"}')
    return r.length > 0 ? r : undefined
  })
  t.same(up.map((s) => [s.metric, s.value[1]]), [[{
    __name__: 'up', job: 'kubernetes-pods', instance: `127.0.0.1:${adminPort}`, namespace: 'default', pod: 'client-0',
  }, '1']], 'one target, spoke\'s admin port (the app port was rewritten to it, and the other pod dropped): up == 1')

  const agent = singleConnectionAgent()
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 20; i++) await request(`${cluster.url}/`, { agent })
  for (let i = 0; i < 3; i++) await request(`${cluster.url}/status/503`, { agent })
  const counted = await until('the traffic in a scrape', 20_000, async () => {
    const r = await query('spoke_requests_total{job="kubernetes-pods"}')
    const total = r.reduce((n, s) => n + Number(s.value[1]), 0)
    return total === 23 ? r : undefined
  })
  const series = counted.map((s): Record<string, string> => ({ ...s.metric, value: s.value[1] })).sort((a, b) => a.code.localeCompare(b.code))
  const labels = { __name__: 'spoke_requests_total', job: 'kubernetes-pods', instance: `127.0.0.1:${adminPort}`, namespace: 'default', pod: 'client-0', listener: 'orders', upstream: 'orders' }
  t.same(series, [{ ...labels, code: '200', value: '20' }, { ...labels, code: '503', value: '3' }])

  const podAddresses = cluster.pods.map((p) => `${p.host}:${p.port}`).sort()
  // Each job scrapes on its own clock: wait until its scrapes hold every pod's series.
  const byLabels = async (job: string, labels: string[]): Promise<string[][]> => until(`${job}'s scrape of every pod`, 20_000, async () => {
    const r = await query(`sum by (${labels.join(', ')}) (spoke_endpoint_requests_total{job="${job}"})`)
    return r.length === podAddresses.length ? r.map((s) => labels.map((l) => s.metric[l])).sort() : undefined
  })
  for (const job of ['kubernetes-pods', 'podmonitor']) {
    t.same(await byLabels(job, ['endpoint']), podAddresses.map((a) => [a]), `${job}: a series per pod behind spoke, by endpoint`)
  }
  t.same(await byLabels('podmonitor-without-relabelings', ['endpoint', 'exported_endpoint']), podAddresses.map((a) => [endpoint.port, a]),
    'without the PodMonitor\'s relabelings, the operator\'s endpoint label pushes spoke\'s aside')

  const targetsApi = await (await fetch(`${api}/targets`)).json() as { data: { activeTargets: Obj[]; droppedTargets: Obj[] } }
  t.equal(targetsApi.data.activeTargets.filter((a) => a.labels.job === 'kubernetes-pods').length, 1)
  t.ok(targetsApi.data.droppedTargets.some((d) => d.discoveredLabels.__meta_kubernetes_pod_name === 'other-0'), 'the pod without annotations is dropped')
})
