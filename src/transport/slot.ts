// One connection of a pod's pool and the pool's view of it. Whether it is connecting, taking
// requests, retiring or gone is one tagged union, and the timer each state holds (its lifetime,
// its drain deadline) lives in that state, so that leaving the state is what clears the timer.
import type { CloseReason, Connection } from './connection.ts'

export type SlotState =
  | { readonly tag: 'connecting' }
  | { readonly tag: 'open'; readonly lifetime: NodeJS.Timeout | null }
  | { readonly tag: 'retiring'; readonly reason: CloseReason; readonly deadline: NodeJS.Timeout | null }
  | { readonly tag: 'closed'; readonly reason: CloseReason }

export class Slot {
  state: SlotState = { tag: 'connecting' }
  connection: Connection | null = null
  inFlight = 0
  requests = 0
  /** performance.now() when the last request ended (idle accounting). */
  lastActiveAt = 0

  /** Taking requests, with room for one more. */
  get free(): boolean {
    return this.state.tag === 'open' && this.inFlight < this.connection!.capacity && !this.connection!.closed
  }

  /** Moves to `next`, clearing the timer of the state it leaves. */
  enter(next: SlotState): void {
    const state = this.state
    if (state.tag === 'open' && state.lifetime !== null) clearTimeout(state.lifetime)
    if (state.tag === 'retiring' && state.deadline !== null) clearTimeout(state.deadline)
    this.state = next
  }
}

/** How many of `slots` are in one of the states `tags`. */
export function count(slots: readonly Slot[], ...tags: SlotState['tag'][]): number {
  let n = 0
  for (const s of slots) if (tags.includes(s.state.tag)) n++
  return n
}

/** A timer that does not keep spoke alive. */
export function unrefTimer(fn: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(fn, ms)
  timer.unref()
  return timer
}
