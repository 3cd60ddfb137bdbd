// Waiting on things the demo cannot be told about (what spoke balances over, a pod's
// connections), so it polls them.

/** Polls until `check` holds; on timeout throws, or returns false when `mustHold` is false. */
export async function waitUntil(check: () => boolean, timeoutMs: number, what: string, mustHold = true): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > deadline) {
      if (mustHold) throw new Error(`timed out waiting for ${what}`)
      return false
    }
    await sleep(20)
  }
  return true
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
