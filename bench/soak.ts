// The soak of docs/reliability.md: see bench/soak-run.ts. Prints the figures as markdown and
// writes them to bench/out/soak.md; exits 1 when a target is missed.
// Knobs: BENCH_DURATION (300s), SOAK_RATE (req/s; unset: 70 % of the maximum measured first),
// SOAK_CHURN (10s), SOAK_CONNECTIONS (50), BENCH_MAX_DURATION (10s, wrk's run for the maximum).
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { runSoak, soakReport } from './soak-run.ts'

function seconds(name: string, fallback: string): number {
  const raw = process.env[name] ?? fallback
  const m = /^(\d+)(s|m)$/.exec(raw)
  if (m === null) {
    process.stderr.write(`soak: ${name} is whole seconds or minutes, like 300s or 5m (got ${raw})\n`)
    process.exit(2)
  }
  return Number(m[1]) * (m[2] === 'm' ? 60_000 : 1000)
}

const durationMs = seconds('BENCH_DURATION', '300s')
const churnEveryMs = seconds('SOAK_CHURN', '10s')
const maxRunMs = seconds('BENCH_MAX_DURATION', '10s')
const rate = process.env.SOAK_RATE === undefined ? null : Number(process.env.SOAK_RATE)
const connections = Number(process.env.SOAK_CONNECTIONS ?? 50)

const result = await runSoak({
  durationMs, rate, share: 0.7, churnEveryMs, connections, maxRunMs,
  pin: os.availableParallelism() >= 2,
  log: (line) => process.stderr.write(`${line}\n`),
})
const errors = result.requests.failed + result.requests.errored + result.requests.timeout + result.requests.statusOther
const report = [
  '## spoke soak',
  '',
  `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
  `- machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}; spoke on core 0, nginx pods, h2load and wrk on core 1`,
  `- load average at the end (1, 5, 15 min): ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  '',
  soakReport(result),
  '',
].join('\n')
mkdirSync(new URL('./out/', import.meta.url), { recursive: true })
writeFileSync(new URL('./out/soak.md', import.meta.url), report)
process.stdout.write(report)
const missed = errors > 0 || result.rss.growthPct >= 10 || result.fds.after > result.fds.baseline
process.exit(missed ? 1 : 0)
