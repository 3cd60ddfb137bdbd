// PNG charts drawn by gnuplot (Debian: gnuplot-nox), fed a generated script on stdin with the
// data inline. gnuplot because it draws readable axes, legends and text with no npm dependency;
// the benchmarks already need Debian tools (wrk, h2load, haproxy).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

export interface LineSeries {
  readonly title: string
  readonly points: readonly (readonly [number, number])[]
  /** Drawn dashed (a reference rather than a measurement). */
  readonly dashed?: boolean
  /** Drawn as steps: the value holds until the next point. */
  readonly steps?: boolean
  /** Drawn as a bar from 0 at each point, this wide, shifted by `offset` (histograms side by side). */
  readonly boxes?: { readonly width: number; readonly offset: number }
}

export interface LineChart {
  readonly kind: 'lines'
  readonly file: string
  readonly title: string
  readonly xlabel: string
  readonly ylabel: string
  readonly series: readonly LineSeries[]
  readonly yrange?: readonly [number | null, number | null]
  readonly xrange?: readonly [number | null, number | null]
  readonly logY?: boolean
  /** Printed under the title, smaller. */
  readonly note?: string
}

/** Bars grouped by category, each with a whisker from `low` to `high`. */
export interface BarChart {
  readonly kind: 'bars'
  readonly file: string
  readonly title: string
  readonly xlabel: string
  readonly ylabel: string
  readonly groups: readonly string[]
  /** A label may hold \n. */
  readonly categories: readonly { readonly label: string; readonly values: readonly { readonly y: number; readonly low: number; readonly high: number }[] }[]
  readonly logY?: boolean
  readonly note?: string
  /** false: plain bars, no whiskers (low and high are ignored). */
  readonly whiskers?: boolean
  /** Horizontal reference lines, dashed. */
  readonly references?: readonly { readonly y: number; readonly title: string }[]
}

export type Chart = LineChart | BarChart

/** Whether gnuplot can draw here; the tables are printed either way. */
export function gnuplotAvailable(): boolean {
  const r = spawnSync('gnuplot', ['--version'], { encoding: 'utf8' })
  return r.status === 0
}

export function drawCharts(dir: string, charts: readonly Chart[]): string[] {
  const written: string[] = []
  for (const chart of charts) {
    const file = join(dir, chart.file)
    const script = [header(file, chart), ...(chart.kind === 'lines' ? lines(chart) : bars(chart))].join('\n')
    const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`gnuplot failed on ${chart.file}: ${r.stderr}`)
    written.push(file)
  }
  return written
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']

/** A gnuplot string; `\n` in `text` stays a line break. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

function range(r: readonly [number | null, number | null] | undefined): string {
  return r === undefined ? '[*:*]' : `[${r[0] ?? '*'}:${r[1] ?? '*'}]`
}

function header(file: string, chart: Chart): string {
  return [
    `set terminal pngcairo size ${chart.kind === 'bars' && chart.categories.length > 4 ? 1200 : 960},600 noenhanced font "DejaVu Sans,12" background rgb "white"`,
    `set output ${quote(file)}`,
    `set tmargin ${chart.note === undefined ? 3 : 5}`,
    `set title ${quote(chart.title)} font ",14" offset 0,${chart.note === undefined ? 0 : 1.2}`,
    chart.note === undefined ? '' : `set label ${quote(chart.note)} at graph 0.5, graph 1 offset 0,1.6 center font ",11"`,
    `set xlabel ${quote(chart.xlabel)}`,
    `set ylabel ${quote(chart.ylabel)}`,
    `set grid ytics lc rgb "#dddddd"`,
    chart.kind === 'bars' ? 'set bmargin 7\nset key at screen 0.5, screen 0.01 center bottom horizontal' : 'set key below',
    `set border 3`,
    `set tics nomirror`,
    chart.logY === true ? 'set logscale y' : '',
  ].join('\n')
}

function lines(chart: LineChart): string[] {
  const out: string[] = [`set yrange ${range(chart.yrange)}`, `set xrange ${range(chart.xrange)}`]
  chart.series.forEach((s, i) => {
    out.push(`$d${i} << EOD`, ...s.points.map(([x, y]) => `${x} ${y}`), 'EOD')
  })
  const plots = chart.series.map((s, i) => {
    const colour = `lc rgb "${COLOURS[i % COLOURS.length]}" title ${quote(s.title)}`
    if (s.boxes !== undefined) return `$d${i} using ($1+${s.boxes.offset}):2:(${s.boxes.width}) with boxes fs solid 0.8 noborder ${colour}`
    return `$d${i} using 1:2 with ${s.steps === true ? 'steps' : 'lines'} lw 2${s.dashed === true ? ' dt 2' : ''} ${colour}`
  })
  out.push(`plot ${plots.join(', \\\n  ')}`)
  return out
}

function bars(chart: BarChart): string[] {
  const out: string[] = [
    'set style data histograms',
    chart.whiskers === false ? 'set style histogram clustered gap 2' : 'set style histogram errorbars gap 2 lw 1.5',
    'set style fill solid 0.8 border -1',
    'set boxwidth 0.9',
    'set yrange [0:*]',
  ]
  if (chart.logY === true) out.push('set yrange [*:*]')
  // Tic labels set here rather than read from the data, where a line break would not be one.
  out.push(`set xtics (${chart.categories.map((c, i) => `${quote(c.label)} ${i}`).join(', ')})`)
  out.push('$d << EOD')
  for (const c of chart.categories) out.push(c.values.flatMap((v) => [v.y, v.low, v.high]).join(' '))
  out.push('EOD')
  const columns = (i: number) => (chart.whiskers === false ? `${1 + 3 * i}` : `${1 + 3 * i}:${2 + 3 * i}:${3 + 3 * i}`)
  const plots = chart.groups.map((g, i) =>
    `$d using ${columns(i)} lc rgb "${COLOURS[i % COLOURS.length]}" title ${quote(g)}`)
  for (const [k, r] of (chart.references ?? []).entries()) {
    plots.push(`${r.y} with lines dt 2 lw 2 lc rgb "${COLOURS[(chart.groups.length + k) % COLOURS.length]}" title ${quote(r.title)}`)
  }
  out.push(`plot ${plots.join(', \\\n  ')}`)
  return out
}
