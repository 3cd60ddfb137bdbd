// A bounded load loop for the fault and soak tests: requests at a fixed rate (open loop, so a
// stalled spoke cannot slow the offered load down) over a few keep-alive client connections,
// every answer classified, every POST carrying an id so that pods can show none arrived twice.
import http from 'node:http'
import type { PodRequest } from '../../src/demo/pod.ts'

export interface LoadOptions {
  /** `http://127.0.0.1:<port>` of spoke's listener. */
  readonly url: string
  /** Requests started per second. */
  readonly rate: number
  /** Keep-alive connections from the "app" to spoke. */
  readonly connections: number
  /** Hard bounds: the loop stops at whichever comes first (or at stop()). */
  readonly maxRequests: number
  readonly maxDurationMs: number
  /** Every Nth request is `POST /echo` with a unique `x-request-id`; 0 = GETs only. */
  readonly postEvery?: number
  /** The GET path; `/` answers 200 with the pod's name. */
  readonly path?: string
  /** At most this many requests in flight; a tick that would exceed it is counted as `shed`. */
  readonly maxInFlight?: number
}

export interface LoadReport {
  readonly sent: number
  readonly gets: number
  readonly posts: number
  /** GETs whose answer was not 200, or that failed on the socket: what the issue wants at 0. */
  readonly getErrors: number
  /** POSTs that did not get a 200 (allowed: a POST is never retried). */
  readonly postErrors: number
  /** `GET 502 upstream_reset`, `POST socket ECONNRESET`… → count. */
  readonly errors: ReadonlyMap<string, number>
  /** The ids of POSTs that got a 200: each must have reached exactly one pod exactly once. */
  readonly postsAnswered: ReadonlySet<string>
  readonly postIds: readonly string[]
  /** Which pod answered (x-pod), over GETs and POSTs that got 200. */
  readonly byPod: ReadonlyMap<string, number>
  /** Requests the loop skipped because maxInFlight were already waiting (spoke too slow). */
  readonly shed: number
  readonly durationMs: number
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number }
}

export interface Load {
  /** Requests answered or failed so far. */
  readonly completed: number
  /** Stops starting requests, waits for those in flight, closes the client connections. */
  stop(): Promise<LoadReport>
  /** Resolves when a bound is reached (not by stop()). */
  readonly finished: Promise<void>
}

const TICK_MS = 5

