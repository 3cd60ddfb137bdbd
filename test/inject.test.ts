import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { checksumOf } from '../src/inject/config.ts'
import { injectManifests } from '../src/inject/inject.ts'
import type { SidecarOptions } from '../src/inject/sidecar.ts'
import { validateObject } from './helpers/k8s-schema.ts'

const BIN = new URL('../bin/spoke.js', import.meta.url).pathname
const NATIVE: SidecarOptions = { image: 'ghcr.io/spoke-proxy/spoke:0.1.0', configMap: 'spoke-config', adminPort: 9901, classic: false }

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const objects = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS() as Obj).filter((o) => o !== null)
const podSpec = (o: Obj): Obj => (o.kind === 'Pod' ? o.spec : o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec)
const podMeta = (o: Obj): Obj => (o.kind === 'Pod' ? o.metadata : o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.metadata : o.spec.template.metadata)
const names = (list: Obj[] | undefined): string[] => (list ?? []).map((c) => c.name)

const template = (labels = '{ app: web }'): string => `
  selector:
    matchLabels: ${labels}
  template:
    metadata:
      labels: ${labels}
    spec:
      containers:
        - name: web          # the app
          image: nginx:1.27
`

const EVERY_KIND = `# a stream of everything spoke injects, and some things it does not
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:${template()}---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db${template('{ app: db }')}---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:${template('{ app: agent }')}---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
spec:${template('{ app: rs }')}---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - name: migrate
          image: busybox:1.37
      containers:
        - name: task
          image: busybox:1.37
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: task
              image: busybox:1.37
---
apiVersion: v1
kind: Pod
metadata:
  name: single
spec:
  containers:
    - name: app
      image: busybox:1.37
---
# not a workload: copied as it is
apiVersion: v1
kind: Service
metadata:
  name: web     # keep this comment
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy
  annotations:
    spoke.io/inject: disabled
spec:${template('{ app: legacy }')}`

t.test('every workload kind gets a native sidecar; the result is valid Kubernetes; other documents and comments are kept', async (t) => {
  const { output, outcomes } = injectManifests(EVERY_KIND, NATIVE)
  t.same(outcomes.map((o) => [o.resource, o.result]), [
    ['deployment/web', 'injected'], ['statefulset/db', 'injected'], ['daemonset/agent', 'injected'], ['replicaset/rs', 'injected'],
    ['job/once', 'injected'], ['cronjob/nightly', 'injected'], ['pod/single', 'injected'], ['deployment/legacy', 'skipped'],
  ])
  const out = objects(output)
  t.same(out.map((o) => `${o.kind}/${o.metadata.name}`), objects(EVERY_KIND).map((o) => `${o.kind}/${o.metadata.name}`), 'the same objects, in order')
  for (const o of out) t.same(validateObject(o), [], `${o.kind}/${o.metadata.name} is valid`)
  for (const o of out.filter((x) => x.kind !== 'Service' && x.metadata.name !== 'legacy')) {
    const spec = podSpec(o)
    t.equal(spec.initContainers[0].name, 'spoke', `${o.metadata.name}: spoke is the first init container`)
    t.equal(spec.initContainers[0].restartPolicy, 'Always')
    t.notOk(names(spec.containers).includes('spoke'))
    t.same(spec.volumes, [{ name: 'spoke-config', configMap: { name: 'spoke-config' } }])
    t.same(spec.initContainers[0].volumeMounts, [{ name: 'spoke-config', mountPath: '/etc/spoke', readOnly: true }], 'the directory, not a subPath: kubelet updates it')
    t.same(spec.initContainers[0].env, [{ name: 'SPOKE_CONFIG', value: '/etc/spoke/spoke.yaml' }])
    t.same(spec.initContainers[0].args, ['run'])
    t.notOk('spoke.io/config-checksum' in podMeta(o).annotations, 'no checksum without --config')
    t.match(podMeta(o), {
      labels: { 'spoke.io/injected': 'true' },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9901', 'prometheus.io/path': '/metrics' },
    })
  }
  t.same(names(podSpec(out[4]).initContainers), ['spoke', 'migrate'], 'before the other init containers, which may then use it')
  for (const comment of ['# a stream of everything', '# the app', '# not a workload: copied as it is', '# keep this comment']) {
    t.equal(output.split(comment).length - 1, EVERY_KIND.split(comment).length - 1, `${comment} kept`)
  }
  const untouched = EVERY_KIND.slice(EVERY_KIND.indexOf('---\n# not a workload'))
  t.ok(output.endsWith(untouched), 'the Service and the disabled Deployment, byte for byte')
})

