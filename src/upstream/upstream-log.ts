// What an upstream tells the operator about its pods (SPEC §2): at `warn` the events that leave
// requests failing (discovery finding no pods, a pod refusing connections), at `debug` what a
// person tracing a problem needs (each DNS answer and its diff, connections opened and closed).
// Nothing here runs per request; debug objects are built only once the level is known to be on.
import type { UpstreamConfig } from '../config/types.ts'
import type { DiscoveryUpdate } from '../discovery/types.ts'
import type { Logger } from '../log.ts'
import type { CloseReason } from '../transport/connection.ts'
import type { ConnectError } from '../transport/dial.ts'

/** A pod refusing connections is worth a warning at most this often (SPEC §2). */
export const REFUSED_WARN_INTERVAL_MS = 60_000

/** What each pod's pool reports, bound to the pod. */
export interface PodLog {
  connectFailed(error: ConnectError): void
  opened(): void
  closed(reason: CloseReason): void
}

export class UpstreamLog {
  readonly log: Logger
  readonly #name: string
  readonly #config: UpstreamConfig
  readonly #now: () => number
  readonly #refusedIntervalMs: number
  /** Discovery's last answer left the upstream without pods, and that was said. */
  #emptyWarned = false
  /** Discovery's last query failed (no answer), and that was said. */
  #failing = false

  constructor(log: Logger, config: UpstreamConfig, now: () => number = Date.now, refusedIntervalMs = REFUSED_WARN_INTERVAL_MS) {
    this.log = log
    this.#name = config.name
    this.#config = config
    this.#now = now
    this.#refusedIntervalMs = refusedIntervalMs
  }

  /** The name discovery asks for, as a person would type it into dig. */
  get query(): string {
    const c = this.#config
    return c.portName === null ? `A/AAAA ${c.service}` : `SRV _${c.portName}._${c.protocol === 'udp' ? 'udp' : 'tcp'}.${c.service}`
  }

  /**
   * A completed discovery query. `added`/`removed`: the pods it brought and took away; `pods`:
   * how many the upstream has now. An answer without pods warns once, until pods are found again.
   */
  answer(update: DiscoveryUpdate, added: readonly string[], removed: readonly string[], pods: number): void {
    const log = this.log
    if (log.enabled('debug')) {
      log.debug('dns answer', {
        upstream: this.#name, query: this.query, result: update.kind === 'reset' ? 'success' : update.kind,
        pods, added, removed, ...(update.kind === 'error' ? { error: update.error.message } : {}),
      })
    }
    if (update.kind === 'error') {
      // Once per outage: a DNS server that is down is asked again every few seconds.
      if (this.#failing) return
      this.#failing = true
      log.warn('dns query failed; keeping the last endpoints until DNS answers', { upstream: this.#name, query: this.query, error: update.error.message })
      return
    }
    if (this.#failing) log.info('dns answers again', { upstream: this.#name, query: this.query })
    this.#failing = false
    if (update.kind === 'reset' && update.failed !== undefined) {
      const { kept, waiting, error } = update.failed
      log.warn('dns query failed for some SRV targets; kept their last addresses', { upstream: this.#name, kept, waiting, error: error.message })
    }
    if (pods > 0) {
      if (this.#emptyWarned) log.info('discovery found pods again', { upstream: this.#name, service: this.#config.service, pods })
      this.#emptyWarned = false
      return
    }
    if (this.#emptyWarned) return
    this.#emptyWarned = true
    log.warn('discovery found no pods; requests will fail with no_endpoints', {
      upstream: this.#name, service: this.#config.service, query: this.query,
      hint: 'the name does not exist (NXDOMAIN) or has no records: check the service name and namespace in the config, and that the Service has ready pods (kubectl get endpointslices)',
    })
  }

  /** A pod of an ordinal upstream without an ordinal below `replicas` is reachable only by x-spoke-pod. */
  ownsNoOrdinal(key: string, hostname: string | null, ordinal: number | null): void {
    const replicas = this.#config.replicas!
    if (ordinal !== null && ordinal < replicas) return
    this.log.warn('endpoint owns no ordinal keys', { upstream: this.#name, endpoint: key, hostname, ordinal, replicas })
  }

  /** The log of one pod's connections. */
  pod(key: string): PodLog {
    const log = this.log
    const upstream = this.#name
    let refusedWarnedAt = -Infinity
    return {
      connectFailed: (error) => {
        if (log.enabled('debug')) log.debug('connect failed', { upstream, endpoint: key, error: error.message })
        if (!error.refused) return
        const now = this.#now()
        if (now - refusedWarnedAt < this.#refusedIntervalMs) return
        refusedWarnedAt = now
        log.warn('pod refuses connections', { upstream, endpoint: key, error: error.message, hint: 'nothing listens on the port: is the upstream\'s port the container\'s, and is the pod up?' })
      },
      opened: () => {
        if (log.enabled('debug')) log.debug('connection opened', { upstream, endpoint: key })
      },
      closed: (reason) => {
        if (log.enabled('debug')) log.debug('connection closed', { upstream, endpoint: key, reason })
      },
    }
  }
}
