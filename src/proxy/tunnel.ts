// WebSocket (and any HTTP/1.1 Upgrade) is tunnelled to one pod over a connection of its own:
// after the 101 the bytes are no longer HTTP, so they cannot share a pooled connection.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { dial } from '../transport/dial.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { httpStatusOf, rawHttp1Error } from './errors.ts'
import { CLIENT_CLOSED, type RequestCounts } from './request-counts.ts'
import { DROPPED_REQUEST_HEADERS } from './request-head.ts'
import { pinnedPod, RouteRefusal } from './route.ts'

export function tunnel(req: IncomingMessage, client: Duplex, head: Buffer, upstream: Upstream, counts: RequestCounts): void {
  // Pinned like any request (x-spoke-pod, the key's pod), else the policy picks.
  const keyHeader = upstream.keyHeader
  const pinned = pinnedPod(upstream, headerValue(req, 'x-spoke-pod'), keyHeader === null ? null : headerValue(req, keyHeader), req.url!)
  if (pinned instanceof RouteRefusal) {
    counts.byStatus[httpStatusOf(pinned.code)]++
    client.end(rawHttp1Error(pinned.code, upstream.name, pinned.message))
    return
  }
  const endpoint = pinned ?? upstream.pick(null)
  if (endpoint === null) {
    counts.byStatus[503]++
    client.end(rawHttp1Error('no_endpoints', upstream.name))
    return
  }
  client.on('error', () => {})
  dial(endpoint.address, endpoint.port, upstream.config.connection.connectTimeoutMs).then(
    (pod) => {
      // The app gave up while spoke was connecting: nothing will ever close this socket but us.
      if (client.destroyed) {
        pod.destroy()
        counts.byStatus[CLIENT_CLOSED]++
        return
      }
      const host = upstream.config.hostRewrite === 'service' ? endpoint.authority : (req.headers.host ?? endpoint.authority)
      let request = `${req.method} ${req.url} HTTP/1.1\r\nhost: ${host}\r\n`
      const raw = req.rawHeaders
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i].toLowerCase()
        // Connection and Upgrade stay: they are the upgrade request itself.
        if (DROPPED_REQUEST_HEADERS.has(lower) && lower !== 'connection' && lower !== 'upgrade') continue
        request += `${raw[i]}: ${raw[i + 1]}\r\n`
      }
      pod.write(request + '\r\n')
      if (head.length > 0) pod.write(head)
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
      counts.byStatus[502]++
      client.end(rawHttp1Error('connect_failed', upstream.name, error.message))
    },
  )
}

/** Node joins repeated fields with ", " (cookies with "; "), as readRequestHead does. */
function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name]
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
}