t.test('injecting twice changes nothing', async (t) => {
  for (const options of [NATIVE, { ...NATIVE, classic: true }]) {
    const once = injectManifests(EVERY_KIND, options).output
    const twice = injectManifests(once, options)
    t.equal(twice.output, once, options.classic ? 'classic' : 'native')
    t.notOk(twice.outcomes.some((o) => o.result === 'injected'))
  }
})

t.test('spoke.io/inject: disabled on the pod template skips too', async (t) => {
  const yaml = `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata:
      labels: {app: x}
      annotations: {spoke.io/inject: disabled}
    spec:
      containers: [{name: x, image: x}]
`
  const { output, outcomes } = injectManifests(yaml, NATIVE)
  t.equal(output, yaml)
  t.same(outcomes.map((o) => o.result), ['skipped'])
})

t.test('--classic: the first container, kubectl\'s default container stays the app; switching forms moves the sidecar', async (t) => {
  const classic = injectManifests(EVERY_KIND, { ...NATIVE, classic: true })
  const out = objects(classic.output)
  const web = out[0]
  t.same(names(podSpec(web).containers), ['spoke', 'web'])
  t.equal(podSpec(web).initContainers, undefined, 'no initContainers list is added')
  t.equal(podSpec(web).containers[0].restartPolicy, undefined)
  t.equal(podMeta(web).annotations['kubectl.kubernetes.io/default-container'], 'web')
  for (const o of out) t.same(validateObject(o), [], `${o.kind}/${o.metadata.name} is valid`)
  t.match(classic.outcomes.find((o) => o.resource === 'job/once')?.notes, [/never completes/], 'a classic sidecar in a Job is called out')

  const back = objects(injectManifests(classic.output, NATIVE).output)
  t.same(names(podSpec(back[0]).containers), ['web'], 'native again: out of containers')
  t.same(names(podSpec(back[0]).initContainers), ['spoke'], 'and into initContainers')
  t.same(names(podSpec(back[4]).initContainers), ['spoke', 'migrate'])
})

t.test('flags and the spoke.io/configmap annotation; an outdated sidecar is replaced where it is', async (t) => {
  const options = { image: 'registry.example/spoke:9.9.9', configMap: 'other', adminPort: 9100, classic: false }
  const own = EVERY_KIND.replace('labels: { app: db }\n', 'labels: { app: db }\n      annotations: { spoke.io/configmap: db-spoke }\n')
  const yaml = injectManifests(own, NATIVE).output
  const { output, outcomes } = injectManifests(yaml, options)
  t.notOk(outcomes.some((o) => o.result === 'unchanged'), 'every injected workload was updated')
  const [web, db] = objects(output)
  const spoke = podSpec(web).initContainers[0]
  t.equal(spoke.image, 'registry.example/spoke:9.9.9')
  t.same(spoke.ports, [{ name: 'spoke-admin', containerPort: 9100, protocol: 'TCP' }])
  t.equal(podMeta(web).annotations['prometheus.io/port'], '9100')
  t.equal(podSpec(web).volumes[0].configMap.name, 'other')
  t.equal(podSpec(db).volumes[0].configMap.name, 'db-spoke', 'the pod\'s annotation names its own ConfigMap')
  t.equal(podSpec(db).initContainers.length, 1, 'replaced, not added')
  t.throws(() => injectManifests(own.replace('db-spoke', 'Not_A_Name'), options), { name: 'InjectError', message: /statefulset\/db: annotation spoke.io\/configmap: must be lowercase/ })
})

