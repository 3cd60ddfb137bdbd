// Deterministic subsetting as a pure function (src/balance/subset.ts): the spread over the pods
// for ordinal and hashed identities, what a pod leaving or joining moves, and that only the
// identity and the names count, not the order DNS lists the pods in.
import { hostname } from 'node:os'
import t from 'tap'
import { chooseSubset, identityOrdinal, sidecarIdentity } from '../src/balance/subset.ts'
import { Rng } from './helpers/rng.ts'

const byName = (pod: string): string => pod
const podNames = (count: number, net = 0): string[] => Array.from({ length: count }, (_, i) => `10.${net}.${i >> 8}.${(i & 255) + 1}:8080`)
/** Deployment-style pod names: `<deployment>-<template hash>-<5 random characters>`. */
function deploymentNames(count: number, rng: Rng): string[] {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  const names = new Set<string>()
  while (names.size < count) names.add(`client-5d8f7c6b9-${Array.from({ length: 5 }, () => rng.pick([...alphabet])).join('')}`)
  return [...names]
}

function clientsPerPod(identities: readonly string[], pods: readonly string[], size: number): number[] {
  const counts = new Map(pods.map((p) => [p, 0]))
  for (const id of identities) for (const p of chooseSubset(pods, size, id, byName)) counts.set(p, counts.get(p)! + 1)
  return [...counts.values()]
}

