// The access log: one line a request, written when the app's side of it closes (SPEC §2).
import type { EventEmitter } from 'node:events'
import type { AppSide } from './app-side.ts'
import type { ErrorCode } from './errors.ts'
import { CLIENT_CLOSED } from './request-counts.ts'

/** The answer as it went out, if it did, and what the line tells of how it was found (see Downstream). */
export interface AnswerStatus {
  readonly headersSent: boolean
  readonly status: number
  readonly endpoint: string | null
  readonly attempts: number
  readonly error: ErrorCode | null
  /** -1: not a gRPC call (the line then has no grpcStatus). */
  readonly grpcStatus: number
}

/** A request whose framing spoke refused (400, the connection closes): no pod was asked. */
export const BAD_FRAMING: AnswerStatus = { headersSent: true, status: 400, endpoint: null, attempts: 0, error: 'bad_request', grpcStatus: -1 }

/** Starts the clock of one request; the function returned writes its line once the answer is over (or abandoned). */
export function requestLog(side: AppSide, method: string, path: string): (answer: AnswerStatus) => void {
  const started = performance.now()
  return ({ headersSent, status, endpoint, attempts, error, grpcStatus }) => {
    const line: Record<string, unknown> = {
      listener: side.config.name, upstream: side.upstream.name, method, path,
      status: headersSent ? status : CLIENT_CLOSED, durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      endpoint, attempts, error,
    }
    if (grpcStatus >= 0) line.grpcStatus = grpcStatus
    side.log.info('request', line)
  }
}

/** `closed` emits 'close' when the answer is over (or abandoned). */
export function logRequest(side: AppSide, method: string, path: string, closed: EventEmitter, answer: () => AnswerStatus): void {
  const log = requestLog(side, method, path)
  closed.once('close', () => log(answer()))
}
