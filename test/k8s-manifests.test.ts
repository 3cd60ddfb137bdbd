// k8s/ as a cluster would take it: every object valid against the Kubernetes schemas (unknown
// fields included), every spoke.yaml valid for spoke, every name that one object uses to find
// another (Service selectors, serviceName, ConfigMap volumes, the upstreams' FQDNs and ports,
// the admin port in probes, annotations and the PodMonitor) pointing at something that exists,
// and the sidecars exactly what `spoke inject` writes.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { validateConfig } from '../src/config/validate.ts'
import { checksumOf } from '../src/inject/config.ts'
import { injectManifests } from '../src/inject/inject.ts'
import { ADMIN_PORT_NAME, DEFAULT_ADMIN_PORT, DEFAULT_CONFIGMAP, defaultImage, INJECTED_LABEL, SIDECAR_NAME } from '../src/inject/sidecar.ts'
import { validateObject } from './helpers/k8s-schema.ts'
import { startCluster } from './helpers/harness.ts'
import { startPods } from '../src/demo/pod.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const K8S = join(REPO, 'k8s')
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version
/** Applied on their own: they need prometheus-operator's CRDs. */
const OPERATOR_FILES = ['prometheus/podmonitor.yaml', 'prometheus/rules.yaml']
const OPERATOR_KINDS = ['PodMonitor', 'PrometheusRule']

