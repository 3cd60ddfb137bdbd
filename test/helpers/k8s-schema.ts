// Kubernetes objects checked against the API's OpenAPI schemas, as shipped (compiled to
// validators) by kubernetes-models, and the PodMonitor and PrometheusRule against
// prometheus-operator's CRD schemas.
// The OpenAPI schemas allow unknown fields, but `kubectl apply` rejects them (server-side field
// validation is strict by default since Kubernetes 1.27), so every object is also checked for
// fields the validator never looked at: a typo such as `restartPolcy` is an error here too.
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import * as apps from 'kubernetes-models/apps/v1'
import * as batch from 'kubernetes-models/batch/v1'
import * as core from 'kubernetes-models/v1'

interface Validating {
  prototype: { validate(this: unknown): void }
}

const MODELS: ReadonlyMap<string, Validating> = new Map<string, Validating>([
  ['v1 ConfigMap', core.ConfigMap],
  ['v1 Service', core.Service],
  ['v1 Pod', core.Pod],
  ['apps/v1 Deployment', apps.Deployment],
  ['apps/v1 StatefulSet', apps.StatefulSet],
  ['apps/v1 DaemonSet', apps.DaemonSet],
  ['apps/v1 ReplicaSet', apps.ReplicaSet],
  ['batch/v1 Job', batch.Job],
  ['batch/v1 CronJob', batch.CronJob],
  ['monitoring.coreos.com/v1 PodMonitor', PodMonitor],
  ['monitoring.coreos.com/v1 PrometheusRule', PrometheusRule],
])

/** Every problem with one object, as `path: message`; empty when it is valid. */
export function validateObject(object: Record<string, unknown>): string[] {
  const model = MODELS.get(`${object.apiVersion} ${object.kind}`)
  if (model === undefined) return [`no schema here for ${object.apiVersion} ${object.kind}`]
  const unread: (() => string[])[] = []
  const problems: string[] = []
  try {
    // The model's validate() runs the compiled schema on `this`; given a proxy, it reports
    // which fields it read.
    model.prototype.validate.call(watch(object, '', unread))
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string; message?: string }[] }).errors
    if (errors === undefined) throw err
    problems.push(...errors.map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`))
  }
  problems.push(...unread.flatMap((f) => f()).map((path) => `${path}: unknown field`))
  return problems
}

/**
 * A proxy that records which keys the validator reads. A schema with free-form keys (labels,
 * annotations, resource quantities) makes the validator enumerate the object, which marks all
 * its keys as read; a fixed schema reads each of its properties by name.
 */
function watch(value: unknown, path: string, unread: (() => string[])[]): unknown {
  if (value === null || typeof value !== 'object') return value
  const read = new Set<string>()
  let enumerated = false
  const children = new Map<string, unknown>()
  const proxy = new Proxy(value as Record<string, unknown>, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver)
      if (typeof key !== 'string') return v
      read.add(key)
      if (v === null || typeof v !== 'object') return v
      if (!children.has(key)) children.set(key, watch(v, `${path}/${key}`, unread))
      return children.get(key)
    },
    has(target, key) {
      if (typeof key === 'string') read.add(key)
      return Reflect.has(target, key)
    },
    ownKeys(target) {
      enumerated = true
      return Reflect.ownKeys(target)
    },
  })
  unread.push(() => (Array.isArray(value) || enumerated ? [] : Object.keys(value).filter((k) => !read.has(k)).map((k) => `${path}/${k}`)))
  return proxy
}
