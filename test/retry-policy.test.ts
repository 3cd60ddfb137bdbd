// The retry policy on its own: no sockets, one case per rule of SPEC §4 (and of broadcast copies,
// SPEC §6). The end-to-end tests (never-sent, keepalive-race, per-try-timeout, pod-failure,
// sharding-*, broadcast) check that the engine does what it says.
import t from 'tap'
import type { RetryConfig } from '../src/config/types.ts'
import { type AttemptState, decide, MAX_RESENDS_UNBOUNDED, MAX_STALE_RESENDS, resendDelay } from '../src/proxy/retry-policy.ts'

const DEFAULT_RETRIES: RetryConfig = { attempts: 2, on: ['connect-failure', 'refused-stream', 'reset-before-response'] }

/** A balanced GET whose first attempt just failed, nothing sent to the app, body resendable. */
function state(over: Partial<AttemptState> = {}): AttemptState {
  return {
    target: 'any',
    idempotent: true,
    answerStarted: false,
    bodyResendable: true,
    attempts: 1,
    resends: 0,
    staleResends: 0,
    reusedIdle: false,
    bounded: true,
    retries: DEFAULT_RETRIES,
    ...over,
  }
}

const retryOther = { again: true, exclude: true, reroute: false, spends: 'attempt', delayMs: 0, strike: true }

t.test('a reset before the response: an idempotent request is retried on another pod, and the pod takes a strike', async (t) => {
  t.same(decide('reset', state()), retryOther)
})

t.test('a reset before the response of a POST is not retried: it may have been processed', async (t) => {
  t.same(decide('reset', state({ idempotent: false })), { again: false, strike: true })
})

t.test('x-spoke-retry: always makes a POST retryable (the engine passes it as idempotent)', async (t) => {
  t.same(decide('reset', state({ idempotent: true })), retryOther)
})

t.test('a reason missing from retries.on is not retried', async (t) => {
  t.same(decide('reset', state({ retries: { attempts: 2, on: ['connect-failure'] } })), { again: false, strike: true })
  t.same(decide('try_timeout', state({ retries: { attempts: 2, on: ['refused-stream'] } })), { again: false, strike: true })
})

t.test('retries.attempts bounds retries: attempts counted so far, the failed one included', async (t) => {
  t.same(decide('reset', state({ attempts: 2 })), retryOther)
  t.same(decide('reset', state({ attempts: 3 })), { again: false, strike: true })
  t.same(decide('reset', state({ retries: { attempts: 0, on: DEFAULT_RETRIES.on } })), { again: false, strike: true })
})

t.test('once the pod\'s answer began, nothing is sent again, whatever the cause', async (t) => {
  for (const code of ['reset', 'refused_stream', 'not_sent', 'connect_failed', 'try_timeout'] as const) {
    t.equal(decide(code, state({ answerStarted: true })).again, false, code)
  }
})

t.test('a body that went out and outgrew its copy cannot go again, not even for a never-sent request', async (t) => {
  t.same(decide('reset', state({ bodyResendable: false })), { again: false, strike: true })
  t.same(decide('refused_stream', state({ bodyResendable: false })), { again: false, strike: false })
  t.same(decide('connect_failed', state({ bodyResendable: false })), { again: false, strike: true })
})

t.test('a connection that failed to open: sent to another pod whatever the method and retries, not counted as an attempt', async (t) => {
  const never = state({ idempotent: false, retries: { attempts: 0, on: [] } })
  t.same(decide('connect_failed', never), { again: true, exclude: true, reroute: false, spends: 'resend', delayMs: 0, strike: true })
})

t.test('a refused stream or a request never written: sent again, this pod allowed (it is shedding, not failing), no strike', async (t) => {
  const never = state({ idempotent: false, retries: { attempts: 0, on: [] } })
  const resend = { again: true, exclude: false, reroute: false, spends: 'resend', delayMs: 0, strike: false }
  t.same(decide('refused_stream', never), resend)
  t.same(decide('not_sent', never), resend)
})

t.test('never-sent resends: three at once, then backing off from 25 ms to at most 1 s', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 9, 20].map(resendDelay), [0, 0, 0, 25, 50, 100, 800, 1000])
  const fourth = decide('refused_stream', state({ resends: 3 }))
  t.equal(fourth.again && fourth.delayMs, 25)
})

