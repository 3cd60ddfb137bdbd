// Why an attempt to reach a pod got no answer: the one catalogue of failure causes. Transports and
// the pool report failures as `Failure`s with a cause code; the retry policy (proxy/retry-policy.ts)
// decides on the cause alone, never on an error's class or message text. Each cause carries the
// SPEC §5 code the app gets when it is the last word, and the `retries.on` reason it counts as.
import type { RetryReason } from '../config/types.ts'

/** The SPEC §5 answers a failure to reach a pod can end in (a subset of proxy/errors.ts's ErrorCode). */
export type FailureAnswer = 'connect_failed' | 'upstream_reset' | 'timeout' | 'bad_request'

export type FailureCode =
  | 'connect_failed'
  | 'refused_stream'
  | 'not_sent'
  | 'pool_closed'
  | 'reset'
  | 'try_timeout'
  | 'invalid_request'
  | 'aborted'

export interface Cause {
  /** What the app is answered when this failure is the last word. */
  readonly answer: FailureAnswer
  /** The `retries.on` reason an ordinary retry of it needs; null when it is never retried as such. */
  readonly retryOn: RetryReason | null
  /**
   * Whether the pod may have seen the request. A request it cannot have processed is sent again
   * whatever its method (SPEC §4).
   */
  readonly mayHaveReachedPod: boolean
  /** Whether it speaks against the pod (an outlier-detection strike, another pod for the resend). */
  readonly podAtFault: boolean
  /** Whether it counts in the pod's error counters (spoke_upstream_errors_total): the pod was tried. */
  readonly counted: boolean
}

export const CAUSES: Readonly<Record<FailureCode, Cause>> = {
  /** The connection to the pod could not be opened (refused, timed out, no HTTP/2 SETTINGS). */
  connect_failed: { answer: 'connect_failed', retryOn: 'connect-failure', mayHaveReachedPod: false, podAtFault: true, counted: true },
  /** The pod refused the stream unprocessed: REFUSED_STREAM, a stream above GOAWAY's last id, a session gone. */
  refused_stream: { answer: 'upstream_reset', retryOn: 'refused-stream', mayHaveReachedPod: false, podAtFault: false, counted: true },
  /** The pooled connection turned out closed before any byte of the request was written. */
  not_sent: { answer: 'upstream_reset', retryOn: 'reset-before-response', mayHaveReachedPod: false, podAtFault: false, counted: true },
  /** The pod left discovery while the request waited for one of its connections. */
  pool_closed: { answer: 'connect_failed', retryOn: null, mayHaveReachedPod: false, podAtFault: false, counted: false },
  /** The connection or stream broke before the whole answer (the pod may have processed the request). */
  reset: { answer: 'upstream_reset', retryOn: 'reset-before-response', mayHaveReachedPod: true, podAtFault: true, counted: true },
  /** No response head within timeouts.perTry (Envoy's per_try_timeout, retried as a reset). */
  try_timeout: { answer: 'timeout', retryOn: 'reset-before-response', mayHaveReachedPod: true, podAtFault: true, counted: true },
  /** The transport refused the request as given (a header it will not put on the wire). */
  invalid_request: { answer: 'bad_request', retryOn: null, mayHaveReachedPod: false, podAtFault: false, counted: false },
  /** spoke abandoned the attempt itself (the app went away, a deadline passed). */
  aborted: { answer: 'upstream_reset', retryOn: null, mayHaveReachedPod: true, podAtFault: false, counted: false },
}

/** One failure: its cause code and a message for logs and spoke's error body. */
export class Failure extends Error {
  readonly code: FailureCode

  constructor(code: FailureCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'Failure'
    this.code = code
  }
}
