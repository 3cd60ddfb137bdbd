// The admin port (SPEC §7): / /metrics /ready /healthz /endpoints /config.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { HostPort } from '../config/types.ts'
import { listenOn } from '../net.ts'
import { SPOKE_VERSION } from '../version.ts'
import type { Upstream } from '../upstream/upstream.ts'
import { endpointsDocument } from './endpoints.ts'

export interface AdminOptions {
  readonly address: HostPort
  readonly registry: Registry
  /** The running upstreams and configuration: read per request, since a reload replaces them. */
  readonly upstreams: () => readonly Upstream[]
  readonly ready: () => boolean
  /** The effective configuration, as `spoke check` prints it. */
  readonly configDocument: () => unknown
}

export class AdminServer {
  #server: http.Server
  #options: AdminOptions

  constructor(options: AdminOptions) {
    this.#options = options
    this.#server = this.#create()
  }

  #create(): http.Server {
    return http.createServer((req, res) => {
      this.#route(req, res).catch((err: Error) => {
        if (!res.headersSent) send(res, 500, 'text/plain', `${err.message}\n`)
        else res.destroy()
      })
    })
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#server, this.#options.address, 'admin listener')
  }

  /**
   * A reload changed admin.address: bind the new one first (a failure leaves the old one
   * serving and rejects), then close the old one.
   */
  async rebind(address: HostPort): Promise<AddressInfo> {
    const next = this.#create()
    const bound = await listenOn(next, address, 'admin listener')
    const old = this.#server
    this.#server = next
    this.#options = { ...this.#options, address }
    old.close()
    old.closeAllConnections()
    return bound
  }

  get address(): AddressInfo | null {
    return this.#server.address() as AddressInfo | null
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  async #route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n', ['allow', 'GET, HEAD'])
      return
    }
    const o = this.#options
    switch (path) {
      case '/metrics':
        send(res, 200, o.registry.contentType, await o.registry.metrics())
        return
      case '/ready':
        if (o.ready()) send(res, 200, 'text/plain', 'ready\n')
        else send(res, 503, 'text/plain', 'not ready\n')
        return
      case '/healthz':
        send(res, 200, 'text/plain', 'ok\n')
        return
      case '/endpoints':
        send(res, 200, 'application/json', JSON.stringify(endpointsDocument(o.upstreams())))
        return
      case '/config':
        send(res, 200, 'application/json', JSON.stringify(o.configDocument()))
        return
      case '/':
        send(res, 200, 'text/plain', INDEX)
        return
      default:
        send(res, 404, 'text/plain', 'not found\n')
    }
  }
}

/** GET /: what an operator who found the port can ask it. */
const INDEX = `spoke ${SPOKE_VERSION} admin
  /metrics    Prometheus metrics
  /ready      200 once listeners are bound and every upstream's first DNS query completed; 503 while shutting down
  /healthz    200 while the process serves
  /endpoints  each upstream's pods: state, connections, requests in flight and since start (JSON)
  /config     the running configuration (JSON)
`

function send(res: http.ServerResponse, status: number, type: string, body: string, extra: string[] = []): void {
  res.writeHead(status, ['content-type', type, 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store', ...extra])
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
