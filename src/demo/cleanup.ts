// Tearing the demo down: whatever it started must stop, on success and on failure alike.

/** Closes what was started, last first, whatever fails along the way. */
export class Cleanup {
  readonly #closers: Array<() => Promise<unknown>> = []

  add(close: () => Promise<unknown>): void {
    this.#closers.push(close)
  }

  async run(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close()
      } catch {
        // Best effort: the rest must still close.
      }
    }
  }
}
