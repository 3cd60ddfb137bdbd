// Writes spoke's own error answers (SPEC §5): JSON with x-spoke-error for HTTP, a trailers-only
// response with grpc-status for gRPC.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants, type ServerHttp2Stream } from 'node:http2'
import { type H2Response, stopRequestBody } from './h2-response.ts'
import { type ErrorCode, errorBody, grpcMessage, grpcStatusOf, httpStatusOf } from './errors.ts'

/** An app's request and response: HTTP/1.1's, or an HTTP/2 stream (its readable side is the body). */
export type AppRequest = IncomingMessage | ServerHttp2Stream
export type AppResponse = ServerResponse | H2Response

/**
 * The methods spoke writes with (writeHead with a flat header array, write, end, addTrailers)
 * behave alike on both kinds: H2Response mirrors HTTP/1's. One type to call them through.
 */
export function writer(res: AppResponse): ServerResponse {
  return res as ServerResponse
}

/** Ends a response that cannot be completed so the app sees it broken: a reset stream, a closed connection. */
export function abortResponse(res: AppResponse): void {
  if ('stream' in res) res.stream.close(constants.NGHTTP2_INTERNAL_ERROR)
  else res.destroy()
}

/** Returns the HTTP status written (what spoke_requests_total counts). */
export function sendError(res: AppResponse, code: ErrorCode, message: string, upstream: string, grpc: boolean): number {
  if (res.headersSent) {
    // Too late for a status: cut the response so the app sees it broken, never a silently
    // truncated 200.
    abortResponse(res)
    return res.statusCode
  }
  if (grpc && 'stream' in res) {
    // Trailers-only (gRPC over HTTP/2): one HEADERS frame that ends the stream. Through the
    // compatibility API it would take HEADERS, an empty DATA and a reset, which clients read as
    // "ended without status". Whatever the app still sends is read and dropped.
    res.stream.respond({
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatusOf(code)),
      'grpc-message': grpcMessage(message),
      'x-spoke-error': code,
    }, { endStream: true })
    res.req.resume()
    stopRequestBody(res.stream)
    return 200
  }
  const out = writer(res)
  // Answered before the app finished sending its body (a timeout, a refusal): waiting for the
  // rest would keep the connection busy for nothing, and a client that stalls mid-body would hold
  // it forever. It closes after the answer, as Envoy and nginx do.
  if (!('stream' in res) && !res.req.complete) res.shouldKeepAlive = false
  if (grpc) {
    out.writeHead(200, [
      'content-type', 'application/grpc',
      'grpc-status', String(grpcStatusOf(code)),
      'grpc-message', grpcMessage(message),
      'x-spoke-error', code,
    ])
    out.end()
    return 200
  }
  const status = httpStatusOf(code)
  const body = errorBody(code, message, upstream)
  out.writeHead(status, [
    'content-type', 'application/json',
    'x-spoke-error', code,
    'content-length', String(Buffer.byteLength(body)),
  ])
  out.end(body)
  return status
}
