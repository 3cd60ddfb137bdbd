// Refuses a Node.js older than package.json's engines.node, with one line naming both versions
// (SPEC §2), before anything that needs a newer Node is loaded. Imported first by bin/spoke.js;
// `node bin/node-version.js` runs it alone (npm's pretest and predemo), so a too-old Node fails
// with this line rather than somewhere inside tap. Written for old Nodes: no syntax newer than
// what Node 14 parses, no top-level await.
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
// Only the `>=MAJOR.MINOR[.PATCH]` form: test/node-version.test.ts keeps package.json to it.
const wanted = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(pkg.engines && pkg.engines.node)
if (wanted === null) throw new Error('package.json engines.node must read ">=MAJOR.MINOR[.PATCH]"')
const need = [Number(wanted[1]), Number(wanted[2]), Number(wanted[3] || 0)]
const found = process.versions.node.split('.').map(Number)

let older = false
for (let i = 0; i < 3; i++) {
  if (found[i] !== need[i]) {
    older = found[i] < need[i]
    break
  }
}
if (older) {
  process.stderr.write(`spoke: needs Node.js ${wanted[0].slice(2).trim()} or newer, found ${process.versions.node} (${process.execPath})\n`)
  process.exit(1)
}
