// 32-bit hashing for sharding. Every sidecar of every frontend replica must map a key to the same
// pod, so these are pure functions of their input: no seed drawn at start, no dependency on the
// order in which DNS listed the pods.

/**
 * FNV-1a over the string's UTF-16 code units, then murmur3's finaliser: FNV-1a alone is fast on
 * short strings but mixes its last characters poorly (`web-1`/`web-2` would differ in a few low
 * bits only), which the finaliser spreads over all 32 bits.
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return mix32(h)
}

/** murmur3's fmix32: a bijection on 32 bits in which every input bit flips each output bit about half the time. */
export function mix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