// Loose shapes: the schemas are checked by validateObject, these only read them.
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function kustomizationFiles(dir: string): string[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
  return k.resources.flatMap((r) => (existsSync(join(dir, r, 'kustomization.yaml')) ? kustomizationFiles(join(dir, r)) : [join(dir, r)]))
}

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0].message}`)
    return d.toJS() as Obj
  }).filter((o) => o !== null)
}

const files = [...kustomizationFiles(K8S), ...OPERATOR_FILES.map((f) => join(K8S, f))]
const objects = files.flatMap(load)
const id = (o: Obj): string => `${o.kind}/${o.metadata?.name}`
const byKind = (kind: string): Obj[] => objects.filter((o) => o.kind === kind)
const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod']
const podTemplate = (o: Obj): Obj => (o.kind === 'Pod' ? o : o.spec.template)
const workloads = objects.filter((o) => WORKLOADS.includes(o.kind))
const withSidecar = workloads.filter((w) => (podTemplate(w).spec.initContainers ?? []).some((c: Obj) => c.name === SIDECAR_NAME))
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v)

t.test('every object in k8s/ is valid against the Kubernetes API schemas, with no unknown field', async (t) => {
  for (const o of objects) t.same(validateObject(o), [], id(o))
})

t.test('the schemas know native sidecars, and the check fails on a bad type or an unknown field', async (t) => {
  const pod = (init: Obj): Obj => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { initContainers: [init], containers: [{ name: 'app', image: 'x' }] } })
  t.same(validateObject(pod({ name: 's', image: 'x', restartPolicy: 'Always' })), [], 'initContainers[].restartPolicy exists (Kubernetes >= 1.29)')
  t.same(validateObject(pod({ name: 's', image: 'x', restartPolcy: 'Always' })), ['/spec/initContainers/0/restartPolcy: unknown field'])
  t.match(validateObject(pod({ name: 's', image: 'x', ports: [{ containerPort: 'admin' }] })), [/containerPort: must be integer/])
  t.match(validateObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: { name: 'm' }, spec: { selector: {}, podMetricsEndpoints: [{ port: 'p', interval: 'often' }] } }), [/interval: must match pattern/])
  const alert = (r: Obj): Obj => ({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'r' }, spec: { groups: [{ name: 'g', rules: [r] }] } })
  t.same(validateObject(alert({ alert: 'A', expr: 'up == 0', for: '1m' })), [])
  t.match(validateObject(alert({ alert: 'A', expr: 'up == 0', for: 'soon' })), [/for: must match pattern/])
  t.same(validateObject(alert({ alert: 'A', expr: 'up == 0', fro: '1m' })), ['/spec/groups/0/rules/0/fro: unknown field'])
})

// kubectl is on this project's machines (not from Debian's archive); kustomize is built into it.
const kustomized = spawnSync('kubectl', ['kustomize', K8S], { encoding: 'utf8' })
t.test('kubectl kustomize renders exactly the objects of the listed files', {
  skip: kustomized.error === undefined ? false : `kubectl is not installed (${kustomized.error.message})`,
}, async (t) => {
  t.equal(kustomized.status, 0, kustomized.stderr)
  const names = parseAllDocuments(kustomized.stdout).map((d) => id(d.toJS() as Obj)).sort()
  t.same(names, objects.filter((o) => !OPERATOR_KINDS.includes(o.kind)).map(id).sort())
})

t.test('every ConfigMap\'s spoke.yaml passes spoke\'s own validation', async (t) => {
  const configMaps = byKind('ConfigMap').filter((c) => typeof c.data?.['spoke.yaml'] === 'string')
  t.equal(configMaps.length, 3)
  for (const cm of configMaps) {
    const doc: unknown = parse(cm.data['spoke.yaml'])
    const result = validateConfig(doc)
    t.same(result.ok ? [] : result.errors, [], `${id(cm)}: spoke check`)
  }
})

t.test('the sidecars: native, probed on /ready and /healthz, bounded, locked down, and what spoke inject writes', async (t) => {
  t.same(withSidecar.map(id).sort(), ['Deployment/cache-client', 'Deployment/client', 'Job/cache-invalidate'])
  for (const w of withSidecar) {
    const spec = podTemplate(w).spec
    const s = spec.initContainers[0]
    t.equal(s.name, SIDECAR_NAME, `${id(w)}: spoke is the first init container`)
    t.equal(s.restartPolicy, 'Always', 'a native sidecar')
    t.equal(s.image, defaultImage(VERSION), 'the image of this version')
    t.same([s.startupProbe.httpGet.path, s.readinessProbe.httpGet.path, s.livenessProbe.httpGet.path], ['/ready', '/ready', '/healthz'])
    t.ok(s.resources.requests.cpu && s.resources.requests.memory && s.resources.limits.memory, 'requests and a memory limit')
    t.match(s.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
    t.notOk(spec.containers.some((c: Obj) => c.name === SIDECAR_NAME), 'not also a classic container')
  }
  for (const file of files.filter((f) => !OPERATOR_FILES.some((o) => f.endsWith(o)))) {
    const text = readFileSync(file, 'utf8')
    const { output, outcomes } = injectManifests(text, { image: defaultImage(VERSION), configMap: DEFAULT_CONFIGMAP, adminPort: DEFAULT_ADMIN_PORT, classic: false })
    t.equal(output, text, `spoke inject changes nothing in ${file.slice(REPO.length)} (after a version bump, run it over k8s/*.yaml)`)
    t.notOk(outcomes.some((o) => o.result === 'injected'))
  }
})

t.test('each file is what `spoke inject --config` writes with its ConfigMap\'s spoke.yaml: the checksums are current', async (t) => {
  for (const file of files.filter((f) => !OPERATOR_FILES.some((o) => f.endsWith(o)))) {
    const text = readFileSync(file, 'utf8')
    const mine = load(file).filter((o) => withSidecar.some((w) => id(w) === id(o)))
    for (const w of mine) {
      const name = podTemplate(w).spec.volumes.find((v: Obj) => v.name === 'spoke-config').configMap.name
      const config = load(file).find((o) => o.kind === 'ConfigMap' && o.metadata.name === name)?.data['spoke.yaml']
      t.equal(podTemplate(w).metadata.annotations['spoke.io/config-checksum'], checksumOf(config), `${id(w)}: the checksum of ${name}`)
      const ship = { text: config, checksum: checksumOf(config), name }
      const { output } = injectManifests(text, { image: defaultImage(VERSION), configMap: DEFAULT_CONFIGMAP, adminPort: DEFAULT_ADMIN_PORT, classic: false }, ship)
      t.equal(output, text, `spoke inject --config changes nothing in ${file.slice(REPO.length)}`)
    }
  }
})

t.test('every configMap volume names a ConfigMap in k8s/', async (t) => {
  for (const w of workloads) {
    for (const v of (podTemplate(w).spec.volumes ?? []).filter((x: Obj) => x.configMap !== undefined)) {
      t.ok(byKind('ConfigMap').some((c) => c.metadata.name === v.configMap.name), `${id(w)}: ${v.configMap.name}`)
    }
  }
})

// The client of client.yaml, run here for real: its one keep-alive connection straight to the
// pods goes to one of them; the same client through spoke gets answers from all of them.
t.test('client.yaml\'s client keeps one connection: one pod without spoke, every pod with it', async (t) => {
  const script = byKind('ConfigMap').find((c) => c.metadata.name === 'client-script')?.data['client.mjs'] as string
  const dir = mkdtempSync(join(tmpdir(), 'spoke-k8s-client-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'client.mjs'), script)
  const run = (target: string): Promise<string[]> => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(dir, 'client.mjs')], { env: { ...process.env, TARGET: target, INTERVAL_MS: '20', COUNT: '30' }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c })
    const timer = setTimeout(() => child.kill(), 60_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out.trim().split('\n'))
      else reject(new Error(`client exited ${code}: ${out}`))
    })
  })
  const answered = (lines: string[]): string[] => [...new Set(lines.filter((l) => !l.startsWith('--')))].sort()

  const [pod] = await startPods(1)
  t.teardown(() => pod.close())
  const direct = await run(`http://${pod.host}:${pod.port}/hostname`)
  t.same(answered(direct), [pod.name])
  t.equal(pod.connections, 1, 'thirty requests, one TCP connection: every request goes where it goes')
  t.match(direct.at(-1) ?? '', /TCP connections opened so far: 1$/)

  const cluster = await startCluster({ pods: 3, upstream: { policy: 'round_robin' } })
  t.teardown(() => cluster.close())
  const through = await run(`${cluster.url}/hostname`)
  t.same(answered(through), cluster.pods.map((p) => p.name).sort(), 'one connection to spoke, answers from every pod')
  t.match(through.at(-1) ?? '', /TCP connections opened so far: 1$/)
  for (const p of cluster.pods) t.ok(p.requests >= 5, `${p.name}: ${p.requests} of 30`)
})

t.test('every reference resolves: selectors, serviceName, volumes, upstream FQDNs and ports, admin port', async (t) => {
  const services = byKind('Service')
  for (const w of workloads) {
    if (w.kind !== 'Pod' && w.kind !== 'Job') t.ok(matches(w.spec.selector.matchLabels, podTemplate(w).metadata.labels), `${id(w)}: its selector matches its pods`)
  }
  for (const svc of services) {
    const selected = workloads.filter((w) => matches(svc.spec.selector, podTemplate(w).metadata?.labels))
    t.equal(selected.length, 1, `${id(svc)} selects one workload's pods`)
    const ports = selected.flatMap((w) => podTemplate(w).spec.containers.flatMap((c: Obj) => c.ports ?? []))
    for (const p of svc.spec.ports) {
      t.ok(ports.some((cp: Obj) => cp.name === p.targetPort || cp.containerPort === p.targetPort), `${id(svc)} port ${p.name}: targetPort ${p.targetPort} is a container port`)
    }
  }
  for (const sts of byKind('StatefulSet')) {
    // A serviceName that names no headless Service selecting these pods leaves them without
    // per-pod DNS names, silently.
    const svc = services.find((s) => s.metadata.name === sts.spec.serviceName)
    t.ok(svc, `${id(sts)}: serviceName ${sts.spec.serviceName} is a Service`)
    t.equal(svc?.spec.clusterIP, 'None', 'a headless one')
    t.ok(svc && matches(svc.spec.selector, sts.spec.template.metadata.labels), 'selecting the StatefulSet\'s pods')
  }

  for (const w of withSidecar) {
    const tpl = podTemplate(w)
    const sidecar = tpl.spec.initContainers.find((c: Obj) => c.name === SIDECAR_NAME)
    const mount = sidecar.volumeMounts[0]
    const volume = tpl.spec.volumes.find((v: Obj) => v.name === mount.name)
    const cm = byKind('ConfigMap').find((c) => c.metadata.name === volume?.configMap?.name)
    t.ok(cm?.data?.['spoke.yaml'], `${id(w)}: ConfigMap ${volume?.configMap?.name} exists and holds spoke.yaml`)
    if (cm === undefined) continue
    t.equal(mount.subPath, undefined, 'the directory, whose files kubelet updates (a subPath file never changes)')
    t.same(sidecar.env, [{ name: 'SPOKE_CONFIG', value: `${mount.mountPath}/spoke.yaml` }], 'spoke reads the mounted file')
    const config = validateConfig(parse(cm.data['spoke.yaml']))
    if (!config.ok) continue
    const c = config.config
    const adminPort = sidecar.ports.find((p: Obj) => p.name === ADMIN_PORT_NAME).containerPort
    t.equal(c.admin.address.port, adminPort, 'admin.address has the sidecar\'s admin port')
    t.ok(['0.0.0.0', '::'].includes(c.admin.address.host), 'and listens where kubelet and Prometheus reach it')
    t.equal(tpl.metadata.annotations['prometheus.io/port'], String(adminPort), 'the scrape annotation names it')
    for (const l of c.listeners) t.equal(l.address.host, '127.0.0.1', `listener ${l.name} is for the app in the pod only`)
    for (const u of c.upstreams) {
      const [name, namespace, ...rest] = u.service.split('.')
      t.same([namespace, rest.join('.')], ['default', 'svc.cluster.local'], `${u.name}: a Service FQDN in the default namespace`)
      const svc = services.find((s) => s.metadata.name === name)
      t.equal(svc?.spec.clusterIP, 'None', `${u.name}: ${u.service} is a headless Service here`)
      if (u.portName !== null) t.ok(svc?.spec.ports.some((p: Obj) => p.name === u.portName), `${u.name}: the Service has port ${u.portName}`)
      else t.ok(svc?.spec.ports.some((p: Obj) => p.port === u.port), `${u.name}: the Service has port ${u.port}`)
      if (u.policy === 'ordinal') {
        const sts = byKind('StatefulSet').find((s) => s.spec.serviceName === name)
        t.equal(u.replicas, sts?.spec.replicas, `${u.name}: replicas is the StatefulSet's`)
      }
    }
  }

  const [pm] = byKind('PodMonitor')
  for (const w of withSidecar) {
    t.equal(podTemplate(w).metadata.labels[INJECTED_LABEL], 'true')
    t.ok(matches(pm.spec.selector.matchLabels, podTemplate(w).metadata.labels), `the PodMonitor selects ${id(w)}'s pods`)
  }
  t.same(pm.spec.podMetricsEndpoints.map((e: Obj) => [e.port, e.path]), [[ADMIN_PORT_NAME, '/metrics']])
  // prometheus-operator sets the target label endpoint=<port name>; spoke's own `endpoint` label
  // would lose to it (renamed exported_endpoint) unless it is dropped.
  t.same(pm.spec.podMetricsEndpoints[0].relabelings, [{ action: 'labeldrop', regex: 'endpoint' }])
})
