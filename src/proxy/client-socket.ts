// Per-connection state of an app connection, kept on the socket itself so that a request costs
// no listener registration: one 'close' listener per connection aborts whatever is in flight.
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** What a request in flight must do when its client connection closes. */
export interface InFlight {
  clientGone(): void
}

const kInFlight = Symbol('spoke.inFlight')
const kBytesAtRest = Symbol('spoke.bytesAtRest')
const kLastResponse = Symbol('spoke.lastResponse')
const kEnding = Symbol('spoke.ending')
const kLastAnswer = Symbol('spoke.lastAnswer')

interface ClientSocket extends Socket {
  [kInFlight]?: Set<InFlight>
  [kBytesAtRest]?: number
  [kLastResponse]?: ServerResponse
  [kEnding]?: boolean
  [kLastAnswer]?: boolean
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

/** The newest response of this connection. Node sends pipelined answers in order, so it goes last. */
export function responseCreated(socket: Socket, res: ServerResponse): void {
  (socket as ClientSocket)[kLastResponse] = res
}

/**
 * Ends the connection with `text`, an error answer spoke writes itself for what the parser refused.
 * If the refused bytes came after a complete request that is still waiting for its pod
 * (pipelining), that request's answer goes first and the error follows it, never takes its place.
 * If they were the body of the request in flight, the error is that request's answer: it goes at
 * once, and closing the connection aborts the request at the pod. Only the first call counts;
 * false if the connection was already ending.
 */
export function endAfterAnswers(socket: Socket, text: string): boolean {
  const s = socket as ClientSocket
  if (s[kEnding] === true) return false
  s[kEnding] = true
  const last = s[kLastResponse]
  if (last === undefined || last.writableFinished || !last.req.complete) socket.end(text)
  // An answer cut short (a pod reset mid-body) destroys the socket instead: nothing to end then.
  else last.once('finish', () => socket.end(text))
  return true
}

/**
 * The answer being written is the connection's last (spoke set `connection: close` on it).
 * Node's parser does not know and goes on delivering pipelined requests: they must not be
 * forwarded, since their answers could never be sent.
 */
export function lastAnswer(socket: Socket): void {
  (socket as ClientSocket)[kLastAnswer] = true
}

/**
 * Draining (SPEC §9): the answer in progress on this connection, unless its head is already out,
 * carries `connection: close` and is the connection's last.
 */
export function closeAfterCurrentAnswer(socket: Socket): void {
  const res = (socket as ClientSocket)[kLastResponse]
  if (res === undefined || res.headersSent || res.writableEnded) return
  res.shouldKeepAlive = false
  lastAnswer(socket)
}

/** Whether a request arriving now comes after the connection's last answer. */
export function afterLastAnswer(socket: Socket): boolean {
  return (socket as ClientSocket)[kLastAnswer] === true
}
