// Per-connection state of an app connection, kept on the socket itself so that a request costs
// no listener registration: one 'close' listener per connection aborts whatever is in flight.
import type { Socket } from 'node:net'

/** What a request in flight must do when its client connection closes. */
export interface InFlight {
  clientGone(): void
}

const kInFlight = Symbol('spoke.inFlight')
const kBytesAtRest = Symbol('spoke.bytesAtRest')

interface ClientSocket extends Socket {
  [kInFlight]?: Set<InFlight>
  [kBytesAtRest]?: number
}

export function watchClientSocket(socket: Socket): void {
  const s = socket as ClientSocket
  s[kBytesAtRest] = 0
  socket.once('close', () => {
    const inFlight = s[kInFlight]
    if (inFlight === undefined) return
    for (const r of inFlight) r.clientGone()
  })
}

/** A request began on this connection (pipelining can make several). */
export function requestStarted(socket: Socket, request: InFlight): void {
  const s = socket as ClientSocket
  ;(s[kInFlight] ??= new Set()).add(request)
}

/** The request's answer is complete: the connection is at rest until the next one. */
export function requestEnded(socket: Socket, request: InFlight): void {
  const s = socket as ClientSocket
  s[kInFlight]?.delete(request)
  s[kBytesAtRest] = socket.bytesRead
}

/** Whether bytes of a new request arrived since the last answer (headersTimeout: 408 or silence). */
export function partialRequestArrived(socket: Socket): boolean {
  return socket.bytesRead > ((socket as ClientSocket)[kBytesAtRest] ?? 0)
}
