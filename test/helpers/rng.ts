// The fuzz runs' random numbers: seeded, so that a failing run can be replayed with its seed.

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  #state: number
  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let x = this.#state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }

  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]
  }

  printable(max: number): string {
    let s = ''
    for (let i = this.int(max + 1); i > 0; i--) s += String.fromCharCode(0x21 + this.int(94))
    return s
  }

  bytes(max: number): string {
    let s = ''
    for (let i = this.int(max + 1); i > 0; i--) s += String.fromCharCode(this.int(256))
    return s
  }
}
