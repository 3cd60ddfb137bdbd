// A simulated pod: `workers` requests served at once, the rest wait first come first served.
import type { Sidecar } from './sidecar.ts'
import type { SimEndpoint } from './spoke.ts'

export interface Request {
  /** While in service: when it completes (simulated ms). */
  at: number
  seq: number
  readonly kind: 'request'
  sidecar: Sidecar
  endpoint: SimEndpoint
  startedAt: number
  /** Arrived inside the measured window. */
  measured: boolean
}

export class Pod {
  #busy = 0
  #waiting: Request[] = []
  #head = 0

  readonly index: number
  readonly workers: number
  /** Mean service time. */
  readonly serviceMs: number

  constructor(index: number, workers: number, serviceMs: number) {
    this.index = index
    this.workers = workers
    this.serviceMs = serviceMs
  }

  /** True when a worker takes the request now; false when it waits. */
  arrive(r: Request): boolean {
    if (this.#busy < this.workers) {
      this.#busy++
      return true
    }
    this.#waiting.push(r)
    return false
  }

  /** A request finished: the next one waiting, which its worker now starts, or null. */
  complete(): Request | null {
    if (this.#head === this.#waiting.length) {
      this.#busy--
      return null
    }
    const next = this.#waiting[this.#head++]
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head)
      this.#head = 0
    }
    return next
  }

  get waiting(): number {
    return this.#waiting.length - this.#head
  }
}
