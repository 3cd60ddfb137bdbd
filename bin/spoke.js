#!/usr/bin/env node
// Node >= 22.18 runs the TypeScript sources directly (type stripping), so there is no build step.
import { main } from '../src/cli.ts'

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (err) => { console.error(err?.stack ?? String(err)); process.exit(1) },
)
