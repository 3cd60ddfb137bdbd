// Keeps a copy of a request body while the first attempt streams it, up to a limit, so that a
// stream the pod refused unprocessed (HTTP/2 REFUSED_STREAM, GOAWAY) can be sent again. Envoy
// keeps such a retry buffer too; beyond the limit the body is not kept and the request is not
// sent again.

/** gRPC unary messages and ordinary API bodies fit; uploads do not need to. */
export const REPLAY_LIMIT_BYTES = 64 * 1024

export class BodyRecorder {
  #chunks: Buffer[] | null = []
  #bytes = 0
  #complete = false
  #waiting: (() => void) | null = null

  record(chunk: Buffer): void {
    if (this.#chunks === null) return
    this.#bytes += chunk.length
    if (this.#bytes > REPLAY_LIMIT_BYTES) this.#chunks = null
    else this.#chunks.push(chunk)
  }

  end(): void {
    this.#complete = true
    const waiting = this.#waiting
    this.#waiting = null
    waiting?.()
  }

  /** Whether a replay may still become possible: within the limit, the body still arriving. */
  get pending(): boolean {
    return !this.#complete && this.#chunks !== null
  }

  /** Calls back once the body has arrived completely (the recorder keeps reading after a refusal). */
  whenComplete(callback: () => void): void {
    if (this.#complete) callback()
    else this.#waiting = callback
  }

  /** Whether replay() has a body to give: complete and within the limit. */
  get replayable(): boolean {
    return this.#complete && this.#chunks !== null
  }

  /** The whole body, when it arrived completely and within the limit. */
  replay(): Buffer | null {
    return this.replayable ? Buffer.concat(this.#chunks!, this.#bytes) : null
  }
}