function shuffled<T>(list: readonly T[], rng: Rng): T[] {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

t.test('identities: a number, or a name ending in -N, is an ordinal; anything else is hashed', async (t) => {
  t.strictSame(identityOrdinal('orders-3'), { family: 'orders-#', index: 3 })
  t.strictSame(identityOrdinal('Orders-0'), { family: 'orders-#', index: 0 }, 'host names are case-insensitive')
  t.strictSame(identityOrdinal('orders-12.orders.default.svc.cluster.local'), { family: 'orders-#.orders.default.svc.cluster.local', index: 12 })
  t.strictSame(identityOrdinal('7'), { family: '#', index: 7 })
  t.strictSame(identityOrdinal('123456789'), { family: '#', index: 123456789 })
  t.strictSame(identityOrdinal('ip-10-0-1-9999'), { family: 'ip-10-0-1-#', index: 9999 })
  for (const hashed of ['orders-7d9f8b6c4-x2kqz', 'orders-7d9f8b6c4-24567', 'orders3', 'orders-03', '-3', '00', '1234567890', 'orders-', '']) {
    t.equal(identityOrdinal(hashed), null, JSON.stringify(hashed))
  }
})

t.test('the identity is $SPOKE_ID, else the host name', async (t) => {
  t.equal(sidecarIdentity({ SPOKE_ID: 'client-4' }), 'client-4')
  t.equal(sidecarIdentity({ SPOKE_ID: '  client-4\n' }), 'client-4', 'trimmed')
  t.equal(sidecarIdentity({ SPOKE_ID: '' }), hostname(), 'empty is unset')
  t.equal(sidecarIdentity({}), hostname())
})

t.test('size 0, or a size that covers the pods, is every pod', async (t) => {
  const pods = podNames(5)
  for (const size of [0, 5, 6]) {
    t.strictSame(chooseSubset(pods, size, 'client-1', byName), pods, `size ${size}`)
    t.strictSame(chooseSubset(pods, size, 'client-5d8f7c6b9-x2kqz', byName), pods, `size ${size}, hashed`)
  }
  t.strictSame(chooseSubset([], 2, 'client-1', byName), [])
  t.equal(chooseSubset(pods, 4, 'client-1', byName).length, 4)
})

t.test('the same identity and names give the same subset, whatever order DNS lists the pods in', async (t) => {
  const rng = new Rng(14)
  const pods = podNames(40)
  for (const id of ['client-0', 'client-17', '5', 'client-5d8f7c6b9-x2kqz', 'frontend-abc']) {
    const first = chooseSubset(pods, 3, id, byName)
    t.equal(new Set(first).size, 3, `${id}: three distinct pods`)
    for (let i = 0; i < 20; i++) t.strictSame(chooseSubset(shuffled(pods, rng), 3, id, byName), first, `${id}, order ${i}`)
  }
  // Objects, named by a function: the name decides, not the object or its position.
  const objects = pods.map((name) => ({ name }))
  const picked = chooseSubset(shuffled(objects, rng), 3, 'client-5d8f7c6b9-x2kqz', (p) => p.name).map((p) => p.name)
  t.strictSame(picked, chooseSubset(pods, 3, 'client-5d8f7c6b9-x2kqz', byName))
  t.not(chooseSubset(pods, 3, 'client-0', byName).join(), chooseSubset(pods, 3, 'client-1', byName).join(), 'another identity, another subset')
})

t.test('ordinal identities: 20 sidecars with 2 of 5 pods give every pod 8 clients, within one', async (t) => {
  for (let net = 0; net < 10; net++) {
    const counts = clientsPerPod(Array.from({ length: 20 }, (_, i) => `client-${i}`), podNames(5, net), 2)
    t.ok(counts.every((n) => n >= 7 && n <= 9), `pod set ${net}: ${counts.join(' ')}`)
  }
  // Every fleet size along the way, not only round ones: a StatefulSet scaled to any size is balanced.
  let worst = 0
  for (const [pods, size] of [[5, 2], [7, 1], [10, 3], [31, 2], [50, 2]] as const) {
    const names = podNames(pods, 3)
    const counts = new Map(names.map((p) => [p, 0]))
    for (let c = 0; c < 200; c++) {
      for (const p of chooseSubset(names, size, `client-${c}`, byName)) counts.set(p, counts.get(p)! + 1)
      const mean = ((c + 1) * size) / pods
      for (const n of counts.values()) worst = Math.max(worst, Math.abs(n - mean))
    }
  }
  t.ok(worst <= 3, `every pod within ${worst.toFixed(2)} of the mean for every fleet of 1 to 200 sidecars`)
  const big = clientsPerPod(Array.from({ length: 1000 }, (_, i) => `client-${i}`), podNames(1000), 2)
  t.ok(Math.min(...big) >= 1 && Math.max(...big) <= 3, `1000 sidecars, 2 of 1000 pods: ${Math.min(...big)}…${Math.max(...big)} clients per pod (mean 2)`)
})

t.test('hashed identities spread like a random draw: close to binomial, not balanced by design', async (t) => {
  const rng = new Rng(7)
  const counts = clientsPerPod(deploymentNames(1000, rng), podNames(50), 2)
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length
  const sd = Math.sqrt(counts.reduce((a, n) => a + (n - mean) ** 2, 0) / counts.length)
  const binomial = Math.sqrt(1000 * (2 / 50) * (1 - 2 / 50))
  t.equal(mean, 40)
  // Deterministic for these names; the bound only says it is a random-like draw, neither rigged nor broken.
  t.ok(sd > binomial / 2 && sd < binomial * 1.5, `sd ${sd.toFixed(2)}, binomial ${binomial.toFixed(2)}`)
})

t.test('hashed identities: a pod leaving moves only the subsets that held it, each keeping its other pods', async (t) => {
  const rng = new Rng(3)
  const identities = deploymentNames(200, rng)
  const pods = podNames(10)
  const before = new Map(identities.map((id) => [id, chooseSubset(pods, 3, id, byName)]))
  for (const leaving of pods) {
    const rest = pods.filter((p) => p !== leaving)
    let holders = 0
    const wrong: string[] = []
    for (const id of identities) {
      const old = before.get(id)!
      const now = chooseSubset(rest, 3, id, byName)
      if (!old.includes(leaving)) {
        if (now.join() !== old.join()) wrong.push(`${id} did not hold ${leaving} and changed`)
        continue
      }
      holders++
      const kept = old.filter((p) => p !== leaving)
      if (!kept.every((p) => now.includes(p)) || now.length !== 3) wrong.push(`${id} lost more than ${leaving}`)
    }
    t.strictSame(wrong, [], `${leaving} left: ${holders} of 200 subsets held it and changed, no other`)
  }
})

t.test('hashed identities: a pod joining enters some subsets, each dropping one pod; nothing else moves', async (t) => {
  const rng = new Rng(4)
  const identities = deploymentNames(200, rng)
  const pods = podNames(10)
  const joined = [...pods, '10.9.9.9:8080']
  let takers = 0
  const wrong: string[] = []
  for (const id of identities) {
    const old = chooseSubset(pods, 3, id, byName)
    const now = chooseSubset(joined, 3, id, byName)
    if (!now.includes('10.9.9.9:8080')) {
      if (now.join() !== old.join()) wrong.push(id)
      continue
    }
    takers++
    if (old.filter((p) => now.includes(p)).length !== 2) wrong.push(id)
  }
  t.strictSame(wrong, [])
  t.ok(takers > 30 && takers < 90, `${takers} of 200 subsets took the new pod (about 3/11 expected)`)
})

t.test('ordinal identities: a pod leaving or joining changes at most one pod of a subset besides the one it must', async (t) => {
  const identities = Array.from({ length: 100 }, (_, i) => `client-${i}`)
  for (const [count, size] of [[5, 2], [12, 3], [40, 2]] as const) {
    const pods = podNames(count, 5)
    const before = identities.map((id) => chooseSubset(pods, size, id, byName))
    for (const [what, after] of [
      ...pods.map((p) => [`${p} leaving`, pods.filter((q) => q !== p)] as const),
      ['a pod joining', [...pods, '10.9.9.9:8080']] as const,
    ]) {
      const changes = identities.map((id, i) => {
        const now = chooseSubset(after, size, id, byName)
        const dropped = before[i].filter((p) => !now.includes(p))
        const needed = before[i].some((p) => !after.includes(p)) || now.includes('10.9.9.9:8080') ? 1 : 0
        return dropped.length - needed
      })
      t.ok(changes.every((n) => n <= 1), `${count} pods, ${what}: at most one pod more than needed`)
      const counts = clientsPerPod(identities, after, size)
      const mean = (100 * size) / after.length
      t.ok(counts.every((n) => Math.abs(n - mean) <= 3), `${count} pods, ${what}: still balanced (${Math.min(...counts)}…${Math.max(...counts)}, mean ${mean.toFixed(1)})`)
    }
  }
})

t.test('replicas of two StatefulSets get rings of their own, so one ordinal does not mean one subset', async (t) => {
  const pods = podNames(30)
  t.not(chooseSubset(pods, 2, 'checkout-0', byName).join(), chooseSubset(pods, 2, 'payments-0', byName).join())
  const counts = clientsPerPod([...Array.from({ length: 15 }, (_, i) => `checkout-${i}`), ...Array.from({ length: 15 }, (_, i) => `payments-${i}`)], podNames(5), 2)
  t.ok(counts.every((n) => n >= 10 && n <= 14), `two fleets of 15 over 5 pods: ${counts.join(' ')} (mean 12)`)
})
