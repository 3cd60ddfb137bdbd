import t from 'tap'
import { formatDuration, formatPercent, formatSize, parseDuration, parsePercent, parseSize } from '../src/config/units.ts'

t.test('parseDuration accepts a number with a unit, and 0', async (t) => {
  const cases: [unknown, number][] = [
    ['250ms', 250],
    ['5s', 5000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['0.5m', 30_000],
    ['0s', 0],
    ['0', 0],
    [0, 0],
  ]
  for (const [input, ms] of cases) t.equal(parseDuration(input), ms, JSON.stringify(input))
})

t.test('parseDuration refuses anything else', async (t) => {
  const cases: unknown[] = ['5', 5, 1000, '5x', '', '-1s', ' 5s', '5 s', '1h30m', '0.5ms', '1.5', 'ms', '5S', null, true, ['5s']]
  for (const input of cases) t.equal(parseDuration(input), null, JSON.stringify(input))
})

t.test('parseSize accepts binary and decimal units, and byte counts', async (t) => {
  const cases: [unknown, number][] = [
    ['512KiB', 512 * 1024],
    ['16KiB', 16_384],
    ['1MiB', 1_048_576],
    ['1GiB', 1024 ** 3],
    ['0.5KiB', 512],
    ['1KB', 1000],
    ['2MB', 2_000_000],
    ['1GB', 1e9],
    ['100B', 100],
    ['1000', 1000],
    [1000, 1000],
    [0, 0],
  ]
  for (const [input, bytes] of cases) t.equal(parseSize(input), bytes, JSON.stringify(input))
})

t.test('parseSize refuses anything else', async (t) => {
  const cases: unknown[] = ['1.5', 1.5, -1, '-1KiB', '1 KiB', 'KiB', '1kib', '1KIB', '', null, false, 2 ** 60]
  for (const input of cases) t.equal(parseSize(input), null, JSON.stringify(input))
})

t.test('parsePercent needs the percent sign', async (t) => {
  t.equal(parsePercent('10%'), 0.1)
  t.equal(parsePercent('0%'), 0)
  t.equal(parsePercent('12.5%'), 0.125)
  t.equal(parsePercent('100%'), 1)
  for (const input of [10, '10', '-5%', '10 %', '%', null]) t.equal(parsePercent(input), null, JSON.stringify(input))
})

t.test('formatters pick the largest exact unit', async (t) => {
  t.equal(formatDuration(600_000), '10m')
  t.equal(formatDuration(250), '250ms')
  t.equal(formatDuration(1500), '1500ms')
  t.equal(formatDuration(0), '0')
  t.equal(formatDuration(5000), '5s')
  t.equal(formatDuration(7_200_000), '2h')
  t.equal(formatDuration(90_000), '90s')
  t.equal(formatSize(16_384), '16KiB')
  t.equal(formatSize(1_048_576), '1MiB')
  t.equal(formatSize(1024 ** 3 * 2), '2GiB')
  t.equal(formatSize(1000), '1000')
  t.equal(formatSize(1536), '1536')
  t.equal(formatSize(0), '0')
  t.equal(formatPercent(0.1), '10%')
  t.equal(formatPercent(0.07), '7%')
  t.equal(formatPercent(0.125), '12.5%')
  t.equal(formatPercent(0), '0%')
})

t.test('formatted values parse back to the same number', async (t) => {
  const durations = [0, 1, 250, 999, 1000, 1500, 59_999, 60_000, 90_000, 3_600_000, 5_400_000, 86_400_000]
  for (const ms of durations) t.equal(parseDuration(formatDuration(ms)), ms, `${ms}ms`)
  const sizes = [0, 1, 1000, 1023, 1024, 1536, 16_384, 1_048_576, 1_048_577, 1024 ** 3, 3 * 1024 ** 3]
  for (const bytes of sizes) t.equal(parseSize(formatSize(bytes)), bytes, `${bytes}B`)
  for (let pct = 0; pct < 100; pct++) {
    const fraction = pct / 100
    t.equal(parsePercent(formatPercent(fraction)), fraction, `${pct}%`)
  }
})
