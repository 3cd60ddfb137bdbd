// What the two protocol adapters (app-h1.ts, app-h2.ts) get from the listener they serve: its
// settings, where to count, and what to do with a request they accepted.
import type { ListenerConfig } from '../config/types.ts'
import type { Logger } from '../log.ts'
import type { Upstream } from '../upstream/upstream.ts'
import type { Downstream } from './downstream.ts'
import type { RequestCounts } from './request-counts.ts'
import type { Upgrade } from './tunnel.ts'

export interface AppSide {
  /** The listener's settings and upstream: a reload may swap both, so they are read where used. */
  readonly config: ListenerConfig
  readonly upstream: Upstream
  readonly counts: RequestCounts
  readonly log: Logger
  /** Whether each request is logged (at info) when its answer is over. */
  readonly accessLog: boolean
  /** A request that passed the adapter's checks: forwarded or broadcast. */
  serve(downstream: Downstream): void
  /** An HTTP/1.1 Upgrade (WebSocket) that passed the same checks. */
  upgrade(request: Upgrade): void
}
