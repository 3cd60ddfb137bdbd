// Cost of one consistent_hash pick (key hash + one score per pod), plain and with bounded load.
// `node bench/shard-pick.ts`: CPU only, no sockets; prints ns per pick for 4 to 256 pods.
import { Rendezvous } from '../src/balance/rendezvous.ts'
import type { Shardable } from '../src/balance/shard.ts'

const SERVICE = 'web.default.svc.cluster.local'
const keys = Array.from({ length: 1000 }, (_, i) => `account-${i * 7919}`)
for (const n of [4, 16, 64, 256]) {
  const pods: (Shardable & { inFlight: number })[] = Array.from({ length: n }, (_, i) => ({
    hostname: `web-${i}.${SERVICE}`, address: `10.0.${i >> 8}.${i & 255}`, key: `10.0.${i >> 8}.${i & 255}:8080`, inFlight: 0,
  }))
  for (const factor of [null, 1.25]) {
    const picker = new Rendezvous<(typeof pods)[number]>(factor)
    picker.update(pods)
    let sink = 0
    const run = (rounds: number): void => {
      for (let r = 0; r < rounds; r++) for (const k of keys) sink ^= (picker.pick(k) as (typeof pods)[number]).inFlight
    }
    run(200)
    const rounds = 2000
    const started = performance.now()
    run(rounds)
    const ns = ((performance.now() - started) * 1e6) / (rounds * keys.length)
    console.log(`${String(n).padStart(3)} pods  ${factor === null ? 'plain  ' : 'bounded'}  ${ns.toFixed(0)} ns/pick${sink === -1 ? '' : ''}`)
  }
}
