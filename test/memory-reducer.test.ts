// The memory reducer's rule (pure), and one reduction in a real process: a burst of garbage the
// heap grew to is given back to the kernel once the traffic has fallen.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { GROWTH_BYTES, shouldReduce } from '../src/lifecycle/memory-reducer.ts'

const MiB = 1024 * 1024

t.test('reduces only when memory grew past its resting level and the traffic fell to a quarter of its peak', async (t) => {
  const resting = 80 * MiB
  t.ok(shouldReduce({ rss: resting + GROWTH_BYTES, resting, answers: 0, busiest: 100_000 }), 'a burst is over')
  t.ok(shouldReduce({ rss: resting + GROWTH_BYTES, resting, answers: 25_000, busiest: 100_000 }), 'traffic at a quarter of the peak')
  t.notOk(shouldReduce({ rss: resting + GROWTH_BYTES, resting, answers: 25_001, busiest: 100_000 }), 'traffic still above a quarter of the peak')
  t.notOk(shouldReduce({ rss: resting + GROWTH_BYTES - 1, resting, answers: 0, busiest: 100_000 }), 'memory has not grown enough to be worth a pause')
  t.notOk(shouldReduce({ rss: resting + 300 * MiB, resting, answers: 50_000, busiest: 50_000 }), 'steady load: V8 collects as it allocates')
  t.ok(shouldReduce({ rss: resting + 300 * MiB, resting, answers: 0, busiest: 0 }), 'grown with no traffic at all (connections only)')
})

t.test('a process whose heap grew to hundreds of MiB of garbage gets it back at the first quiet check', async (t) => {
  // A child process, so that this test's own heap is not what is measured.
  const script = `
    import { MemoryReducer } from ${JSON.stringify(new URL('../src/lifecycle/memory-reducer.ts', import.meta.url).href)}
    const lines = []
    const log = { info: (msg, fields) => lines.push({ msg, ...fields }), debug() {}, warn() {}, error() {} }
    let answers = 0
    const reducer = new MemoryReducer(() => answers, log)
    reducer.start()
    // The burst: many answers, and garbage that survives long enough to reach the old generation.
    let keep = []
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50_000; i++) keep.push({ i, s: 'x' + i })
      if (keep.length > 400_000) keep = []
      answers += 10_000
    }
    reducer.check()
    keep = null
    const before = process.memoryUsage.rss()
    reducer.check()
    const after = process.memoryUsage.rss()
    reducer.stop()
    console.log(JSON.stringify({ before, after, reductions: reducer.reductions, lines }))
  `
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  const out = JSON.parse(stdout) as { before: number; after: number; reductions: number; lines: { msg: string }[] }
  t.equal(out.reductions, 1, 'one reduction, at the quiet check')
  t.ok(out.before - out.after > 32 * MiB, `gave back ${((out.before - out.after) / MiB).toFixed(0)} MiB (from ${(out.before / MiB).toFixed(0)} MiB)`)
  t.match(out.lines, [{ msg: 'memory given back after a burst' }], 'logged')
})
