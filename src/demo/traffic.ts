// The traffic the demo sends: requests on one keep-alive connection, as an application's
// long-lived HTTP client sends them. That connection is what kube-proxy pins to a single pod.
import http from 'node:http'
import type { Socket } from 'node:net'

const REQUEST_TIMEOUT_MS = 5000
const MAX_LOAD_REQUESTS = 5_000_000

/** One keep-alive connection, like an application's long-lived HTTP client. */
export class Client {
  /** Every TCP connection the client used: 1 unless something closed it. */
  readonly #sockets = new Set<Socket>()
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  lastError = ''

  get connections(): number {
    return this.#sockets.size
  }

  /** The `x-pod` of the answer, or null for a failed request (kept in lastError). */
  get(url: string): Promise<string | null> {
    return new Promise((resolve) => {
      const fail = (why: string): void => {
        this.lastError = why
        resolve(null)
      }
      const req = http.get(url, { agent: this.#agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        res.resume()
        res.on('error', (err) => fail(err.message))
        res.on('end', () => {
          const pod = res.headers['x-pod']
          if (res.statusCode === 200 && typeof pod === 'string') resolve(pod)
          else fail(`HTTP ${res.statusCode} ${res.headers['x-spoke-error'] ?? ''}`.trim())
        })
      })
      req.on('socket', (s: Socket) => this.#sockets.add(s))
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS}ms`)))
      req.on('error', (err) => fail(err.message))
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}

export interface Window {
  readonly counts: ReadonlyMap<string, number>
  readonly requests: number
  readonly errors: number
  readonly ms: number
}

/** Requests back to back on one client connection until stopped. */
export class Load {
  readonly totals = new Map<string, number>()
  requests = 0
  errors = 0
  readonly #client = new Client()
  #window = new Map<string, number>()
  #windowErrors = 0
  #windowStart = performance.now()
  #stopping = false
  readonly #done: Promise<void>

  constructor(url: string) {
    this.#done = this.#run(url)
  }

  get connections(): number {
    return this.#client.connections
  }

  get lastError(): string {
    return this.#client.lastError
  }

  /** What happened since the previous call. */
  takeWindow(): Window {
    const now = performance.now()
    const counts = this.#window
    let requests = this.#windowErrors
    for (const n of counts.values()) requests += n
    const w = { counts, requests, errors: this.#windowErrors, ms: now - this.#windowStart }
    this.#window = new Map()
    this.#windowErrors = 0
    this.#windowStart = now
    return w
  }

  async stop(): Promise<void> {
    this.#stopping = true
    await this.#done
    this.#client.close()
  }

  async #run(url: string): Promise<void> {
    while (!this.#stopping && this.requests < MAX_LOAD_REQUESTS) {
      const pod = await this.#client.get(url)
      this.requests++
      if (pod === null) {
        this.errors++
        this.#windowErrors++
      } else {
        bump(this.totals, pod)
        bump(this.#window, pod)
      }
    }
  }
}

export function send(url: string, method: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS}ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** Counts one more for `key`. */
export function bump(tally: Map<string, number>, key: string): void {
  tally.set(key, (tally.get(key) ?? 0) + 1)
}
