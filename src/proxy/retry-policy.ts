// What happens after an attempt failed to get an answer (SPEC §4), decided in one place for
// balanced requests, pinned ones and each pod's copy of a broadcast. A pure function of the
// failure's cause and the request's state: the engine (attempt.ts) does what it says.
import type { RetryConfig } from '../config/types.ts'
import { CAUSES, type FailureCode } from '../transport/failure.ts'

/**
 * Where the request may go. `any`: the upstream's policy picks per attempt. `key`: pinned to one
 * pod by x-spoke-pod or a sharded key, and every attempt goes there (a stateful key never moves
 * because one attempt failed). `copy`: one pod's copy of a broadcast, which no other pod can stand in for.
 */
export type Target = 'any' | 'key' | 'copy'

export interface AttemptState {
  readonly target: Target
  /** Safe to apply twice: an idempotent method, or `x-spoke-retry: always`. */
  readonly idempotent: boolean
  /** The pod's answer to the failed attempt had begun: its head may already be with the app. */
  readonly answerStarted: boolean
  /** The body can go again: none of it was read yet, or all of it read so far was kept. */
  readonly bodyResendable: boolean
  /** Attempts that counted against `retries.attempts`, the failed one included. */
  readonly attempts: number
  /** Resends so far of a request that never reached a pod. */
  readonly resends: number
  /** Resends so far after the keep-alive race. */
  readonly staleResends: number
  /** The failed attempt went out on an HTTP/1.1 connection that had sat idle in the pool. */
  readonly reusedIdle: boolean
  /** Something other than a count ends the request's resends: `timeouts.request`, a broadcast's deadline. */
  readonly bounded: boolean
  readonly retries: RetryConfig
}

/** What the try costs: a retry the app budgeted for, a resend of its kinds, or nothing at all. */
export type Spend = 'attempt' | 'resend' | 'stale' | 'none'

export type Decision =
  | {
    readonly again: true
    /** The next try avoids this pod (a balanced request only). */
    readonly exclude: boolean
    /** A pinned request is routed afresh: its pod left discovery, its key may have a new owner. */
    readonly reroute: boolean
    readonly spends: Spend
    readonly delayMs: number
    /** The failure counts against the pod for outlier detection. */
    readonly strike: boolean
  }
  | { readonly again: false; readonly strike: boolean }

/** With `timeouts.request: 0` nothing else would end resends of never-sent requests. */
export const MAX_RESENDS_UNBOUNDED = 20
/**
 * Resends of never-sent requests: the first few go at once, then back off, so that pods shedding
 * streams en masse (every pod's GOAWAY at once, a pod refusing every stream) cost a resend every
 * so often, not a loop: sessions reopen meanwhile.
 */
const IMMEDIATE_RESENDS = 3
const RESEND_BACKOFF_MS = 25
const MAX_RESEND_BACKOFF_MS = 1000
/** Idempotent requests that met the keep-alive race go again this many times at most, for free. */
export const MAX_STALE_RESENDS = 3

/**
 * Whether the target's answers count for outlier detection. Not a broadcast copy's: a copy goes
 * to every pod, ejected or not, and ejection steers balanced traffic only.
 */
export function judgesPods(target: Target): boolean {
  return target !== 'copy'
}

export function decide(code: FailureCode, s: AttemptState): Decision {
  const cause = CAUSES[code]
  const strike = cause.podAtFault && judgesPods(s.target)
  const fail = { again: false, strike } as const
  // Once the pod's answer began, a second answer cannot be spliced onto it.
  if (s.answerStarted || code === 'invalid_request' || code === 'aborted') return fail
  if (code === 'pool_closed') {
    // Not an attempt: the pod left discovery while the request queued for it.
    if (s.target === 'copy') return fail
    return again(s.target === 'any', s.target === 'key', 'none', 0, false)
  }
  const neverSent = !cause.mayHaveReachedPod && (code !== 'connect_failed' || s.target === 'any')
  if (neverSent) {
    // It cannot have been processed: sent again whatever the method, outside `retries.attempts`.
    // A pod refusing connections is failing, so the resend avoids it; one shedding streams is not.
    if (!s.bodyResendable || !(s.bounded || s.resends < MAX_RESENDS_UNBOUNDED)) return fail
    return again(cause.podAtFault && s.target === 'any', false, 'resend', resendDelay(s.resends + 1), strike)
  }
  if (code === 'reset' && s.reusedIdle && s.idempotent && s.bodyResendable &&
    s.staleResends < MAX_STALE_RESENDS && s.retries.on.includes('reset-before-response')) {
    // The keep-alive race (RFC 9112 §9.3.1): the pod closed the idle connection as the request went
    // out, and nothing of an answer came. Not a retry the app budgeted for. Still a strike: a pod
    // that resets every request it reads looks exactly like this, and only its streak tells them
    // apart (a healthy pod's next answer on the new connection ends the streak).
    return again(false, false, 'stale', 0, strike)
  }
  if (cause.retryOn !== null && s.retries.on.includes(cause.retryOn) && s.attempts <= s.retries.attempts &&
    s.idempotent && s.bodyResendable) {
    return again(s.target === 'any', false, 'attempt', 0, strike)
  }
  return fail
}

/** The wait before the `n`th resend of a never-sent request. */
export function resendDelay(n: number): number {
  return n <= IMMEDIATE_RESENDS ? 0 : Math.min(MAX_RESEND_BACKOFF_MS, RESEND_BACKOFF_MS * 2 ** (n - IMMEDIATE_RESENDS - 1))
}

function again(exclude: boolean, reroute: boolean, spends: Spend, delayMs: number, strike: boolean): Decision {
  return { again: true, exclude, reroute, spends, delayMs, strike }
}
