// One app request's hold on its upstream, from admission to the count of its answer: shared by
// balance-mode exchanges and broadcasts, so that both are limited and counted alike.
import type { Upstream } from '../upstream/upstream.ts'
import type { Downstream } from './downstream.ts'
import type { ErrorCode } from './errors.ts'
import { countAnswer, type RequestCounts } from './request-counts.ts'

export class Admission {
  readonly #upstream: Upstream
  readonly #downstream: Downstream
  readonly #counts: RequestCounts
  readonly #startedAt = performance.now()
  /** Holds one of the upstream's maxConcurrentRequests slots. */
  #held = false
  #settled = false

  constructor(upstream: Upstream, downstream: Downstream, counts: RequestCounts) {
    this.#upstream = upstream
    this.#downstream = downstream
    this.#counts = counts
  }

  /** Takes a slot under limits.maxConcurrentRequests; false (and answered `overloaded`) when none is free. */
  enter(grpc: boolean): boolean {
    const upstream = this.#upstream
    if (upstream.inFlight >= upstream.config.limits.maxConcurrentRequests) {
      this.refuse('overloaded', 'too many concurrent requests for the upstream', grpc)
      return false
    }
    upstream.inFlight++
    this.#held = true
    return true
  }

  get settled(): boolean {
    return this.#settled
  }

  /** Answers with spoke's error `code` (or breaks an answer already begun) and settles. */
  refuse(code: ErrorCode, message: string, grpc: boolean): void {
    if (!this.#settled) this.settle(this.#downstream.fail(code, message, this.#upstream.name, grpc))
  }

  /** The request is over, answered with `status` (499: the app went away first); counted once. */
  settle(status: number): void {
    if (this.#settled) return
    this.#settled = true
    const upstream = this.#upstream
    if (this.#held) upstream.inFlight--
    countAnswer(this.#counts, status, this.#downstream.grpcStatus)
    upstream.stats.duration.observe((performance.now() - this.#startedAt) / 1000)
    this.#downstream.finished()
  }
}
