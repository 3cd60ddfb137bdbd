// When a pool reconnects to its pod: at once while the pod answers, later and later while it
// refuses (or accepts and closes at once), so that a dead pod costs a connect every few seconds,
// not a loop.
import { unrefTimer } from './slot.ts'

const FIRST_DELAY_MS = 100
const MAX_DELAY_MS = 5000

export class Backoff {
  #failures = 0
  #timer: NodeJS.Timeout | null = null

  /** 0 while nothing failed; then 100 ms, doubling with each failure, up to 5 s. */
  get delayMs(): number {
    return this.#failures === 0 ? 0 : Math.min(MAX_DELAY_MS, (FIRST_DELAY_MS / 2) * 2 ** this.#failures)
  }

  failed(): void {
    this.#failures++
  }

  succeeded(): void {
    this.#failures = 0
  }

  /** Runs `fn` after the delay, unless a run is already waiting. */
  schedule(fn: () => void): void {
    if (this.#timer !== null) return
    this.#timer = unrefTimer(() => {
      this.#timer = null
      fn()
    }, this.delayMs)
  }

  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}
