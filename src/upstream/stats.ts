// An upstream's counters as plain numbers; metrics/ turns them into series at scrape time.
import type { CloseReason } from '../transport/connection.ts'
import { LatencyHistogram } from '../metrics/histogram.ts'

export type DnsResult = 'success' | 'empty' | 'error'
export type BroadcastOutcome = 'success' | 'failure' | 'no_endpoints'

export class UpstreamStats {
  connectionsOpened = 0
  readonly connectionsClosed = new Map<CloseReason, number>()
  retries = 0
  ejections = 0
  readonly dnsQueries: Record<DnsResult, number> = { success: 0, empty: 0, error: 0 }
  /** Unix seconds of the last successful (or empty) DNS answer; 0 = never. */
  dnsLastSuccess = 0
  readonly duration = new LatencyHistogram()
  /** Broadcasts answered, by outcome (mode: broadcast upstreams only). */
  readonly broadcasts: Record<BroadcastOutcome, number> = { success: 0, failure: 0, no_endpoints: 0 }

  broadcastDone(outcome: BroadcastOutcome): void {
    this.broadcasts[outcome]++
  }

  connectionClosed(reason: CloseReason): void {
    this.connectionsClosed.set(reason, (this.connectionsClosed.get(reason) ?? 0) + 1)
  }
}
