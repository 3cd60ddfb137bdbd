// SPEC §9: on SIGTERM/SIGINT, /ready turns 503 at once; listeners keep accepting for `linger`
// (the app's last calls still go out); then drain for up to `drainTimeout`; exit 0. A second
// signal exits at once with status 1.
import type { Logger } from '../log.ts'
import type { Spoke } from '../main.ts'

/** `stopped`: called at the first signal (the configuration watcher stops reloading). */
export function handleSignals(spoke: Spoke, log: Logger, exit: (code: number) => void = (c) => process.exit(c), stopped: () => void = () => {}): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn('second signal: exiting now', { signal })
      exit(1)
      return
    }
    stopping = true
    stopped()
    const { lingerMs, drainTimeoutMs } = spoke.config.shutdown
    log.info('shutting down', { signal, lingerMs, drainTimeoutMs })
    spoke.beginShutdown()
    setTimeout(() => {
      spoke.drain(drainTimeoutMs).then(
        () => exit(0),
        (err: Error) => {
          log.error('shutdown failed', { error: err.message })
          exit(1)
        },
      )
    }, lingerMs)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
