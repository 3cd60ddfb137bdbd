// An upstream's counters as plain numbers; metrics/ turns them into series at scrape time.
import type { Discovery, DiscoveryResult } from '../discovery/types.ts'
import type { CloseReason } from '../transport/connection.ts'
import { LatencyHistogram } from '../metrics/histogram.ts'

export type BroadcastOutcome = 'success' | 'failure' | 'no_endpoints'

export class UpstreamStats {
  connectionsOpened = 0
  readonly connectionsClosed = new Map<CloseReason, number>()
  retries = 0
  ejections = 0
  readonly duration = new LatencyHistogram()
  /** Broadcasts answered, by outcome (mode: broadcast upstreams only). */
  readonly broadcasts: Record<BroadcastOutcome, number> = { success: 0, failure: 0, no_endpoints: 0 }

  /** Discovery keeps the DNS statistics; these read them. */
  readonly #discovery: Discovery

  constructor(discovery: Discovery) {
    this.#discovery = discovery
  }

  get dnsQueries(): Readonly<Record<DiscoveryResult, number>> {
    return this.#discovery.counts
  }

  /** Unix seconds of the last DNS answer, with pods or with none; 0 = never. */
  get dnsLastSuccess(): number {
    return (this.#discovery.lastSuccess?.getTime() ?? 0) / 1000
  }

  broadcastDone(outcome: BroadcastOutcome): void {
    this.broadcasts[outcome]++
  }

  connectionClosed(reason: CloseReason): void {
    this.connectionsClosed.set(reason, (this.connectionsClosed.get(reason) ?? 0) + 1)
  }
}
