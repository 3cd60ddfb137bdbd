// A virtual-time model of one client's requests through a picker, for the balancing unit tests:
// requests arrive every `gapMs`, each pod answers after `rtt(pod, t)`, and the picker sees the
// pods' in-flight counts and response times as spoke's pool would report them. No sockets, no
// real time: 80 s of traffic take a fraction of a second, with the real decay constant.
import { PeakEwma, type Picker } from '../../src/balance/index.ts'

export interface SimPod {
  readonly name: string
  inFlight: number
  readonly latency: PeakEwma | null
  /** Requests picked for it. */
  picked: number
}

export interface SimClock {
  t: number
  readonly now: () => number
}

export function simClock(start = 1000): SimClock {
  const clock = { t: start, now: () => clock.t }
  return clock
}

export function simPods(names: readonly string[], clock: SimClock | null): SimPod[] {
  return names.map((name) => ({ name, inFlight: 0, latency: clock === null ? null : new PeakEwma(clock.now), picked: 0 }))
}

interface Pending {
  readonly end: number
  readonly pod: SimPod
  readonly ms: number
  readonly fails: boolean
}

export interface Simulation {
  /** Runs until `untilMs` (virtual); returns how many requests each pod got in that span. */
  run(untilMs: number): Map<string, number>
}

/** `rtt(pod, t)`: how long `pod` takes to answer a request sent at `t`; `fails`: whether that answer is a failure (a 5xx). */
export function simulate(picker: Picker<SimPod>, pods: SimPod[], clock: SimClock, gapMs: number,
  rtt: (pod: SimPod, t: number) => number, fails: (pod: SimPod) => boolean = () => false): Simulation {
  const pending: Pending[] = []
  const complete = (upTo: number): void => {
    while (pending.length > 0 && pending[0].end <= upTo) {
      const p = pending.shift()!
      clock.t = p.end
      p.pod.inFlight--
      p.pod.latency?.observe(p.ms)
      if (p.fails) p.pod.latency?.failed()
    }
  }
  return {
    run(untilMs) {
      const counts = new Map(pods.map((p) => [p.name, 0]))
      for (let t = clock.t; t < untilMs; t += gapMs) {
        complete(t)
        clock.t = t
        const pod = picker.pick(pods, null)!
        pod.inFlight++
        pod.picked++
        counts.set(pod.name, counts.get(pod.name)! + 1)
        const ms = rtt(pod, t)
        const entry = { end: t + ms, pod, ms, fails: fails(pod) }
        let i = pending.length
        while (i > 0 && pending[i - 1].end > entry.end) i--
        pending.splice(i, 0, entry)
      }
      return counts
    },
  }
}

export function share(counts: Map<string, number>, name: string): number {
  let total = 0
  for (const n of counts.values()) total += n
  return total === 0 ? 0 : counts.get(name)! / total
}
