// A short run of the soak (bench/soak.sh, docs/reliability.md): the same driver, 20 s at a fixed
// modest rate with a pod replaced every 5 s. RSS is only reported: 20 s is too short for a
// growth figure that means anything (the 5-minute soak has it).
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { runSoak } from '../bench/soak-run.ts'

const missing = ['nginx', 'h2load', 'taskset'].filter((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' })
    return false
  } catch {
    return true
  }
})

t.test('soak: 20 s of paced load, a pod replaced every 5 s: no error, file descriptors back to their baseline', {
  skip: missing.length > 0 ? `needs ${missing.join(', ')} (Debian: nginx-light, nghttp2-client, util-linux)` : false,
}, async (t) => {
  const r = await runSoak({
    durationMs: 20_000, rate: 600, share: 1, churnEveryMs: 5000, connections: 10, maxRunMs: 0,
    pin: false, log: (line) => t.comment(line),
  })
  const errors = r.requests.failed + r.requests.errored + r.requests.timeout + r.requests.statusOther
  t.comment(`soak: ${r.requests.total} requests, ${errors} errors, ${r.churns} pods replaced, retries ${r.retries}, ejections ${r.ejections} (${r.ejectionsOfLeavingPods} of pods leaving), ` +
    `RSS idle ${(r.rss.idleKb / 1024).toFixed(1)} MiB, after warm-up ${(r.rss.afterWarmupKb / 1024).toFixed(1)} MiB, end ${(r.rss.endKb / 1024).toFixed(1)} MiB, ` +
    `fds ${r.fds.baseline} before, ${r.fds.peak} at peak, ${r.fds.after} after`)
  t.ok(r.requests.total >= 10_000, `the load ran (${r.requests.total} requests)`)
  t.equal(errors, 0, 'no client-visible error')
  t.equal(r.requests.status2xx, r.requests.total, 'every request answered 2xx')
  t.ok(r.churns >= 3, `pods were replaced (${r.churns})`)
  t.equal(r.ejections, r.ejectionsOfLeavingPods, 'no pod still in DNS was ejected (only leaving pods, refusing before spoke saw them go)')
  t.ok(r.fds.peak > r.fds.baseline, 'the load opened descriptors (client and extra upstream connections)')
  t.ok(r.fds.after <= r.fds.baseline, `and they were all closed afterwards (${r.fds.after} ≤ ${r.fds.baseline})`)
})