t.test('an app that uses the prometheus.io annotations keeps them', async (t) => {
  const yaml = EVERY_KIND.replace('labels: { app: web }\n    spec:', 'labels: { app: web }\n      annotations: { prometheus.io/scrape: "true", prometheus.io/port: "8080" }\n    spec:')
  const { output, outcomes } = injectManifests(yaml, NATIVE)
  t.same(podMeta(objects(output)[0]).annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080' })
  t.match(outcomes[0].notes, [/prometheus.io\/port: "8080" as it was; scrape spoke's port 9901 with the PodMonitor/])
})

t.test('kubectl get -o yaml: a List, in kubectl\'s indentation, stays in it', async (t) => {
  const list = `apiVersion: v1
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: shop
  spec:
    selector:
      matchLabels:
        app: web
    template:
      metadata:
        labels:
          app: web
      spec:
        containers:
        - image: nginx:1.27
          name: web
kind: List
metadata:
  resourceVersion: ""
`
  const { output, outcomes } = injectManifests(list, NATIVE)
  t.same(outcomes.map((o) => [o.resource, o.result]), [['deployment/web', 'injected']])
  const [doc] = objects(output)
  t.same(validateObject(doc.items[0]), [])
  t.same(names(podSpec(doc.items[0]).initContainers), ['spoke'])
  t.match(output, /\n {8}initContainers:\n {8}- name: spoke\n/, 'sequences not indented under their key, as kubectl writes them')
})

t.test('input that is not YAML: an InjectError naming line and column', async (t) => {
  t.throws(() => injectManifests('kind: Pod\nmetadata: {name: x\nspec: [', NATIVE), { name: 'InjectError', message: /^line \d+, column \d+: / })
  t.same(injectManifests('# just a comment\n', NATIVE), { output: '# just a comment\n', outcomes: [] })
})

function spoke(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c })
    child.stderr.on('data', (c: Buffer) => { stderr += c })
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin ?? '')
  })
}

