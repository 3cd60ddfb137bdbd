// What `spoke inject` adds to a pod: the spoke container (a native sidecar by default), the
// volume holding spoke.yaml, and the pod metadata Prometheus finds it by. Plain data, so the same
// values are checked against the Kubernetes schemas in the tests and written into k8s/.

/** Where the image is published; the tag is the package version. */
export const IMAGE_REPOSITORY = 'ghcr.io/spoke-proxy/spoke'
export const DEFAULT_CONFIGMAP = 'spoke-config'
export const DEFAULT_ADMIN_PORT = 9901

export const SIDECAR_NAME = 'spoke'
export const CONFIG_VOLUME = 'spoke-config'
/** A directory mount, never subPath: kubelet updates a directory's files when the ConfigMap changes, a subPath file never. */
export const CONFIG_DIR = '/etc/spoke'
export const CONFIG_FILE = `${CONFIG_DIR}/spoke.yaml`
export const ADMIN_PORT_NAME = 'spoke-admin'
/** distroless's "nonroot" user; numeric, because runAsNonRoot can only check a numeric user. */
export const NONROOT_UID = 65532

/** Pod (template) annotations and labels spoke inject reads or writes. */
export const INJECT_ANNOTATION = 'spoke.io/inject'
export const CONFIGMAP_ANNOTATION = 'spoke.io/configmap'
/** sha256 of spoke.yaml (`spoke inject --config`): a changed file changes the pod template, which rolls the pods. */
export const CHECKSUM_ANNOTATION = 'spoke.io/config-checksum'
export const INJECTED_LABEL = 'spoke.io/injected'
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container'

export interface SidecarOptions {
  readonly image: string
  readonly configMap: string
  readonly adminPort: number
  /** A classic container in `containers` instead of a native sidecar (Kubernetes < 1.29). */
  readonly classic: boolean
  /** With `--config`: the file's sha256, written as CHECKSUM_ANNOTATION; null removes it (--no-config-checksum); absent leaves it. */
  readonly configChecksum?: string | null
}

export function defaultImage(version: string): string {
  return `${IMAGE_REPOSITORY}:${version}`
}

const probe = (path: string, extra: Record<string, number>): Record<string, unknown> => ({
  httpGet: { path, port: ADMIN_PORT_NAME },
  ...extra,
})

export function sidecarContainer(o: SidecarOptions): Record<string, unknown> {
  return {
    name: SIDECAR_NAME,
    image: o.image,
    args: ['run'],
    // Also found by `spoke check` run in the container, which then needs no -c.
    env: [{ name: 'SPOKE_CONFIG', value: CONFIG_FILE }],
    // A restartable init container: started (and ready, by its startupProbe) before the app's
    // containers, kept running beside them, stopped after them, and not holding a Job open.
    ...(o.classic ? {} : { restartPolicy: 'Always' }),
    ports: [{ name: ADMIN_PORT_NAME, containerPort: o.adminPort, protocol: 'TCP' }],
    // /ready turns 200 once every listener is bound and every upstream's first DNS answer is in.
    startupProbe: probe('/ready', { periodSeconds: 1, failureThreshold: 30 }),
    readinessProbe: probe('/ready', { periodSeconds: 5 }),
    livenessProbe: probe('/healthz', { periodSeconds: 10, failureThreshold: 3 }),
    // Idle RSS is about 75 MiB and peaked at 124 MiB under load (docs/benchmarks.md).
    resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { cpu: '1', memory: '256Mi' } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NONROOT_UID,
      runAsGroup: NONROOT_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // A configuration error is spoke's last stderr line: `kubectl describe pod` then shows it.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [{ name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true }],
  }
}

export function configVolume(o: SidecarOptions): Record<string, unknown> {
  return { name: CONFIG_VOLUME, configMap: { name: o.configMap } }
}

/** The annotations of Prometheus' usual `kubernetes_sd_configs` pod relabelling. */
export function scrapeAnnotations(o: SidecarOptions): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(o.adminPort), 'prometheus.io/path': '/metrics' }
}

/** The ConfigMap `spoke inject --config` writes: the file as it is, comments included. */
export function configMapObject(name: string, text: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { 'spoke.yaml': text } }
}

/** A ConfigMap name is a DNS subdomain (RFC 1123), like every object name. */
export function configMapNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 253) return 'must be 1 to 253 characters'
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) {
    return 'must be lowercase letters, digits, "-" and ".", starting and ending with a letter or digit'
  }
  return null
}
