// Gives memory back after a burst of app traffic. V8 collects garbage when JavaScript allocates,
// so once a burst is over nothing more is collected, and the heap keeps every page it grew to:
// after 2 000 h2c connections × 10 streams, 200+ MiB of garbage stayed resident for as long as
// the app stayed quiet (docs/memory.md). A full collection that asks V8 to shrink the heap gives
// those pages back to the kernel, but it pauses the event loop (about 100 ms for a 200 MiB heap),
// so it runs only once traffic has fallen well below its peak, and only once per burst.
import v8 from 'node:v8'
import vm from 'node:vm'
import type { Logger } from '../log.ts'

/** How often the resident size and the traffic are looked at. */
export const CHECK_INTERVAL_MS = 5000
/** Growth of the resident size over its resting level that is worth a pause to give back. */
export const GROWTH_BYTES = 48 * 1024 * 1024
/** Traffic counts as fallen once a check's answers are at most this share of the busiest check's. */
export const QUIET_SHARE = 0.25

export interface Reading {
  /** process.memoryUsage.rss() now. */
  readonly rss: number
  /** The resident size at rest: at start-up, or after the last reduction. */
  readonly resting: number
  /** Answers given since the previous check. */
  readonly answers: number
  /** The most answers of one check since the last reduction. */
  readonly busiest: number
}

/** Whether to collect now: memory has grown well past its resting level and the traffic has fallen. */
export function shouldReduce(r: Reading): boolean {
  return r.rss - r.resting >= GROWTH_BYTES && r.answers <= r.busiest * QUIET_SHARE
}

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void

/**
 * V8's collector as a function without `--expose-gc` on the command line (spoke is also started
 * as `node bin/spoke.js` or from its sources, where shebang flags do not apply): the flag is set
 * for one new context, which gets the `gc` function, and unset again.
 */
function collector(): Collect | null {
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as Collect
    return typeof gc === 'function' ? gc : null
  } catch {
    return null
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
}

export class MemoryReducer {
  readonly #answers: () => number
  readonly #log: Logger
  /** Got at start(): a process that never starts a reducer keeps V8's flags as they were. */
  #collect: Collect | null = null
  #timer: NodeJS.Timeout | null = null
  #resting = 0
  #busiest = 0
  #lastAnswers = 0
  #reductions = 0

  /** `answers`: how many answers the listeners have given so far (a running total). */
  constructor(answers: () => number, log: Logger) {
    this.#answers = answers
    this.#log = log
  }

  /** How many reductions have run (for tests and the log). */
  get reductions(): number {
    return this.#reductions
  }

  start(): void {
    if (this.#timer !== null) return
    this.#collect ??= collector()
    if (this.#collect === null) return
    this.#resting = process.memoryUsage.rss()
    this.#lastAnswers = this.#answers()
    this.#timer = setInterval(() => this.check(), CHECK_INTERVAL_MS).unref()
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** One check (the interval's; tests call it directly). */
  check(): void {
    const total = this.#answers()
    const answers = total - this.#lastAnswers
    this.#lastAnswers = total
    if (answers > this.#busiest) this.#busiest = answers
    const rss = process.memoryUsage.rss()
    // Memory that went down by itself lowers the resting level, so that growth is measured from there.
    if (rss < this.#resting) this.#resting = rss
    if (this.#collect === null || !shouldReduce({ rss, resting: this.#resting, answers, busiest: this.#busiest })) return
    const started = performance.now()
    this.#collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
    const after = process.memoryUsage.rss()
    this.#reductions++
    // What the collection could not give back (native memory malloc keeps) is the new resting
    // level: the next reduction waits for as much growth again, rather than pausing every check.
    this.#resting = after
    this.#busiest = answers
    this.#log.info('memory given back after a burst', {
      rssBeforeMiB: Math.round(rss / 1048576),
      rssAfterMiB: Math.round(after / 1048576),
      pauseMs: Math.round(performance.now() - started),
    })
  }
}
