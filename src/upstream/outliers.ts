// Outlier detection as linkerd's `consecutive_failures` (Envoy's consecutive_5xx): a pod whose
// last N attempts all failed (a 5xx, or no answer) is ejected from picking for ejectionTime, then
// returns with a clean streak. The pod's state (`active` / `ejected`) is the one record of it;
// the detector only decides and keeps the timers that bring pods back.
import type { OutlierConfig } from '../config/types.ts'
import type { Logger } from '../log.ts'
import type { EndpointState } from './endpoint.ts'

/** What the detector reads and writes of a pod. */
export interface Ejectable {
  readonly key: string
  state: EndpointState
  /** Failures since the last success. */
  consecutiveFailures: number
}

export interface OutlierOptions<E extends Ejectable> {
  readonly config: OutlierConfig
  /** Routes by key (isSharded): such an upstream never ejects. */
  readonly sharded: boolean
  /** Every pod in discovery, whatever its state: the ejection cap is a share of them. */
  readonly pods: () => Iterable<E>
  /** A pod was ejected (true) or came back (false): what picks from the active pods must know. */
  readonly changed: (pod: E, ejected: boolean) => void
  readonly log: Logger
  /** The upstream's name, for the log. */
  readonly upstream: string
}

export class OutlierDetector<E extends Ejectable> {
  readonly #opts: OutlierOptions<E>
  readonly #returns = new Set<NodeJS.Timeout>()
  #closed = false

  constructor(opts: OutlierOptions<E>) {
    this.#opts = opts
  }

  /** An answer that is not a 5xx ends the pod's failure streak. */
  recordSuccess(pod: E): void {
    pod.consecutiveFailures = 0
  }

  /** A 5xx answer or a failed attempt (connect failure, reset, timeout). */
  recordFailure(pod: E): void {
    pod.consecutiveFailures++
    const threshold = this.#opts.config.consecutiveFailures
    // A sharded upstream never ejects: a key has exactly one pod, so ejecting it could only turn
    // the failures of some keys (one bad account's 5xx) into 503s for every key of that pod.
    if (threshold > 0 && !this.#opts.sharded && pod.consecutiveFailures >= threshold && pod.state.tag === 'active') {
      this.#maybeEject(pod)
    }
  }

  /** The upstream closed: no more ejections, and no returns to come. */
  close(): void {
    this.#closed = true
    for (const t of this.#returns) clearTimeout(t)
    this.#returns.clear()
  }

  #maybeEject(pod: E): void {
    if (this.#closed) return
    let total = 0
    let ejected = 0
    let active = 0
    for (const e of this.#opts.pods()) {
      total++
      if (e.state.tag === 'ejected') ejected++
      else if (e.state.tag === 'active') active++
    }
    const { maxEjectedPercent, ejectionTimeMs } = this.#opts.config
    // Never beyond maxEjectedPercent, and never the last eligible pod: ejecting every pod would
    // turn a partial outage into a total one (Envoy's panic threshold makes the same call).
    if ((ejected + 1) * 100 > maxEjectedPercent * total) return
    if (active <= 1) return
    const now = Date.now()
    pod.state = { tag: 'ejected', since: now, until: now + ejectionTimeMs }
    this.#opts.changed(pod, true)
    this.#opts.log.warn('endpoint ejected', { upstream: this.#opts.upstream, endpoint: pod.key, consecutiveFailures: pod.consecutiveFailures, ejectionMs: ejectionTimeMs })
    const timer = setTimeout(() => {
      this.#returns.delete(timer)
      // A pod that left discovery meanwhile is draining, not ejected: it stays out.
      if (pod.state.tag !== 'ejected') return
      pod.state = { tag: 'active', since: Date.now() }
      pod.consecutiveFailures = 0
      this.#opts.changed(pod, false)
      this.#opts.log.info('endpoint returned from ejection', { upstream: this.#opts.upstream, endpoint: pod.key })
    }, ejectionTimeMs)
    timer.unref()
    this.#returns.add(timer)
  }
}
