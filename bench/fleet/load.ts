// Requests through a fleet of sidecars to a fleet of pods, in simulated time.
//
// Requests arrive as one Poisson stream, each from a sidecar drawn at random (the sum of N
// independent Poisson streams). The sidecar's spoke picker chooses among the pods it knows (all
// of them, or its subset). Each pod serves `workers` requests at once, first come first served,
// exponential service times. A request's latency is its wait plus its service: no network, no
// kernel, no connection limits. After the measured window, arrivals stop and the pods finish
// what they hold, so every request's latency is exact (FIFO: nothing arriving later changes it).
//
// Scale-up: `added` pods enter DNS at `addedAt`; each sidecar learns of them at its next
// discovery refresh, scheduled by spoke's own refreshDelay.
import { refreshDelay } from '../../src/discovery/schedule.ts'
import { Rng } from '../../test/helpers/rng.ts'
import { EventQueue } from './events.ts'
import { chooseSlowPods, exponential, fleetCapacityPerMs, type Identities, MODEL, type Model, sidecarNames, withSeededRandom } from './model.ts'
import { Pod, type Request } from './pod.ts'
import { Sidecar } from './sidecar.ts'
import type { BalancePolicy, SimEndpoint } from './spoke.ts'

export interface LoadConfig {
  readonly sidecars: number
  readonly pods: number
  readonly policy: BalancePolicy
  /** 0: every sidecar balances over every pod. */
  readonly subsetSize: number
  /** The sidecars' identities for subsetting; default deployment. */
  readonly identities?: Identities
  readonly slowStartMs: number
  /** Share of the pods that are `model.slowFactor` times slower. */
  readonly slowFraction: number
  /** The measured window is [warmupMs, durationMs). */
  readonly warmupMs: number
  readonly durationMs: number
  /** Pods that enter DNS at `addedAt` (a scale-up); their load is counted per bucket. */
  readonly added?: { readonly count: number; readonly atMs: number }
  /** Count requests per bucket this long (default 250 ms for a scale-up, else not at all). */
  readonly bucketMs?: number
  /**
   * Sidecars started at different times (default): each has made a random number of picks, 0 to
   * pods − 1, before the run. false: all start together, as after a fleet-wide restart.
   */
  readonly staggered?: boolean
  readonly seed: number
  /** The run stops (and says so) after this many events. */
  readonly maxEvents: number
  readonly model?: Model
}

export interface LoadResult {
  readonly config: LoadConfig
  readonly slow: ReadonlySet<number>
  /** Per pod, over the window: requests that arrived, and busy worker-milliseconds. */
  readonly arrivals: Float64Array
  readonly busyMs: Float64Array
  readonly latency: { readonly fast: Float64Array; readonly slow: Float64Array }
  /** Requests sent, over the window. */
  readonly requests: number
  /**
   * Per bucket from t = 0 (a scale-up, or `bucketMs` set): requests sent to all pods, to the added
   * pods, to the slow pods; sidecars that know of the added pods.
   */
  readonly series: {
    readonly total: Float64Array
    readonly added: Float64Array
    readonly slow: Float64Array
    readonly informed: Float64Array
  } | null
  /** Sidecars that learnt of the added pods, when each did (ms after the change). */
  readonly learntAfterMs: readonly number[]
  /**
   * Per pod: the HTTP/1.1 connections its sidecars hold at the end, counting those opened on demand
   * (one per request in flight beyond perEndpoint, up to maxPerEndpoint; idle ones close only
   * after idleTimeout, longer than the run). h2c multiplexes: perEndpoint per sidecar.
   */
  readonly peakConnections: Float64Array
  /** Each sidecar's name (its subsetting identity) and the pods it balances over at the end. */
  readonly sidecars: readonly { readonly name: string; readonly pods: readonly number[] }[]
  /** Requests the sidecars still count in flight on the endpoints they hold at the end: 0 unless capped. */
  readonly leftInFlight: number
  readonly events: number
  readonly capped: boolean
}

type DnsEvent = { at: number; seq: number; kind: 'dns'; sidecar: number }
type Event = Request | DnsEvent

export function runLoad(config: LoadConfig): LoadResult {
  const rng = new Rng(config.seed)
  return withSeededRandom(new Rng(config.seed ^ 0x5eed), () => simulate(config, rng))
}

