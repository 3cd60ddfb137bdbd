// Requests pinned to one pod before their first attempt: `x-spoke-pod` (any upstream, bypassing
// its policy) and every request of a consistent_hash or ordinal upstream (its key's pod). Every
// attempt of a pinned request, retries included, goes to that pod: a stateful key never moves
// because one attempt failed (README "Sharding").
import { keyOrdinal } from '../balance/index.ts'
import type { Endpoint } from '../upstream/endpoint.ts'
import type { Upstream } from '../upstream/upstream.ts'
import type { ErrorCode } from './errors.ts'
import { describeHashKey, hashKeyOf } from './hash-key.ts'

export class RouteRefusal {
  readonly code: ErrorCode
  readonly message: string

  constructor(code: ErrorCode, message: string) {
    this.code = code
    this.message = message
  }
}

/**
 * The pod a request is pinned to, a refusal, or null when it is not pinned (the upstream's
 * policy picks per attempt). `pod` is the x-spoke-pod header, `keyField` the value of the
 * upstream's keyHeader.
 */
export function pinnedPod(upstream: Upstream, pod: string | null, keyField: string | null, path: string): Endpoint | RouteRefusal | null {
  if (pod !== null) {
    return upstream.podNamed(pod) ??
      new RouteRefusal('unknown_pod', `upstream ${upstream.name} has no pod named ${JSON.stringify(pod.slice(0, 256))} in ${upstream.outsideSubset.length > 0 ? 'this sidecar\'s subset of discovery' : 'discovery'}`)
  }
  if (!upstream.sharded) return null
  const source = upstream.config.hashKey!
  const key = hashKeyOf(source, keyField, path)
  if (key === null) return new RouteRefusal('missing_hash_key', `the request has no ${describeHashKey(source)}, which upstream ${upstream.name} routes by`)
  const owner = upstream.shard(key)
  switch (owner) {
    case 'bad_key':
      return new RouteRefusal('bad_request', `the ${describeHashKey(source)} must be a non-negative decimal integer for policy: ordinal, not ${JSON.stringify(key.slice(0, 64))}`)
    case 'unavailable': {
      const replicas = upstream.config.replicas!
      return new RouteRefusal('shard_unavailable', `the pod with ordinal ${keyOrdinal(key, replicas)} (key mod ${replicas}) of upstream ${upstream.name} is not in discovery`)
    }
    case 'empty':
      return new RouteRefusal('no_endpoints', `no endpoints available for upstream ${upstream.name}`)
    default:
      return owner
  }
}
