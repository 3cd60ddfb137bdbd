// The access log: one line a request, written when the app's side of it closes.
import type { EventEmitter } from 'node:events'
import type { AppSide } from './app-side.ts'
import { CLIENT_CLOSED } from './request-counts.ts'

/** The answer's head as it went out, if it did. */
export interface AnswerStatus {
  readonly headersSent: boolean
  readonly status: number
}

/** Starts the clock of one request; the function returned writes its line once the answer is over (or abandoned). */
export function requestLog(side: AppSide, method: string, path: string): (answer: AnswerStatus) => void {
  const started = performance.now()
  return ({ headersSent, status }) => {
    side.log.info('request', {
      listener: side.config.name, upstream: side.upstream.name, method, path,
      status: headersSent ? status : CLIENT_CLOSED, durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    })
  }
}

/** `closed` emits 'close' when the answer is over (or abandoned). */
export function logRequest(side: AppSide, method: string, path: string, closed: EventEmitter, answer: () => AnswerStatus): void {
  const log = requestLog(side, method, path)
  closed.once('close', () => log(answer()))
}