t.test('spoke inject on the command line: stdin or -f, summary on stderr, exit 2 for bad input or usage', async (t) => {
  const fromStdin = await spoke(['inject'], EVERY_KIND)
  t.equal(fromStdin.code, 0)
  t.equal(fromStdin.stdout, injectManifests(EVERY_KIND, NATIVE).output, 'stdout is the injected YAML only')
  t.match(fromStdin.stderr, 'deployment/web injected\n')
  t.match(fromStdin.stderr, 'deployment/legacy skipped (spoke.io/inject: disabled)\n')

  const dir = mkdtempSync(join(tmpdir(), 'spoke-inject-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'app.yaml')
  writeFileSync(file, EVERY_KIND)
  const fromFile = await spoke(['inject', '-f', file, '--classic', '--configmap', 'cfg', '--admin-port=9100', '--image', 'x/spoke:1'])
  t.equal(fromFile.code, 0)
  t.equal(fromFile.stdout, injectManifests(EVERY_KIND, { image: 'x/spoke:1', configMap: 'cfg', adminPort: 9100, classic: true }).output)

  const broken = await spoke(['inject'], 'kind: Pod\nspec: [\n')
  t.equal(broken.code, 2)
  t.equal(broken.stdout, '', 'nothing half-written')
  t.match(broken.stderr, /^spoke inject: <stdin>: line \d+, column \d+: /)
  for (const [args, message] of [
    [['inject', '--bogus'], 'unknown option --bogus'],
    [['inject', '--admin-port', '0'], '--admin-port must be a port'],
    [['inject', '--configmap', 'Bad_Name'], '--configmap must be lowercase'],
    [['inject', '-f', '/nonexistent.yaml'], 'cannot read /nonexistent.yaml: file not found'],
  ] as const) {
    const run = await spoke([...args])
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, message)
  }
  const help = await spoke(['inject', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--configmap NAME[\s\S]*default: ghcr\.io\/spoke-proxy\/spoke:\d+\.\d+\.\d+[\s\S]*--classic/)
  t.match((await spoke(['--help'])).stdout, /inject +add the spoke sidecar/)
})

const POD_CONFIG = `# the app's sidecar
admin:
  address: 0.0.0.0:9555
listeners:
  - name: orders
    address: 127.0.0.1:15001
    upstream: orders
upstreams:
  - name: orders
    service: orders.default.svc.cluster.local
    port: 8080
`
const WEB = EVERY_KIND.slice(0, EVERY_KIND.indexOf('---'))

t.test('with a config: its ConfigMap first, mounted, and a checksum that changes with the file only', async (t) => {
  const ship = { text: POD_CONFIG, checksum: checksumOf(POD_CONFIG) }
  const { output, outcomes } = injectManifests(WEB, NATIVE, ship)
  t.same(outcomes.map((o) => [o.resource, o.result]), [['configmap/web-spoke', 'created'], ['deployment/web', 'injected']])
  const [cm, web] = objects(output)
  t.same(cm, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-spoke' }, data: { 'spoke.yaml': POD_CONFIG } }, 'named after the workload, holding the file as written')
  t.match(output, /\n  spoke.yaml: \|\n    # the app's sidecar\n    admin:\n/, 'as a block, comments kept')
  for (const o of [cm, web]) t.same(validateObject(o), [], `${o.kind} is valid`)
  t.equal(podSpec(web).volumes[0].configMap.name, 'web-spoke')
  t.equal(podMeta(web).annotations['spoke.io/config-checksum'], checksumOf(POD_CONFIG))
  t.match(checksumOf(POD_CONFIG), /^[0-9a-f]{64}$/)

  const again = injectManifests(output, NATIVE, ship)
  t.equal(again.output, output, 'the same file again: nothing changes, so nothing rolls')
  t.same(again.outcomes.map((o) => o.result), ['unchanged', 'unchanged'])

  const edited = POD_CONFIG.replace('port: 8080', 'port: 8081')
  const next = injectManifests(output, NATIVE, { text: edited, checksum: checksumOf(edited) })
  t.same(next.outcomes.map((o) => [o.resource, o.result]), [['configmap/web-spoke', 'updated'], ['deployment/web', 'injected']])
  const [cm2, web2, ...rest] = objects(next.output)
  t.same(rest, [], 'updated in place, not added twice')
  t.equal(cm2.data['spoke.yaml'], edited)
  t.not(podMeta(web2).annotations['spoke.io/config-checksum'], podMeta(web).annotations['spoke.io/config-checksum'], 'a changed file changes the pod template')
  t.equal(podMeta(web2).annotations['spoke.io/config-checksum'], checksumOf(edited))

  const named = objects(injectManifests(EVERY_KIND, NATIVE, { ...ship, name: 'shop-spoke' }).output)
  t.equal(named[0].metadata.name, 'shop-spoke', 'a given name')
  for (const o of named.filter((x) => x.kind !== 'Service' && x.kind !== 'ConfigMap' && x.metadata.name !== 'legacy')) {
    t.equal(podSpec(o).volumes[0].configMap.name, 'shop-spoke', `${o.metadata.name} mounts it`)
  }
  t.throws(() => injectManifests(EVERY_KIND, NATIVE, ship), { name: 'InjectError', message: /--config: found 7 workloads \(web, db, agent, rs, once, nightly, single\); name the ConfigMap with --configmap NAME/ })
  const own = WEB.replace('labels: { app: web }\n    spec:', 'labels: { app: web }\n      annotations: { spoke.io/configmap: other }\n    spec:')
  t.throws(() => injectManifests(own, NATIVE, ship), { name: 'InjectError', message: /deployment\/web: annotation spoke.io\/configmap names other, but --config writes ConfigMap web-spoke/ })
  t.equal(objects(injectManifests(own, NATIVE, { ...ship, name: 'other' }).output)[0].metadata.name, 'other', 'agreeing with it is fine')

  // --no-config-checksum: a change is left to spoke's reload.
  const reloadOnly = injectManifests(output, NATIVE, { text: edited, checksum: null })
  const [cm3, web3] = objects(reloadOnly.output)
  t.equal(cm3.data['spoke.yaml'], edited, 'the ConfigMap still follows the file')
  t.notOk('spoke.io/config-checksum' in podMeta(web3).annotations, 'the annotation is removed, so applying restarts nothing')
  t.same(reloadOnly.outcomes.map((o) => o.result), ['updated', 'injected'])
  t.equal(injectManifests(reloadOnly.output, NATIVE, { text: edited, checksum: null }).output, reloadOnly.output, 'and stays out')
})

t.test('spoke inject --config on the command line: admin port from the file, an unreachable admin address refused, warnings', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-inject-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  const good = file('good.yaml', POD_CONFIG)
  const run = await spoke(['inject', '--config', good], WEB)
  t.equal(run.code, 0, run.stderr)
  const [cm, web] = objects(run.stdout)
  t.equal(cm.data['spoke.yaml'], POD_CONFIG)
  const sidecar = podSpec(web).initContainers[0]
  t.same(sidecar.ports, [{ name: 'spoke-admin', containerPort: 9555, protocol: 'TCP' }], 'the admin port of the file')
  t.same([sidecar.startupProbe.httpGet.port, sidecar.readinessProbe.httpGet.port, sidecar.livenessProbe.httpGet.port], ['spoke-admin', 'spoke-admin', 'spoke-admin'], 'the probes go to it')
  t.equal(podMeta(web).annotations['prometheus.io/port'], '9555')
  t.match(run.stderr, 'configmap/web-spoke created\ndeployment/web injected\n')
  t.match(run.stderr, /spoke inject: warning: ghcr\.io\/spoke-proxy\/spoke:\d+\.\d+\.\d+ is not published; build the image from the Dockerfile[^\n]*\n {2}docker build -t REGISTRY\/spoke:[^ ]+ \. && docker push /, 'without --image: the default image is not published, and how to make one')
  t.notMatch(run.stderr, /listeners\[/, 'a loopback listener: no warning')

  const withImage = await spoke(['inject', '-c', good, '--image', 'registry.example/spoke:1'], WEB)
  t.equal(withImage.code, 0)
  t.notMatch(withImage.stderr, /not published|warning/, 'with --image: no warning')

  const loopback = await spoke(['inject', '-c', file('loopback.yaml', POD_CONFIG.replace('0.0.0.0:9555', '127.0.0.1:9555'))], WEB)
  t.equal(loopback.code, 2)
  t.equal(loopback.stdout, '', 'nothing written')
  t.equal(loopback.stderr, `spoke inject: ${join(dir, 'loopback.yaml')}: admin.address 127.0.0.1:9555 is loopback: kubelet's probes and Prometheus connect to the pod IP; use 0.0.0.0:9555\n`, 'one line, saying what to write')

  const bad = await spoke(['inject', '-c', file('bad.yaml', POD_CONFIG.replace('port: 8080', 'port: 0').replace('upstream: orders', 'upstream: nowhere'))], WEB)
  t.equal(bad.code, 2)
  t.equal(bad.stdout, '')
  t.match(bad.stderr, /bad\.yaml: upstreams\[0\]\.port: [^\n]+\n/, 'every problem with its path, as spoke check')
  t.match(bad.stderr, /bad\.yaml: listeners\[0\]\.upstream: [^\n]+\n/)

  const open = await spoke(['inject', '-c', file('open.yaml', POD_CONFIG.replace('127.0.0.1:15001', '0.0.0.0:15001')), '--image', 'x/spoke:1'], WEB)
  t.equal(open.code, 0, 'a listener open to the cluster works…')
  t.match(open.stderr, /spoke inject: warning: [^\n]*open\.yaml: listeners\[0\]\.address 0\.0\.0\.0:15001 accepts connections from the whole cluster, not only from the app in the pod; use 127\.0\.0\.1:15001\n/, '…and is warned about')

  const both = await spoke(['inject', '-c', good, '--admin-port', '9901'], WEB)
  t.equal(both.code, 2)
  t.match(both.stderr, '--admin-port and --config')
  const alone = await spoke(['inject', '--no-config-checksum'], WEB)
  t.equal(alone.code, 2)
  t.match(alone.stderr, '--no-config-checksum goes with --config')
})
