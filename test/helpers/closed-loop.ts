// Closed-loop clients for the balancing tests and bench/slow-pod.ts: `connections` keep-alive
// client connections, each sending its next GET as soon as the last is answered, every answer
// recorded with when it came, which pod gave it (x-pod) and how long it took. Bounded by a
// request count as well as by stop().
import http from 'node:http'

export interface Answered {
  /** performance.now() when the answer was complete. */
  readonly at: number
  readonly pod: string
  readonly ms: number
  /** 0: no answer (a socket error). */
  readonly status: number
}

export interface ClosedLoop {
  readonly answers: readonly Answered[]
  /** Stops sending, waits for the requests in flight, closes the connections. */
  stop(): Promise<void>
}

export function closedLoop(url: string, connections: number, maxRequests: number): ClosedLoop {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  const answers: Answered[] = []
  let running = true
  let sent = 0
  const one = (): Promise<void> => new Promise((resolve) => {
    const start = performance.now()
    const req = http.get(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => {
        const at = performance.now()
        answers.push({ at, pod: String(res.headers['x-pod']), ms: at - start, status: res.statusCode! })
        resolve()
      })
      res.on('error', () => resolve())
    })
    req.on('error', () => {
      answers.push({ at: performance.now(), pod: '', ms: performance.now() - start, status: 0 })
      resolve()
    })
  })
  const worker = async (): Promise<void> => {
    while (running && sent < maxRequests) {
      sent++
      await one()
    }
  }
  const done = Promise.all(Array.from({ length: connections }, worker))
  return {
    answers,
    async stop() {
      running = false
      await done
      agent.destroy()
    },
  }
}

/** The share of the answers in [from, to) that `pod` gave, and how many answers that was. */
export function shareOf(answers: readonly Answered[], pod: string, from: number, to: number): { share: number; count: number } {
  let mine = 0
  let count = 0
  for (const a of answers) {
    if (a.at < from || a.at >= to || a.status === 0) continue
    count++
    if (a.pod === pod) mine++
  }
  return { share: count === 0 ? 0 : mine / count, count }
}