t.test('without timeouts.request, never-sent resends stop after a bounded number', async (t) => {
  t.equal(decide('refused_stream', state({ bounded: false, resends: MAX_RESENDS_UNBOUNDED - 1 })).again, true)
  t.same(decide('refused_stream', state({ bounded: false, resends: MAX_RESENDS_UNBOUNDED })), { again: false, strike: false })
  t.equal(decide('refused_stream', state({ bounded: true, resends: 500 })).again, true, 'a deadline ends them instead')
})

t.test('the keep-alive race: an idempotent request on a reused idle HTTP/1.1 connection goes again for free, with a strike', async (t) => {
  const race = state({ reusedIdle: true, attempts: 3 })
  t.same(decide('reset', race), { again: true, exclude: false, reroute: false, spends: 'stale', delayMs: 0, strike: true })
  t.same(decide('reset', state({ reusedIdle: true, idempotent: false })), { again: false, strike: true }, 'not a POST')
  t.same(decide('reset', state({ reusedIdle: true, staleResends: MAX_STALE_RESENDS, attempts: 3 })), { again: false, strike: true }, 'a bounded number of times')
  t.same(decide('reset', state({ reusedIdle: true, retries: { attempts: 2, on: ['connect-failure'] } })), { again: false, strike: true }, 'only with reset-before-response in retries.on')
  t.same(decide('try_timeout', state({ reusedIdle: true })), { ...retryOther }, 'a timeout is no race: an ordinary retry')
})

t.test('a per-try timeout is retried as a reset before the response', async (t) => {
  t.same(decide('try_timeout', state()), retryOther)
  t.same(decide('try_timeout', state({ idempotent: false })), { again: false, strike: true })
})

t.test('a pinned request (x-spoke-pod, a sharded key) stays on its pod: a connect failure follows the ordinary retry rules', async (t) => {
  const key = state({ target: 'key' })
  t.same(decide('connect_failed', key), { again: true, exclude: false, reroute: false, spends: 'attempt', delayMs: 0, strike: true })
  t.same(decide('connect_failed', state({ target: 'key', idempotent: false })), { again: false, strike: true })
  t.same(decide('reset', key), { again: true, exclude: false, reroute: false, spends: 'attempt', delayMs: 0, strike: true })
  t.same(decide('refused_stream', state({ target: 'key', idempotent: false })), { again: true, exclude: false, reroute: false, spends: 'resend', delayMs: 0, strike: false })
})

t.test('a broadcast copy stays on its pod and never counts for outlier detection', async (t) => {
  const copy = state({ target: 'copy' })
  t.same(decide('connect_failed', copy), { again: true, exclude: false, reroute: false, spends: 'attempt', delayMs: 0, strike: false })
  t.same(decide('connect_failed', state({ target: 'copy', idempotent: false })), { again: false, strike: false })
  t.same(decide('reset', copy), { again: true, exclude: false, reroute: false, spends: 'attempt', delayMs: 0, strike: false })
  t.same(decide('refused_stream', state({ target: 'copy', idempotent: false })), { again: true, exclude: false, reroute: false, spends: 'resend', delayMs: 0, strike: false })
  t.same(decide('reset', state({ target: 'copy', answerStarted: true })), { again: false, strike: false })
})

t.test('a pod that left discovery while the request queued: not an attempt; pick again, route a key afresh, fail a copy', async (t) => {
  t.same(decide('pool_closed', state({ idempotent: false })), { again: true, exclude: true, reroute: false, spends: 'none', delayMs: 0, strike: false })
  t.same(decide('pool_closed', state({ target: 'key' })), { again: true, exclude: false, reroute: true, spends: 'none', delayMs: 0, strike: false })
  t.same(decide('pool_closed', state({ target: 'copy' })), { again: false, strike: false })
})

t.test('a request the transport refused as given, or one spoke abandoned, is never sent again', async (t) => {
  t.same(decide('invalid_request', state()), { again: false, strike: false })
  t.same(decide('aborted', state()), { again: false, strike: false })
})
