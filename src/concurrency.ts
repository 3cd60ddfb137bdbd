// Bounded fan-out, for work that must not all start at once (DNS queries of a large SRV set,
// connections probed by `spoke check --resolve`).

/** `fn` over every item with at most `limit` calls pending at once; results in item order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
