// The hint after an unknown key or name: the closest of the known ones, when one is close enough
// to be a typo.

/** ` (did you mean "x"?)` for the closest candidate within a few edits, else "". */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const limit = Math.max(2, Math.floor(word.length / 3))
  let best: string | null = null
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d <= limit && d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best === null ? '' : ` (did you mean "${best}"?)`
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]
}
