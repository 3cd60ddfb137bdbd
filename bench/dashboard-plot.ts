// Draws the dashboard's panels from the query results bench/dashboard.ts collected, with gnuplot
// (Debian: gnuplot-nox), in Grafana's dark colours: one chart per panel, in the dashboard's order,
// the run's events as numbered dashed lines. Standalone, on a saved run:
//   node bench/dashboard-plot.ts run.json docs/dashboard.png
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Panel {
  readonly title: string
  /** Grafana's unit: percentunit, s, reqps, ops, short. */
  readonly unit: string
  readonly threshold: number | null
  readonly series: readonly { readonly name: string; readonly points: readonly (readonly [number, number])[] }[]
  /** For a panel without data: the metrics its queries found nothing of. */
  readonly noData: readonly string[]
}

export interface RunData {
  readonly startS: number
  readonly endS: number
  /** Seconds after the load started. */
  readonly events: readonly { readonly atS: number; readonly label: string }[]
  readonly panels: readonly Panel[]
}

const BACKGROUND = '#111217'
const TEXT = '#ccccdc'
const DIM = '#8e8e8e'
const GRID = '#2c3235'
const COLOURS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#fade2a', '#96d98d', '#ffb357']
const COLUMNS = 3
const CELL = { w: 620, h: 380 }
const HEADER_PX = 110

/** Value scale and axis label for a Grafana unit; seconds in ms when all are below 2 s. */
function scale(unit: string, max: number): { factor: number; label: string } {
  switch (unit) {
    case 'percentunit': return { factor: 100, label: '%' }
    case 's': return max < 2 ? { factor: 1000, label: 'ms' } : { factor: 1, label: 's' }
    case 'reqps': case 'ops': return { factor: 1, label: 'per second' }
    default: return { factor: 1, label: '' }
  }
}

const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`

export function plot(data: RunData, out: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-plot-'))
  try {
    const t0 = data.startS + 3
    const rows = Math.ceil(data.panels.length / COLUMNS)
    const height = HEADER_PX + rows * CELL.h
    const numbered = data.events.map((e, i) => `${i + 1}: ${e.label} (${Math.round(e.atS)} s)`)
    const half = Math.ceil(numbered.length / 2)
    // gnuplot reads \n in a double-quoted string as a line break; its strings join with `.`.
    const title = 'spoke dashboard (k8s/grafana/spoke-dashboard.json): its queries over a real run, Prometheus scraping every second'
    const header = [title, '', numbered.slice(0, half).join('   '), numbered.slice(half).join('   ')].map(quote).join(' . "\\n" . ')
    const lines: string[] = [
      `set terminal pngcairo size ${COLUMNS * CELL.w},${height} background rgb '${BACKGROUND}' font 'DejaVu Sans,10'`,
      `set output ${quote(out)}`,
      // Text as it is: no ^ and _ as super- and subscripts (metric names are full of _).
      'set termoption noenhanced',
      `set multiplot title ${header} font ',13' textcolor rgb '${TEXT}'`,
      `set border 3 lc rgb '${GRID}'`, 'set tics nomirror', `set tics textcolor rgb '${DIM}'`,
      `set grid lc rgb '${GRID}' lw 1`, `set key top left Left reverse opaque textcolor rgb '${TEXT}' font ',9' samplen 1.5 spacing 0.9`,
      `set xrange [-3:${Math.ceil(data.endS - t0)}]`, `set xlabel 'seconds into the run' textcolor rgb '${DIM}' font ',8' offset 0,0.6`,
      'set lmargin 9', 'set rmargin 2',
      // Headroom above the highest value, so a flat line does not sit on the frame.
      'set offsets 0, 0, graph 0.08, 0',
    ]
    data.panels.forEach((p, i) => {
      const col = i % COLUMNS
      const row = Math.floor(i / COLUMNS)
      const max = Math.max(0, ...p.series.flatMap((x) => x.points.map(([, v]) => v)).filter(Number.isFinite))
      const { factor, label } = scale(p.unit, max)
      const usable = 1 - HEADER_PX / height
      lines.push(
        `set size ${1 / COLUMNS},${usable / rows}`,
        `set origin ${col / COLUMNS},${usable - (row + 1) * usable / rows}`,
        `set title ${quote(p.title)} textcolor rgb '${TEXT}' font ',11'`,
        `set ylabel ${quote(label)} textcolor rgb '${DIM}' font ',8' offset 1.5,0`,
        'unset arrow', 'unset label',
        // Room for the threshold line: gnuplot does not clip arrows to the plot.
        p.threshold !== null ? `set yrange [0:${(Math.max(max, p.threshold) * factor * 1.15).toPrecision(3)}]` : 'set yrange [0:*]',
      )
      data.events.forEach((e, k) => {
        lines.push(
          `set arrow from ${e.atS},graph 0 to ${e.atS},graph 1 nohead dt 2 lc rgb '#5a5f66'`,
          `set label ${quote(String(k + 1))} at ${e.atS},graph 1.03 center font ',8' textcolor rgb '${DIM}'`,
        )
      })
      if (p.threshold !== null) {
        lines.push(`set arrow from graph 0,first ${p.threshold * factor} to graph 1,first ${p.threshold * factor} nohead lw 1.5 lc rgb '#f2495c'`)
      }
      if (p.series.length === 0) {
        const why = p.noData.length > 0 ? `no data: this build does not export ${p.noData.join(', ')}` : 'no data in this run'
        lines.push('set yrange [0:1]', `set label ${quote(why)} at graph 0.5,0.5 center textcolor rgb '${DIM}'`, 'plot NaN notitle')
        return
      }
      const plots = p.series.map((s, k) => {
        const file = join(dir, `p${i}-s${k}.dat`)
        let prev = -Infinity
        const rowsText: string[] = []
        for (const [t, v] of s.points) {
          if (t - prev > 1.5) rowsText.push('')
          prev = t
          rowsText.push(`${(t - t0).toFixed(1)} ${Number.isFinite(v) ? v * factor : 'NaN'}`)
        }
        writeFileSync(file, rowsText.join('\n') + '\n')
        return `${quote(file)} using 1:2 with lines lw 1.6 lc rgb '${COLOURS[k % COLOURS.length]}' title ${quote(s.name)}`
      })
      lines.push(`plot ${plots.join(', \\\n  ')}`)
    })
    lines.push('unset multiplot')
    const script = join(dir, 'dashboard.gp')
    writeFileSync(script, lines.join('\n') + '\n')
    const r = spawnSync('gnuplot', [script], { encoding: 'utf8' })
    if (r.error !== undefined) throw new Error(`gnuplot: ${r.error.message} (Debian: apt-get install gnuplot-nox)`)
    if (r.status !== 0) throw new Error(`gnuplot failed: ${r.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output] = process.argv.slice(2)
  if (input === undefined || output === undefined) {
    process.stderr.write('usage: node bench/dashboard-plot.ts RUN.json OUT.png\n')
    process.exit(2)
  }
  plot(JSON.parse(readFileSync(input, 'utf8')) as RunData, output)
}
