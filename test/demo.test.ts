import { Writable } from 'node:stream'
import t from 'tap'
import { runDemo } from '../src/demo/demo.ts'

/** `    pod-1  ##########    100`: the bar chart lines under the first line containing `heading`. */
function chartAfter(lines: readonly string[], heading: RegExp): Map<string, number> {
  const start = lines.findIndex((l) => heading.test(l))
  const chart = new Map<string, number>()
  if (start < 0) return chart
  for (const line of lines.slice(start + 1)) {
    const m = /^ {4}(pod-\d+) +#* +([\d,]+)$/.exec(line)
    if (m === null) break
    chart.set(m[1], Number(m[2].replaceAll(',', '')))
  }
  return chart
}

t.test('spoke demo shows pinning, even spread, and pods joining and leaving without errors', async (t) => {
  let text = ''
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString()
      done()
    },
  })
  const code = await runDemo({ out, speed: 3 })
  t.equal(code, 0, 'exit code 0')
  t.notMatch(text, /\x1b\[/, 'no colour codes when the output is not a terminal')
  const lines = text.split('\n')

  const direct = chartAfter(lines, /direct to pod-0/)
  t.same(Object.fromEntries(direct), { 'pod-0': 300, 'pod-1': 0, 'pod-2': 0 }, 'direct: every request on one pod')

  const spread = chartAfter(lines, /through spoke/)
  t.same([...spread.keys()], ['pod-0', 'pod-1', 'pod-2'])
  for (const [pod, n] of spread) t.ok(Math.abs(n - 100) <= 2, `through spoke: ${pod} got ${n}, about a third`)
  t.match(text, /through spoke, 1 connection:/, 'the client used one connection')

  const summary = /([\d,]+) requests in [\d.]+s, 1 client connection, 0 errors/.exec(text)
  t.ok(summary, 'load phase: one client connection, zero errors')
  t.notMatch(text, /demo failed/)
  const totals = chartAfter(lines, /requests in [\d.]+s/)
  t.ok((totals.get('pod-3') ?? 0) > 0, 'the added pod received requests')
  const all = [...totals.values()].reduce((a, b) => a + b, 0)
  t.equal(all, Number(summary?.[1].replaceAll(',', '')), 'every request answered by some pod')

  t.match(text, /pod-0 drained and shut down/, 'the removed pod drained before it closed')
  const rows = lines.filter((l) => /^ +[\d.]+s( +(-|\d+%)){4} /.test(l))
  const last = rows.at(-1)?.trim().split(/ +/) ?? []
  t.equal(last[1], '0%', `the removed pod's share went to zero (last row: ${rows.at(-1)})`)
  t.match(text, /every pod up: HTTP 200, outcome success, 3 of 3 succeeded\n(    pod-\d +127\.0\.0\.\d+:\d+ +status 200 +[\d.]+ ms\n){3}/, 'a broadcast answered by every pod')
  t.match(text, /stops answering: HTTP 200, outcome success, 2 of 3 succeeded\n/, 'quorum met with one pod silent')
  t.match(text, /error timeout +5\d\d\.\d ms/, 'the silent pod is reported as a timeout at the deadline')
  t.match(text, /Done: spoke, the pods and the DNS server are stopped\./)
})
