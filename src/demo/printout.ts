// How the demo prints: its output stream, bar charts of where requests went, and the live table of
// the scaling phase. What each step says stays with the step (demo.ts, cluster.ts).
import type { Window } from './traffic.ts'

const BAR_WIDTH = 30
const COLUMN = 7

/** Plain text; colour and block characters only on a terminal. */
export class Output {
  readonly #out: NodeJS.WritableStream
  readonly #tty: boolean

  constructor(out: NodeJS.WritableStream) {
    this.#out = out
    this.#tty = (out as { isTTY?: boolean }).isTTY === true
  }

  get barChar(): string {
    return this.#tty ? '█' : '#'
  }

  line(text = ''): void {
    this.#out.write(`${text}\n`)
  }

  bold(s: string): string { return this.#paint(1, s) }
  dim(s: string): string { return this.#paint(2, s) }
  good(s: string): string { return this.#paint(32, s) }
  bad(s: string): string { return this.#paint(31, s) }
  bar(s: string): string { return this.#paint(36, s) }

  #paint(code: number, s: string): string {
    return this.#tty ? `\x1b[${code}m${s}\x1b[0m` : s
  }
}

/** The live view: one row per window with each pod's share, and events between rows. */
export class LiveTable {
  readonly #out: Output
  readonly #columns: readonly string[]
  readonly #started: (name: string) => boolean
  readonly #start = performance.now()

  constructor(out: Output, columns: readonly string[], started: (name: string) => boolean) {
    this.#out = out
    this.#columns = columns
    this.#started = started
  }

  elapsedMs(): number {
    return performance.now() - this.#start
  }

  header(): void {
    const cells = [...this.#columns, 'req/s', 'errors'].map((c) => c.padStart(COLUMN)).join('')
    this.#out.line(this.#out.dim(`  ${'time'.padStart(6)}${cells}`))
  }

  row(w: Window): void {
    const shares = this.#columns.map((name) => {
      const n = w.counts.get(name) ?? 0
      const share = w.requests === 0 || !this.#started(name) ? '-' : `${Math.round((n / w.requests) * 100)}%`
      return share.padStart(COLUMN)
    })
    const rate = fmt(Math.round(w.requests / (w.ms / 1000))).padStart(COLUMN)
    const errors = String(w.errors).padStart(COLUMN)
    this.#out.line(`  ${this.#time()}${shares.join('')}${rate}${w.errors === 0 ? errors : this.#out.bad(errors)}`)
  }

  event(text: string): void {
    this.#out.line(this.#out.dim(`  ${this.#time()}  ${text}`))
  }

  #time(): string {
    return `${(this.elapsedMs() / 1000).toFixed(1)}s`.padStart(6)
  }
}

export function printBars(out: Output, names: readonly string[], tally: ReadonlyMap<string, number>, total: number): void {
  const width = Math.max(...names.map((n) => n.length))
  for (const name of names) {
    const n = tally.get(name) ?? 0
    const bar = out.barChar.repeat(total === 0 ? 0 : Math.round((n / total) * BAR_WIDTH))
    out.line(`    ${name.padEnd(width)}  ${out.bar(bar.padEnd(BAR_WIDTH))}  ${fmt(n).padStart(COLUMN)}`)
  }
}

export function fmt(n: number): string {
  return n.toLocaleString('en-US')
}

export function plural(n: number, word: string): string {
  return `${fmt(n)} ${word}${n === 1 ? '' : 's'}`
}
