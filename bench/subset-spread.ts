// How evenly deterministic subsetting spreads sidecars over pods, and what a pod leaving or joining
// moves. `node bench/subset-spread.ts [size]` (default size 2): CPU only, no sockets, a few seconds.
//
// Two fleets: StatefulSet-like identities (`client-0`, `client-1`, …: the ordinal treatment) and
// Deployment-like ones (`client-5d8f7c6b9-x2kqz`, random suffixes: the hashed treatment), over pods
// named by `ip:port` (A records). For each fleet size and pod count it prints the clients per pod
// (mean, min, max, standard deviation, and the standard deviation of a random draw for comparison),
// then, averaged over every pod leaving (5 pods) or five changes, what one pod leaving and one pod joining change: the share of
// sidecars whose subset changed, the connections moved (pods dropped from subsets), and the most
// pods one subset replaced besides the one that left.
import { chooseSubset } from '../src/balance/subset.ts'

const SIZE = Number(process.argv[2] ?? 2)
const FLEETS = [20, 100, 1000]
const POD_COUNTS = [5, 50, 1000]
/** Pod changes measured per configuration (each a leave and a join). */
const CHANGES = 5

/** A fixed xorshift stream, so every run prints the same figures. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}

const SUFFIX = 'bcdfghjklmnpqrstvwxz2456789' // the alphabet of Kubernetes' generated names
function deploymentNames(count: number, random: () => number): string[] {
  const names = new Set<string>()
  while (names.size < count) {
    let suffix = ''
    for (let i = 0; i < 5; i++) suffix += SUFFIX[Math.floor(random() * SUFFIX.length)]
    names.add(`client-5d8f7c6b9-${suffix}`)
  }
  return [...names]
}

function podNames(count: number, from: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i
    return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`
  })
}

const byName = (pod: string): string => pod

function subsets(identities: readonly string[], pods: readonly string[]): string[][] {
  return identities.map((id) => chooseSubset(pods, SIZE, id, byName))
}

function spread(identities: readonly string[], pods: readonly string[]): string {
  const counts = new Map(pods.map((p) => [p, 0]))
  for (const subset of subsets(identities, pods)) for (const p of subset) counts.set(p, counts.get(p)! + 1)
  const values = [...counts.values()]
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length)
  const q = Math.min(SIZE, pods.length) / pods.length
  const binomial = Math.sqrt(identities.length * q * (1 - q))
  return `mean ${fmt(mean, 7)}  min ${fmt(Math.min(...values), 4, 0)}  max ${fmt(Math.max(...values), 4, 0)}  sd ${fmt(sd, 5)} (random draw ${fmt(binomial, 5)})`
}

interface Movement { changed: number; holders: number; moved: number; worst: number }

/**
 * What changes from the subsets `a` (over `before`) to those over `after`, one pod apart. A
 * subset that held the pod that left, or takes the one that joined, has to drop one pod; any
 * other drop is movement the change did not need.
 */
function movement(identities: readonly string[], a: readonly string[][], before: readonly string[], after: readonly string[]): Movement {
  const b = subsets(identities, after)
  const gone = before.find((p) => !after.includes(p))
  const came = after.find((p) => !before.includes(p))
  const m: Movement = { changed: 0, holders: 0, moved: 0, worst: 0 }
  for (let i = 0; i < identities.length; i++) {
    const now = new Set(b[i])
    const dropped = a[i].filter((p) => !now.has(p)).length
    const holder = (gone !== undefined && a[i].includes(gone)) || (came !== undefined && now.has(came))
    if (dropped > 0) m.changed++
    if (holder) m.holders++
    m.moved += dropped
    m.worst = Math.max(m.worst, dropped - (holder ? 1 : 0))
  }
  return m
}

function churn(identities: readonly string[], pods: readonly string[], random: () => number): string {
  const base = subsets(identities, pods)
  const leave: Movement = { changed: 0, holders: 0, moved: 0, worst: 0 }
  const join: Movement = { changed: 0, holders: 0, moved: 0, worst: 0 }
  // Every pod leaving in turn where that is cheap; a sample of them among 1000.
  const changes = Math.min(pods.length, CHANGES)
  for (let c = 0; c < changes; c++) {
    const leaving = changes === pods.length ? pods[c] : pods[Math.floor(random() * pods.length)]
    add(leave, movement(identities, base, pods, pods.filter((p) => p !== leaving)))
    add(join, movement(identities, base, pods, [...pods, ...podNames(1, 200_000 + c)]))
  }
  const line = (what: string, m: Movement): string =>
    `${what} ${fmt((100 * m.changed) / changes / identities.length, 5)} % of subsets changed ` +
    `(${fmt((100 * m.holders) / changes / identities.length, 5)} % had to), ` +
    `${fmt(m.moved / changes, 6)} connections moved, at most ${m.worst} pod more than needed per subset`
  return `${line('leave:', leave)}\n      ${line('join: ', join)}`
}

function add(into: Movement, m: Movement): void {
  into.changed += m.changed
  into.holders += m.holders
  into.moved += m.moved
  into.worst = Math.max(into.worst, m.worst)
}

function fmt(n: number, width: number, digits = 2): string {
  return (Number.isInteger(n) ? String(n) : n.toFixed(digits)).padStart(width)
}

const started = performance.now()
for (const [fleet, label] of [['ordinal', 'ordinal identities (client-0, client-1, …)'], ['hashed', 'hashed identities (client-5d8f7c6b9-x2kqz, …)']] as const) {
  console.log(`\n${label}, subsets of ${SIZE}`)
  for (const sidecars of FLEETS) {
    const random = rng(sidecars * 7919 + 1)
    const identities = fleet === 'ordinal' ? Array.from({ length: sidecars }, (_, i) => `client-${i}`) : deploymentNames(sidecars, random)
    for (const count of POD_COUNTS) {
      const pods = podNames(count, 1)
      console.log(`  ${String(sidecars).padStart(4)} sidecars ${String(count).padStart(4)} pods: ${spread(identities, pods)}`)
      console.log(`      ${churn(identities, pods, random)}`)
    }
  }
}
console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`)
