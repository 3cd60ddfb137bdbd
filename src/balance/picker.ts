// A picker chooses the pod for one request among the upstream's eligible pods (active, not
// ejected). `exclude` holds pods this request already tried: a retry must go elsewhere.

export interface Pickable {
  /** Requests in flight to this pod (least_request compares it). */
  readonly inFlight: number
}

export interface Picker<E extends Pickable> {
  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null
}

export class RoundRobin<E extends Pickable> implements Picker<E> {
  #next = 0

  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null {
    const n = candidates.length
    for (let tries = 0; tries < n; tries++) {
      if (this.#next >= n) this.#next = 0
      const e = candidates[this.#next++]
      if (exclude === null || !exclude.has(e)) return e
    }
    return null
  }
}

export class RandomPick<E extends Pickable> implements Picker<E> {
  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null {
    const pool = eligible(candidates, exclude)
    return pool.length === 0 ? null : pool[(Math.random() * pool.length) | 0]
  }
}

/** Power of two choices (Mitzenmacher): two random pods, the one with fewer requests in flight. */
export class LeastRequest<E extends Pickable> implements Picker<E> {
  pick(candidates: readonly E[], exclude: ReadonlySet<E> | null): E | null {
    const pool = eligible(candidates, exclude)
    const n = pool.length
    if (n <= 1) return n === 0 ? null : pool[0]
    const i = (Math.random() * n) | 0
    let j = (Math.random() * (n - 1)) | 0
    if (j >= i) j++
    const a = pool[i]
    const b = pool[j]
    return b.inFlight < a.inFlight ? b : a
  }
}

function eligible<E>(candidates: readonly E[], exclude: ReadonlySet<E> | null): readonly E[] {
  return exclude === null || exclude.size === 0 ? candidates : candidates.filter((e) => !exclude.has(e))
}
