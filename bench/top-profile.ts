// Prints the functions with the most self time in a V8 .cpuprofile (node --cpu-prof), and the
// same time grouped by where the code lives. Usage: node bench/top-profile.ts FILE [N]
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; endTime: number; startTime: number }

const [file, nArg] = process.argv.slice(2)
if (file === undefined) {
  process.stderr.write('usage: node bench/top-profile.ts FILE [N]\n')
  process.exit(2)
}
const top = Number(nArg ?? 15)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
const root = pathToFileURL(process.cwd()).href + '/'

const where = (f: CallFrame): string => {
  const url = f.url.startsWith(root) ? f.url.slice(root.length) : f.url
  // lineNumber is 0-based in the profile.
  return url === '' ? '' : `${url}:${f.lineNumber + 1}`
}

const origin = (f: CallFrame): string => {
  const url = f.url.startsWith(root) ? f.url.slice(root.length) : f.url
  if (url.startsWith('src/') || url.startsWith('dist/')) return 'spoke (src/, dist/)'
  if (url.startsWith('node_modules/')) return url.split('/').slice(0, 2).join('/')
  if (url.startsWith('node:')) return 'node core JS (node:*)'
  if (url.startsWith('wasm://')) return 'WebAssembly (wasm://)'
  if (url !== '') return 'other JS'
  if (f.functionName.startsWith('(')) return f.functionName
  return 'native functions (C++ bindings, V8 builtins)'
}

// A sample's self time is the gap until the next sample (what DevTools shows); the last one
// runs until the profile's end.
const selfUs = new Map<string, { frame: CallFrame; us: number }>()
const byOrigin = new Map<string, number>()
let timestamp = profile.startTime
const stamps = profile.timeDeltas.map((d) => (timestamp += d))
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const frame = byId.get(profile.samples[i])!
  const us = Math.max(0, (i + 1 < stamps.length ? stamps[i + 1] : profile.endTime) - stamps[i])
  const key = `${frame.functionName}\0${frame.url}\0${frame.lineNumber}`
  const entry = selfUs.get(key) ?? { frame, us: 0 }
  entry.us += us
  selfUs.set(key, entry)
  byOrigin.set(origin(frame), (byOrigin.get(origin(frame)) ?? 0) + us)
  total += us
}
const idle = byOrigin.get('(idle)') ?? 0
const busy = total - idle

const ms = (us: number): string => (us / 1000).toFixed(1)
const pct = (us: number, of: number): string => (of > 0 ? ((100 * us) / of).toFixed(1) : '0.0')

const lines: string[] = []
lines.push(`Profile ${file}: ${ms(total)} ms sampled, ${ms(busy)} ms busy (not idle)`)
lines.push('')
lines.push(`| # | self ms | % of busy | function | location |`)
lines.push(`| --- | ---: | ---: | --- | --- |`)
const ranked = [...selfUs.values()].filter((e) => e.frame.functionName !== '(idle)').sort((a, b) => b.us - a.us)
ranked.slice(0, top).forEach((e, i) => {
  lines.push(`| ${i + 1} | ${ms(e.us)} | ${pct(e.us, busy)} | \`${e.frame.functionName || '(anonymous)'}\` | ${where(e.frame) || '—'} |`)
})
lines.push('')
lines.push(`| code | self ms | % of busy |`)
lines.push(`| --- | ---: | ---: |`)
for (const [name, us] of [...byOrigin].filter(([n]) => n !== '(idle)').sort((a, b) => b[1] - a[1])) {
  lines.push(`| ${name} | ${ms(us)} | ${pct(us, busy)} |`)
}
process.stdout.write(lines.join('\n') + '\n')
