// Opens a TCP connection with a deadline. Connecting ahead of the first request is what lets a pool open connections up front and replace one
// make-before-break: the replacement is known to be connected before the old one retires.
import net from 'node:net'
import type { ConnectionConfig } from '../config/types.ts'

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

/** What a connection to a pod is given: to connect, and to answer a probe once it sits silent (SPEC §3). */
export type DialConfig = Pick<ConnectionConfig, 'connectTimeoutMs' | 'keepaliveMs'>

/**
 * A connected socket with TCP keepalive (see tcpKeepalive). `onread`: the socket reads into a
 * buffer of the caller's rather than as a stream (net's option).
 */
export function dial(host: string, port: number, config: DialConfig, onread?: net.OnReadOpts): Promise<net.Socket> {
  const timeoutMs = config.connectTimeoutMs
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true, onread })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ConnectError('ETIMEDOUT', `connect to ${host}:${port} timed out after ${timeoutMs}ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      tcpKeepalive(socket, config)
      resolve(socket)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(new ConnectError(err.code ?? 'ECONNECT', `connect to ${host}:${port} failed: ${err.message}`, { cause: err }))
    })
  })
}

/**
 * The kernel probes a connection that has received nothing for `keepalive` (in whole seconds, at
 * least 1: Node truncates to seconds, and 0 would leave Linux's 2 h), then once a second, and
 * resets it (ETIMEDOUT) after `connectTimeout` worth of unanswered probes, at least 2 so that
 * one lost probe is not a dead pod. The pod's kernel answers them: they keep NAT and conntrack
 * entries alive and find a host or a network gone, not a frozen process. Node before 24.19
 * sets the idle time only, and libuv then sends 10 probes a second apart.
 */
export function tcpKeepalive(socket: net.Socket, config: DialConfig): void {
  if (config.keepaliveMs === 0) return
  const idleMs = Math.max(1, Math.ceil(config.keepaliveMs / 1000)) * 1000
  socket.setKeepAlive(true, idleMs, 1000, Math.max(2, Math.ceil(config.connectTimeoutMs / 1000)))
}
