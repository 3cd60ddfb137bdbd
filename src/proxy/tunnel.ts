// WebSocket (and any HTTP/1.1 Upgrade) is tunnelled to one pod over a connection of its own:
// after the 101 the bytes are no longer HTTP, so they cannot share a pooled connection. A tunnel
// is admitted like any request: it holds one of the upstream's maxConcurrentRequests for as long
// as it is open, since a pod serves it all that time.
import type { Duplex } from 'node:stream'
import { dial } from '../transport/dial.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { httpStatusOf, rawHttp1Error } from './errors.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'
import { DROPPED_REQUEST_HEADERS, type RequestHead } from './request-head.ts'
import { pinnedPod, RouteRefusal } from './route.ts'

/** An upgrade request that passed the HTTP/1.1 adapter's checks. */
export interface Upgrade {
  readonly method: string
  /** origin-form */
  readonly path: string
  readonly head: RequestHead
  readonly rawHeaders: readonly string[]
  /** The app's connection, no longer read by the HTTP/1.1 adapter (paused until piped). */
  readonly client: Duplex
  /** What the app sent after the head: the tunnel's first bytes. */
  readonly early: Buffer
}

export function tunnel(upgrade: Upgrade, upstream: Upstream, counts: RequestCounts): void {
  const { client, head } = upgrade
  client.on('error', () => {})
  if (upstream.inFlight >= upstream.config.limits.maxConcurrentRequests) {
    counts.byStatus[503]++
    client.end(rawHttp1Error('overloaded', upstream.name, 'too many concurrent requests for the upstream'))
    return
  }
  upstream.inFlight++
  let admitted = true
  const release = (): void => {
    if (!admitted) return
    admitted = false
    upstream.inFlight--
  }
  client.once('close', release)
  const refuse = (status: number, text: string): void => {
    release()
    counts.byStatus[status]++
    client.end(text)
  }
  // Pinned like any request (x-spoke-pod, the key's pod), else the policy picks.
  const pinned = pinnedPod(upstream, head.pod, head.keyField, upgrade.path)
  if (pinned instanceof RouteRefusal) {
    refuse(httpStatusOf(pinned.code), rawHttp1Error(pinned.code, upstream.name, pinned.message))
    return
  }
  const endpoint = pinned ?? upstream.pick(null)
  if (endpoint === null) {
    refuse(503, rawHttp1Error('no_endpoints', upstream.name))
    return
  }
  dial(endpoint.address, endpoint.port, upstream.config.connection).then(
    (pod) => {
      // The app gave up while spoke was connecting: nothing will ever close this socket but us.
      if (client.destroyed) {
        pod.destroy()
        counts.byStatus[CLIENT_CLOSED]++
        return
      }
      const host = upstream.config.hostRewrite === 'service' ? endpoint.authority : (head.host ?? endpoint.authority)
      let request = `${upgrade.method} ${upgrade.path} HTTP/1.1\r\nhost: ${host}\r\n`
      const raw = upgrade.rawHeaders
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i].toLowerCase()
        // Connection and Upgrade stay: they are the upgrade request itself.
        if (DROPPED_REQUEST_HEADERS.has(lower) && lower !== 'connection' && lower !== 'upgrade') continue
        request += `${raw[i]}: ${raw[i + 1]}\r\n`
      }
      pod.write(request + '\r\n')
      if (upgrade.early.length > 0) pod.write(upgrade.early)
      endpoint.requests++
      pod.once('data', (first: Buffer) => {
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(first.toString('latin1', 0, 16))?.[1] ?? 0)
        counts.byStatus[status]++
        endpoint.countStatus(status)
      })
      pod.on('error', () => client.destroy())
      client.on('close', () => pod.destroy())
      pod.on('close', () => client.destroy())
      pod.pipe(client)
      client.pipe(pod)
    },
    (error: Error) => {
      endpoint.countError('connect_failed')
      upstream.recordFailure(endpoint)
      refuse(502, rawHttp1Error('connect_failed', upstream.name, error.message))
    },
  )
}
