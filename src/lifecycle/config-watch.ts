// SPEC §10: when to reload. On SIGHUP, and whenever the file's content differs from the last
// content spoke read (checked every `reload`). The bytes are compared, not the time stamp: a
// Kubernetes ConfigMap volume publishes a new version by swapping the `..data` symlink, so the
// path is read again each time and what it leads to is what counts.
import { createHash } from 'node:crypto'
import { loadConfigBytes, readConfigFile } from '../config/load.ts'
import type { Logger } from '../log.ts'
import type { Spoke } from '../main.ts'

export function contentHash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export class ConfigWatcher {
  readonly #path: string
  readonly #spoke: Spoke
  readonly #log: Logger
  /**
   * The content last read, applied or rejected: a rejected file is not tried again (and logged
   * again) on every poll, only once it changes. A read failure is remembered by its message.
   */
  #last: string
  #timer: NodeJS.Timeout | null = null
  #checking: Promise<void> = Promise.resolve()
  #stopped = false
  readonly #onHangup = (): void => { void this.check('SIGHUP') }

  /** `startedWith`: contentHash() of the bytes spoke started from. */
  constructor(path: string, spoke: Spoke, log: Logger, startedWith: string) {
    this.#path = path
    this.#spoke = spoke
    this.#log = log
    this.#last = startedWith
  }

  start(): void {
    process.on('SIGHUP', this.#onHangup)
    this.#arm()
  }

  stop(): void {
    this.#stopped = true
    process.off('SIGHUP', this.#onHangup)
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Reads the file and reloads if its content changed; checks run one at a time. */
  check(cause: 'SIGHUP' | 'poll'): Promise<void> {
    this.#checking = this.#checking.then(() => this.#check(cause))
    return this.#checking
  }

  async #check(cause: 'SIGHUP' | 'poll'): Promise<void> {
    if (this.#stopped) return
    const bytes = readConfigFile(this.#path)
    const seen = Buffer.isBuffer(bytes) ? contentHash(bytes) : `unreadable: ${bytes.message}`
    if (seen === this.#last) {
      if (cause === 'SIGHUP') this.#log.info('SIGHUP: the configuration file has not changed; nothing to reload', { file: this.#path })
      return
    }
    this.#last = seen
    this.#log.info('reloading the configuration', { file: this.#path, cause })
    await this.#spoke.reload(Buffer.isBuffer(bytes) ? loadConfigBytes(bytes) : { ok: false, errors: [bytes] })
    // `reload` itself may have changed.
    this.#arm()
  }

  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    if (this.#stopped) return
    const every = this.#spoke.config.reloadMs
    if (every === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.check('poll').finally(() => { if (this.#timer === null) this.#arm() })
    }, every)
    this.#timer.unref()
  }
}
