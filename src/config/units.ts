// The units of SPEC §3: durations, sizes and percentages as users write them, and back. Each
// formatter's output parses back to the same number, which is what lets `spoke check` print a
// configuration that is itself valid.
//
// Parsers return the value, or null when the text is not of that unit; callers word the error.

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/

const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
}
const SIZE = /^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB|KB|MB|GB)?$/

const PERCENT = /^(\d+(?:\.\d+)?)%$/

/**
 * Milliseconds, or null. A bare number other than 0 has no unit and is refused ("5" could mean
 * seconds or milliseconds); fractions must land on a whole millisecond ("1.5s" yes, "0.5ms" no).
 */
export function parseDuration(value: unknown): number | null {
  if (value === 0 || value === '0') return 0
  if (typeof value !== 'string') return null
  const m = DURATION.exec(value)
  if (m === null) return null
  return wholeOrNull(Number(m[1]) * DURATION_UNITS_MS[m[2]])
}

/** Bytes, or null. A plain non-negative integer (YAML number or digit string) is a byte count. */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null
  if (typeof value !== 'string') return null
  const m = SIZE.exec(value)
  if (m === null) return null
  return wholeOrNull(Number(m[1]) * SIZE_UNITS[m[2] ?? 'B'])
}

/** A fraction ("10%" is 0.1), or null. The percent sign is required. */
export function parsePercent(value: unknown): number | null {
  if (typeof value !== 'string') return null
  const m = PERCENT.exec(value)
  return m === null ? null : Number(m[1]) / 100
}

/** The largest unit that divides `ms` exactly: 600000 → "10m", 1500 → "1500ms", 0 → "0". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0'
  for (const unit of ['h', 'm', 's'] as const) {
    if (ms % DURATION_UNITS_MS[unit] === 0) return `${ms / DURATION_UNITS_MS[unit]}${unit}`
  }
  return `${ms}ms`
}

/** The largest binary unit that divides `bytes` exactly: 16384 → "16KiB"; else the byte count. */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    if (bytes !== 0 && bytes % SIZE_UNITS[unit] === 0) return `${bytes / SIZE_UNITS[unit]}${unit}`
  }
  return String(bytes)
}

/** 0.1 → "10%". Rounded to cancel binary noise (0.07 × 100 is 7.000000000000001). */
export function formatPercent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(10))}%`
}

function wholeOrNull(n: number): number | null {
  // Decimal inputs like "1.1s" multiply to 1100.0000000000002; anything that close is whole.
  const rounded = Math.round(n)
  if (Math.abs(n - rounded) > 1e-6 || !Number.isSafeInteger(rounded)) return null
  return rounded
}