export function startLoad(options: LoadOptions): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections })
  const postEvery = options.postEvery ?? 0
  const maxInFlight = options.maxInFlight ?? options.connections * 16
  const path = options.path ?? '/'
  const started = performance.now()
  const errors = new Map<string, number>()
  const byPod = new Map<string, number>()
  const postIds: string[] = []
  const postsAnswered = new Set<string>()
  const latencies: number[] = []
  let sent = 0
  let gets = 0
  let posts = 0
  let getErrors = 0
  let postErrors = 0
  let shed = 0
  let inFlight = 0
  let completed = 0
  let running = true
  let endedAt = 0
  let idle: (() => void) | null = null
  let reachedBound!: () => void
  const finished = new Promise<void>((resolve) => { reachedBound = resolve })
  const runId = Math.random().toString(36).slice(2, 8)

  const count = (map: Map<string, number>, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1) }

  const one = (post: boolean): void => {
    sent++
    inFlight++
    const id = post ? `${runId}-${sent}` : ''
    if (post) {
      posts++
      postIds.push(id)
    } else {
      gets++
    }
    const t0 = performance.now()
    let settled = false
    // Exactly once per request, whichever of the request's or the response's events comes first.
    const settle = (failure: string | null): void => {
      if (settled) return
      settled = true
      if (failure !== null) {
        if (post) postErrors++
        else getErrors++
        count(errors, `${post ? 'POST' : 'GET'} ${failure}`)
      }
      latencies.push(performance.now() - t0)
      inFlight--
      completed++
      if (inFlight === 0 && idle !== null) idle()
    }
    const req = http.request(`${options.url}${post ? '/echo' : path}`, {
      method: post ? 'POST' : 'GET',
      agent,
      headers: post ? { 'x-request-id': id, 'content-type': 'text/plain' } : undefined,
    }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode !== 200) {
          settle(`${res.statusCode} ${res.headers['x-spoke-error'] ?? ''}`.trim())
          return
        }
        count(byPod, String(res.headers['x-pod']))
        if (post) postsAnswered.add(id)
        settle(null)
      })
      res.on('error', (err: NodeJS.ErrnoException) => settle(`body ${err.code ?? err.message}`))
      res.on('aborted', () => settle('body aborted'))
    })
    req.on('error', (err: NodeJS.ErrnoException) => settle(`socket ${err.code ?? err.message}`))
    req.end(post ? id : undefined)
  }

  const stopStarting = (): void => {
    if (!running) return
    running = false
    endedAt = performance.now()
    clearInterval(ticker)
    reachedBound()
  }

  const ticker = setInterval(() => {
    const elapsed = performance.now() - started
    if (elapsed >= options.maxDurationMs || sent >= options.maxRequests) {
      stopStarting()
      return
    }
    const due = Math.min(options.maxRequests, Math.floor((elapsed / 1000) * options.rate)) - sent - shed
    for (let i = 0; i < due; i++) {
      if (inFlight >= maxInFlight) {
        shed++
        continue
      }
      one(postEvery > 0 && (sent + 1) % postEvery === 0)
    }
  }, TICK_MS)

  return {
    get completed() { return completed },
    finished,
    async stop() {
      stopStarting()
      if (inFlight > 0) await new Promise<void>((resolve) => { idle = resolve })
      agent.destroy()
      latencies.sort((a, b) => a - b)
      const at = (q: number): number => latencies.length === 0 ? 0 : Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) / 10
      return {
        sent, gets, posts, getErrors, postErrors, errors, postsAnswered, postIds, byPod, shed,
        durationMs: Math.round(endedAt - started),
        latencyMs: { p50: at(0.5), p99: at(0.99), max: at(1) },
      }
    },
  }
}

/** The `x-request-id` of a recorded request, or null. */
export function requestId(request: Pick<PodRequest, 'rawHeaders'>): string | null {
  const raw = request.rawHeaders
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'x-request-id') return raw[i + 1]
  return null
}

/**
 * POST arrivals per request id across every pod, and the verdict the issue asks for: no POST
 * reached pods twice, and every POST answered 200 reached one exactly once.
 */
export class PostLedger {
  readonly #arrivals = new Map<string, number>()

  /** Pass as a pod's onRequest. */
  readonly record = (request: PodRequest): void => {
    if (request.method !== 'POST') return
    const id = requestId(request)
    if (id !== null) this.add(id)
  }

  add(id: string): void {
    this.#arrivals.set(id, (this.#arrivals.get(id) ?? 0) + 1)
  }

  /** Ids that reached the pods more than once. */
  duplicated(): string[] {
    return [...this.#arrivals].filter(([, n]) => n > 1).map(([id]) => id)
  }

  /** POSTs answered 200 that no pod saw: would mean spoke answered for a pod. */
  missing(report: LoadReport): string[] {
    return [...report.postsAnswered].filter((id) => !this.#arrivals.has(id))
  }

  get size(): number {
    return this.#arrivals.size
  }
}

/** One line for the test output and docs/reliability.md. */
export function summary(scenario: string, report: LoadReport, ledger: PostLedger, extra = ''): string {
  const errors = [...report.errors].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'
  return `fault: ${scenario} | sent ${report.sent} (${report.gets} GET, ${report.posts} POST) in ${(report.durationMs / 1000).toFixed(1)} s | ` +
    `GET errors ${report.getErrors} | POST errors ${report.postErrors} | POSTs duplicated ${ledger.duplicated().length} | ` +
    `shed ${report.shed} | latency p50 ${report.latencyMs.p50} ms p99 ${report.latencyMs.p99} ms max ${report.latencyMs.max} ms | errors: ${errors}${extra ? ` | ${extra}` : ''}`
}
