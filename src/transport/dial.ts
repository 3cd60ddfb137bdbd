// Opens a TCP connection with a deadline. Connecting ahead of the first request is what lets a pool open connections up front and replace one
// make-before-break: the replacement is known to be connected before the old one retires.
import net from 'node:net'

export class ConnectError extends Error {
  /** ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH…: `refused` drives an early DNS re-resolve. */
  readonly errno: string
  constructor(errno: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ConnectError'
    this.errno = errno
  }
  get refused(): boolean {
    return this.errno === 'ECONNREFUSED' || this.errno === 'ECONNRESET'
  }
}

/** `onread`: the socket reads into a buffer of the caller's rather than as a stream (net's option). */
export function dial(host: string, port: number, timeoutMs: number, onread?: net.OnReadOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, onread })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ConnectError('ETIMEDOUT', `connect to ${host}:${port} timed out after ${timeoutMs}ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(new ConnectError(err.code ?? 'ECONNECT', `connect to ${host}:${port} failed: ${err.message}`, { cause: err }))
    })
  })
}
