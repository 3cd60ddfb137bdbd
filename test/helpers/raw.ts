// Raw TCP clients for hostile-input tests: bytes out exactly as written, everything the server
// sends back, and whether (and when) the server closed the connection.
import net from 'node:net'

export interface RawReply {
  /** Everything received, as latin1 text. */
  readonly text: string
  /** The server closed the connection (rather than the wait running out). */
  readonly closed: boolean
  readonly ms: number
}

/** Writes `payload` and collects the reply until the server closes or `waitMs` passes. */
export function exchange(port: number, payload: string | Buffer, options: { waitMs?: number; halfClose?: boolean } = {}): Promise<RawReply> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => {
      if (options.halfClose === true) socket.end(payload)
      else socket.write(payload)
    })
    const chunks: Buffer[] = []
    const done = (closed: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed, ms: performance.now() - started })
    }
    const timer = setTimeout(() => done(false), options.waitMs ?? 2000)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('close', () => done(true))
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // A reset after the answer still counts as closed; before any byte it is a failure to report.
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return
      clearTimeout(timer)
      reject(e)
    })
  })
}

/** The status codes of every response in a raw reply, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/^HTTP\/1\.[01] (\d{3}) /gm)].map((m) => Number(m[1]))
}
