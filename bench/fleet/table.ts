// Markdown tables with the figures people compare: numbers grouped by thousands, a fixed number
// of significant places.

export function table(head: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const rule = head.map((_, i) => ((align?.[i] ?? 'r') === 'l' ? '---' : '---:'))
  return [head, rule, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** 1234567 → "1 234 567"; below 100 with `digits` decimals. */
export function num(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return value === Infinity ? '∞' : '–'
  const abs = Math.abs(value)
  if (abs >= 100 || Number.isInteger(value)) return group(Math.round(value))
  return value.toFixed(abs >= 10 ? Math.min(digits, 1) : digits)
}

function group(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ')
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return '–'
  return value >= 1000 ? `${num(value / 1000, 1)} s` : `${num(value, 0)} ms`
}

export function seconds(valueMs: number | null): string {
  return valueMs === null || !Number.isFinite(valueMs) ? 'not within the run' : `${(valueMs / 1000).toFixed(1)} s`
}

export function pct(share: number): string {
  return `${Math.round(share * 100)} %`
}

export function size(sidecars: number, pods: number): string {
  return `${group(sidecars)} × ${group(pods)}`
}
