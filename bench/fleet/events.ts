// The simulation's clock: a binary min-heap of timed events. Ties are broken by insertion order,
// so a run is the same for the same seed whatever the heap's layout.

export interface TimedEvent {
  /** Simulated milliseconds. */
  at: number
  /** Set by the queue on push; breaks ties. */
  seq: number
}

export class EventQueue<E extends TimedEvent> {
  readonly #heap: E[] = []
  #seq = 0

  get size(): number {
    return this.#heap.length
  }

  push(event: E): void {
    event.seq = this.#seq++
    const heap = this.#heap
    let i = heap.length
    heap.push(event)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(event, heap[parent])) break
      heap[i] = heap[parent]
      i = parent
    }
    heap[i] = event
  }

  /** The earliest event's time, Infinity when empty. */
  peekAt(): number {
    return this.#heap.length === 0 ? Infinity : this.#heap[0].at
  }

  pop(): E | undefined {
    const heap = this.#heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    const n = heap.length
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && before(heap[r], heap[l]) ? r : l
      if (!before(heap[c], last)) break
      heap[i] = heap[c]
      i = c
    }
    heap[i] = last
    return top
  }
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
