#!/usr/bin/env -S node --max-semi-space-size=4
// --max-semi-space-size=4: V8's default young generation grows to 32 MiB under load, the largest
// part of a sidecar's memory; a request's garbage dies young. 4 MiB measured 12 % more requests
// per second and a third of the p99 of 1 MiB, for 3-6 MiB more RSS (docs/benchmarks.md). V8
// reads it only at start-up, hence the shebang.
// Runs the compiled JavaScript in dist/ (built by `npm run build`, which `npm ci`, `npm test`
// and `npm run demo` run first). Running the TypeScript sources through Node's type stripping
// works too, but costs about 17 MB of resident memory in every sidecar.
// First, so that an old Node stops with one clear line before anything else loads.
import './node-version.js'
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(entry)) {
  console.error('spoke: dist/ is missing; run `npm run build` (npm ci does it) first')
  process.exit(1)
}
const { main } = await import(entry.href)
main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (err) => { console.error(err?.stack ?? String(err)); process.exit(1) },
)