function simulate(config: LoadConfig, rng: Rng): LoadResult {
  const model = config.model ?? MODEL
  const added = config.added ?? { count: 0, atMs: Infinity }
  const total = config.pods + added.count
  const slow = chooseSlowPods(config.pods, config.slowFraction, rng)
  const pods = Array.from({ length: total }, (_, i) =>
    new Pod(i, model.workers, slow.has(i) ? model.serviceMs * model.slowFactor : model.serviceMs))
  // The offered load is set against the fleet after the scale-up, so the run stays stable.
  const ratePerMs = model.utilization * fleetCapacityPerMs(total, slow.size, model)
  const queue = new EventQueue<Event>()
  let now = 0
  const clock = () => now

  const before = Array.from({ length: config.pods }, (_, i) => i)
  const after = Array.from({ length: total }, (_, i) => i)
  const sidecars = sidecarNames(config.sidecars, config.identities ?? 'deployment', rng).map((name) =>
    new Sidecar(name, config.policy, config.subsetSize, config.slowStartMs, clock))
  for (const s of sidecars) {
    s.discover(before)
    if (config.staggered !== false) s.skip(rng.int(config.pods))
  }

  const learntAfterMs: number[] = []
  if (added.count > 0) {
    // Sidecars have been running a while: each one's next refresh is somewhere in its period.
    for (let i = 0; i < sidecars.length; i++) {
      queue.push({ at: rng.next() * refreshDelay(model.refreshMs, model.minRefreshMs, model.dnsTtlSeconds, () => rng.next()), seq: 0, kind: 'dns', sidecar: i })
    }
  }

  const bucketMs = config.bucketMs ?? 250
  const buckets = Math.ceil(config.durationMs / bucketMs)
  const series = added.count > 0 || config.bucketMs !== undefined
    ? { total: new Float64Array(buckets), added: new Float64Array(buckets), slow: new Float64Array(buckets), informed: new Float64Array(buckets) }
    : null
  const arrivals = new Float64Array(total)
  const busyMs = new Float64Array(total)
  const fast = new Samples()
  const slowLatency = new Samples()
  let requests = 0
  let events = 0
  let informed = 0
  const pool = new RequestPool()
  let nextArrival = exponential(rng, 1 / ratePerMs)

  const start = (pod: Pod, r: Request): void => {
    r.at = now + exponential(rng, pod.serviceMs)
    const overlap = Math.min(r.at, config.durationMs) - Math.max(now, config.warmupMs)
    if (overlap > 0) busyMs[pod.index] += overlap
    queue.push(r)
  }

  while (events < config.maxEvents) {
    const arriving = nextArrival < config.durationMs && nextArrival <= queue.peekAt()
    if (!arriving && queue.size === 0) break
    events++
    if (arriving) {
      now = nextArrival
      nextArrival += exponential(rng, 1 / ratePerMs)
      const sidecar = sidecars[rng.int(sidecars.length)]
      const endpoint = sidecar.pick()
      if (endpoint === null) continue
      const pod = pods[endpoint.pod]
      const r = pool.take(sidecar, endpoint, now, now >= config.warmupMs)
      if (++endpoint.inFlight > endpoint.peakInFlight && r.measured) endpoint.peakInFlight = endpoint.inFlight
      if (r.measured) {
        requests++
        arrivals[pod.index]++
      }
      if (series !== null) {
        const b = (now / bucketMs) | 0
        series.total[b]++
        if (pod.index >= config.pods) series.added[b]++
        else if (slow.has(pod.index)) series.slow[b]++
      }
      if (pod.arrive(r)) start(pod, r)
      continue
    }
    const e = queue.pop()!
    now = e.at
    if (e.kind === 'dns') {
      const s = sidecars[e.sidecar]
      if (now >= added.atMs && !s.knows(total)) {
        s.discover(after)
        learntAfterMs.push(now - added.atMs)
        informed++
        if (series !== null) for (let b = (now / bucketMs) | 0; b < buckets; b++) series.informed[b] = informed
      }
      const next = now + refreshDelay(model.refreshMs, model.minRefreshMs, model.dnsTtlSeconds, () => rng.next())
      if (next < config.durationMs && informed < sidecars.length) queue.push({ at: next, seq: 0, kind: 'dns', sidecar: e.sidecar })
      continue
    }
    const pod = pods[e.endpoint.pod]
    e.endpoint.inFlight--
    const latency = now - e.startedAt
    e.sidecar.respond(e.endpoint, latency)
    if (e.measured) (slow.has(pod.index) ? slowLatency : fast).add(latency)
    const next = pod.complete()
    pool.give(e)
    if (next !== null) start(pod, next)
  }

  return {
    config, slow, arrivals, busyMs, requests, series, learntAfterMs, events,
    peakConnections: http1Connections(sidecars, total, model),
    sidecars: sidecars.map((s) => ({ name: s.name, pods: s.endpoints.map((e) => e.pod) })),
    leftInFlight: sidecars.reduce((sum, s) => sum + s.endpoints.reduce((n, e) => n + e.inFlight, 0), 0),
    latency: { fast: fast.sorted(), slow: slowLatency.sorted() },
    capped: events >= config.maxEvents,
  }
}

function http1Connections(sidecars: readonly Sidecar[], pods: number, model: Model): Float64Array {
  const counts = new Float64Array(pods)
  for (const s of sidecars) {
    for (const e of s.endpoints) counts[e.pod] += Math.min(model.maxPerEndpoint, Math.max(model.perEndpoint, e.peakInFlight))
  }
  return counts
}

/** Requests are recycled: a run makes millions, and the collector's time counts against a minute. */
class RequestPool {
  readonly #free: Request[] = []
  take(sidecar: Sidecar, endpoint: SimEndpoint, now: number, measured: boolean): Request {
    const r = this.#free.pop()
    if (r === undefined) return { at: 0, seq: 0, kind: 'request', sidecar, endpoint, startedAt: now, measured }
    r.sidecar = sidecar
    r.endpoint = endpoint
    r.startedAt = now
    r.measured = measured
    return r
  }
  give(r: Request): void {
    this.#free.push(r)
  }
}

/** A growing list of numbers, sorted once at the end. */
class Samples {
  #values = new Float64Array(1024)
  #n = 0
  add(v: number): void {
    if (this.#n === this.#values.length) {
      const grown = new Float64Array(this.#n * 2)
      grown.set(this.#values)
      this.#values = grown
    }
    this.#values[this.#n++] = v
  }
  sorted(): Float64Array {
    return this.#values.slice(0, this.#n).sort()
  }
}

/** The q-quantile (0..1) of sorted values; NaN when there are none. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
